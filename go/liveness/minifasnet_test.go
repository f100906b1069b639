package liveness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/silentface"
	"github.com/fasgo/fasgo/go/liveness"
)

var (
	ensOnce sync.Once
	ensDir  string
	ensErr  error
)

// silentFaceEnsemble imports the two published models once per test binary (into a
// directory that outlives the tests that share it).
func silentFaceEnsemble(t *testing.T) (dir, data string) {
	t.Helper()
	data = pyref.SilentFace(t)
	ensOnce.Do(func() {
		ensDir, ensErr = os.MkdirTemp("", "fas-minifasnet-")
		if ensErr == nil {
			_, ensErr = silentface.ImportEnsemble([]string{filepath.Join(data, pyref.SilentFaceV2),
				filepath.Join(data, pyref.SilentFaceV1SE)}, ensDir, silentface.Options{})
		}
	})
	if ensErr != nil {
		t.Fatal(ensErr)
	}
	return ensDir, data
}

type refPipeline struct {
	Members []struct {
		Crop  [4]int    `json:"crop"`
		Probs []float64 `json:"probs"`
	} `json:"members"`
	Label int `json:"label"`
}

// authors runs the PyTorch reference pipeline (tests/python/minifasnet_ref.py) on the
// published weights, each input with its fixed box: an *imgproc.Image (our decode, so that
// the JPEG decoder is out of the comparison) or a file path (decoded by cv2, as the authors'
// demo does).
func authors(t *testing.T, data string, inputs []any, boxes [][4]int) []refPipeline {
	t.Helper()
	args := []string{"pipeline", "--member", filepath.Join(data, pyref.SilentFaceV2) + ":MiniFASNetV2:2.7",
		"--member", filepath.Join(data, pyref.SilentFaceV1SE) + ":MiniFASNetV1SE:4.0"}
	for i, in := range inputs {
		path, _ := in.(string)
		if rgb, ok := in.(*imgproc.Image); ok {
			path = filepath.Join(t.TempDir(), "rgb.safetensors")
			ts := []safetensors.Tensor{{Name: "rgb", DType: safetensors.U8, Shape: []int64{int64(rgb.H), int64(rgb.W), 3}, Data: rgb.Pix}}
			if err := safetensors.Write(path, ts, nil); err != nil {
				t.Fatal(err)
			}
		}
		b := boxes[i]
		args = append(args, "--input", fmt.Sprintf("%s@%d,%d,%d,%d", path, b[0], b[1], b[2], b[3]))
	}
	var r []refPipeline
	if err := json.Unmarshal(pyref.Run(t, nil, "minifasnet_ref.py", args...), &r); err != nil || len(r) != len(inputs) {
		t.Fatalf("reference: %d results for %d inputs: %v", len(r), len(inputs), err)
	}
	return r
}

