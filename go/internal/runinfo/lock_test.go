package runinfo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/config"
)

func createErr(c *config.Config, o Options) (*Run, error) {
	o.Config, o.Now, o.Quiet = c, start, true
	return Create(o)
}

// A second Create of a directory another Run holds fails, whatever it asks for, naming the
// directory and the pid; once the first closes, the directory is free again.
func TestSecondCreateIsRefused(t *testing.T) {
	c := testConfig(t, "run.name=busy")
	a := create(t, c, false)
	if _, err := a.Checkpoint(4, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join(a.Dir, "run.lock"))
	if err != nil || !strings.Contains(string(lock), fmt.Sprintf("pid %d\n", os.Getpid())) ||
		!strings.Contains(string(lock), "started "+start.Format(time.RFC3339)) {
		t.Errorf("run.lock holds %q (%v), want the pid and the start time", lock, err)
	}
	for name, o := range map[string]Options{"plain": {}, "resume": {Resume: true}, "restart": {Restart: true}} {
		_, err := createErr(c, o)
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), a.Dir) ||
			!strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
			t.Errorf("%s: second Create: %v, want the in-use error naming %s and pid %d", name, err, a.Dir, os.Getpid())
		}
	}
	// The refused restart deleted nothing.
	if latest, ok, _ := a.LatestCheckpoint(); !ok || latest.Step != 4 {
		t.Fatalf("after a refused restart the checkpoint is gone: %+v %v", latest, ok)
	}
	if err := a.StepMetrics(5, 1, map[string]float64{"loss": 1}); err != nil {
		t.Errorf("the first run broke: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(a.Dir, "run.lock")); len(b) != 0 {
		t.Errorf("released lock file still names a holder: %q", b)
	}
	b, err := createErr(c, Options{Resume: true})
	if err != nil {
		t.Fatalf("resume after the first closed: %v", err)
	}
	b.Close()
}

// TestHelperProcess is not a test: TestLockOfKilledProcess runs the test binary with it as
// a process that holds a run directory until it is killed.
func TestHelperProcess(t *testing.T) {
	cfgPath := os.Getenv("FASGO_RUNINFO_HELPER_CONFIG")
	if cfgPath == "" {
		return // only as the helper process
	}
	c, err := config.Load(cfgPath, []string{"run.dir=" + os.Getenv("FASGO_RUNINFO_HELPER_RUNS"), "run.name=held"}, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	r, err := Create(Options{Config: c, Now: start, Quiet: true})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	r.Fail(errors.New("CUDA error: out of memory"))
	fmt.Println("ready")
	time.Sleep(time.Minute) // until killed
	os.Exit(3)
}

// A run directory whose process was killed with SIGKILL is not blocked by its lock, and
// the next start quotes the error the dead run recorded.
func TestLockOfKilledProcess(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "OCI2M.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "FASGO_RUNINFO_HELPER_CONFIG="+cfgPath, "FASGO_RUNINFO_HELPER_RUNS="+runs)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper said %q (%v)", line, err)
	}
	c, err := config.Load(cfgPath, []string{"run.dir=" + runs, "run.name=held"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	held := filepath.Join(runs, "held")
	_, err = createErr(c, Options{Restart: true})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", cmd.Process.Pid)) ||
		!strings.Contains(err.Error(), held) {
		t.Fatalf("Create while the helper holds the run: %v, want the in-use error with pid %d", err, cmd.Process.Pid)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	_, err = createErr(c, Options{})
	if err == nil || errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "stopped before its first checkpoint") ||
		!strings.Contains(err.Error(), "run failed: CUDA error: out of memory") || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("Create after the holder was killed: %v, want the explanation of the dead run", err)
	}
	r, err := createErr(c, Options{Restart: true})
	if err != nil {
		t.Fatalf("restart after the holder was killed: %v", err)
	}
	defer r.Close()
	if lock, _ := os.ReadFile(filepath.Join(held, "run.lock")); !strings.Contains(string(lock), fmt.Sprintf("pid %d\n", os.Getpid())) {
		t.Errorf("run.lock holds %q, want this process", lock)
	}
}
