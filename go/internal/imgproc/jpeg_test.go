package imgproc

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/imgproc/internal/jpegenc"
)

// sofInfo reads a JPEG's frame header: whether it is progressive and each component's
// sampling factors ("2x2 1x1 1x1" for 4:2:0), so that a test knows what it was given.
func sofInfo(t *testing.T, b []byte) (progressive bool, sampling string) {
	t.Helper()
	for i := 2; i+4 <= len(b); {
		m, n := b[i+1], int(b[i+2])<<8|int(b[i+3])
		if m == 0xC0 || m == 0xC1 || m == 0xC2 {
			var f []string
			for k, nc := 0, int(b[i+9]); k < nc; k++ {
				hv := b[i+11+3*k]
				f = append(f, fmt.Sprintf("%dx%d", hv>>4, hv&15))
			}
			return m == 0xC2, strings.Join(f, " ")
		}
		i += 2 + n
	}
	t.Fatal("no SOF0/1/2 marker")
	return
}

// cvJPEG encodes src with cv2.imencode(".jpg", quality, opts) (see data_cv2_golden.py).
func cvJPEGs(t *testing.T, srcs []*Image, q []int, opts []string) [][]byte {
	t.Helper()
	var jobs [][]string
	for i, src := range srcs {
		jobs = append(jobs, append(append([]string{"encode", ".jpg", writeRaw(t, src)}, itoa(src.W, src.H, src.C)...),
			filepath.Join(t.TempDir(), "enc.jpg"), fmt.Sprint(q[i]), opts[i]))
	}
	pyBatch(t, jobs...)
	var out [][]byte
	for _, j := range jobs {
		b, err := os.ReadFile(j[6])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// testPhotos returns the real JPEG photos of $FASGO_TESTDATA/faces (make deps), if any.
func testPhotos(t *testing.T) map[string][]byte {
	dir := os.Getenv("FASGO_TESTDATA")
	if dir == "" {
		t.Log("FASGO_TESTDATA unset: no real photos checked (make deps makes them)")
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "faces", "*.jpg"))
	if len(paths) == 0 {
		t.Fatalf("FASGO_TESTDATA=%s has no faces/*.jpg (run make deps)", dir)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// TestJPEGDecodeEqualsOpenCV: libjpeg with OpenCV's settings gives cv2.imdecode's pixels bit
// for bit, colour and gray, for baseline 4:2:0, 4:2:2, 4:4:0, 4:1:1 and 4:4:4, progressive,
// restart markers,
// odd sizes, grayscale JPEGs and real photos; and cv2.imread's for the photos (the
// reference pipeline's call).
func TestJPEGDecodeEqualsOpenCV(t *testing.T) {
	type tc struct {
		name     string
		src      *Image
		q        int
		opts     string
		prog     bool
		sampling string
	}
	cases := []tc{
		{"4:2:0 q95", smoothImage(256, 256), 95, "", false, "2x2 1x1 1x1"},
		{"4:2:0 odd size q75", smoothImage(201, 157), 75, "", false, "2x2 1x1 1x1"},
		{"progressive 4:2:0", smoothImage(130, 67), 85, "progressive", true, "2x2 1x1 1x1"},
		{"restart markers", smoothImage(77, 41), 70, "rst", false, "2x2 1x1 1x1"},
		{"gray", testImage(64, 48, 1, 9), 90, "", false, "1x1"},
		{"tiny q50", smoothImage(33, 17), 50, "", false, "2x2 1x1 1x1"},
	}
	var srcs []*Image
	var qs []int
	var opts []string
	for _, c := range cases {
		srcs, qs, opts = append(srcs, c.src), append(qs, c.q), append(opts, c.opts)
	}
	inputs := cvJPEGs(t, srcs, qs, opts)
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
		if p, s := sofInfo(t, inputs[i]); p != c.prog || s != c.sampling {
			t.Fatalf("%s: cv2 wrote progressive=%v sampling %q, want %v %q", c.name, p, s, c.prog, c.sampling)
		}
	}
	// Samplings cv2.imencode cannot write, through libjpeg directly.
	for _, e := range []struct {
		name string
		o    jpegenc.Options
		w, h int
	}{
		{"4:4:4", jpegenc.Options{Quality: 90, H: 1, V: 1}, 97, 61},
		{"progressive 4:4:4", jpegenc.Options{Quality: 80, H: 1, V: 1, Progressive: true}, 64, 48},
		{"4:2:2", jpegenc.Options{Quality: 85, H: 2, V: 1}, 75, 43},
		{"4:4:0", jpegenc.Options{Quality: 85, H: 1, V: 2}, 51, 38},
		{"4:1:1", jpegenc.Options{Quality: 85, H: 4, V: 1}, 70, 20},
	} {
		src := smoothImage(e.w, e.h)
		b := jpegenc.Encode(src.Pix, src.W, src.H, 3, e.o)
		want := fmt.Sprintf("%dx%d 1x1 1x1", e.o.H, e.o.V)
		if p, s := sofInfo(t, b); p != e.o.Progressive || s != want {
			t.Fatalf("%s: libjpeg wrote progressive=%v sampling %q", e.name, p, s)
		}
		names, inputs = append(names, e.name), append(inputs, b)
	}
	photos := testPhotos(t)
	var photoPaths []string
	for name, b := range photos {
		names, inputs = append(names, name), append(inputs, b)
		photoPaths = append(photoPaths, filepath.Join(os.Getenv("FASGO_TESTDATA"), "faces", name))
	}
	ref := [2][]*Image{cvDecodeAll(t, inputs, false), cvDecodeAll(t, inputs, true)}
	for i, name := range names {
		for g, want := range []*Image{ref[0][i], ref[1][i]} {
			var got Image
			dec := DecodeRGB
			if g == 1 {
				dec = DecodeGray
			}
			if err := dec(inputs[i], &got); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			worst, _ := diffStats(got.Pix, want.Pix)
			if got.W != want.W || got.H != want.H || got.C != want.C || worst != 0 {
				t.Errorf("%s gray=%v: %dx%dx%d vs cv2 %dx%dx%d, max diff %d", name, g == 1, got.W, got.H, got.C, want.W, want.H, want.C, worst)
			}
		}
	}
	// cv2.imread reads files through the same decoder as imdecode; check it says so.
	var jobs [][]string
	for _, p := range photoPaths {
		jobs = append(jobs, []string{"imread_color", p, filepath.Join(t.TempDir(), "dec.raw")})
	}
	if len(jobs) == 0 {
		return
	}
	for i, out := range pyBatch(t, jobs...) {
		var w, h int
		fmt.Sscan(out, &w, &h)
		want := readRaw(t, jobs[i][2], w, h, 3)
		b, _ := os.ReadFile(photoPaths[i])
		var got Image
		if err := DecodeRGB(b, &got); err != nil {
			t.Fatal(err)
		}
		if worst, _ := diffStats(got.Pix, want.Pix); got.W != w || got.H != h || worst != 0 {
			t.Errorf("%s: vs cv2.imread %dx%d, max diff %d", photoPaths[i], w, h, worst)
		}
	}
}

// TestJPEGCMYKLikeOpenCV: 4-component JPEGs (written through libjpeg, as cv2 cannot) come
// out as OpenCV's CMYK->BGR and CMYK->gray formulas make them.
func TestJPEGCMYKLikeOpenCV(t *testing.T) {
	src := testImage(45, 23, 4, 5)
	b := jpegenc.Encode(src.Pix, src.W, src.H, 4, jpegenc.Options{Quality: 90})
	if _, s := sofInfo(t, b); strings.Count(s, "x") != 4 {
		t.Fatalf("the CMYK test JPEG has components %q", s)
	}
	ref := [2][]*Image{cvDecodeAll(t, [][]byte{b}, false), cvDecodeAll(t, [][]byte{b}, true)}
	for g, dec := range []func([]byte, *Image) error{DecodeRGB, DecodeGray} {
		var got Image
		if err := dec(b, &got); err != nil {
			t.Fatal(err)
		}
		want := ref[g][0]
		if worst, _ := diffStats(got.Pix, want.Pix); got.W != want.W || got.H != want.H || worst != 0 {
			t.Errorf("CMYK gray=%v: %dx%d vs cv2 %dx%d, max diff %d", g == 1, got.W, got.H, want.W, want.H, worst)
		}
	}
}

// TestJPEGCorruptIsAnError: libjpeg's error_exit and warnings come back as errors that
// name JPEG and libjpeg's reason; the process survives and the decoder is reusable.
func TestJPEGCorruptIsAnError(t *testing.T) {
	good := cvEncode(t, smoothImage(64, 64), ".jpg", 90)
	flipped := append([]byte{}, good...)
	for i := len(good) / 2; i < len(good)/2+40; i++ {
		flipped[i] ^= 0x5A
	}
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"truncated in the scan": {good[:len(good)*2/3], "Premature end"},
		"header only":           {good[:200], ""},
		"corrupt scan data":     {flipped, ""},
		"SOI only":              {good[:3], ""},
	}
	for name, c := range cases {
		var m Image
		err := DecodeRGB(c.b, &m)
		if err == nil {
			t.Errorf("%s: decoded without error", name)
			continue
		}
		if !strings.HasPrefix(err.Error(), "JPEG") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name JPEG and %q", name, err, c.want)
		}
		t.Logf("%s: %v", name, err)
	}
	var m Image
	if err := DecodeRGB(good, &m); err != nil || m.W != 64 {
		t.Fatalf("a good JPEG after the bad ones: %v (%dx%d)", err, m.W, m.H)
	}
}

