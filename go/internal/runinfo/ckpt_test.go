package runinfo

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/fasgo/fasgo/go/internal/modecheck"
	"github.com/fasgo/fasgo/go/internal/safetensors"
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

func writeModel(content string) func(dir string) error {
	return func(dir string) error {
		return os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte(content), 0o644)
	}
}

func steps(cs []Checkpoint) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.Step)
	}
	return out
}

// The recorder's checkpoint methods: write, failed write, prune, best.
func TestRunCheckpoints(t *testing.T) {
	r := create(t, testConfig(t, "run.name=ck"), false)
	defer r.Close()
	for _, s := range []int64{10, 20, 30} {
		c, err := r.Checkpoint(s, writeModel("w"))
		if err != nil || c.Dir != filepath.Join(r.CkptDir(), ckptDirName(s)) {
			t.Fatalf("Checkpoint(%d) = %+v, %v", s, c, err)
		}
	}
	boom := errors.New("disk full")
	var tmp string
	_, err := r.Checkpoint(40, func(dir string) error { tmp = dir; return boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "step 40") {
		t.Errorf("failed write: %v", err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("failed checkpoint's directory %s left: %v", tmp, err)
	}
	if err := r.MarkBest(Best{Step: 10, Epoch: 1, Metric: "auc", Value: 0.9}); err != nil {
		t.Fatal(err)
	}
	latest, _, _ := r.LatestCheckpoint()
	best, _, _, _ := r.Best()
	if err := r.Prune(func(c Checkpoint) bool { return c.Step == latest.Step || c.Step == best.Step }); err != nil {
		t.Fatal(err)
	}
	all, _ := ListCheckpoints(r.CkptDir())
	if got := steps(all); !reflect.DeepEqual(got, []int64{10, 30}) {
		t.Errorf("after pruning: %v, want [10 30]", got)
	}
	ents, _ := os.ReadDir(r.CkptDir())
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"best.json", "step-000000010", "step-000000030"}) {
		t.Errorf("ckpt/ holds %v", names)
	}
	if err := r.MarkBest(Best{Step: 20}); err == nil {
		t.Error("MarkBest of a pruned checkpoint succeeded")
	}
}

// What a killed process leaves in ckpt/ is repaired by the next Create: an unfinished
// checkpoint and a half-deleted one go, a checkpoint caught between the renames of Commit
// comes back.
func TestCreateRepairsCheckpoints(t *testing.T) {
	c := testConfig(t, "run.name=crash")
	r := create(t, c, false)
	if _, err := r.Checkpoint(5, writeModel("five")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	ck := r.CkptDir()
	os.Mkdir(filepath.Join(ck, ".step-000000009.tmp1234abcd"), 0o755)
	os.MkdirAll(filepath.Join(ck, ".step-000000003.del99", "step-000000003"), 0o755)
	os.WriteFile(filepath.Join(ck, ".best.json.tmp42"), []byte("{"), 0o644)
	// Killed after step-5 became step-5.old and before the new step-5 took its place.
	os.Rename(filepath.Join(ck, "step-000000005"), filepath.Join(ck, "step-000000005.old"))

	// The resume finds the restored checkpoint: the repair comes first.
	r2 := create(t, c, true)
	if latest, ok, _ := r2.LatestCheckpoint(); !ok || latest.Step != 5 {
		t.Errorf("latest after repair %+v %v", latest, ok)
	}
	r2.Close()
	names := func() []string {
		ents, _ := os.ReadDir(ck)
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	if got := names(); !reflect.DeepEqual(got, []string{"step-000000005"}) {
		t.Errorf("ckpt/ after repair: %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(ck, "step-000000005", "model.safetensors")); string(b) != "five" {
		t.Errorf("restored checkpoint holds %q", b)
	}
	var repaired int
	for _, l := range readJSONL(t, filepath.Join(r2.Dir, "log.jsonl")) {
		if l["msg"] == "checkpoint directory" {
			repaired++
		}
	}
	if repaired != 4 {
		t.Errorf("%d repairs logged, want 4", repaired)
	}

	// A replaced checkpoint whose successor is in place is only an old copy.
	os.MkdirAll(filepath.Join(ck, "step-000000005.old"), 0o755)
	create(t, c, true).Close()
	if got := names(); !reflect.DeepEqual(got, []string{"step-000000005"}) {
		t.Errorf("ckpt/ after removing the old copy: %v", got)
	}
}

// Files and directories of a run get the usual modes under umask 022: 0644 and 0755.
func TestRunFileModes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	r := create(t, testConfig(t, "run.name=modes"), false)
	if err := r.StepMetrics(1, 0, map[string]float64{"loss": 1}); err != nil {
		t.Fatal(err)
	}
	var ckDir string
	c, err := r.Checkpoint(1, func(dir string) error {
		ckDir = dir
		return safetensors.WriteFileAtomic(filepath.Join(dir, "model.safetensors"), []byte("x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.MarkBest(Best{Step: 1}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(c.Dir); st.Mode().Perm() != 0o755 {
		t.Errorf("checkpoint directory %s (written as %s): mode %v, want 0755", c.Dir, filepath.Base(ckDir), st.Mode().Perm())
	}
	r.Close()
	if n := modecheck.Tree(t, r.Dir); n < 12 {
		t.Errorf("only %d entries in the run directory", n)
	}
}
