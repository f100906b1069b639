package runinfo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// tree lists every path under dir with its size and modification time.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprint(st.ModTime(), st.Mode(), st.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exercise calls every recording method of r.
func exercise(t *testing.T, r *Run) {
	t.Helper()
	if err := r.StepMetrics(7, 0.5, map[string]float64{"loss": 1}); err != nil {
		t.Errorf("StepMetrics: %v", err)
	}
	if err := r.EpochMetrics(1, 7, map[string]float64{"val/auc": 0.5}); err != nil {
		t.Errorf("EpochMetrics: %v", err)
	}
	called := false
	c, err := r.Checkpoint(7, func(string) error { called = true; return nil })
	if err != nil || called || c.Dir != "" || c.Step != 7 {
		t.Errorf("Checkpoint = %+v, %v; write called: %v", c, err, called)
	}
	if err := r.Prune(func(Checkpoint) bool { return false }); err != nil {
		t.Errorf("Prune: %v", err)
	}
	if err := r.MarkBest(Best{Step: 7, Metric: "auc", Value: 0.5}); err != nil {
		t.Errorf("MarkBest: %v", err)
	}
	if err := r.TruncateAfter(3); err != nil {
		t.Errorf("TruncateAfter: %v", err)
	}
	if d := r.EvalDir(); d != "" {
		t.Errorf("EvalDir = %q on rank %d", d, r.Rank)
	}
	p := r.Progress(3, "epoch 1/1")
	for range 3 {
		p.Step(4, map[string]float64{"loss": 0.25})
	}
	p.Done()
	r.Log.Info("routine message")
	r.Log.Warn("a warning")
	r.Fail(errors.New("a failure"))
}

// A rank other than 0 writes nothing at all, and its console shows warnings and errors
// only, with its rank.
func TestFollowerWritesNothing(t *testing.T) {
	c := testConfig(t, "run.name=shared")
	var console bytes.Buffer
	r, err := Create(Options{Config: c, Now: start, Rank: 1, World: 2, Console: &console})
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir != filepath.Join(c.Run.Dir, "shared") {
		t.Errorf("dir %s", r.Dir)
	}
	exercise(t, r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Run.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rank 1 created %s: %v", c.Run.Dir, err)
	}
	out := console.String()
	if strings.Contains(out, "routine") || strings.Contains(out, "epoch 1/1") || strings.Contains(out, "checkpoint") ||
		!strings.Contains(out, "a warning") || !strings.Contains(out, "a failure") || strings.Count(out, `"rank": 1`) != 2 {
		t.Errorf("rank 1 console:\n%s\nwant the warning and the failure only, each with rank 1", out)
	}
}

// Every rank reads the run directory rank 0 wrote (to resume from the same checkpoint),
// without changing it.
func TestFollowerReadsTheRun(t *testing.T) {
	c := testConfig(t, "run.name=shared")
	leader, err := Create(Options{Config: c, Now: start, World: 2, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	ck, err := leader.Checkpoint(12, func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("w"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	best := Best{Step: 12, Epoch: 1, Metric: "auc", Value: 0.75}
	if err := leader.MarkBest(best); err != nil {
		t.Fatal(err)
	}
	if d := leader.EvalDir(); d != filepath.Join(leader.Dir, "eval") {
		t.Errorf("rank 0 EvalDir = %q", d)
	}
	leader.Close()
	before := tree(t, c.Run.Dir)

	r, err := Create(Options{Config: c, Now: start, Rank: 1, World: 2, Resume: true, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	latest, ok, err := r.LatestCheckpoint()
	if err != nil || !ok || latest != ck {
		t.Errorf("rank 1 LatestCheckpoint = %+v %v %v, want %+v", latest, ok, err, ck)
	}
	b, bc, ok, err := r.Best()
	if err != nil || !ok || b != best || bc != ck {
		t.Errorf("rank 1 Best = %+v %+v %v %v", b, bc, ok, err)
	}
	exercise(t, r)
	r.Close()
	if after := tree(t, c.Run.Dir); !reflect.DeepEqual(before, after) {
		t.Errorf("rank 1 changed the run directory:\nbefore %v\nafter  %v", before, after)
	}
	// A follower cannot resume a run without a checkpoint either.
	if _, err := Create(Options{Config: testConfig(t, "run.name=none"), Rank: 1, World: 2, Resume: true, Quiet: true}); err == nil {
		t.Error("rank 1 resumed a run directory that does not exist")
	}
}

func TestRanksAndNames(t *testing.T) {
	c := testConfig(t)
	for _, o := range []Options{{World: 2}, {Rank: 2, World: 2}, {Rank: -1}, {World: -1}, {Rank: 1}} {
		o.Config, o.Quiet = c, true
		if r, err := Create(o); err == nil {
			r.Close()
			t.Errorf("rank %d of %d, name %q: accepted", o.Rank, o.World, o.Name)
		}
	}
	if _, err := Create(Options{Config: c, World: 2, Quiet: true}); err == nil || !strings.Contains(err.Error(), "fixed run name") {
		t.Errorf("automatic name with 2 processes: %v", err)
	}
	for _, bad := range []string{"a/b", "..", "."} {
		if _, err := Create(Options{Config: c, Name: bad, Quiet: true}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	// Options.Name overrides run.name, and the recorded config says so.
	named := testConfig(t, "run.name=from-config")
	r, err := Create(Options{Config: named, Name: "from-flag", Now: start, Quiet: true, World: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.Log.Info("x", zap.Int("i", 1))
	r.Close()
	if r.Name != "from-flag" || r.Dir != filepath.Join(named.Run.Dir, "from-flag") {
		t.Errorf("run %s in %s", r.Name, r.Dir)
	}
	y, _ := os.ReadFile(filepath.Join(r.Dir, "config.yaml"))
	if !strings.Contains(string(y), "name: from-flag") {
		t.Errorf("config.yaml does not record the name:\n%s", y)
	}
	if _, err := os.Stat(filepath.Join(named.Run.Dir, "from-config")); err == nil {
		t.Error("run.name's directory was created too")
	}
}
