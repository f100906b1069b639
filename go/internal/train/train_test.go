package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
	"github.com/fasgo/fasgo/go/internal/synth"
)

// synthSet is a synthetic benchmark generated once for all tests of the package.
type synthSet struct {
	subjects int
	once     sync.Once
	dir      string
	err      error
}

func (s *synthSet) get(t *testing.T) string {
	t.Helper()
	s.once.Do(func() {
		dir, err := os.MkdirTemp("", "fas-train-test-")
		if err != nil {
			s.err = err
			return
		}
		s.dir = filepath.Join(dir, "synth")
		o := synth.Options{Domains: 3, Subjects: s.subjects, VideosPerSubject: 2, Frames: 2, Size: 32, Seed: 7}
		_, s.err = synth.Write(context.Background(), s.dir, o, false, nil)
	})
	if s.err != nil {
		t.Fatalf("generating the synthetic data: %v", s.err)
	}
	return s.dir
}

var (
	tinySet  = &synthSet{subjects: 10}
	largeSet = &synthSet{subjects: 30} // big enough to learn something in seconds
)

// tinyData is a small synthetic benchmark: 3 domains of 10 subjects.
func tinyData(t *testing.T) string { return tinySet.get(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{tinySet.dir, largeSet.dir} {
		if d != "" {
			os.RemoveAll(filepath.Dir(d))
		}
	}
	os.Exit(code)
}

// tinyConfig trains on two synthetic domains and tests on the third, at a size that
// runs in seconds.
func tinyConfig(t *testing.T, runDir, name string, epochs int) *config.Config {
	t.Helper()
	data := tinyData(t)
	sets := []string{
		"run.dir=" + runDir, "run.name=" + name, "run.threads=2",
		fmt.Sprintf("train.epochs=%d", epochs), "train.batch_size=2", "anrl.metasize=1",
		"transform.image_size=32", "model.width=0.125",
		"optimizer.params.lr=0.002", "val.batch_size=16", "test.batch_size=16",
	}
	cfg, err := config.Load(filepath.Join(data, "configs", synth.ProtocolName(2)+".yaml"), sets, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type stepLine struct {
	Step int64   `json:"step"`
	Loss float64 `json:"loss"`
}

func readSteps(t *testing.T, runDir string) []stepLine {
	t.Helper()
	f, err := os.Open(filepath.Join(runDir, "metrics", "steps.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []stepLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l stepLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("steps.jsonl: %v", err)
		}
		out = append(out, l)
	}
	return out
}

func mean(ls []stepLine) float64 {
	var s float64
	for _, l := range ls {
		s += l.Loss
	}
	return s / float64(len(ls))
}

func TestTrainEndToEnd(t *testing.T) {
	runs := t.TempDir()
	cfg := tinyConfig(t, runs, "e2e", 3)
	res, err := Run(context.Background(), cfg, Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Interrupted || res.Eval == nil {
		t.Fatalf("run did not finish: %+v", res)
	}
	steps := readSteps(t, res.RunDir)
	if int64(len(steps)) != res.Steps || res.Steps == 0 {
		t.Fatalf("steps.jsonl has %d lines for %d steps", len(steps), res.Steps)
	}
	k := len(steps) / 4
	first, last := mean(steps[:k]), mean(steps[len(steps)-k:])
	if !(last < 0.8*first) {
		t.Errorf("training loss did not fall: first quarter %.4f, last quarter %.4f", first, last)
	}
	// The best checkpoint's files are complete and load.
	_, ck, ok, err := runinfo.ReadBest(filepath.Join(res.RunDir, "ckpt"))
	if err != nil || !ok {
		t.Fatalf("no best checkpoint: %v", err)
	}
	m, meta, err := model.Load(filepath.Join(ck.Dir, WeightsFile), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if meta.Size != 32 || meta.Setting("width") != "0.125" {
		t.Errorf("checkpoint describes size %d width %s, want 32 and 0.125", meta.Size, meta.Setting("width"))
	}
	// The training-state file loads as the same model (fas eval --checkpoint state.safetensors).
	ms, smeta, err := model.Load(filepath.Join(ck.Dir, StateFile), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms.Close()
	if !smeta.FromCheckpoint || smeta.Size != 32 || smeta.Settings.String() != meta.Settings.String() {
		t.Errorf("training state describes %+v, weights %+v", smeta, meta)
	}
	state, err := safetensors.Read(filepath.Join(ck.Dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := state.Get("state.step"); !ok {
		t.Error("training state lacks state.step")
	}
	for _, f := range []string{"config.yaml", "versions.json", "log.jsonl", "metrics/epochs.jsonl", "eval/metrics.json", "eval/roc.png"} {
		if _, err := os.Stat(filepath.Join(res.RunDir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if a := res.Eval.Test.AUC; a < 0 || a > 1 {
		t.Errorf("test AUC %v out of range", a)
	}
}

// finalWeights reads the weights of the newest checkpoint of a run.
func finalWeights(t *testing.T, runDir string) *safetensors.File {
	t.Helper()
	c, ok, err := runinfo.LatestCheckpoint(filepath.Join(runDir, "ckpt"))
	if err != nil || !ok {
		t.Fatalf("no checkpoint in %s: %v", runDir, err)
	}
	f, err := safetensors.Read(filepath.Join(c.Dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A run stopped mid-epoch and resumed ends with exactly the weights of an uninterrupted run.
func TestResumeIsBitForBit(t *testing.T) {
	runs := t.TempDir()
	full, err := Run(context.Background(), tinyConfig(t, runs, "full", 2), Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	stopAt := full.Steps/2 + 1 // inside the second epoch for an even split
	ctx, cancel := context.WithCancel(context.Background())
	part, err := Run(ctx, tinyConfig(t, runs, "split", 2), Options{Quiet: true,
		AfterStep: func(s int64) {
			if s == stopAt {
				cancel()
			}
		}})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if !part.Interrupted || part.Steps != stopAt {
		t.Fatalf("interrupted run: interrupted=%v after %d steps, want a stop after %d", part.Interrupted, part.Steps, stopAt)
	}
	rest, err := Run(context.Background(), tinyConfig(t, runs, "split", 2), Options{Quiet: true, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if rest.Steps != full.Steps {
		t.Fatalf("resumed run ended after %d steps, the full one after %d", rest.Steps, full.Steps)
	}
	a, b := finalWeights(t, full.RunDir), finalWeights(t, rest.RunDir)
	for _, ta := range a.Tensors {
		tb, ok := b.Get(ta.Name)
		if !ok || string(ta.Data) != string(tb.Data) {
			t.Fatalf("tensor %s differs between the uninterrupted and the resumed run", ta.Name)
		}
	}
	sa, sb := readSteps(t, full.RunDir), readSteps(t, rest.RunDir)
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("step %d: loss %v uninterrupted, %v stopped and resumed", sa[i].Step, sa[i].Loss, sb[i].Loss)
		}
	}
}

func TestResumeWithoutCheckpointFails(t *testing.T) {
	runs := t.TempDir()
	_, err := Run(context.Background(), tinyConfig(t, runs, "none", 1), Options{Quiet: true, Resume: true})
	if err == nil {
		t.Fatal("resuming a run that has no checkpoint succeeded")
	}
}

// A loss that becomes NaN or Inf is an error naming the step and the loss term, recorded in
// the run's log.jsonl; the last good checkpoint stays; a new start explains the directory and
// --restart (Options.Restart) starts over.
func TestDivergenceIsAnError(t *testing.T) {
	runs := t.TempDir()
	cfg := tinyConfig(t, runs, "diverge", 3)
	cfg.Optimizer.Params.LR = 1e30
	cfg.Scheduler.Name = "None"
	res, err := Run(context.Background(), cfg, Options{Quiet: true})
	if !errors.Is(err, ErrDiverged) || !strings.Contains(err.Error(), "not finite at step") {
		t.Fatalf("a run at lr 1e30: %v (%+v)", err, res)
	}
	if !strings.Contains(err.Error(), "global step") || !strings.Contains(err.Error(), "cls") {
		t.Errorf("the error does not name the step and the loss term: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(runs, "diverge", "log.jsonl"))
	if !strings.Contains(string(log), "run failed") || !strings.Contains(string(log), "training diverged") {
		t.Errorf("log.jsonl does not record the failure:\n%s", log)
	}
	if strings.Contains(string(log), "epoch 1/3 done") {
		t.Error("the failed epoch is logged as done")
	}
	if _, ok, _ := runinfo.LatestCheckpoint(filepath.Join(runs, "diverge", "ckpt")); ok {
		t.Error("a diverged step was checkpointed")
	}
	_, err = Run(context.Background(), tinyConfig(t, runs, "diverge", 1), Options{Quiet: true})
	if err == nil || !strings.Contains(err.Error(), "--restart") || !strings.Contains(err.Error(), "training diverged") {
		t.Errorf("starting again over the failed run: %v", err)
	}
	if _, err := Run(context.Background(), tinyConfig(t, runs, "diverge", 1), Options{Quiet: true, Restart: true}); err != nil {
		t.Errorf("--restart: %v", err)
	}
}

// A rank other than 0 trains its shard and writes nothing at all.
func TestOtherRankWritesNothing(t *testing.T) {
	runs := t.TempDir()
	res, err := Run(context.Background(), tinyConfig(t, runs, "ranked", 1), Options{Quiet: true, Rank: 1, World: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps == 0 || res.Eval != nil {
		t.Errorf("rank 1: %d steps, eval %v", res.Steps, res.Eval)
	}
	ents, err := os.ReadDir(runs)
	if err != nil || len(ents) != 0 {
		t.Errorf("rank 1 wrote into run.dir: %v %v", ents, err)
	}
}

// runRanks trains cfg on world ranks in this process (one goroutine and process group each);
// ctxs[r] is rank r's context.
func runRanks(t *testing.T, world int, cfg func(rank int) *config.Config, o Options, ctxs ...context.Context) []*Result {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	res := make([]*Result, world)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := 0; r < world; r++ {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			g, err := shim.NewGroup(shim.GroupConfig{Rank: r, World: world, MasterPort: port, Hostname: "127.0.0.1", Timeout: time.Minute})
			if err != nil {
				errs[r] = err
				return
			}
			defer g.Close()
			ctx := context.Background()
			if r < len(ctxs) && ctxs[r] != nil {
				ctx = ctxs[r]
			}
			ro := o
			ro.Group = g
			res[r], errs[r] = Run(ctx, cfg(r), ro)
		}(r)
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return res
}

// Two ranks: rank 0 alone writes the run (with every rank's state in ranks.safetensors), the
// evaluation covers the whole test set, and a run interrupted on one rank only — the ranks
// agree to stop at one step — resumes to bit-for-bit the weights of an uninterrupted run.
func TestTwoRanksResumeBitForBit(t *testing.T) {
	runs := t.TempDir()
	// LMDB opens an environment once per process: rank 1 reads a copy of the data.
	copyDir := filepath.Join(t.TempDir(), "synth")
	if out, err := exec.Command("cp", "-r", tinyData(t), copyDir).CombinedOutput(); err != nil {
		t.Fatalf("copying the data: %v %s", err, out)
	}
	at := func(name string, epochs int) func(int) *config.Config {
		return func(rank int) *config.Config {
			c := tinyConfig(t, runs, name, epochs)
			if rank == 1 {
				c.Dataset.Root = copyDir
			}
			return c
		}
	}
	full := runRanks(t, 2, at("full2", 2), Options{Quiet: true})
	if full[0].Eval == nil || full[1].Eval != nil {
		t.Fatalf("evaluation results: rank 0 %v, rank 1 %v", full[0].Eval != nil, full[1].Eval != nil)
	}
	single, err := Run(context.Background(), tinyConfig(t, runs, "single", 2), Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if full[0].Eval.TestFrames != single.Eval.TestFrames || full[0].Eval.ValFrames != single.Eval.ValFrames {
		t.Errorf("two ranks scored %d test / %d val frames, one process %d / %d", full[0].Eval.TestFrames,
			full[0].Eval.ValFrames, single.Eval.TestFrames, single.Eval.ValFrames)
	}
	if full[0].Steps >= single.Steps {
		t.Errorf("each of two ranks took %d steps, one process %d: the ranks do not split the data", full[0].Steps, single.Steps)
	}
	if c, ok, _ := runinfo.LatestCheckpoint(filepath.Join(runs, "full2", "ckpt")); !ok {
		t.Fatal("no checkpoint")
	} else if _, err := os.Stat(filepath.Join(c.Dir, RanksFile)); err != nil {
		t.Errorf("the checkpoint of a 2-rank run lacks %s: %v", RanksFile, err)
	}

	stopAt := full[0].Steps/2 + 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	part := runRanks(t, 2, at("split2", 2), Options{Quiet: true,
		AfterStep: func(s int64) {
			if s == stopAt {
				cancel() // reaches rank 1's context only
			}
		}}, context.Background(), ctx)
	if !part[0].Interrupted || !part[1].Interrupted || part[0].Steps != part[1].Steps {
		t.Fatalf("interrupted: rank 0 %v after %d steps, rank 1 %v after %d", part[0].Interrupted, part[0].Steps,
			part[1].Interrupted, part[1].Steps)
	}
	rest := runRanks(t, 2, at("split2", 2), Options{Quiet: true, Resume: true})
	if rest[0].Steps != full[0].Steps {
		t.Fatalf("resumed after %d steps, uninterrupted %d", rest[0].Steps, full[0].Steps)
	}
	a, b := finalWeights(t, full[0].RunDir), finalWeights(t, rest[0].RunDir)
	for _, ta := range a.Tensors {
		if tb, ok := b.Get(ta.Name); !ok || string(ta.Data) != string(tb.Data) {
			t.Fatalf("%s differs between the uninterrupted and the resumed 2-rank run", ta.Name)
		}
	}
	sa, sb := readSteps(t, full[0].RunDir), readSteps(t, rest[0].RunDir)
	if len(sa) != len(sb) {
		t.Fatalf("%d step lines uninterrupted, %d resumed", len(sa), len(sb))
	}
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("step %d: loss %v uninterrupted, %v resumed", sa[i].Step, sa[i].Loss, sb[i].Loss)
		}
	}
	// A 2-rank checkpoint does not resume with another world size.
	if _, err := Run(context.Background(), tinyConfig(t, runs, "split2", 3), Options{Quiet: true, Resume: true}); err == nil ||
		!strings.Contains(err.Error(), "same world size") {
		t.Errorf("resuming a 2-rank run in one process: %v", err)
	}
}