// TestJPEGDecodeReusesBuffers: once dst has grown, decoding allocates nothing on the Go heap.
func TestJPEGDecodeReusesBuffers(t *testing.T) {
	b := cvEncode(t, smoothImage(96, 64), ".jpg", 90)
	rotated := withOrientation(b, 6, false)
	var m Image
	for _, in := range [][]byte{b, rotated} {
		if err := DecodeRGB(in, &m); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(20, func() { DecodeRGB(in, &m) }); n != 0 {
			t.Errorf("%d allocations per decode into a reused buffer", int(n))
		}
	}
}

// BenchmarkDecodeJPEG compares the libjpeg path with the old one (image/jpeg + libjpeg-style
// colour conversion) on a real photo (or a synthetic 512x512 one without FASGO_TESTDATA).
func BenchmarkDecodeJPEG(b *testing.B) {
	data := benchPhoto(b)
	b.Run("libjpeg", func(b *testing.B) {
		var m Image
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if err := DecodeRGB(data, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg", func(b *testing.B) {
		var m Image
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			img, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			FromImage(img, &m)
		}
	})
}

func benchPhoto(b *testing.B) []byte {
	if dir := os.Getenv("FASGO_TESTDATA"); dir != "" {
		if d, err := os.ReadFile(filepath.Join(dir, "faces", "grace_hopper_512x512.jpg")); err == nil {
			return d
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, smoothImage(512, 512), &jpeg.Options{Quality: 90}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}
