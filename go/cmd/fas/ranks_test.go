package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/launch"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/synth"
)

// The test binary doubles as `fas` for the rank processes a launch starts (os.Executable).
func TestMain(m *testing.M) {
	if os.Getenv("FASGO_TEST_AS_FAS") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	for _, f := range testCleanups {
		f()
	}
	os.Exit(code)
}

// testCleanups run after every test of the package (fixtures shared between tests).
var testCleanups []func()

var (
	rankDataOnce sync.Once
	rankData     string
)

// rankTrainArgs are the arguments of a tiny 3-domain training run into runs/name.
func rankTrainArgs(t *testing.T, runs, name string, epochs int) []string {
	t.Helper()
	rankDataOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fas-ranks-test-")
		if err != nil {
			t.Fatal(err)
		}
		rankData = filepath.Join(dir, "synth")
		o := synth.Options{Domains: 3, Subjects: 8, VideosPerSubject: 2, Frames: 2, Size: 32, Seed: 5}
		if _, err := synth.Write(context.Background(), rankData, o, false, nil); err != nil {
			t.Fatal(err)
		}
	})
	return []string{"train", "--config", filepath.Join(rankData, "configs", synth.ProtocolName(2)+".yaml"),
		"--set", "run.dir=" + runs, "--set", "run.name=" + name, "--set", fmt.Sprintf("train.epochs=%d", epochs),
		"--set", "train.batch_size=2", "--set", "anrl.metasize=1", "--set", "model.width=0.125",
		"--set", "transform.image_size=32", "--set", "run.dist.timeout=8"}
}

// fasCmd runs this test binary as fas.
func fasCmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FASGO_TEST_AS_FAS=1")
	return cmd
}

// `fas train --nproc 2`: both ranks train, rank 0 alone writes, output is prefixed.
func TestTrainTwoRanks(t *testing.T) {
	runs := t.TempDir()
	out, err := fasCmd(context.Background(), append(rankTrainArgs(t, runs, "two", 2), "--nproc", "2")...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "[rank 0] run: ") || !strings.Contains(string(out), "[rank 0] ### Evaluation") {
		t.Fatalf("no prefixed result from rank 0:\n%s", tail(out))
	}
	if strings.Contains(string(out), "[rank 1] run: ") {
		t.Error("rank 1 printed a result too")
	}
	if _, ok, _ := runinfo.LatestCheckpoint(filepath.Join(runs, "two", "ckpt")); !ok {
		t.Error("no checkpoint")
	}
}

