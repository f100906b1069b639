package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/synth"
)

// runSynthCLI runs `fas synth ARGS...` on a fresh command.
func runSynthCLI(t *testing.T, args ...string) error {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "fas", Commands: []*cli.Command{synthCommand()}, Writer: &out, ErrWriter: &out}
	return app.Run(append([]string{"fas", "synth"}, args...))
}

func TestSynthCommand(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "bench")
	preview := filepath.Join(tmp, "sheet.png")
	small := []string{"--domains", "3", "--subjects", "3", "--videos-per-subject", "1", "--frames", "1", "--size", "32", "--seed", "5"}
	if err := runSynthCLI(t, append([]string{"--out", dir, "--preview", preview}, small...)...); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(preview)
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("preview: %v", err)
	}
	// 3 domain rows of 96-pixel tiles (32 px zoomed 3x) plus labels.
	if b := sheet.Bounds(); b.Dy() < 3*96 || b.Dx() < 7*96 {
		t.Errorf("preview is %v, want 3 rows and 7 columns of 96-pixel tiles", b)
	}
	for _, target := range []string{"dom0", "dom1", "dom2"} {
		file := filepath.Join(dir, "configs", "lodo_"+target+".yaml")
		got, err := config.Load(file, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := got.CheckPaths(); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		// The target is tested whole: its train, val and test lists.
		if len(got.Dataset.Train) != 2 || len(got.Dataset.Val) != 2 || len(got.Dataset.Test) != 3 {
			t.Errorf("%s: not leave-%s-out: %+v", file, target, got.Dataset)
		}
		for i, split := range []string{"train", "val", "test"} {
			if i < len(got.Dataset.Test) && (got.Dataset.Test[i].Name != target ||
				got.Dataset.Test[i].Live != "lists/"+target+"_"+split+"_live.txt") {
				t.Errorf("%s: dataset.test[%d] = %+v, want %s's %s lists", file, i, got.Dataset.Test[i], target, split)
			}
		}
		for _, e := range append(got.Dataset.Train, got.Dataset.Val...) {
			if e.Name == target {
				t.Errorf("%s: the target domain is among the sources", file)
			}
		}
		if len(got.Dataset.DepthRule) != 3 || got.Dataset.DepthRule[1] != (config.DepthRule{From: "dom1/", To: "dom1_depth/"}) {
			t.Errorf("%s: depth rule %+v", file, got.Dataset.DepthRule)
		}
		// Everything but the data, the image size and the small-CPU training settings
		// keeps the design's defaults.
		want := config.Default()
		want.Dataset = got.Dataset
		want.Run = got.Run
		want.Transform.ImageSize = 32
		want.Model.Width = 0.25
		want.Train.Epochs, want.Train.BatchSize = 5, 4
		want.ANRL.Metasize = 1 // two source domains: one meta-train, one meta-test
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s differs from the defaults beyond data and small-CPU settings:\n got %+v\nwant %+v", file, got, want)
		}
	}

	checkWithDataset(t, dir)

	if err := runSynthCLI(t, append([]string{"--out", dir}, small...)...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second run without --force: %v", err)
	}
	if err := runSynthCLI(t, append([]string{"--out", dir, "--force"}, small...)...); err != nil {
		t.Errorf("--force: %v", err)
	}
	if err := runSynthCLI(t); err == nil || !strings.Contains(err.Error(), "--out") {
		t.Errorf("no output named: %v", err)
	}
	if err := runSynthCLI(t, "--out", filepath.Join(tmp, "x"), "--domains", "2"); err == nil || !strings.Contains(err.Error(), "domains = 2") {
		t.Errorf("2 domains: %v", err)
	}
}

// checkWithDataset reads every list with the dataset package and decodes every image and
// live depth map through its Check, as `fas data check` and training will.
func checkWithDataset(t *testing.T, dir string) {
	t.Helper()
	cfg, err := config.Load(filepath.Join(dir, "configs", "lodo_dom0.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rule dataset.DepthRule
	for _, r := range cfg.Dataset.DepthRule {
		rule = append(rule, dataset.Replace{From: r.From, To: r.To})
	}
	lists, err := filepath.Glob(filepath.Join(dir, "lists", "*.txt"))
	if err != nil || len(lists) != 3*3*2 {
		t.Fatalf("%d lists (%v)", len(lists), err)
	}
	var entries []dataset.Entry
	for _, l := range lists {
		es, err := dataset.ReadList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Landmarks == nil || (e.Label == dataset.Attack) != (e.Attack != "") {
				t.Errorf("%s:%d: landmarks %v, label %d, attack %q", e.List, e.Line, e.Landmarks, e.Label, e.Attack)
			}
		}
		entries = append(entries, es...)
	}
	db, err := lmdb.Open(filepath.Join(dir, "data.lmdb"), lmdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	problems, st, err := dataset.Check(context.Background(), db, entries, rule, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	// 3 domains x 3 subjects x (1 live + 1 attack video) x 1 frame; a depth map per live frame.
	if st.Entries != 18 || st.Images != 18 || st.DepthMaps != 9 {
		t.Errorf("dataset.Check saw %+v, want 18 entries and images, 9 depth maps", st)
	}
}

// fas synth gap prints the probe's table and writes the same report as JSON.
func TestSynthGapCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "gap.json")
	var buf bytes.Buffer
	app := &cli.App{Name: "fas", Commands: []*cli.Command{synthCommand()}, Writer: &buf, ErrWriter: &buf}
	args := []string{"fas", "synth", "gap", "--domains", "3", "--subjects", "5", "--frames", "1", "--size", "32", "--seed", "2", "--json", out}
	if err := app.Run(args); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep synth.GapReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("gap.json: %v", err)
	}
	if len(rep.Rows) != 3 || rep.Options.Subjects != 5 || rep.Options.Size != 32 {
		t.Fatalf("report %+v", rep)
	}
	mean := 0.0
	for _, r := range rep.Rows {
		if math.Abs(r.Gap-(r.Oracle-r.Source)) > 1e-12 || !strings.Contains(buf.String(), fmt.Sprintf("| %s | %.3f | %.3f |", r.Target, r.Oracle, r.Source)) {
			t.Errorf("row %+v: gap or table line wrong in\n%s", r, buf.String())
		}
		mean += r.Gap / 3
	}
	if math.Abs(mean-rep.MeanGap) > 1e-12 {
		t.Errorf("mean gap %v, rows give %v", rep.MeanGap, mean)
	}
	if err := app.Run([]string{"fas", "synth", "gap", "--domains", "2"}); err == nil || !strings.Contains(err.Error(), "domains") {
		t.Errorf("2 domains: err = %v, want a range error naming domains", err)
	}
}