// The three sample images through the public package with fasgo's face finder: classified
// as the authors' demo classifies them (F1, F2 fake; T1 real), and every member's crop and
// probabilities equal the authors' pipeline given the same box and pixels.
func TestMiniFASNetSamples(t *testing.T) {
	dir, data := silentFaceEnsemble(t)
	d, err := liveness.Open(dir, liveness.WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info := d.Info()
	if info.Family != "minifasnet" || len(info.Members) != 2 || info.ThresholdSource != liveness.ThresholdRule {
		t.Fatalf("info %+v", info)
	}
	want := map[string]liveness.Decision{"image_F1.jpg": liveness.Attack, "image_F2.jpg": liveness.Attack, "image_T1.jpg": liveness.Live}
	names := []string{"image_F1.jpg", "image_F2.jpg", "image_T1.jpg"}
	var imgs [][]byte
	var results []liveness.Result
	var inputs []any
	var boxes [][4]int
	for _, name := range names {
		path := filepath.Join(data, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.ScoreBytes(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s (%s) liveness %.4f box %v crops %v %v", name, res.Decision, res.Class, res.Liveness, res.Box, res.Members[0].Crop, res.Members[1].Crop)
		if res.Decision != want[name] || res.Family != "minifasnet" || len(res.Members) != 2 || res.Faces < 1 {
			t.Errorf("%s: %+v, want %s", name, res, want[name])
		}
		rgb := &imgproc.Image{}
		if err := imgproc.DecodeRGB(b, rgb); err != nil {
			t.Fatal(err)
		}
		box := [4]int{res.Box.Min.X, res.Box.Min.Y, res.Box.Dx(), res.Box.Dy()}
		inputs, boxes = append(inputs, rgb, path), append(boxes, box, box)
		imgs, results = append(imgs, b), append(results, res)
	}
	// A small fixed box (a fake finder): the members' crops differ (scales 2.7 and 4.0).
	small := image.Rect(190, 250, 250, 310)
	ds, err := liveness.Open(dir, liveness.WithThreads(2), liveness.WithFaceFinder(&fakeFinder{faces: []liveness.Face{{Box: small, Score: 1}}}))
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	var fixed []liveness.Result
	for i := range names {
		res, err := ds.ScoreBytes(context.Background(), imgs[i])
		if err != nil {
			t.Fatal(err)
		}
		if res.Members[0].Crop == res.Members[1].Crop || res.Box != small {
			t.Errorf("%s, box %v: crops %v and %v", names[i], small, res.Members[0].Crop, res.Members[1].Crop)
		}
		fixed = append(fixed, res)
		inputs, boxes = append(inputs, inputs[2*i]), append(boxes, [4]int{190, 250, 60, 60})
	}
	refs := authors(t, data, inputs, boxes)
	for i, res := range append(results, fixed...) {
		name, ref := names[i%3]+" (fixed small box)", refs[3+i] // refs: (ours, cv2) per image, then the fixed boxes
		if i < 3 {
			name, ref = names[i], refs[2*i]
		}
		if ref.Label != res.Label {
			t.Errorf("%s: label %d, the reference on the same pixels %d", name, res.Label, ref.Label)
		}
		var sum float64
		for k, m := range res.Members {
			rc := ref.Members[k].Crop
			if m.Crop.Min.X != rc[0] || m.Crop.Min.Y != rc[1] || m.Crop.Max.X != rc[2] || m.Crop.Max.Y != rc[3] {
				t.Errorf("%s member %d: crop %v, reference %v", name, k, m.Crop, rc)
			}
			for j, p := range m.Probs {
				if math.Abs(p-ref.Members[k].Probs[j]) > 1e-5 {
					t.Errorf("%s member %d: probs %v, reference %v", name, k, m.Probs, ref.Members[k].Probs)
					break
				}
			}
			sum += m.Probs[1]
		}
		if math.Abs(res.Liveness-sum/2) > 1e-12 || math.Abs(res.AttackScore-(1-res.Liveness)) > 1e-12 {
			t.Errorf("%s: liveness %v attack %v, want the mean real probability %v", name, res.Liveness, res.AttackScore, sum/2)
		}
		// The authors' decode (cv2, libjpeg-turbo) with the same box: the same class.
		if i < 3 && refs[2*i+1].Label != res.Label {
			t.Errorf("%s: label %d, the authors' pipeline (cv2 decode) %d", name, res.Label, refs[2*i+1].Label)
		}
	}
	// One batch scores as the single calls did (batch-invariant kernels).
	batch := make([]image.Image, len(imgs))
	for i, b := range imgs {
		m, err := imgproc.DecodeOriented(b)
		if err != nil {
			t.Fatal(err)
		}
		batch[i] = m
	}
	rs, err := d.ScoreBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Liveness != results[i].Liveness || r.Decision != results[i].Decision {
			t.Errorf("%s in a batch: %s %v, alone %s %v", names[i], r.Decision, r.Liveness, results[i].Decision, results[i].Liveness)
		}
	}
	// A threshold replaces the rule: at 0 everything is an attack, above 1 nothing is.
	for _, c := range []struct {
		thr  float64
		want liveness.Decision
	}{{0, liveness.Attack}, {1.01, liveness.Live}} {
		res, err := d.ScoreBytes(context.Background(), imgs[2], liveness.AtThreshold(c.thr))
		if err != nil {
			t.Fatal(err)
		}
		if res.Decision != c.want || res.ThresholdSource != liveness.ThresholdCall || res.Liveness != results[2].Liveness {
			t.Errorf("AtThreshold(%v): %s from %s, liveness %v", c.thr, res.Decision, res.ThresholdSource, res.Liveness)
		}
	}
}

// ScaleCrop is the authors' crop rule: the spec's worked example, and random boxes (inside,
// across the border, larger than the image) against the reference's _get_new_box.
func TestScaleCrop(t *testing.T) {
	got, err := liveness.ScaleCrop(image.Rect(178, 136, 178+223, 136+225), 480, 640, 2.7)
	if want := image.Rect(0, 6, 480, 491); err != nil || got != want { // columns 0..479, rows 6..490
		t.Errorf("worked example: %v %v, want %v", got, err, want)
	}
	r := rand.New(rand.NewSource(3))
	var cases [][7]float64
	for i := 0; i < 400; i++ {
		w, h := 20+r.Intn(1000), 20+r.Intn(1000)
		bw, bh := 1+r.Intn(w), 1+r.Intn(h)
		if i%10 == 0 {
			bw, bh = w+r.Intn(50), h+r.Intn(50) // larger than the image
		}
		x, y := r.Intn(w+40)-20-bw/4, r.Intn(h+40)-20-bh/4
		scale := []float64{1, 2.7, 4, 0.5 + 4*r.Float64()}[r.Intn(4)]
		cases = append(cases, [7]float64{float64(w), float64(h), float64(x), float64(y), float64(bw), float64(bh), scale})
	}
	in, _ := json.Marshal(cases)
	var want [][4]int
	if err := json.Unmarshal(pyref.Run(t, in, "minifasnet_ref.py", "crops"), &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		box := image.Rect(int(c[2]), int(c[3]), int(c[2]+c[4]), int(c[3]+c[5]))
		got, err := liveness.ScaleCrop(box, int(c[0]), int(c[1]), c[6])
		if w := image.Rect(want[i][0], want[i][1], want[i][2], want[i][3]); err != nil || got != w {
			t.Errorf("%vx%v box %v scale %v: %v %v, reference %v", c[0], c[1], box, c[6], got, err, w)
		}
	}
}
