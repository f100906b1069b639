package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// stepWriteBatch writes a K-domain batch (B live then B attack per domain) with per-domain
// shifts and live samples carrying a brighter pattern and a depth map.
func stepWriteBatch(t *testing.T, path string, k, b, s int, seed int64) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	n, f := 2*b, s/8
	img := make([]float32, k*n*6*s*s)
	dep := make([]float32, k*n*f*f)
	lab := make([]int64, k*n)
	for d := 0; d < k; d++ {
		for i := 0; i < n; i++ {
			idx := d*n + i
			live := i < b
			if !live {
				lab[idx] = 1
			}
			for j := idx * 6 * s * s; j < (idx+1)*6*s*s; j++ {
				v := 0.5*r.NormFloat64() + 0.25*float64(d)
				if live {
					v += 0.4
				}
				img[j] = float32(v)
			}
			if live {
				for j := idx * f * f; j < (idx+1)*f*f; j++ {
					dep[j] = float32(r.Float64())
				}
			}
		}
	}
	k64, n64, s64, f64 := int64(k), int64(n), int64(s), int64(f)
	err := safetensors.Write(path, []safetensors.Tensor{
		safetensors.FromFloat32("images", []int64{k64, n64, 6, s64, s64}, img),
		safetensors.FromFloat32("depth", []int64{k64, n64, f64, f64}, dep),
		safetensors.FromInt64("labels", []int64{k64, n64}, lab),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

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

// stepFigures is a step's JSON in the flat form `fas model step` prints: named statistics,
// "domain_order" and "step".
type stepFigures map[string]any

// stepPython runs the independent PyTorch step and flattens its nested figures
// ({"meta_train": {"cls": ...}}) into the named statistics of the shim ("meta_train/cls").
func stepPython(t *testing.T, args []string) stepFigures {
	t.Helper()
	out := pyref.Run(t, nil, "anrl_step_ref.py", args...)
	var nested map[string]any
	if err := json.Unmarshal(out, &nested); err != nil {
		t.Fatalf("anrl_step_ref.py printed %q: %v", out, err)
	}
	flat := stepFigures{}
	for k, v := range nested {
		if m, ok := v.(map[string]any); ok {
			for kk, vv := range m {
				flat[k+"/"+kk] = vv
			}
			continue
		}
		flat[k] = v
	}
	return flat
}

// The golden cross-check: `fas model step` and an independent PyTorch implementation of the
// spec's step (torch.optim for the update) take the same step from the same weights.
func TestModelStepMatchesPyTorch(t *testing.T) {
	cases := []struct {
		name   string
		gate   string
		dtype  safetensors.DType
		k, b   int
		order  string
		args   []string
		weight float64 // tolerance on the updated weights
		figure float64 // relative tolerance on the figures
	}{
		{"adam-L2-reference-f64", "1layer", safetensors.F64, 3, 2, "2,0,1",
			[]string{"--lr", "1e-3", "--weight-decay", "1e-3"}, 1e-9, 1e-9},
		{"sgd-nesterov-decoupled-K4-f32", "2layer", safetensors.F32, 4, 2, "3,1,0,2",
			[]string{"--optimizer", "sgd", "--lr", "0.01", "--weight-decay", "0.01", "--set", "momentum=0.9",
				"--set", "nesterov=true", "--set", "decoupled_weight_decay=true", "--set", "meta_step_size=0.05",
				"--set", "w_domain=0.5", "--set", "w_discri=0.5"}, 1e-5, 1e-4},
		{"adamw-plain-clamp-f64", "clamp", safetensors.F64, 3, 2, "1,2,0",
			[]string{"--lr", "1e-3", "--weight-decay", "0.1", "--set", "decoupled_weight_decay=true", "--set", "meta=false"}, 1e-9, 1e-9},
		{"textbook-first-order-metasize1-f64", "1layer", safetensors.F64, 3, 3, "0,2,1",
			[]string{"--optimizer", "sgd", "--lr", "0.1", "--set", "textbook=true", "--set", "first_order=true",
				"--set", "metasize=1", "--set", "alpha=0.1", "--set", "center_momentum=0.5"}, 1e-9, 1e-9},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			w, bt := filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "b.safetensors")
			stepWriteWeights(t, w, c.gate, c.dtype, uint64(10+i))
			stepWriteBatch(t, bt, c.k, c.b, 32, int64(i))
			common := append([]string{"--weights", w, "--batch", bt, "--domain-order", c.order}, c.args...)
			goOut, pyOut := filepath.Join(dir, "go.safetensors"), filepath.Join(dir, "py.safetensors")
			js, err := modelRun(t, append([]string{"model", "step", "--threads", "1", "--out", goOut}, common...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got stepFigures
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatalf("fas model step printed %q: %v", js, err)
			}
			want := stepPython(t, append([]string{"--out", pyOut}, common...))
			compareFigures(t, got, want, c.figure)
			compareWeights(t, goOut, pyOut, w, c.weight)
		})
	}
}

