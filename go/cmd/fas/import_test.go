package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// fas import silentface writes an exported model that `fas model forward` runs; flags that
// apply to one file are refused with several.
func TestImportSilentFace(t *testing.T) {
	data := pyref.SilentFace(t)
	dir := t.TempDir()
	v2, v1se := filepath.Join(data, pyref.SilentFaceV2), filepath.Join(data, pyref.SilentFaceV1SE)
	if _, err := modelRun(t, "import", "silentface", "--weights", v2, "--weights", v1se, "--scale", "3", "--out", dir); err == nil ||
		!strings.Contains(err.Error(), "apply to one --weights file") {
		t.Errorf("--scale with two files: %v", err)
	}
	out := filepath.Join(dir, "v2.safetensors")
	msg, err := modelRun(t, "import", "silentface", "--weights", v2, "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "MiniFASNetV2, crop scale 2.7, input 80x80") {
		t.Errorf("output %q", msg)
	}
	if _, s, err := export.Read(out); err != nil || s.Method != "minifasnet" {
		t.Fatalf("%+v %v", s, err)
	}
	in := filepath.Join(dir, "in.safetensors")
	x := make([]float32, 3*80*80)
	for i := range x {
		x[i] = float32(i % 256)
	}
	if err := safetensors.Write(in, []safetensors.Tensor{safetensors.FromFloat32("input", []int64{1, 3, 80, 80}, x)}, nil); err != nil {
		t.Fatal(err)
	}
	y := filepath.Join(dir, "y.safetensors")
	if _, err := modelRun(t, "model", "forward", "--weights", out, "--input", in, "--out", y); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(y)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := f.Get("probs")
	sc, _ := f.Get("score")
	pv, _ := p.Float32()
	sv, _ := sc.Float64()
	if len(pv) != 3 || len(sv) != 1 || abs(float64(pv[0]+pv[1]+pv[2])-1) > 1e-5 || abs(sv[0]-(1-float64(pv[1]))) > 1e-6 {
		t.Errorf("probs %v score %v: want a softmax and the score 1 - probs[1]", pv, sv)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
