package runinfo

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/runinfo/tfevents"
	"go.uber.org/zap"
)

const cfgYAML = `
dataset:
  depth_rule: [{from: "a/", to: "a_depth/"}]
  train:
    - {name: a, live: a_l.txt, attack: a_a.txt}
    - {name: b, live: b_l.txt, attack: b_a.txt}
    - {name: c, live: c_l.txt, attack: c_a.txt}
  val: [{name: a, live: av_l.txt, attack: av_a.txt}]
  test: [{name: d, live: d_l.txt, attack: d_a.txt}]
`

// testConfig loads a valid config whose runs go to a temporary directory.
func testConfig(t *testing.T, sets ...string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "OCI2M.yaml")
	if err := os.WriteFile(p, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p, append([]string{"run.dir=" + filepath.Join(dir, "runs")}, sets...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var start = time.Date(2024, 1, 2, 3, 4, 5, 0, time.Local)

func create(t *testing.T, c *config.Config, resume bool) *Run {
	t.Helper()
	r, err := Create(Options{
		Config: c, Native: Native{Shim: "0.1.0", Libtorch: "2.1.2", CUDA: ""},
		Args: []string{"fas", "train", "--config", "x.yaml"}, Now: start, Quiet: true, Resume: resume,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readJSONL parses every line of path as a JSON object.
func readJSONL(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %d is not JSON: %q: %v", path, len(out)+1, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestCreateWritesEveryFile(t *testing.T) {
	c := testConfig(t)
	r := create(t, c, false)
	if r.Name != "anrl-OCI2M-20240102-030405" || r.Dir != filepath.Join(c.Run.Dir, r.Name) {
		t.Fatalf("run %s in %s", r.Name, r.Dir)
	}
	if err := r.StepMetrics(10, 0.5, map[string]float64{"loss/total": 1.25, "lr": 1e-4}); err != nil {
		t.Fatal(err)
	}
	if err := r.StepMetrics(20, 1.0, map[string]float64{"loss/total": 0.75, "lr": 1e-4}); err != nil {
		t.Fatal(err)
	}
	if err := r.EpochMetrics(0, 20, map[string]float64{"val/auc": 0.875}); err != nil {
		t.Fatal(err)
	}
	if err := r.StepMetrics(21, 1, map[string]float64{"step": 3}); err == nil {
		t.Error("a metric named step was accepted")
	}
	r.Log.Info("hello", zap.Int("answer", 42))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// config.yaml reloads to the config with the chosen run name.
	back, err := config.Load(filepath.Join(r.Dir, "config.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := *c
	want.Run.Name = r.Name
	if !reflect.DeepEqual(back, &want) {
		t.Errorf("config.yaml reloads to %+v, want %+v", back, want)
	}

	var v Versions
	raw, err := os.ReadFile(filepath.Join(r.Dir, "versions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if v.Native.Libtorch != "2.1.2" || v.Seed != 1234 || !v.StartTime.Equal(start) || v.Go != runtime.Version() ||
		v.OS != runtime.GOOS || v.Hostname != host || !reflect.DeepEqual(v.CommandLine, []string{"fas", "train", "--config", "x.yaml"}) {
		t.Errorf("versions.json = %+v", v)
	}
	if v.Git.Commit == "" && v.Git.Error == "" {
		t.Errorf("versions.json has neither a commit nor the reason for its absence: %+v", v.Git)
	}

	steps := readJSONL(t, filepath.Join(r.Dir, "metrics", "steps.jsonl"))
	if len(steps) != 2 || steps[1]["step"] != 20.0 || steps[1]["epoch"] != 1.0 || steps[1]["loss/total"] != 0.75 || steps[0]["time"] == nil {
		t.Errorf("steps.jsonl = %v", steps)
	}
	epochs := readJSONL(t, filepath.Join(r.Dir, "metrics", "epochs.jsonl"))
	if len(epochs) != 1 || epochs[0]["val/auc"] != 0.875 || epochs[0]["epoch"] != 0.0 || epochs[0]["step"] != 20.0 {
		t.Errorf("epochs.jsonl = %v", epochs)
	}
	logs := readJSONL(t, filepath.Join(r.Dir, "log.jsonl"))
	if len(logs) != 2 || logs[0]["msg"] != "run directory" || logs[1]["msg"] != "hello" || logs[1]["answer"] != 42.0 {
		t.Errorf("log.jsonl = %v", logs)
	}

	tb, _ := filepath.Glob(filepath.Join(r.Dir, "tb", "events.out.tfevents.*"))
	if len(tb) != 1 {
		t.Fatalf("tb files %q", tb)
	}
	evs, err := tfevents.ReadFile(tb[0])
	if err != nil {
		t.Fatal(err)
	}
	type point struct {
		step int64
		tag  string
		v    float32
	}
	var got []point
	for _, e := range evs[1:] {
		for _, val := range e.Values {
			got = append(got, point{e.Step, val.Tag, val.SimpleValue})
		}
	}
	wantPts := []point{{10, "loss/total", 1.25}, {10, "lr", 1e-4}, {20, "loss/total", 0.75}, {20, "lr", 1e-4}, {20, "val/auc", 0.875}}
	if evs[0].FileVersion != tfevents.FileVersion || !reflect.DeepEqual(got, wantPts) {
		t.Errorf("tb events %+v, want %+v", got, wantPts)
	}
	for _, d := range []string{"ckpt"} {
		if st, err := os.Stat(filepath.Join(r.Dir, d)); err != nil || !st.IsDir() {
			t.Errorf("no %s directory", d)
		}
	}
}

func TestRunNames(t *testing.T) {
	c := testConfig(t)
	a := create(t, c, false)
	b := create(t, c, false)
	a.Close()
	b.Close()
	if b.Name != a.Name+"-2" {
		t.Errorf("second run in the same second is %s, want %s-2", b.Name, a.Name)
	}

	named := testConfig(t, "run.name=mine")
	r := create(t, named, false)
	r.StepMetrics(1, 0, map[string]float64{"loss": 1})
	if _, err := r.Checkpoint(1, func(string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := Create(Options{Config: named, Now: start, Quiet: true}); err == nil ||
		!strings.Contains(err.Error(), "exists and holds checkpoints up to step 1") || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("creating an existing named run: %v", err)
	}
	later := start.Add(time.Hour)
	r2, err := Create(Options{Config: named, Now: later, Quiet: true, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	r2.StepMetrics(2, 0, map[string]float64{"loss": 0.5})
	r2.Close()
	if n := len(readJSONL(t, filepath.Join(r.Dir, "metrics", "steps.jsonl"))); n != 2 {
		t.Errorf("resumed run has %d step lines, want 2 (appended)", n)
	}
	for _, f := range []string{"config.yaml", "versions.json", "config.resume-20240102-040405.yaml", "versions.resume-20240102-040405.json"} {
		if _, err := os.Stat(filepath.Join(r.Dir, f)); err != nil {
			t.Errorf("resumed run: %v", err)
		}
	}
	if _, err := Create(Options{Config: testConfig(t, "run.name=absent"), Quiet: true, Resume: true}); err == nil {
		t.Error("resuming a missing run succeeded")
	}
}

func TestJSONL(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.jsonl")
	j, err := OpenJSONL(p)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			for i := range 50 {
				if e := j.Write(map[string]any{"g": g, "i": i, "loss": math.NaN(), "m": map[string]float64{"x": math.Inf(-1)}}); e != nil {
					err = e
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	lines := readJSONL(t, p)
	if len(lines) != 200 {
		t.Fatalf("%d lines, want 200", len(lines))
	}
	seen := map[[2]float64]bool{}
	for _, l := range lines {
		seen[[2]float64{l["g"].(float64), l["i"].(float64)}] = true
		if l["loss"] != "NaN" || l["m"].(map[string]any)["x"] != "-Inf" || l["time"] == nil {
			t.Fatalf("line %v", l)
		}
	}
	if len(seen) != 200 {
		t.Errorf("%d distinct lines, want 200", len(seen))
	}
	if err := j.Write(map[string]any{"x": 1}); err == nil {
		t.Error("write after Close succeeded")
	}
}

func TestInfinityNames(t *testing.T) {
	zero := 0.0
	got := finite(map[string]any{"a": 1 / zero, "b": []float64{-1 / zero, 2}})
	want := map[string]any{"a": "+Inf", "b": []any{"-Inf", 2.0}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("finite = %v, want %v", got, want)
	}
}