func compareFigures(t *testing.T, got, want stepFigures, tol float64) {
	t.Helper()
	if got["step"] != 1.0 || fmt.Sprint(got["domain_order"]) != fmt.Sprint(want["domain_order"]) {
		t.Errorf("step %v, order %v (want step 1, order %v)", got["step"], got["domain_order"], want["domain_order"])
	}
	names := 0
	for name, w := range want {
		wv, ok := w.(float64)
		if !ok || name == "step" {
			continue
		}
		if strings.HasPrefix(name, "meta_test/") && got[name] == nil && wv == 0 {
			continue // a plain step has no meta-test phase; the reference reports zeros
		}
		gv, ok := got[name].(float64)
		if !ok {
			t.Errorf("fas model step reports no %s", name)
			continue
		}
		names++
		if d := math.Abs(gv - wv); d > tol*math.Max(1e-3, math.Abs(wv)) {
			t.Errorf("%s = %.10g, PyTorch %.10g", name, gv, wv)
		}
	}
	if names < 7 {
		t.Errorf("only %d figures compared", names)
	}
}

// compareWeights checks every tensor of the two updated states and that the step moved them.
func compareWeights(t *testing.T, goPath, pyPath, before string, tol float64) {
	t.Helper()
	g, err := safetensors.Read(goPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := safetensors.Read(pyPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := safetensors.Read(before)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Tensors) != len(p.Tensors) {
		t.Errorf("%d tensors from fas, %d from PyTorch", len(g.Tensors), len(p.Tensors))
	}
	worst, worstName, moved := 0.0, "", 0.0
	for _, pt := range p.Tensors {
		gt, ok := g.Get(pt.Name)
		if !ok {
			t.Errorf("fas output lacks %s", pt.Name)
			continue
		}
		gv, _ := gt.Float64()
		pv, _ := pt.Float64()
		bt, _ := b.Get(pt.Name)
		bv, _ := bt.Float64()
		if len(gv) != len(pv) {
			t.Errorf("%s: %d values from fas, %d from PyTorch", pt.Name, len(gv), len(pv))
			continue
		}
		for i := range pv {
			if d := math.Abs(gv[i] - pv[i]); d > worst || math.IsNaN(d) {
				worst, worstName = d, pt.Name
			}
			if !strings.Contains(pt.Name, "BN.running_") && !strings.HasSuffix(pt.Name, "num_batches_tracked") {
				moved = math.Max(moved, math.Abs(pv[i]-bv[i])) // parameters only
			}
		}
	}
	t.Logf("max |fas - PyTorch| = %.3g (%s); the step moved parameters by up to %.3g", worst, worstName, moved)
	if !(worst <= tol) {
		t.Errorf("updated weights differ from PyTorch's by %.3g in %s (tolerance %.1g)", worst, worstName, tol)
	}
	if moved < 100*tol {
		t.Errorf("the step moved the weights by only %.3g: the comparison shows nothing", moved)
	}
}

func TestModelStepErrors(t *testing.T) {
	dir := t.TempDir()
	w, bt := filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "b.safetensors")
	stepWriteWeights(t, w, "1layer", safetensors.F32, 1)
	stepWriteBatch(t, bt, 3, 2, 32, 1)
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
