package runinfo

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func writeCkpt(t *testing.T, dir string, step int64, content string) Checkpoint {
	t.Helper()
	p, err := BeginCheckpoint(dir, step)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.Dir, "model.safetensors"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := p.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckpoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	if _, ok, err := LatestCheckpoint(dir); ok || err != nil {
		t.Fatalf("empty: ok %v err %v", ok, err)
	}
	writeCkpt(t, dir, 1200, "b")
	writeCkpt(t, dir, 300, "a")
	writeCkpt(t, dir, 1_000_000_000, "c") // more digits than the padding
	// An unfinished checkpoint and stray files are not listed.
	pending, err := BeginCheckpoint(dir, 5000)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "step-000000007"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "notes"), 0o755)

	all, err := ListCheckpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int64
	for _, c := range all {
		steps = append(steps, c.Step)
	}
	if !reflect.DeepEqual(steps, []int64{300, 1200, 1_000_000_000}) {
		t.Errorf("steps %v", steps)
	}
	latest, ok, err := LatestCheckpoint(dir)
	if err != nil || !ok || latest.Step != 1_000_000_000 || filepath.Base(latest.Dir) != "step-1000000000" {
		t.Errorf("latest %+v ok %v err %v", latest, ok, err)
	}
	if err := pending.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pending.Dir); !os.IsNotExist(err) {
		t.Errorf("aborted checkpoint still there: %v", err)
	}

	// Saving a step again replaces its checkpoint.
	c := writeCkpt(t, dir, 300, "a2")
	if b, _ := os.ReadFile(filepath.Join(c.Dir, "model.safetensors")); string(b) != "a2" {
		t.Errorf("recommitted checkpoint holds %q", b)
	}
	if all2, _ := ListCheckpoints(dir); len(all2) != 3 {
		t.Errorf("%d checkpoints after recommit, want 3", len(all2))
	}
}

func TestBest(t *testing.T) {
	dir := t.TempDir()
	if _, _, ok, err := ReadBest(dir); ok || err != nil {
		t.Fatalf("no best.json: ok %v err %v", ok, err)
	}
	if err := MarkBest(dir, Best{Step: 9}); err == nil {
		t.Error("MarkBest of a missing checkpoint succeeded")
	}
	c := writeCkpt(t, dir, 40, "x")
	want := Best{Step: 40, Epoch: 3, Metric: "auc", Value: 0.9125}
	if err := MarkBest(dir, want); err != nil {
		t.Fatal(err)
	}
	got, gc, ok, err := ReadBest(dir)
	if err != nil || !ok || got != want || gc != c {
		t.Errorf("ReadBest = %+v %+v %v %v", got, gc, ok, err)
	}
	os.RemoveAll(c.Dir)
	if _, _, _, err := ReadBest(dir); err == nil {
		t.Error("ReadBest of a removed checkpoint succeeded")
	}
}
