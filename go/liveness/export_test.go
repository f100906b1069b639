package liveness

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// TestModel describes a small exported model for tests.
type TestModel struct {
	Size      int
	Width     float64
	Seed      uint64
	Crop      string  // export.CropNone (default) or export.Crop5Points
	Margin    float64 // for Crop5Points
	Threshold *float64
}

// WriteTestModel writes a small exported model (what `fas export` writes) into dir.
func WriteTestModel(t testing.TB, dir string, tm TestModel) string {
	t.Helper()
	if tm.Size == 0 {
		tm.Size = 32
	}
	if tm.Width == 0 {
		tm.Width = 0.25
	}
	if tm.Crop == "" {
		tm.Crop = export.CropNone
	}
	m, err := shim.NewModel(shim.Config{Method: "anrl", Size: tm.Size, Seed: tm.Seed, Threads: 1,
		Settings: shim.Settings{{Key: "width", Value: strconv.FormatFloat(tm.Width, 'g', -1, 64)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	spec := export.Spec{Input: export.InputRGBHSV, Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5},
		Crop: tm.Crop, Margin: tm.Margin, Source: "test", PreprocessFrom: "test"}
	if tm.Threshold != nil {
		spec.Threshold = &export.Threshold{Value: *tm.Threshold, From: "test lists of the liveness tests", Protocol: "test",
			Level: "video"}
	}
	path := filepath.Join(dir, "model-"+strconv.FormatUint(tm.Seed, 10)+"-"+tm.Crop+".safetensors")
	if err := export.Write(m, path, spec); err != nil {
		t.Fatal(err)
	}
	return path
}

// Float64 returns a pointer to x.
func Float64(x float64) *float64 { return &x }

// FaceImage draws a deterministic w×h test image: a lit ellipse ("face") of seed-dependent
// colour on a textured background, with per-pixel noise.
func FaceImage(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	s := seed*0x9E3779B97F4A7C15 + 1
	next := func() uint64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
	cr, cg, cb := 150+float64(seed%5)*15, 110+float64(seed%7)*10, 90+float64(seed%3)*20
	cx, cy := float64(w)*(0.45+0.1*float64(seed%3)/2), float64(h)*0.5
	rx, ry := float64(w)*0.3, float64(h)*0.38
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
			n := float64(next()%32) - 16
			var r, g, b float64
			if q := dx*dx + dy*dy; q < 1 {
				l := 0.6 + 0.4*math.Sqrt(1-q)
				r, g, b = cr*l+n, cg*l+n, cb*l+n
			} else {
				t := 60 + 40*math.Sin(float64(x)*0.3+float64(seed)) + 30*math.Cos(float64(y)*0.21)
				r, g, b = t+n, t*0.8+n, t*1.1+n
			}
			img.Set(x, y, color.RGBA{clamp8(r), clamp8(g), clamp8(b), 255})
		}
	}
	return img
}

func clamp8(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(v)))) }

// EncodePNG and EncodeJPEG encode test images.
func EncodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func EncodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// WithBeforeBatch runs f in the owner goroutine before every network call (tests only).
func WithBeforeBatch(f func(n int)) Option {
	return func(o *options) error { o.beforeBatch = f; return nil }
}
