package liveness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
	"github.com/fasgo/fasgo/go/liveness"
)

// writeMiniFAS writes a randomly initialised MiniFASNet as `fas import silentface` would
// export it; prob.weight is scaled up so that the classes' probabilities differ clearly.
func writeMiniFAS(t *testing.T, path, variant string, scale float64, seed uint64) {
	t.Helper()
	m, err := shim.NewModel(shim.Config{Method: "minifasnet", Size: 80, Seed: seed, Threads: 1,
		Settings: shim.Settings{{Key: "variant", Value: variant}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ts, err := m.Export()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		if ts[i].Name == "prob.weight" {
			v, _ := ts[i].Float32()
			for j := range v {
				v[j] *= 2000
			}
			ts[i] = safetensors.FromFloat32(ts[i].Name, ts[i].Shape, v)
		}
	}
	if err := m.Import(ts); err != nil {
		t.Fatal(err)
	}
	spec := export.Spec{Input: export.InputBGR255, Crop: export.CropScale, Scale: scale, Decision: export.DecisionArgmax,
		ClassNames: []string{"attack_2d", "real", "attack_3d"}, RealClass: 1, Family: "minifasnet", Source: "test"}
	if err := export.Write(m, path, spec); err != nil {
		t.Fatal(err)
	}
}

// The ensemble path without the published material (randomly initialised members): the
// summed probabilities, argmax and crops equal the reference pipeline's on the same pixels
// and box, concurrent calls get the sequential results, and bad ensembles are refused.
func TestMiniFASNetEnsembleRandom(t *testing.T) {
	dir := t.TempDir()
	writeMiniFAS(t, filepath.Join(dir, "a.safetensors"), "MiniFASNetV2", 2.7, 1)
	writeMiniFAS(t, filepath.Join(dir, "b.safetensors"), "MiniFASNetV1SE", 4, 2)
	man := export.Manifest{Format: export.EnsembleFormat, Family: "minifasnet", Combine: export.CombineSum,
		Members: []string{"a.safetensors", "b.safetensors"}}
	if err := export.WriteManifest(filepath.Join(dir, export.ManifestName), man); err != nil {
		t.Fatal(err)
	}
	box := image.Rect(150, 120, 230, 210)
	d, err := liveness.Open(filepath.Join(dir, export.ManifestName), liveness.WithThreads(2), liveness.WithMaxBatch(4),
		liveness.WithFaceFinder(&fakeFinder{faces: []liveness.Face{{Box: box, Score: 1}}}))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var imgs [][]byte
	var want []liveness.Result
	var rgbs []*imgproc.Image
	for seed := uint64(1); seed <= 3; seed++ {
		b := liveness.EncodePNG(t, liveness.FaceImage(360, 300, seed))
		res, err := d.ScoreBytes(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		rgb := &imgproc.Image{}
		if err := imgproc.DecodeRGB(b, rgb); err != nil {
			t.Fatal(err)
		}
		imgs, want, rgbs = append(imgs, b), append(want, res), append(rgbs, rgb)
	}
	// The reference pipeline (tests/python/minifasnet_ref.py) on the members' safetensors.
	args := []string{"pipeline", "--member", filepath.Join(dir, "a.safetensors") + ":MiniFASNetV2:2.7",
		"--member", filepath.Join(dir, "b.safetensors") + ":MiniFASNetV1SE:4.0"}
	for i, rgb := range rgbs {
		p := filepath.Join(dir, fmt.Sprintf("rgb%d.safetensors", i))
		ts := []safetensors.Tensor{{Name: "rgb", DType: safetensors.U8, Shape: []int64{int64(rgb.H), int64(rgb.W), 3}, Data: rgb.Pix}}
		if err := safetensors.Write(p, ts, nil); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--input", fmt.Sprintf("%s@%d,%d,%d,%d", p, box.Min.X, box.Min.Y, box.Dx(), box.Dy()))
	}
	var refs []refPipeline
	if err := json.Unmarshal(pyref.Run(t, nil, "minifasnet_ref.py", args...), &refs); err != nil {
		t.Fatal(err)
	}
	for i, res := range want {
		ref := refs[i]
		sum := []float64{0, 0, 0}
		for k, m := range res.Members {
			rc := ref.Members[k].Crop
			if m.Crop != image.Rect(rc[0], rc[1], rc[2], rc[3]) {
				t.Errorf("image %d member %d: crop %v, reference %v", i, k, m.Crop, rc)
			}
			for j := range sum {
				sum[j] += m.Probs[j]
				if math.Abs(m.Probs[j]-ref.Members[k].Probs[j]) > 1e-5 {
					t.Errorf("image %d member %d: probs %v, reference %v", i, k, m.Probs, ref.Members[k].Probs)
					break
				}
			}
		}
		label := 0
		for j := range sum {
			if sum[j] > sum[label] {
				label = j
			}
		}
		wantDecision := liveness.Attack
		if label == 1 {
			wantDecision = liveness.Live
		}
		t.Logf("image %d: sum %.4f %.4f %.4f, %s", i, sum[0], sum[1], sum[2], res.Decision)
		if res.Label != label || ref.Label != label || res.Class != []string{"attack_2d", "real", "attack_3d"}[label] ||
			res.Decision != wantDecision || math.Abs(res.Liveness-sum[1]/2) > 1e-12 {
			t.Errorf("image %d: %+v, want label %d (reference %d), liveness %v", i, res, label, ref.Label, sum[1]/2)
		}
	}
	// Concurrent callers (batched by the owner) get the sequential results, bit for bit.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for r := 0; r < 3; r++ {
				i := (g + r) % len(imgs)
				res, err := d.ScoreBytes(context.Background(), imgs[i])
				if err != nil {
					t.Error(err)
					return
				}
				if res.Liveness != want[i].Liveness || res.Decision != want[i].Decision {
					t.Errorf("goroutine %d image %d: %v %s, sequential %v %s", g, i, res.Liveness, res.Decision, want[i].Liveness, want[i].Decision)
				}
			}
		}(g)
	}
	wg.Wait()

	// Bad ensembles are refused, naming the problem.
	anrl := liveness.WriteTestModel(t, dir, liveness.TestModel{Threshold: liveness.Float64(0.5)})
	for _, c := range []struct {
		name, manifest, want string
	}{
		{"not argmax", `{"format":"fasgo-ensemble/1","family":"x","combine":"sum_softmax","members":["a.safetensors","` + filepath.Base(anrl) + `"]}`, "must be an argmax model"},
		{"format", `{"format":"other/2","combine":"sum_softmax","members":["a.safetensors"]}`, `format "other/2"`},
		{"empty", `{"format":"fasgo-ensemble/1","combine":"sum_softmax","members":[]}`, "no members"},
		{"missing member", `{"format":"fasgo-ensemble/1","combine":"sum_softmax","members":["nope.safetensors"]}`, "nope.safetensors"},
		{"unknown key", `{"format":"fasgo-ensemble/1","combine":"sum_softmax","members":["a.safetensors"],"weights":[1]}`, "unknown field"},
	} {
		p := filepath.Join(dir, c.name+".json")
		if err := os.WriteFile(p, []byte(c.manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := liveness.Open(p, liveness.WithFaceCrops())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", c.name, err, c.want)
		}
	}
}
