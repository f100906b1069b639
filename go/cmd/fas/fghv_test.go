package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/method/methodtest"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/synth"
)

// fghvTiny are the model settings of a tiny FGHV for the CLI tests.
var fghvTiny = []string{"--method", "fghv", "--size", "32", "--width", "0.125", "--setting", "latent_dim=8",
	"--setting", "hypotheses=4", "--setting", "draws=2", "--setting", "latent_steps=3"}

// fas model init / summary / forward / step on an FGHV network.
func TestFGHVModelCommands(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w.safetensors")
	out, err := modelRun(t, append(append([]string{"model", "init"}, fghvTiny...), "--seed", "2", "--out", w)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "fghv size 32 width=0.125 adanorm=false latent_dim=8 hypotheses=4") {
		t.Errorf("init: %s", out)
	}
	sum, err := modelRun(t, append([]string{"model", "summary"}, fghvTiny...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"FeatExtractor.down3", "Embedder", "DepthEstmator", "RealFGN", "AttackFGN", "total"} {
		if !strings.Contains(sum, row) {
			t.Errorf("summary lacks %s:\n%s", row, sum)
		}
	}
	if _, err := modelRun(t, "model", "summary", "--method", "fghv", "--size", "32", "--setting", "hypothesis=3"); err == nil ||
		!strings.Contains(err.Error(), "unknown setting hypothesis") {
		t.Errorf("unknown setting: %v", err)
	}
	// The weights describe themselves: a model loads with the init settings.
	_, meta, err := model.Load(w, model.Options{})
	if err != nil || meta.Method != "fghv" || meta.Setting("hypotheses") != "4" || meta.Setting("latent_dim") != "8" {
		t.Fatalf("load: %+v %v", meta, err)
	}
	// Forward: every named output and the score, deterministic for a seed.
	in := filepath.Join(dir, "x.safetensors")
	modelWriteInput(t, in, 3, 32, false)
	fwd := func(seed string, train bool) *safetensors.File {
		t.Helper()
		o := filepath.Join(dir, "y"+seed+".safetensors")
		args := []string{"model", "forward", "--weights", w, "--input", in, "--out", o, "--threads", "1", "--seed", seed}
		if train {
			args = append(args, "--train")
		}
		if _, err := modelRun(t, args...); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.Read(o)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := fwd("5", false)
	shapes := map[string][]int64{"feature": {3, 64}, "depth": {3, 4, 4}, "corr_real": {3, 2, 4}, "corr_attack": {3, 2, 4},
		"space_score": {3}, "corr_spread": {3}, "kl_before": {3}, "kl_real": {3}, "kl_attack": {3}, "delta_kl": {3},
		"fused_score": {3}, "score": {3}}
	for name, shape := range shapes {
		tt, ok := f.Get(name)
		if !ok || !equalShape(tt.Shape, shape) {
			t.Errorf("forward output %s: %v, want shape %v", name, tt, shape)
		}
	}
	if len(f.Tensors) != len(shapes) {
		t.Errorf("forward wrote %d tensors, want %d", len(f.Tensors), len(shapes))
	}
	fused, _ := f.Get("fused_score")
	score, _ := f.Get("score")
	fv, _ := fused.Float32()
	sv, _ := score.Float64()
	for i := range sv {
		if want := 1 / (1 + math.Exp(-8*(0.5-float64(fv[i])))); math.Abs(sv[i]-want) > 1e-6 {
			t.Errorf("score %d = %v, sigmoid(8 (1/2 - fused)) = %v", i, sv[i], want)
		}
	}
	g := fwd("5", false)
	h := fwd("6", false)
	for _, name := range []string{"corr_real", "delta_kl", "score"} {
		a, _ := f.Get(name)
		b, _ := g.Get(name)
		c, _ := h.Get(name)
		if string(a.Data) != string(b.Data) || string(a.Data) == string(c.Data) {
			t.Errorf("%s: not the same for seed 5 twice, or the same for seeds 5 and 6", name)
		}
	}
	if tr := fwd("5", true); len(tr.Tensors) != 2 {
		t.Errorf("a training-mode forward wrote %d tensors (want feature, depth)", len(tr.Tensors))
	}
	// One training step, plain and meta.
	batch := filepath.Join(dir, "batch.safetensors")
	methodtest.WriteBatch(t, batch, 3, 2, 32, 1)
	for _, sets := range [][]string{nil, {"--set", "meta=true", "--set", "meta_step_size=0.01", "--domain-order", "2,0,1"},
		{"--set", "rcc=hinge", "--set", "w_ddc=0.5", "--optimizer", "sgd"}} {
		w2 := filepath.Join(dir, "w2.safetensors")
		args := append([]string{"model", "step", "--weights", w, "--batch", batch, "--out", w2, "--lr", "0.01", "--threads", "1"}, sets...)
		out, err := modelRun(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", sets, err)
		}
		var st map[string]any
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("step output %q: %v", out, err)
		}
		key := "rcc"
		if len(sets) > 1 && sets[1] == "meta=true" {
			key = "meta_test/rcc"
		}
		if _, ok := st[key]; !ok || st["step"] != 1.0 {
			t.Errorf("%v: step output lacks %s: %s", sets, key, out)
		}
		a, _ := safetensors.Read(w)
		b, err := safetensors.Read(w2)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := a.Get("RealFGN.fc1.weight")
		y, _ := b.Get("RealFGN.fc1.weight")
		if string(x.Data) == string(y.Data) || b.Metadata["method"] != "fghv" {
			t.Errorf("%v: the step did not update the generator or lost the method", sets)
		}
	}
	if _, err := modelRun(t, "model", "step", "--weights", w, "--batch", batch, "--out", filepath.Join(dir, "w3.safetensors"),
		"--set", "w_cls=1"); err == nil || !strings.Contains(err.Error(), "cls_head") {
		t.Errorf("w_cls without the head: %v", err)
	}
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// fas train on FGHV fits lambda and reports the parts; fas eval of the run's best
// checkpoint with the same config reproduces the run's test scores exactly (the stored
// lambda is used) and writes the part reports and the decision plane.
func TestFGHVTrainEvalCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "synth")
	o := synth.Options{Domains: 3, Subjects: 5, VideosPerSubject: 2, Frames: 2, Size: 32, Seed: 3}
	if _, err := synth.Write(context.Background(), data, o, false, nil); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(data, "configs", synth.ProtocolName(0)+".yaml")
	sets := []string{"--set", "method=fghv", "--set", "model.width=0.125", "--set", "fghv.latent_dim=8",
		"--set", "fghv.hypotheses=4", "--set", "fghv.test.latent_steps=3", "--set", "run.threads=2"}
	runs := filepath.Join(dir, "runs")
	out, err := modelRun(t, append([]string{"train", "--quiet", "--config", cfg, "--set", "run.dir=" + runs,
		"--set", "run.name=f", "--set", "train.epochs=1", "--set", "train.batch_size=2"}, sets...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"calibrated on the validation lists and stored with the best checkpoint: lambda=",
		"| space: space score alone", "| delta_kl: distribution score alone"} {
		if !strings.Contains(out, want) {
			t.Errorf("fas train output lacks %q:\n%s", want, out)
		}
	}
	ev := filepath.Join(dir, "eval")
	out, err = modelRun(t, append([]string{"eval", "--quiet", "--config", cfg, "--checkpoint", filepath.Join(runs, "f"), "--out", ev}, sets...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "| space: space score alone") {
		t.Errorf("fas eval output lacks the parts table:\n%s", out)
	}
	for _, f := range []string{"scores.csv", "space/scores.csv", "delta_kl/scores.csv", "space/val/metrics.json", "decision_plane.png"} {
		a, err1 := os.ReadFile(filepath.Join(runs, "f", "eval", f))
		b, err2 := os.ReadFile(filepath.Join(ev, f))
		if err1 != nil || err2 != nil || (strings.HasSuffix(f, ".csv") && string(a) != string(b)) {
			t.Errorf("%s: the run's and fas eval's differ (%v, %v)", f, err1, err2)
		}
	}
}
