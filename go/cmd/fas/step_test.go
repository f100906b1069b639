package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/method/methodtest"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func stepWriteWeights(t *testing.T, path, gate string, dt safetensors.DType, seed uint64) {
	t.Helper()
	m, err := shim.NewModel(shim.Config{Method: "anrl", Size: 32, DType: dt, Seed: seed,
		Settings: shim.Settings{{Key: "width", Value: "0.25"}, {Key: "gate", Value: gate}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := model.Save(m, path, nil); err != nil {
		t.Fatal(err)
	}
}

func TestModelStepErrors(t *testing.T) {
	dir := t.TempDir()
	w, bt := filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "b.safetensors")
	stepWriteWeights(t, w, "1layer", safetensors.F32, 1)
	methodtest.WriteBatch(t, bt, 3, 2, 32, 1)
	out := filepath.Join(dir, "o.safetensors")
	base := []string{"model", "step", "--weights", w, "--batch", bt, "--out", out}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--domain-order", "0,1"}, "2 entries"},
		{[]string{"--domain-order", "0,1,1"}, "not a permutation"},
		{[]string{"--set", "metasize"}, "KEY=VALUE"},
		{[]string{"--set", "bogus=1"}, `unknown setting bogus`},
		{[]string{"--set", "num_domains=4"}, `num_domains comes from the batch`},
		{[]string{"--set", "nesterov=maybe"}, "true or false"},
		{[]string{"--set", "metasize=3"}, "metasize 3"},
		{[]string{"--optimizer", "rmsprop"}, "rmsprop"},
		{[]string{"--lr", "-1"}, "learning rate"},
	} {
		_, err := modelRun(t, append(append([]string{}, base...), c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: err = %v, want one mentioning %q", c.args, err, c.msg)
		}
	}
	// A batch whose tensors disagree is named with its file.
	bad := filepath.Join(dir, "bad.safetensors")
	safetensors.Write(bad, []safetensors.Tensor{
		safetensors.FromFloat32("images", []int64{3, 4, 6, 32, 32}, make([]float32, 3*4*6*32*32)),
		safetensors.FromFloat32("depth", []int64{3, 4, 8, 8}, make([]float32, 3*4*64)),
		safetensors.FromInt64("labels", []int64{3, 4}, make([]int64, 12)),
	}, nil)
	_, err := modelRun(t, "model", "step", "--weights", w, "--batch", bad, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "bad.safetensors: depth has shape [3 4 8 8], want [3 4 4 4]") {
		t.Errorf("mismatched depth: %v", err)
	}
}

// `fas model step` maps its flags onto the trainer exactly: its output equals one step of the
// shim's trainer with the same settings, bit for bit (the trainer's own golden test against
// PyTorch is in package shim).
func TestModelStepIsTheTrainersStep(t *testing.T) {
	dir := t.TempDir()
	w, bt := filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "b.safetensors")
	stepWriteWeights(t, w, "2layer", safetensors.F32, 3)
	methodtest.WriteBatch(t, bt, 4, 2, 32, 5)
	out := filepath.Join(dir, "o.safetensors")
	js, err := modelRun(t, "model", "step", "--threads", "1", "--weights", w, "--batch", bt, "--out", out,
		"--domain-order", "3,1,0,2", "--optimizer", "sgd", "--lr", "0.01", "--weight-decay", "0.01",
		"--set", "momentum=0.9", "--set", "nesterov=true", "--set", "decoupled_weight_decay=true",
		"--set", "alpha=0.05", "--set", "w_domain=0.5", "--set", "metasize=3")
	if err != nil {
		t.Fatal(err)
	}
	cfg := shim.DefaultTrainConfig()
	cfg.Optimizer, cfg.WeightDecay, cfg.Momentum, cfg.Nesterov, cfg.DecoupledWeightDecay = "sgd", 0.01, 0.9, true, true
	cfg.Settings = shim.Settings{{Key: "num_domains", Value: "4"}, {Key: "meta_step_size", Value: "0.05"},
		{Key: "w_domain", Value: "0.5"}, {Key: "metasize", Value: "3"}}
	m, _, err := model.Load(w, model.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tr, err := shim.NewTrainer(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	f, err := safetensors.Read(bt)
	if err != nil {
		t.Fatal(err)
	}
	var batch []shim.View
	for i := range f.Tensors {
		v, _ := shim.FromFile(&f.Tensors[i])
		batch = append(batch, v)
	}
	batch = append(batch, shim.I64("domain_order", []int64{4}, []int64{3, 1, 0, 2}))
	st, err := tr.Step(batch, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(stepJSON(st))
	if strings.TrimSpace(js) != string(want) {
		t.Errorf("fas model step printed\n%s\nthe trainer's step gives\n%s", js, want)
	}
	got, err := safetensors.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := m.Export()
	for _, x := range ts {
		g, ok := got.Get(x.Name)
		if !ok || string(g.Data) != string(x.Data) {
			t.Fatalf("%s differs between fas model step and the trainer", x.Name)
		}
	}
}
