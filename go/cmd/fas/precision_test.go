package main

import (
	"encoding/json"
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// f64Input writes n x 6 x s x s doubles that float32 cannot hold exactly.
func f64Input(t *testing.T, path string, n, s int, seed int64) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	x := make([]float64, n*6*s*s)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	if err := safetensors.Write(path, []safetensors.Tensor{safetensors.FromFloat64("input", []int64{int64(n), 6, int64(s), int64(s)}, x)}, nil); err != nil {
		t.Fatal(err)
	}
}

// `fas model forward` gives an F64 model its F64 input unrounded and writes F64 outputs:
// they match PyTorch's double-precision forward (tests/python/anrl_ref.py) to ~1e-13, where
// rounding the input to F32 first moves the logits by ~1e-7.
func TestModelForwardF64KeepsPrecision(t *testing.T) {
	dir := t.TempDir()
	w, in, out, ref := filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "x.safetensors"),
		filepath.Join(dir, "y.safetensors"), filepath.Join(dir, "ref.safetensors")
	stepWriteWeights(t, w, "1layer", safetensors.F64, 7)
	f64Input(t, in, 2, 32, 3)
	if _, err := modelRun(t, "model", "forward", "--weights", w, "--input", in, "--out", out, "--threads", "1"); err != nil {
		t.Fatal(err)
	}
	pyref.Run(t, nil, "anrl_ref.py", "forward", "--weights", w, "--input", in, "--out", ref)
	got, err := safetensors.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := safetensors.Read(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"logits", "depth", "features"} {
		g, ok := got.Get(name)
		if !ok || g.DType != safetensors.F64 {
			t.Fatalf("%s: present %v, dtype %v (want F64 for F64 weights)", name, ok, g)
		}
		p, _ := want.Get("eval." + name)
		gv, _ := g.Float64()
		pv, _ := p.Float64()
		worst := 0.0
		for i := range pv {
			worst = math.Max(worst, math.Abs(gv[i]-pv[i])/math.Max(1, math.Abs(pv[i])))
		}
		if len(gv) != len(pv) || worst > 1e-11 {
			t.Errorf("%s: %d values, worst relative difference to PyTorch %.3g (want <= 1e-11)", name, len(gv), worst)
		}
	}
}

// `fas model step` on F64 weights with an F64 batch is PyTorch's double-precision step.
func TestModelStepF64KeepsPrecision(t *testing.T) {
	dir := t.TempDir()
	w, bt := filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "b.safetensors")
	stepWriteWeights(t, w, "1layer", safetensors.F64, 9)
	r := rand.New(rand.NewSource(5))
	k, n, s := 3, 4, 32
	img, dep, lab := make([]float64, k*n*6*s*s), make([]float64, k*n*(s/8)*(s/8)), make([]int64, k*n)
	for i := range img {
		img[i] = r.NormFloat64()
	}
	for i := range dep {
		dep[i] = r.Float64()
	}
	for i := range lab {
		lab[i] = int64((i % n) / (n / 2))
	}
	if err := safetensors.Write(bt, []safetensors.Tensor{
		safetensors.FromFloat64("images", []int64{3, 4, 6, 32, 32}, img),
		safetensors.FromFloat64("depth", []int64{3, 4, 4, 4}, dep),
		safetensors.FromInt64("labels", []int64{3, 4}, lab),
	}, nil); err != nil {
		t.Fatal(err)
	}
	js, err := modelRun(t, "model", "step", "--threads", "1", "--weights", w, "--batch", bt, "--out",
		filepath.Join(dir, "o.safetensors"), "--domain-order", "2,0,1", "--optimizer", "sgd", "--lr", "0.1")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]float64
	py := pyref.Run(t, nil, "anrl_step_ref.py", "--weights", w, "--batch", bt, "--out", filepath.Join(dir, "p.safetensors"),
		"--domain-order", "2,0,1", "--optimizer", "sgd", "--lr", "0.1")
	var nested map[string]json.RawMessage
	if err := json.Unmarshal(py, &nested); err != nil {
		t.Fatal(err)
	}
	want = map[string]map[string]float64{}
	for _, ph := range []string{"meta_train", "meta_test"} {
		m := map[string]float64{}
		json.Unmarshal(nested[ph], &m)
		want[ph] = m
	}
	for _, ph := range []string{"meta_train", "meta_test"} {
		for _, f := range []string{"cls", "depth", "domain", "discri", "loss"} {
			g, _ := got[ph+"/"+f].(float64)
			p := want[ph][f]
			if math.Abs(g-p) > 1e-12*math.Max(1, math.Abs(p)) {
				t.Errorf("%s/%s = %.17g, PyTorch %.17g", ph, f, g, p)
			}
		}
	}
}
