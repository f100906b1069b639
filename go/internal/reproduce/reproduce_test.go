package reproduce

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/synth"
	"github.com/fasgo/fasgo/go/internal/train"
)

// tinyOptions: the synthetic benchmark at its smallest with four domains (so that the three
// sources give two meta-train domains and the tface grouping really regroups), one protocol
// under both groupings, two seeds, one epoch of a narrow network.
func tinyOptions(out string) Options {
	return Options{
		Method: "anrl", Data: Synth, Protocols: []string{"lodo_dom1"}, Seeds: 2, Groupings: []string{"domain", "tface"},
		Out:   out,
		Sets:  []string{"train.epochs=1", "train.batch_size=2", "model.width=0.125", "run.threads=1"},
		Synth: synth.Options{Domains: 4, Subjects: 5, VideosPerSubject: 1, Frames: 2, Size: 32, Seed: 3},
		Quiet: true,
	}
}

func TestReproduceSynthTiny(t *testing.T) {
	out := t.TempDir()
	o := tinyOptions(out)
	tab, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 2 || tab.Rows[0].Grouping != "domain" || tab.Rows[1].Grouping != "tface" {
		t.Fatalf("rows %+v", tab.Rows)
	}
	for _, r := range tab.Rows {
		checkRow(t, out, r)
	}
	checkFiles(t, out, tab)

	// Resume: nothing is trained again, the table is the same.
	o.Train = func(_ context.Context, j Job) error {
		t.Errorf("%s trained again", j.Dir)
		return nil
	}
	again, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Rows, tab.Rows) {
		t.Errorf("the resumed table differs:\n%+v\n%+v", again.Rows, tab.Rows)
	}

	// A changed experiment is refused, not silently reused.
	changed := o
	changed.Sets = append(append([]string{}, o.Sets...), "anrl.loss.depth=0.2")
	if _, err := Run(context.Background(), changed); err == nil || !strings.Contains(err.Error(), "another config") ||
		!strings.Contains(err.Error(), "anrl.loss.depth") {
		t.Errorf("a changed config: err = %v", err)
	}

	// An unfinished run (its final report missing) is resumed from its checkpoint.
	victim := filepath.Join(out, tab.Rows[1].Runs[1].Dir)
	if err := os.Remove(filepath.Join(victim, "eval", "checkpoint.json")); err != nil {
		t.Fatal(err)
	}
	var trained []Job
	o.Train = func(ctx context.Context, j Job) error {
		trained = append(trained, j)
		_, err := train.Run(ctx, j.Cfg, train.Options{Resume: j.Resume, Restart: j.Restart, Quiet: true})
		return err
	}
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(trained) != 1 || trained[0].Dir != victim || !trained[0].Resume {
		t.Errorf("trained %+v, want only %s, resumed", trained, victim)
	}
}

// checkRow compares a row with its runs' own result files and recomputes mean and std.
func checkRow(t *testing.T, out string, r Row) {
	t.Helper()
	if len(r.Runs) != 2 || r.Runs[1].Seed != r.Runs[0].Seed+1 {
		t.Fatalf("%s/%s: runs %+v", r.Protocol, r.Grouping, r.Runs)
	}
	var paper, real, auc []float64
	for _, x := range r.Runs {
		dir := filepath.Join(out, x.Dir)
		var rep struct {
			AUC   float64 `json:"auc"`
			Paper struct {
				HTER float64 `json:"hter"`
			} `json:"paper"`
			Realistic struct {
				HTER float64 `json:"hter"`
			} `json:"realistic"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "eval", "metrics.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		if x.HTERPaper != 100*rep.Paper.HTER || x.AUC != 100*rep.AUC || x.HTERRealistic == nil || *x.HTERRealistic != 100*rep.Realistic.HTER {
			t.Errorf("%s: table %+v, metrics.json %+v", x.Dir, x, rep)
		}
		stored, err := config.Load(filepath.Join(dir, "config.yaml"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Seed != x.Seed || stored.ANRL.BatchGrouping != r.Grouping || stored.Train.Epochs != 1 {
			t.Errorf("%s ran seed %d, grouping %s, %d epochs", x.Dir, stored.Seed, stored.ANRL.BatchGrouping, stored.Train.Epochs)
		}
		paper, real, auc = append(paper, x.HTERPaper), append(real, *x.HTERRealistic), append(auc, x.AUC)
	}
	for _, c := range []struct {
		name string
		got  Stat
		xs   []float64
	}{{"hter_paper", r.HTERPaper, paper}, {"hter_realistic", *r.HTERRealistic, real}, {"auc", r.AUC, auc}} {
		// Two values: mean (a+b)/2, sample std |a-b|/sqrt(2).
		mean, std := (c.xs[0]+c.xs[1])/2, math.Abs(c.xs[0]-c.xs[1])/math.Sqrt2
		if math.Abs(c.got.Mean-mean) > 1e-9 || math.Abs(c.got.Std-std) > 1e-9 || c.got.N != 2 {
			t.Errorf("%s %s: %+v, want mean %v std %v", r.Grouping, c.name, c.got, mean, std)
		}
	}
	if r.Published != nil {
		t.Errorf("synthetic data has no published numbers, got %+v", r.Published)
	}
}

// checkFiles reads results.json and results.md back.
func checkFiles(t *testing.T, out string, tab *Table) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, TableJSON))
	if err != nil {
		t.Fatal(err)
	}
	var back Table
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Rows, tab.Rows) {
		t.Errorf("results.json rows differ from the table")
	}
	md, err := os.ReadFile(filepath.Join(out, TableMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tab.Rows {
		line := "| " + r.Protocol + " | " + r.Grouping + " | 2 | " + r.HTERPaper.String() + " | " + r.HTERRealistic.String() +
			" | " + r.AUC.String() + " | — | "
		if !strings.Contains(string(md), line) {
			t.Errorf("results.md lacks %q:\n%s", line, md)
		}
		for _, x := range r.Runs {
			if !strings.Contains(string(md), "("+x.Dir+")") {
				t.Errorf("results.md does not link %s", x.Dir)
			}
			if st, err := os.Stat(filepath.Join(out, x.Dir)); err != nil || !st.IsDir() {
				t.Errorf("linked run %s: %v", x.Dir, err)
			}
		}
	}
}