// A rank killed with SIGKILL fails the run within the timeout, naming the rank; the other
// rank and the launcher are gone; --resume continues from the last good checkpoint.
func TestTrainRankKilled(t *testing.T) {
	runs := t.TempDir()
	args := append(rankTrainArgs(t, runs, "kill", 40), "--nproc", "2", "--set", "train.checkpoint_every=4")
	cmd := fasCmd(context.Background(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	victim := waitForRank(t, &out, 1, filepath.Join(runs, "kill", "ckpt"))
	syscall.Kill(victim, syscall.SIGKILL)
	start := time.Now()
	err := cmd.Wait()
	if err == nil || !strings.Contains(out.String(), "rank 1 (local rank 1, pid "+fmt.Sprint(victim)+") failed first: signal: killed") {
		t.Fatalf("launcher: %v\n%s", err, tail(out.Bytes()))
	}
	if el := time.Since(start); el > 40*time.Second {
		t.Errorf("the run took %v to fail", el)
	}
	if alive(victim) {
		t.Error("the killed rank is still there")
	}
	if c, ok, _ := runinfo.LatestCheckpoint(filepath.Join(runs, "kill", "ckpt")); !ok {
		t.Fatal("no checkpoint survived")
	} else if _, err := os.Stat(filepath.Join(c.Dir, "ranks.safetensors")); err != nil {
		t.Errorf("the surviving checkpoint is incomplete: %v", err)
	}
	res, err := fasCmd(context.Background(), "train", "--nproc", "2", "--resume", "--set", "run.dir="+runs, "--set", "run.name=kill",
		"--allow-change", "train.epochs", "--set", "train.epochs=2").CombinedOutput()
	if err != nil {
		t.Fatalf("resume after the failure: %v\n%s", err, tail(res))
	}
}

// A rank that hangs (SIGSTOP) is detected by the collective timeout.
func TestTrainRankHangs(t *testing.T) {
	runs := t.TempDir()
	cmd := fasCmd(context.Background(), append(rankTrainArgs(t, runs, "hang", 40), "--nproc", "2")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	victim := waitForRank(t, &out, 1, "")
	syscall.Kill(victim, syscall.SIGSTOP)
	defer syscall.Kill(victim, syscall.SIGKILL)
	start := time.Now()
	err := cmd.Wait()
	if err == nil || !strings.Contains(out.String(), "failed first") || !strings.Contains(out.String(), "rank 0 of 2") {
		t.Fatalf("launcher: %v\n%s", err, tail(out.Bytes()))
	}
	if el := time.Since(start); el > 60*time.Second {
		t.Errorf("the hang was detected after %v (timeout 8 s)", el)
	}
}

// `torchrun --no-python` drives fas train as it drives any worker.
func TestTrainUnderTorchrun(t *testing.T) {
	if _, err := os.Stat("/usr/bin/torchrun"); err != nil {
		t.Fatal("/usr/bin/torchrun is missing: run `make deps` (python3-torch)")
	}
	runs := t.TempDir()
	port, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append(torchrunArgs(t, port), os.Args[0]), rankTrainArgs(t, runs, "torchrun", 1)...)
	cmd := exec.Command("/usr/bin/torchrun", args...)
	cmd.Env = append(os.Environ(), "FASGO_TEST_AS_FAS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("torchrun: %v\n%s", err, tail(out))
	}
	if _, ok, _ := runinfo.LatestCheckpoint(filepath.Join(runs, "torchrun", "ckpt")); !ok {
		t.Errorf("no checkpoint under torchrun:\n%s", tail(out))
	}
}

// A failing rank under torchrun writes its error where torchrun reads the root cause.
func TestTorchrunRootCause(t *testing.T) {
	port, err := launch.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/torchrun", append(torchrunArgs(t, port), os.Args[0], "train", "--config", "/nonexistent/c.yaml")...)
	cmd.Env = append(os.Environ(), "FASGO_TEST_AS_FAS=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "/nonexistent/c.yaml") || !strings.Contains(string(out), "Root Cause") {
		t.Fatalf("torchrun: %v\n%s", err, tail(out))
	}
}

// torchrunArgs are Debian's torchrun 1.13 options for 2 workers on port. Its default
// --redirects/--tee of 0 crash under Python 3.11 (IntFlag no longer yields the zero member),
// so both are set to 1 (stdout to a log and teed), which works.
func torchrunArgs(t *testing.T, port int) []string {
	return []string{"--no_python", "--nproc_per_node", "2", "--master_port", fmt.Sprint(port),
		"--redirects", "1", "--tee", "1", "--log_dir", t.TempDir()}
}

// waitForRank waits until rank r has trained a few steps (and, with ckpt, a checkpoint
// exists) and returns its pid.
func waitForRank(t *testing.T, out *bytes.Buffer, r int, ckpt string) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if ckpt != "" {
			if _, ok, _ := runinfo.LatestCheckpoint(ckpt); !ok {
				continue
			}
		}
		if pid := rankPID(r); pid > 0 {
			return pid
		}
	}
	t.Fatalf("rank %d never started training:\n%s", r, out.String())
	return 0
}

