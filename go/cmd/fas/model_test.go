package main

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func modelRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := buildApp()
	var out bytes.Buffer
	app.Writer = &out
	err := app.Run(append([]string{"fas"}, args...))
	return out.String(), err
}

func TestModelSummaryMatchesPyTorch(t *testing.T) {
	out, err := modelRun(t, "model", "summary", "--method", "anrl", "--size", "256", "--gate", "2layer")
	if err != nil {
		t.Fatal(err)
	}
	py, err := exec.Command("/usr/bin/python3", "../../../tests/python/anrl_ref.py", "count", "--gate", "2layer").Output()
	if err != nil {
		t.Fatalf("/usr/bin/python3 tests/python/anrl_ref.py count: %v (run `make deps`)", err)
	}
	var ref struct {
		Parts   map[string]int64 `json:"parts"`
		Total   int64            `json:"total"`
		Tensors int64            `json:"tensors"`
	}
	if err := json.Unmarshal(py, &ref); err != nil {
		t.Fatal(err)
	}
	ref.Parts["total"] = ref.Total
	if len(ref.Parts) != 7 {
		t.Fatalf("reference parts %v", ref.Parts)
	}
	for name, want := range ref.Parts {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s+(\d+)\s+(\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("summary lacks a row for %s:\n%s", name, out)
			continue
		}
		if got, _ := strconv.ParseInt(m[1], 10, 64); got != want {
			t.Errorf("%s: %d parameters, PyTorch %d", name, got, want)
		}
		if name == "total" {
			if got, _ := strconv.ParseInt(m[2], 10, 64); got != ref.Tensors {
				t.Errorf("total: %d parameter tensors, PyTorch %d", got, ref.Tensors)
			}
		}
	}
	if _, err := modelRun(t, "model", "summary", "--size", "100"); err == nil {
		t.Error("summary accepted size 100")
	}
}

