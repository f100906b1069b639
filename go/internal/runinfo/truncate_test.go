package runinfo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

func jsonlSteps(t *testing.T, path string) []int64 {
	t.Helper()
	var out []int64
	for _, l := range readJSONL(t, path) {
		out = append(out, int64(l["step"].(float64)))
	}
	return out
}

// tbSteps reads every event file of dir/tb with the Python reader (which checks the framing
// and CRCs) and returns, per tag, the steps it has values at, in file order.
func tbSteps(t *testing.T, dir string) (map[string][]int64, int) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "tb", "events.out.tfevents.*"))
	sort.Strings(files)
	out := map[string][]int64{}
	for _, f := range files {
		var evs []struct {
			Step        int64  `json:"step"`
			FileVersion string `json:"file_version"`
			Values      []struct {
				Tag string `json:"tag"`
			} `json:"values"`
		}
		if err := json.Unmarshal(pyref.Run(t, nil, "read_tfevents.py", f), &evs); err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 || evs[0].FileVersion == "" {
			t.Errorf("%s does not start with the file_version event", f)
		}
		for _, e := range evs {
			for _, v := range e.Values {
				out[v.Tag] = append(out[v.Tag], e.Step)
			}
		}
	}
	return out, len(files)
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// A run that logged steps 1..10 and was interrupted after its checkpoint of step 6 is
// resumed: after TruncateAfter(6) and steps 7..8 every file holds each step once.
func TestTruncateAfterResume(t *testing.T) {
	c := testConfig(t, "run.name=resumed")
	r := create(t, c, false)
	for s := int64(1); s <= 10; s++ {
		if err := r.StepMetrics(s, float64(s)/5, map[string]float64{"loss": 1 / float64(s), "lr": 1e-4}); err != nil {
			t.Fatal(err)
		}
		if s == 6 {
			if _, err := r.Checkpoint(6, writeModel("6")); err != nil {
				t.Fatal(err)
			}
		}
		if s%5 == 0 {
			if err := r.EpochMetrics(int(s/5), s, map[string]float64{"val/auc": 0.5}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.Close()
	// The killed writer tore its last line.
	f, _ := os.OpenFile(filepath.Join(r.Dir, "metrics", "steps.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"step":11,"lo`)
	f.Close()

	r2, err := Create(Options{Config: c, Now: start.Add(time.Hour), Quiet: true, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	latest, ok, err := r2.LatestCheckpoint()
	if err != nil || !ok || latest.Step != 6 {
		t.Fatalf("latest %+v %v %v", latest, ok, err)
	}
	if err := r2.TruncateAfter(latest.Step); err != nil {
		t.Fatal(err)
	}
	for s := int64(7); s <= 8; s++ {
		if err := r2.StepMetrics(s, float64(s)/5, map[string]float64{"loss": 1 / float64(s), "lr": 1e-4}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}

	if got := jsonlSteps(t, filepath.Join(r.Dir, "metrics", "steps.jsonl")); !reflect.DeepEqual(got, seq(1, 8)) {
		t.Errorf("steps.jsonl steps %v, want 1..8", got)
	}
	if got := jsonlSteps(t, filepath.Join(r.Dir, "metrics", "epochs.jsonl")); !reflect.DeepEqual(got, []int64{5}) {
		t.Errorf("epochs.jsonl steps %v, want [5]", got)
	}
	tags, files := tbSteps(t, r.Dir)
	if files != 2 {
		t.Errorf("%d event files, want 2 (one per process)", files)
	}
	want := map[string][]int64{"loss": seq(1, 8), "lr": seq(1, 8), "val/auc": {5}}
	if !reflect.DeepEqual(tags, want) {
		t.Errorf("tensorboard steps per tag %v, want %v", tags, want)
	}
	var dropped map[string]any
	for _, l := range readJSONL(t, filepath.Join(r.Dir, "log.jsonl")) {
		if l["msg"] == "metrics after the checkpoint dropped" {
			dropped = l["dropped"].(map[string]any)
		}
	}
	// 4 steps and the torn line; the epoch of step 10; 4 step events and 1 epoch event.
	if w := map[string]any{"steps.jsonl": 5.0, "epochs.jsonl": 1.0, "tb events": 5.0}; !reflect.DeepEqual(dropped, w) {
		t.Errorf("logged drops %v, want %v", dropped, w)
	}
}

// Truncating at the last step changes nothing; lines with a step of a float form count.
func TestJSONLTruncate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.jsonl")
	os.WriteFile(p, []byte("{\"step\":1}\n{\"step\":2.0}\n{\"note\":\"no step\"}\n{\"step\":3}\n"), 0o644)
	j, err := OpenJSONL(p)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := j.truncateAfter(3); n != 0 || err != nil {
		t.Errorf("truncate at the end: %d %v", n, err)
	}
	if n, err := j.truncateAfter(1); n != 2 || err != nil {
		t.Errorf("truncate after 1: %d %v", n, err)
	}
	if err := j.Write(map[string]any{"step": 2, "time": "t"}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	b, _ := os.ReadFile(p)
	if want := "{\"step\":1}\n{\"note\":\"no step\"}\n{\"step\":2,\"time\":\"t\"}\n"; string(b) != want {
		t.Errorf("file %q, want %q", b, want)
	}
	os.WriteFile(p, []byte("{\"step\":1}\nnot json\n{\"step\":3}\n"), 0o644)
	j, _ = OpenJSONL(p)
	defer j.Close()
	if _, err := j.truncateAfter(1); err == nil {
		t.Error("a damaged line in the middle was accepted")
	}
}