// rankPID finds the process whose environment says RANK=r and FASGO_TEST_AS_FAS=1, child of
// a process of this test.
func rankPID(r int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		s := string(env)
		if strings.Contains(s, "\x00RANK="+fmt.Sprint(r)+"\x00") && strings.Contains(s, "FASGO_TEST_AS_FAS=1") &&
			strings.Contains(s, "TORCHELASTIC_ERROR_FILE=") && strings.Contains(s, "fas-launch-") {
			return pid
		}
	}
	return 0
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func tail(b []byte) string {
	if len(b) > 4000 {
		return "…" + string(b[len(b)-4000:])
	}
	return string(b)
}

// SIGTERM to the launcher: every rank checkpoints at the same step and the run stops cleanly.
func TestLauncherSignalCheckpoints(t *testing.T) {
	runs := t.TempDir()
	cmd := fasCmd(context.Background(), append(rankTrainArgs(t, runs, "sig", 40), "--nproc", "2")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForRank(t, &out, 1, "")
	// Signal once training runs (a rank still starting up has no handler yet and nothing to
	// checkpoint).
	steps := filepath.Join(runs, "sig", "metrics", "steps.jsonl")
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(steps); err == nil && bytes.Count(b, []byte("\n")) >= 2 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("launcher after SIGTERM: %v\n%s", err, tail(out.Bytes()))
	}
	if !strings.Contains(out.String(), "[rank 0] stopped after step") || !strings.Contains(out.String(), "fas train --nproc 2 --resume") {
		t.Errorf("no stop message with the continue command:\n%s", tail(out.Bytes()))
	}
	if _, ok, _ := runinfo.LatestCheckpoint(filepath.Join(runs, "sig", "ckpt")); !ok {
		t.Error("no checkpoint after SIGTERM")
	}
}

// Two "nodes" in their own network namespaces, joined by a veth pair, one rank each, talk
// through c10d across the veth (needs root and iproute2, as CI has).
func TestTrainTwoNodesInNetworkNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip (iproute2) is missing: run `make deps`")
	}
	ns := []string{fmt.Sprintf("fasn0-%d", os.Getpid()), fmt.Sprintf("fasn1-%d", os.Getpid())}
	veth := []string{fmt.Sprintf("fv0-%d", os.Getpid()%100000), fmt.Sprintf("fv1-%d", os.Getpid()%100000)}
	addr := []string{"10.213.77.1", "10.213.77.2"} // only inside these namespaces
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	for _, n := range ns {
		ipCmd("netns", "add", n)
		defer exec.Command("ip", "netns", "del", n).Run()
	}
	ipCmd("link", "add", veth[0], "type", "veth", "peer", "name", veth[1])
	for i := range ns {
		ipCmd("link", "set", veth[i], "netns", ns[i])
		ipCmd("-n", ns[i], "addr", "add", addr[i]+"/24", "dev", veth[i])
		ipCmd("-n", ns[i], "link", "set", veth[i], "up")
		ipCmd("-n", ns[i], "link", "set", "lo", "up")
	}
	runs := t.TempDir()
	args := rankTrainArgs(t, runs, "nodes", 1)
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for node := range ns {
		wg.Add(1)
		go func(node int) {
			defer wg.Done()
			a := append([]string{"netns", "exec", ns[node], os.Args[0]}, args...)
			a = append(a, "--nproc", "1", "--nnodes", "2", "--node-rank", fmt.Sprint(node), "--master-addr", addr[0],
				"--master-port", "29731", "--set", "run.dist.interface="+veth[node])
			cmd := exec.Command("ip", a...)
			cmd.Env = append(os.Environ(), "FASGO_TEST_AS_FAS=1")
			outs[node], errs[node] = cmd.CombinedOutput()
		}(node)
	}
	wg.Wait()
	for node := range ns {
		if errs[node] != nil {
			t.Fatalf("node %d: %v\n%s", node, errs[node], tail(outs[node]))
		}
	}
	if !strings.Contains(string(outs[0]), "[rank 0] run: ") || !strings.Contains(string(outs[0]), `"world": 2`) {
		t.Errorf("node outputs:\n%s\n---\n%s", tail(outs[0]), tail(outs[1]))
	}
}
