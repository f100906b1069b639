package liveness_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/draw"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
	"github.com/fasgo/fasgo/go/liveness"
)

// fakeFinder returns fixed faces (in the coordinates of the image it is given).
type fakeFinder struct {
	faces []liveness.Face
	err   error
	calls atomic.Int64
}

func (f *fakeFinder) Find(img image.Image) ([]liveness.Face, error) {
	f.calls.Add(1)
	return f.faces, f.err
}

type mapStore map[string][]byte

func (s mapStore) View(key string, fn func(v []byte) error) error {
	v, ok := s[key]
	if !ok {
		return errors.New("missing " + key)
	}
	return fn(v)
}

// reference scores bytes as training's evaluation does: dataset.Processor (the training
// pipeline, no augmentation) then the network alone (batch of one).
func reference(t *testing.T, modelPath string, data []byte, crop bool, margin float64, lm *[10]float64) float64 {
	t.Helper()
	f, spec, err := export.Read(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	tr := dataset.DefaultTransform()
	tr.Size, tr.CropFace, tr.Margin = spec.Size, crop, margin
	p, err := dataset.NewProcessor(tr)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 6*spec.Size*spec.Size)
	e := &dataset.Entry{Path: "img", Landmarks: lm, List: "test", Line: 1}
	if err := p.Sample(mapStore{"img": data}, e, dataset.Aug{}, x, nil); err != nil {
		t.Fatal(err)
	}
	m, err := shim.NewModel(shim.Config{Method: spec.Method, Size: spec.Size, Threads: 1, Settings: spec.Settings})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Import(f.Tensors); err != nil {
		t.Fatal(err)
	}
	out := make([]float64, 1)
	if err := m.ScoreWith(x, 1, spec.Size, shim.ScoreOptions{BatchInvariant: true}, out); err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func open(t *testing.T, path string, opts ...liveness.Option) *liveness.Detector {
	t.Helper()
	d, err := liveness.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func same(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// The detector's input is the training pipeline's: the same bytes score bit for bit as
// dataset.Processor + the network, for PNG and JPEG, whole-frame and 5-point-crop models.
func TestScoreIsTheTrainingPipeline(t *testing.T) {
	dir := t.TempDir()
	whole := liveness.WriteTestModel(t, dir, liveness.TestModel{Size: 32, Seed: 1, Threshold: liveness.Float64(0.5)})
	cropped := liveness.WriteTestModel(t, dir, liveness.TestModel{Size: 40, Seed: 2, Crop: export.Crop5Points, Margin: 0.5,
		Threshold: liveness.Float64(0.5)})
	img := liveness.FaceImage(90, 70, 3)
	for _, data := range [][]byte{liveness.EncodePNG(t, img), liveness.EncodeJPEG(t, img, 85)} {
		d := open(t, whole, liveness.WithFaceCrops())
		res, err := d.ScoreBytes(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, whole, data, false, 0, nil); !same(res.AttackScore, want) {
			t.Errorf("face crop: detector %.17g, training pipeline %.17g", res.AttackScore, want)
		}
		if res.Faces != 1 || res.Box != image.Rect(0, 0, 90, 70) || res.Crop != res.Box || res.Decision == liveness.NoFace {
			t.Errorf("face crop result %+v", res)
		}
		// A finder with landmarks and a 5-point model: the reference's crop from the same points.
		lm := [10]float64{30.7, 25.2, 52.9, 26.1, 41.5, 38.8, 33.2, 50.4, 50.6, 49.9}
		var face liveness.Face
		for i := range face.Landmarks {
			face.Landmarks[i] = liveness.Point{X: lm[2*i], Y: lm[2*i+1]}
		}
		face.HasLandmarks, face.Box = true, image.Rect(25, 18, 60, 58)
		d2 := open(t, cropped, liveness.WithFaceFinder(&fakeFinder{faces: []liveness.Face{face}}))
		res, err = d2.ScoreBytes(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, cropped, data, true, 0.5, &lm); !same(res.AttackScore, want) {
			t.Errorf("5-point crop: detector %.17g, training pipeline %.17g", res.AttackScore, want)
		}
		// int() truncation: x 30..52, y 25..50, side 25, margin int(25*0.5/2) = 6: [24,61)x[19,56).
		if want := image.Rect(24, 19, 61, 56); res.Crop != want || len(res.Landmarks) != 5 || res.Box != face.Box {
			t.Errorf("crop %v (want %v), landmarks %v, box %v", res.Crop, want, res.Landmarks, res.Box)
		}
	}
}

// Score of a decoded image equals ScoreBytes of its encoding; a JPEG's EXIF orientation is
// applied when decoding bytes.
func TestScoreImageAndEXIF(t *testing.T) {
	path := liveness.WriteTestModel(t, t.TempDir(), liveness.TestModel{Seed: 4, Threshold: liveness.Float64(0.5)})
	d := open(t, path, liveness.WithFaceCrops())
	ctx := context.Background()
	img := liveness.FaceImage(64, 48, 5)
	data := liveness.EncodePNG(t, img)
	a, err := d.Score(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.ScoreBytes(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if !same(a.AttackScore, b.AttackScore) || a.Liveness != 1-a.AttackScore {
		t.Errorf("Score %.17g, ScoreBytes %.17g, liveness %v", a.AttackScore, b.AttackScore, a.Liveness)
	}
	// A sub-image is scored in its own coordinates.
	big := image.NewRGBA(image.Rect(0, 0, 100, 80))
	draw.Draw(big, image.Rect(10, 20, 74, 68), img, image.Point{}, draw.Src)
	c, err := d.Score(ctx, big.SubImage(image.Rect(10, 20, 74, 68)))
	if err != nil {
		t.Fatal(err)
	}
	if !same(c.AttackScore, a.AttackScore) || c.Box != image.Rect(0, 0, 64, 48) {
		t.Errorf("sub-image: %.17g box %v, want %.17g", c.AttackScore, c.Box, a.AttackScore)
	}

	// EXIF orientation 3 (180°): the bytes score as the rotated pixels.
	jpg := liveness.EncodeJPEG(t, img, 90)
	var plain imgproc.Image
	if err := imgproc.DecodeRGB(jpg, &plain); err != nil {
		t.Fatal(err)
	}
	rot := image.NewRGBA(image.Rect(0, 0, plain.W, plain.H))
	for y := 0; y < plain.H; y++ {
		for x := 0; x < plain.W; x++ {
			p := plain.Pix[((plain.H-1-y)*plain.W+(plain.W-1-x))*3:]
			i := rot.PixOffset(x, y)
			rot.Pix[i], rot.Pix[i+1], rot.Pix[i+2], rot.Pix[i+3] = p[0], p[1], p[2], 255
		}
	}
	rotated, err := d.ScoreBytes(ctx, liveness.EncodePNG(t, rot))
	if err != nil {
		t.Fatal(err)
	}
	exif, err := d.ScoreBytes(ctx, withEXIFOrientation(jpg, 3))
	if err != nil {
		t.Fatal(err)
	}
	upright, err := d.ScoreBytes(ctx, jpg)
	if err != nil {
		t.Fatal(err)
	}
	if !same(exif.AttackScore, rotated.AttackScore) || same(exif.AttackScore, upright.AttackScore) {
		t.Errorf("EXIF 3: %.17g, rotated pixels %.17g, unrotated %.17g", exif.AttackScore, rotated.AttackScore, upright.AttackScore)
	}
}

// withEXIFOrientation inserts an APP1 Exif segment with the orientation tag after SOI.
func withEXIFOrientation(jpg []byte, o uint16) []byte {
	tiff := []byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, byte(o >> 8), byte(o), 0, 0, 0, 0, 0, 0}
	seg := append([]byte("Exif\x00\x00"), tiff...)
	n := len(seg) + 2
	app1 := append([]byte{0xFF, 0xE1, byte(n >> 8), byte(n)}, seg...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, app1...)
	return append(out, jpg[2:]...)
}

func TestThresholdsAndDecisions(t *testing.T) {
	dir := t.TempDir()
	path := liveness.WriteTestModel(t, dir, liveness.TestModel{Seed: 6, Threshold: liveness.Float64(0.25)})
	ctx := context.Background()
	img := liveness.FaceImage(40, 40, 1)
	d := open(t, path, liveness.WithFaceCrops())
	res, err := d.Score(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	s := res.AttackScore
	if res.Threshold != 0.25 || res.ThresholdSource != liveness.ThresholdModel || res.Method != "anrl" ||
		!strings.HasPrefix(res.ModelVersion, "sha256:") {
		t.Errorf("model threshold: %+v", res)
	}
	if want := map[bool]liveness.Decision{true: liveness.Attack, false: liveness.Live}[s >= 0.25]; res.Decision != want {
		t.Errorf("score %v at 0.25: %s", s, res.Decision)
	}
	// Attack when score >= threshold: exactly at the score is an attack, one ulp above is live.
	at, _ := d.Score(ctx, img, liveness.AtThreshold(s))
	above, _ := d.Score(ctx, img, liveness.AtThreshold(math.Nextafter(s, 2)))
	if at.Decision != liveness.Attack || above.Decision != liveness.Live || at.ThresholdSource != liveness.ThresholdCall || at.Threshold != s {
		t.Errorf("at the score: %s (%s); one ulp above: %s", at.Decision, at.ThresholdSource, above.Decision)
	}
	if _, err := d.Score(ctx, img, liveness.AtThreshold(math.NaN())); err == nil {
		t.Error("NaN threshold accepted")
	}
	d2 := open(t, path, liveness.WithFaceCrops(), liveness.WithThreshold(math.Nextafter(s, 2)))
	r2, _ := d2.Score(ctx, img)
	if r2.Decision != liveness.Live || r2.ThresholdSource != liveness.ThresholdDetector || d2.Info().ThresholdSource != liveness.ThresholdDetector {
		t.Errorf("detector threshold: %+v", r2)
	}
	if !d2.Info().Calibrated || d2.Info().ModelThreshold != 0.25 || d2.Info().ThresholdFrom == "" {
		t.Errorf("info %+v", d2.Info())
	}

	// A model without a calibrated threshold needs one from the caller.
	bare := liveness.WriteTestModel(t, filepath.Join(dir), liveness.TestModel{Seed: 7})
	if _, err := liveness.Open(bare, liveness.WithFaceCrops()); !errors.Is(err, liveness.ErrNoThreshold) || !strings.Contains(err.Error(), "WithThreshold") {
		t.Errorf("uncalibrated without a threshold: %v", err)
	}
	d3 := open(t, bare, liveness.WithFaceCrops(), liveness.WithThreshold(0.5))
	if d3.Info().Calibrated {
		t.Error("uncalibrated model reports calibrated")
	}
}

func TestFaces(t *testing.T) {
	dir := t.TempDir()
	path := liveness.WriteTestModel(t, dir, liveness.TestModel{Seed: 8, Crop: export.Crop5Points, Margin: 0, Threshold: liveness.Float64(0.5)})
	ctx := context.Background()
	img := liveness.FaceImage(120, 100, 2)

	none := &fakeFinder{}
	d := open(t, path, liveness.WithFaceFinder(none))
	res, err := d.Score(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if res.Decision != liveness.NoFace || res.Faces != 0 || res.AttackScore != 0 || none.calls.Load() != 1 {
		t.Errorf("no face: %+v", res)
	}

	// Three faces (one outside the image, which does not count): the largest is scored.
	small := liveness.Face{Box: image.Rect(5, 5, 25, 25)}
	large := liveness.Face{Box: image.Rect(40, 30, 90, 85)}
	outside := liveness.Face{Box: image.Rect(500, 500, 900, 900)}
	d = open(t, path, liveness.WithFaceFinder(&fakeFinder{faces: []liveness.Face{small, large, outside}}))
	res, err = d.Score(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	// Without landmarks the box stands in: the square of side 55 from (40,30), clipped.
	crop := image.Rect(40, 30, 95, 85)
	if res.Faces != 2 || res.Box != large.Box || res.Crop != crop || res.Landmarks != nil {
		t.Fatalf("several faces: %+v", res)
	}
	crops := open(t, path, liveness.WithFaceCrops())
	want, err := crops.Score(ctx, img.SubImage(crop))
	if err != nil {
		t.Fatal(err)
	}
	if !same(res.AttackScore, want.AttackScore) {
		t.Errorf("largest face scored %.17g; its crop alone %.17g", res.AttackScore, want.AttackScore)
	}

	failing := open(t, path, liveness.WithFaceFinder(&fakeFinder{err: errors.New("camera on fire")}))
	if _, err := failing.Score(ctx, img); err == nil || !strings.Contains(err.Error(), "camera on fire") {
		t.Errorf("finder error: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	path := liveness.WriteTestModel(t, dir, liveness.TestModel{Seed: 9, Threshold: liveness.Float64(0.5)})
	if _, err := liveness.Open(path, liveness.WithFaceCrops(), liveness.WithFaceFinder(&fakeFinder{})); err == nil {
		t.Error("crops and a finder accepted together")
	}
	if _, err := liveness.Open(filepath.Join(dir, "missing.safetensors"), liveness.WithFaceCrops()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	for _, o := range []liveness.Option{liveness.WithMaxBatch(0), liveness.WithThreads(0), liveness.WithQueueSize(0),
		liveness.WithMaxWait(-1), liveness.WithThreshold(math.Inf(1)), liveness.WithMaxImage(0, 1), liveness.WithPrepareLimit(0)} {
		if _, err := liveness.Open(path, liveness.WithFaceCrops(), o); err == nil {
			t.Error("a bad option was accepted")
		}
	}
	// A plain weights file is not an exported model.
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	plain := map[string]string{"format": "fasgo", "method": "anrl", "size": "32", "width": "0.25"}
	weights := filepath.Join(dir, "weights.safetensors")
	if err := safetensors.Write(weights, f.Tensors, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := liveness.Open(weights, liveness.WithFaceCrops()); !errors.Is(err, export.ErrNotExported) || !strings.Contains(err.Error(), "fas export") {
		t.Errorf("plain weights: %v", err)
	}
	// Changed weights no longer match the model version.
	ts := append([]safetensors.Tensor{}, f.Tensors...)
	ts[0].Data = append([]byte{}, ts[0].Data...)
	ts[0].Data[0] ^= 1
	changed := filepath.Join(dir, "changed.safetensors")
	if err := safetensors.Write(changed, ts, f.Metadata); err != nil {
		t.Fatal(err)
	}
	if _, err := liveness.Open(changed, liveness.WithFaceCrops()); err == nil || !strings.Contains(err.Error(), "changed after export") {
		t.Errorf("changed weights: %v", err)
	}
	// Bad metadata is reported key by key.
	md := map[string]string{}
	for k, v := range f.Metadata {
		md[k] = v
	}
	md[export.KeyCrop], md[export.KeyMean] = "ellipse", "[0.5]"
	delete(md, export.KeySize)
	badMeta := filepath.Join(dir, "badmeta.safetensors")
	if err := safetensors.Write(badMeta, f.Tensors, md); err != nil {
		t.Fatal(err)
	}
	_, err = liveness.Open(badMeta, liveness.WithFaceCrops())
	for _, want := range []string{"size is missing", "transform_mean", ""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad metadata: %v (want %q)", err, want)
		}
	}
}

func TestBadImages(t *testing.T) {
	path := liveness.WriteTestModel(t, t.TempDir(), liveness.TestModel{Seed: 10, Threshold: liveness.Float64(0.5)})
	d := open(t, path, liveness.WithFaceCrops(), liveness.WithMaxImage(1000, 500_000))
	ctx := context.Background()
	good := liveness.EncodeJPEG(t, liveness.FaceImage(64, 64, 1), 90)
	huge := pngHeader(100000, 100000)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, liveness.ErrBadImage},
		{"text", []byte("hello, I am not an image"), liveness.ErrBadImage},
		{"truncated JPEG", good[:len(good)/2], liveness.ErrBadImage},
		{"JPEG header only", good[:20], liveness.ErrBadImage},
		{"100000x100000 PNG header", huge, liveness.ErrImageTooLarge},
		{"over the side limit", liveness.EncodePNG(t, image.NewGray(image.Rect(0, 0, 1001, 2))), liveness.ErrImageTooLarge},
		{"over the pixel limit", liveness.EncodePNG(t, image.NewGray(image.Rect(0, 0, 800, 800))), liveness.ErrImageTooLarge},
		{"zero-width PNG", pngHeader(0, 10), liveness.ErrBadImage},
	}
	for _, c := range cases {
		if _, err := d.ScoreBytes(ctx, c.data); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := d.Score(ctx, image.NewRGBA(image.Rect(0, 0, 0, 5))); !errors.Is(err, liveness.ErrEmptyImage) {
		t.Errorf("empty image: %v", err)
	}
	if _, err := d.Score(ctx, nil); !errors.Is(err, liveness.ErrEmptyImage) {
		t.Errorf("nil image: %v", err)
	}
	if _, err := d.ScoreBytes(ctx, good); err != nil {
		t.Errorf("good image after bad ones: %v", err)
	}
}

// pngHeader is a PNG signature and IHDR claiming w×h (no pixel data).
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := []byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h), 8, 2, 0, 0, 0}
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write([]byte{0, 0, 0, 13})
	b.Write(chunk)
	crc := crc32IEEE(chunk)
	b.Write([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	return b.Bytes()
}

func crc32IEEE(b []byte) uint32 {
	c := ^uint32(0)
	for _, x := range b {
		c ^= uint32(x)
		for k := 0; k < 8; k++ {
			if c&1 != 0 {
				c = c>>1 ^ 0xEDB88320
			} else {
				c >>= 1
			}
		}
	}
	return ^c
}

// Many goroutines scoring at once get bit for bit the scores of sequential scoring, while
// the owner really batches them.
func TestConcurrentEqualsSequential(t *testing.T) {
	path := liveness.WriteTestModel(t, t.TempDir(), liveness.TestModel{Seed: 11, Threshold: liveness.Float64(0.5)})
	const images = 12
	var imgs []image.Image
	var encoded [][]byte
	for i := 0; i < images; i++ {
		im := liveness.FaceImage(48+i, 40+2*i, uint64(i))
		imgs = append(imgs, im)
		encoded = append(encoded, liveness.EncodePNG(t, im))
	}
	ctx := context.Background()
	seq := open(t, path, liveness.WithFaceCrops(), liveness.WithMaxBatch(1))
	want := make([]float64, images)
	for i, im := range imgs {
		r, err := seq.Score(ctx, im)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r.AttackScore
	}
	var maxBatch atomic.Int64
	var batches atomic.Int64
	d := open(t, path, liveness.WithFaceCrops(), liveness.WithMaxBatch(8), liveness.WithMaxWait(20*time.Millisecond),
		liveness.WithQueueSize(256), liveness.WithBatchObserver(func(b liveness.BatchInfo) {
			batches.Add(1)
			for {
				m := maxBatch.Load()
				if int64(b.Size) <= m || maxBatch.CompareAndSwap(m, int64(b.Size)) {
					break
				}
			}
		}))
	const workers, rounds = 24, 3
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*images)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				i := (w + r*5) % images
				var got liveness.Result
				var err error
				switch (w + r) % 3 {
				case 0:
					got, err = d.Score(ctx, imgs[i])
				case 1:
					got, err = d.ScoreBytes(ctx, encoded[i])
				default:
					var rs []liveness.Result
					rs, err = d.ScoreBatch(ctx, []image.Image{imgs[i], imgs[(i+1)%images]})
					if err == nil {
						if !same(rs[1].AttackScore, want[(i+1)%images]) {
							errs <- errors.New("batch form: second image differs")
						}
						got = rs[0]
					}
				}
				if err != nil {
					errs <- err
					continue
				}
				if !same(got.AttackScore, want[i]) {
					errs <- errors.New("image " + string(rune('A'+i)) + ": concurrent score differs from sequential")
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxBatch.Load() < 2 {
		t.Errorf("the owner never batched (largest batch %d over %d calls)", maxBatch.Load(), batches.Load())
	}
	t.Logf("%d network calls, largest batch %d", batches.Load(), maxBatch.Load())
}

// With no option, Open finds faces with fasgo's own detector (dlib in the shim): the face of
// a real photo is found and scored, a photo without a face gives the explicit NoFace result.
func TestOwnFaceFinderOnRealPhotos(t *testing.T) {
	path := liveness.WriteTestModel(t, t.TempDir(), liveness.TestModel{Seed: 4, Crop: export.Crop5Points, Margin: 2,
		Threshold: liveness.Float64(0.5)})
	d := open(t, path)
	res, err := d.ScoreBytes(context.Background(), pyref.ReadPhoto(t, "grace_hopper_512x512.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	// dlib's box on this photo is (161,113)-(377,329) (README, "Finding the face").
	want := image.Rect(161, 113, 377, 329)
	if res.Decision == liveness.NoFace || res.Faces != 1 || res.Box.Intersect(want).Dx()*res.Box.Intersect(want).Dy() < want.Dx()*want.Dy()*8/10 {
		t.Errorf("grace hopper: %+v", res)
	}
	res, err = d.ScoreBytes(context.Background(), pyref.ReadPhoto(t, "coffee.png"))
	if err != nil || res.Decision != liveness.NoFace || res.Faces != 0 {
		t.Errorf("a photo without a face: %+v, %v", res, err)
	}
}
