package silentface_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
	"github.com/fasgo/fasgo/go/internal/silentface"
)

func randomInput(n, s int, seed int64) []float32 {
	r := rand.New(rand.NewSource(seed))
	x := make([]float32, n*3*s*s)
	for i := range x {
		x[i] = float32(r.Intn(256)) // raw 0..255 pixel values, as the pipeline feeds them
	}
	return x
}

func logitsOf(t *testing.T, m *shim.Model, x []float32, n, s int) []float32 {
	t.Helper()
	out, err := m.Forward(x, n, s, false, "logits")
	if err != nil {
		t.Fatal(err)
	}
	v, err := out[0].Float32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func closeTo(t *testing.T, what string, got []float32, want [][]float64, tol float64) {
	t.Helper()
	var flat []float64
	for _, r := range want {
		flat = append(flat, r...)
	}
	if len(flat) != len(got) {
		t.Fatalf("%s: %d logits, reference %d", what, len(got), len(flat))
	}
	diff, big := 0.0, 0.0
	for i := range got {
		diff = math.Max(diff, math.Abs(float64(got[i])-flat[i]))
		big = math.Max(big, math.Abs(flat[i]))
	}
	worst := diff / big // relative to the largest logit: a random network's are small
	t.Logf("%s: largest difference to the reference %.2g, relative to the largest logit %.3g: %.2g", what, diff, big, worst)
	if worst > tol {
		t.Errorf("%s: logits %v, reference %v", what, got, flat)
	}
}

// Both networks equal the independent PyTorch implementation (tests/python/minifasnet_ref.py)
// on random input: randomly initialised (no data needed) and, when the material is there,
// with the published weights read by torch.load from the .pth itself.
func TestNetworksMatchReference(t *testing.T) {
	const n, s = 2, 80
	dir := t.TempDir()
	x := randomInput(n, s, 1)
	xfile := filepath.Join(dir, "x.safetensors")
	if err := safetensors.Write(xfile, []safetensors.Tensor{safetensors.FromFloat32("x", []int64{n, 3, s, s}, x)}, nil); err != nil {
		t.Fatal(err)
	}
	type net struct {
		name, variant, file string
		m                   *shim.Model
	}
	var nets []net
	for i, v := range []string{method.MiniFASNetV2, method.MiniFASNetV1SE} {
		m, err := shim.NewModel(shim.Config{Method: "minifasnet", Size: s, Seed: uint64(i + 1), Threads: 2,
			Settings: shim.Settings{{Key: "variant", Value: v}}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		f := filepath.Join(dir, v+".safetensors")
		if err := model.Save(m, f, nil); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, net{"random " + v, v, f, m})
	}
	data, err := pyref.FindSilentFace(t)
	if err != nil {
		t.Log(err, "(only the randomly initialised networks are compared)")
	} else {
		for _, p := range [][2]string{{pyref.SilentFaceV2, method.MiniFASNetV2}, {pyref.SilentFaceV1SE, method.MiniFASNetV1SE}} {
			out := filepath.Join(dir, p[0]+".safetensors")
			spec, err := silentface.Import(filepath.Join(data, p[0]), out, silentface.Options{})
			if err != nil {
				t.Fatal(err)
			}
			checkSpec(t, out, spec, p[1], map[string]float64{method.MiniFASNetV2: 2.7, method.MiniFASNetV1SE: 4}[p[1]],
				map[string]int{method.MiniFASNetV2: 334, method.MiniFASNetV1SE: 370}[p[1]])
			m, _, err := model.Load(out, model.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			nets = append(nets, net{"published " + p[1], p[1], filepath.Join(data, p[0]), m})
		}
	}
	args := []string{"forward", xfile}
	for _, nt := range nets {
		args = append(args, nt.file+":"+nt.variant)
	}
	var ref [][][]float64
	if err := json.Unmarshal(pyref.Run(t, nil, "minifasnet_ref.py", args...), &ref); err != nil {
		t.Fatal(err)
	}
	for i, nt := range nets {
		closeTo(t, nt.name, logitsOf(t, nt.m, x, n, s), ref[i], 1e-4)
	}
	// Inference only: no training-mode forward, no trainer.
	if _, err := nets[0].m.Forward(x, n, s, true, "logits"); err == nil || !strings.Contains(err.Error(), "inference only") {
		t.Errorf("training-mode forward: %v", err)
	}
	if _, err := shim.NewTrainer(nets[0].m, shim.DefaultTrainConfig()); err == nil || !strings.Contains(err.Error(), "inference only") {
		t.Errorf("trainer: %v", err)
	}
}

// checkSpec: an import records what a service needs, keeps every tensor of the file (the
// spec's key counts) and reads back as an exported model.
func checkSpec(t *testing.T, path string, got export.Spec, variant string, scale float64, tensors int) {
	t.Helper()
	f, s, err := export.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.Settings.Get("variant")
	if s.Method != "minifasnet" || s.Family != "minifasnet" || v != variant || s.Scale != scale || s.Size != 80 ||
		s.Crop != export.CropScale || s.Input != export.InputBGR255 || s.Decision != export.DecisionArgmax ||
		s.RealClass != 1 || strings.Join(s.ClassNames, ",") != "attack_2d,real,attack_3d" || s.Threshold != nil ||
		!strings.HasSuffix(s.Source, "_"+variant+".pth") ||
		len(s.SourceSHA) != 64 || !strings.Contains(s.License, "Apache-2.0") || s.ModelVersion != got.ModelVersion {
		t.Errorf("spec %+v", s)
	}
	if len(f.Tensors) != tensors {
		t.Errorf("%d tensors, want the file's %d", len(f.Tensors), tensors)
	}
}

// Conversion errors name the problem: a truncated file, a file of another family, a name
// that disagrees with the weights, PyTorch missing.
func TestConvertErrors(t *testing.T) {
	data := pyref.SilentFace(t)
	dir := t.TempDir()
	v2 := filepath.Join(data, pyref.SilentFaceV2)
	b, err := os.ReadFile(v2)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, pyref.SilentFaceV2)
	if err := os.WriteFile(truncated, b[:len(b)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, "2.7_80x80_MiniFASNetV1SE.pth")
	if err := os.WriteFile(renamed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "4_80x80_MiniFASNetV2.pth") // a state dict of another network
	pyref.Run(t, nil, "minifasnet_ref.py", "save-other", other)
	noTorch := filepath.Join(dir, "python-without-site")
	if err := os.WriteFile(noTorch, []byte("#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, file, python string
		want               []string
		noTorch            bool
	}{
		{"truncated", truncated, "", []string{"does not load as a PyTorch state dict", "complete"}, false},
		{"other family", other, "", []string{"not a MiniFASNet state dict"}, false},
		{"name disagrees", renamed, "", []string{"file name says MiniFASNetV1SE", "weights are a MiniFASNetV2"}, false},
		{"no torch", v2, noTorch, []string{"python3-torch"}, true},
		{"no interpreter", v2, filepath.Join(dir, "no-such-python"), []string{"python3-torch"}, true},
		{"bad name", filepath.Join(dir, "weights.pth"), "", []string{"is not <scale>_<H>x<W>_<ModelType>.pth"}, false},
	} {
		_, err := silentface.Import(c.file, filepath.Join(dir, "out.safetensors"), silentface.Options{Python: c.python})
		if err == nil {
			t.Errorf("%s: imported", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nwant it to say %q", c.name, err, w)
			}
		}
		if errors.Is(err, silentface.ErrNoTorch) != c.noTorch {
			t.Errorf("%s: errors.Is(ErrNoTorch) = %v", c.name, !c.noTorch)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out.safetensors")); !os.IsNotExist(err) {
		t.Errorf("a failed import left its output: %v", err)
	}
}

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		file string
		want silentface.Name
		bad  string
	}{
		{"2.7_80x80_MiniFASNetV2.pth", silentface.Name{Scale: 2.7, Size: 80, Variant: "MiniFASNetV2"}, ""},
		{"/x/4_0_0_80x80_MiniFASNetV1SE.pth", silentface.Name{Scale: 4, Size: 80, Variant: "MiniFASNetV1SE"}, ""},
		{"org_1_80x80_MiniFASNetV2.pth", silentface.Name{Size: 80, Variant: "MiniFASNetV2"}, ""},
		{"2.7_80x60_MiniFASNetV2.pth", silentface.Name{}, "not square"},
		{"x_80x80_MiniFASNetV2.pth", silentface.Name{}, "not a positive number"},
		{"MiniFASNetV2.pth", silentface.Name{}, "is not <scale>"},
	} {
		got, err := silentface.ParseName(c.file)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%s: %v, want an error saying %q", c.file, err, c.bad)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v %v, want %+v", c.file, got, err, c.want)
		}
	}
}

// A batch-invariant forward (fas_model_forward_flags) gives every input the bits it gets
// alone, and the model takes 3 input planes.
func TestForwardBatchInvariant(t *testing.T) {
	const n, s = 3, 80
	m, err := shim.NewModel(shim.Config{Method: "minifasnet", Size: s, Seed: 5, Threads: 2,
		Settings: shim.Settings{{Key: "variant", Value: method.MiniFASNetV1SE}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if c := m.Info().Channels; c != 3 {
		t.Fatalf("channels %d, want 3", c)
	}
	x := randomInput(n, s, 2)
	batch, err := m.ForwardWith(x, n, s, shim.ForwardOptions{BatchInvariant: true}, "probs", "logits")
	if err != nil {
		t.Fatal(err)
	}
	if batch[0].Name != "probs" || batch[1].Name != "logits" {
		t.Fatalf("outputs %s, %s", batch[0].Name, batch[1].Name)
	}
	for k := range batch {
		all, _ := batch[k].Float32()
		for i := 0; i < n; i++ {
			one, err := m.ForwardWith(x[i*3*s*s:(i+1)*3*s*s], 1, s, shim.ForwardOptions{BatchInvariant: true}, batch[k].Name)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := one[0].Float32()
			for j := range v {
				if v[j] != all[i*len(v)+j] {
					t.Fatalf("%s of input %d: %v in the batch, %v alone", batch[k].Name, i, all[i*len(v):(i+1)*len(v)], v)
				}
			}
		}
	}
	if _, err := m.Forward(make([]float32, 6*s*s), 1, s, false); err == nil || !strings.Contains(err.Error(), "N×C×S×S = 1×3×80×80") {
		t.Errorf("6-plane input: %v", err)
	}
}