func modelWriteInput(t *testing.T, path string, n, s int, f64 bool) []float32 {
	t.Helper()
	r := rand.New(rand.NewSource(int64(s)))
	x := make([]float32, n*6*s*s)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	shape := []int64{int64(n), 6, int64(s), int64(s)}
	in := safetensors.FromFloat32("input", shape, x)
	if f64 {
		v := make([]float64, len(x))
		for i := range x {
			v[i] = float64(x[i])
		}
		in = safetensors.FromFloat64("input", shape, v)
	}
	if err := safetensors.Write(path, []safetensors.Tensor{in}, nil); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestModelInitForward(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w.safetensors")
	if _, err := modelRun(t, "model", "init", "--size", "40", "--width", "0.25", "--gate", "clamp", "--seed", "4", "--out", w); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(w)
	in := filepath.Join(dir, "x.safetensors")
	x := modelWriteInput(t, in, 2, 40, true)
	m, meta, err := model.Load(w, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if meta.Size != 40 || meta.Setting("gate") != "clamp" || meta.Setting("width") != "0.25" || meta.Extra["seed"] != "4" {
		t.Errorf("init wrote meta %+v", meta)
	}
	for _, train := range []bool{false, true} {
		out := filepath.Join(dir, "y.safetensors")
		args := []string{"model", "forward", "--weights", w, "--input", in, "--out", out, "--threads", "1"}
		if train {
			args = append(args, "--train")
		}
		if _, err := modelRun(t, args...); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		m2, _, _ := model.Load(w, model.Options{Threads: 1}) // fresh running statistics each time; the CLI ran 1 thread
		outs, err := m2.Forward(x, 2, 40, train)
		m2.Close()
		if err != nil {
			t.Fatal(err)
		}
		c := int64(3 * 32) // 3 * round(128 * 0.25)
		want := map[string][]float32{}
		for _, o := range outs {
			want[o.Name], _ = o.Float32()
		}
		for name, v := range want {
			tt, ok := f.Get(name)
			if !ok {
				t.Fatalf("output lacks %s", name)
			}
			shapes := map[string][]int64{"logits": {2, 2}, "depth": {2, 5, 5}, "features": {2, c, 5, 5}}
			got, _ := tt.Float32()
			if !slices.Equal(tt.Shape, shapes[name]) || !equalBits(got, v) {
				t.Errorf("train=%v %s: shape %v, or values differ from the shim's", train, name, tt.Shape)
			}
		}
		if f.Metadata["mode"] != map[bool]string{false: "eval", true: "train"}[train] || f.Metadata["gate"] != "clamp" {
			t.Errorf("metadata %v", f.Metadata)
		}
		if sc, ok := f.Get("score"); ok != !train {
			t.Errorf("train=%v: score present %v", train, ok)
		} else if ok {
			got, _ := sc.Float64()
			l := want["logits"]
			for i := range got {
				if w := 1 / (1 + math.Exp(float64(l[2*i])-float64(l[2*i+1]))); math.Abs(got[i]-w) > 1e-15 {
					t.Errorf("score %d = %v, softmax of the logits %v", i, got[i], w)
				}
			}
		}
	}
	if after, _ := os.ReadFile(w); !bytes.Equal(before, after) {
		t.Error("forward modified the weights file")
	}
}

func equalBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestModelForwardErrors(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "w.safetensors")
	if _, err := modelRun(t, "model", "init", "--size", "32", "--width", "0.25", "--seed", "1", "--out", w); err != nil {
		t.Fatal(err)
	}
	write := func(name string, ts ...safetensors.Tensor) string {
		p := filepath.Join(dir, name)
		if err := safetensors.Write(p, ts, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s64 := filepath.Join(dir, "s64.safetensors")
	modelWriteInput(t, s64, 2, 64, false)
	one := filepath.Join(dir, "one.safetensors")
	modelWriteInput(t, one, 1, 32, false)
	nan := make([]float32, 2*6*32*32)
	nan[9] = float32(math.NaN())
	cases := []struct {
		name, input, want string
		train             bool
	}{
		{"no input tensor", write("x.safetensors", safetensors.FromFloat32("pixels", []int64{1}, []float32{0})), `no tensor named "input"`, false},
		{"a dump's image of the wrong shape", write("img.safetensors", safetensors.FromFloat32("image", []int64{5, 32, 32}, make([]float32, 5*32*32))), "want N x 6 x S x S", false},
		{"bad shape", write("shape.safetensors", safetensors.FromFloat32("input", []int64{1, 5, 32, 32}, make([]float32, 5*32*32))), "want N x 6 x S x S", false},
		{"3 planes for a 6-plane network", write("bgr.safetensors", safetensors.FromFloat32("input", []int64{1, 3, 32, 32}, make([]float32, 3*32*32))), "want N x 6 x S x S", false},
		{"S not a multiple of 8", write("s36.safetensors", safetensors.FromFloat32("input", []int64{1, 6, 36, 36}, make([]float32, 6*36*36))), "multiple of 8", false},
		{"integer input", write("int.safetensors", safetensors.FromInt64("input", []int64{1, 6, 32, 32}, make([]int64, 6*32*32))), "want F32 or F64", false},
		{"size differs from the weights", s64, "records input size 32", false},
		{"N=1 in train mode", one, "at least 2 samples", true},
		{"NaN input", write("nan.safetensors", safetensors.FromFloat32("input", []int64{2, 6, 32, 32}, nan)), "non-finite", false},
	}
	for _, c := range cases {
		args := []string{"model", "forward", "--weights", w, "--input", c.input, "--out", filepath.Join(dir, "y.safetensors")}
		if c.train {
			args = append(args, "--train")
		}
		_, err := modelRun(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v lacks %q", c.name, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "y.safetensors")); err == nil {
		t.Error("a failed forward wrote an output file")
	}
}

func TestVersionCommand(t *testing.T) {
	out, err := modelRun(t, "version", "--threads", "2")
	if err != nil {
		t.Fatal(err)
	}
	v, err := shim.Version()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"libtorch   " + v.Torch, "threads    2", "fas        " + v.Shim, "go         go1."} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	if _, err := modelRun(t, "version", "--threads", "0"); err == nil {
		t.Error("--threads 0 accepted")
	}
	t.Setenv(threadsEnv, "many")
	if _, err := modelRun(t, "version"); err == nil || !strings.Contains(err.Error(), threadsEnv) {
		t.Errorf("%s=many: %v", threadsEnv, err)
	}
}
