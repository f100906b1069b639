package imgproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// smoothImage is a photo-like test picture: gradients, a disc, mild texture.
func smoothImage(w, h int) *Image {
	m := &Image{}
	m.Reshape(w, h, 3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 3 * (y*w + x)
			dx, dy := x-w/2, y-h/2
			in := dx*dx+dy*dy < (w*w)/9
			m.Pix[i] = uint8((x * 255 / w) ^ (y & 3))
			m.Pix[i+1] = uint8(y * 255 / h)
			m.Pix[i+2] = uint8(128 + (x*y)%64)
			if in {
				m.Pix[i], m.Pix[i+1] = 220, uint8(150+(x%9))
			}
		}
	}
	return m
}

// cvEncode encodes m with cv2.imencode and returns the bytes.
func cvEncode(t *testing.T, m *Image, ext string, quality int) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "enc"+ext)
	args := append(append([]string{"encode", ext, writeRaw(t, m)}, itoa(m.W, m.H, m.C)...), out)
	if quality > 0 {
		args = append(args, fmt.Sprint(quality))
	}
	py(t, args...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cvDecodeAll returns cv2.imdecode's pixels (RGB or gray) for each encoded input.
func cvDecodeAll(t *testing.T, inputs [][]byte, gray bool) []*Image {
	t.Helper()
	op, c := "imdecode_color", 3
	if gray {
		op, c = "imdecode_gray", 1
	}
	var jobs [][]string
	for _, b := range inputs {
		in := filepath.Join(t.TempDir(), "img")
		if err := os.WriteFile(in, b, 0o644); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, []string{op, in, filepath.Join(t.TempDir(), "dec.raw")})
	}
	var imgs []*Image
	for i, out := range pyBatch(t, jobs...) {
		var w, h int
		if _, err := fmt.Sscan(out, &w, &h); err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, readRaw(t, jobs[i][2], w, h, c))
	}
	return imgs
}

func goPNG(t *testing.T, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPNGDecodeExact: PNG decoding is lossless, so we must equal cv2.imdecode exactly,
// including alpha handling (dropped, not composited), 16-bit and gray inputs.
func TestPNGDecodeExact(t *testing.T) {
	src := testImage(53, 37, 3, 3)
	nrgba := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	rgba64 := image.NewRGBA64(image.Rect(0, 0, 40, 30))
	gray16 := image.NewGray16(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			nrgba.SetNRGBA(x, y, color.NRGBA{uint8(6 * x), uint8(8 * y), uint8(x * y), uint8(x * 6)})
			rgba64.SetRGBA64(x, y, color.RGBA64{uint16(1500 * x), uint16(2100 * y), uint16(37 * x * y), 0xffff})
			gray16.SetGray16(x, y, color.Gray16{uint16(1600*x + 13*y)})
		}
	}
	cases := map[string][]byte{
		"cv2 RGB":     cvEncode(t, src, ".png", 0),
		"cv2 gray":    cvEncode(t, testImage(41, 29, 1, 4), ".png", 0),
		"Go NRGBA":    goPNG(t, nrgba),
		"Go RGBA64":   goPNG(t, rgba64),
		"Go Gray16":   goPNG(t, gray16),
		"Go paletted": goPNG(t, image.NewPaletted(image.Rect(0, 0, 9, 7), color.Palette{color.NRGBA{10, 20, 30, 40}, color.RGBA{1, 2, 3, 255}})),
	}
	var names []string
	var inputs [][]byte
	for name, b := range cases {
		names, inputs = append(names, name), append(inputs, b)
	}
	colour, gray := cvDecodeAll(t, inputs, false), cvDecodeAll(t, inputs, true)
	for i, name := range names {
		var got Image
		if err := DecodeRGB(inputs[i], &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := colour[i]
		if worst, _ := diffStats(got.Pix, want.Pix); got.W != want.W || got.H != want.H || worst != 0 {
			t.Errorf("%s colour: %dx%d vs cv2 %dx%d, max diff %d", name, got.W, got.H, want.W, want.H, worst)
		}
		if err := DecodeGray(inputs[i], &got); err != nil {
			t.Fatal(err)
		}
		want = gray[i]
		worst, _ := diffStats(got.Pix, want.Pix)
		if got.W != want.W || got.H != want.H || worst > 1 {
			t.Errorf("%s gray: %dx%d vs cv2 %dx%d, max diff %d", name, got.W, got.H, want.W, want.H, worst)
		}
	}
}

func meanAbsDiff(a, b []uint8) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return s / float64(len(a))
}

func TestDecodeRejectsBadInput(t *testing.T) {
	good := goPNG(t, image.NewGray(image.Rect(0, 0, 4, 4)))
	cases := map[string][]byte{
		"empty":     nil,
		"text":      []byte("hello world"),
		"truncated": good[:len(good)/2],
		"jpeg head": {0xFF, 0xD8, 0xFF, 0xE0, 0, 0},
	}
	for name, b := range cases {
		var m Image
		err := DecodeRGB(b, &m)
		if err == nil {
			t.Errorf("%s: decoded without error", name)
		}
		if name == "text" && !errors.Is(err, ErrFormat) {
			t.Errorf("text: %v, want ErrFormat", err)
		}
		if name == "truncated" && !strings.Contains(err.Error(), "PNG") {
			t.Errorf("truncated: %v does not name the format", err)
		}
	}
}

// FuzzDecode: no input may panic or hang the decoders, and a success yields a consistent image.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 3, 2)))
	f.Add(buf.Bytes())
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xDB, 0, 0x43, 0})
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xff\xff\xff\x00\x00\x00\x01\x08\x02"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Image
		if err := DecodeRGB(b, &m); err == nil && len(m.Pix) != m.W*m.H*3 {
			t.Fatalf("decoded %dx%d with %d bytes", m.W, m.H, len(m.Pix))
		}
		if err := DecodeGray(b, &m); err == nil && len(m.Pix) != m.W*m.H {
			t.Fatalf("gray %dx%d with %d bytes", m.W, m.H, len(m.Pix))
		}
	})
}

// withOrientation inserts an EXIF APP1 segment carrying orientation o right after SOI.
func withOrientation(jpg []byte, o int, bigEndian bool) []byte {
	tiff := []byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	tiff[18] = byte(o)
	if bigEndian {
		tiff = []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
		tiff[19] = byte(o)
	}
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := []byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(append(out, app1...), seg...)
	return append(out, jpg[2:]...)
}

func TestJPEGExifOrientationLikeOpenCV(t *testing.T) {
	base := cvEncode(t, smoothImage(48, 30), ".jpg", 95)
	var inputs [][]byte
	for o := 1; o <= 8; o++ {
		inputs = append(inputs, withOrientation(base, o, o%2 == 0))
	}
	ref, refGray := cvDecodeAll(t, inputs, false), cvDecodeAll(t, inputs, true)
	for i, b := range inputs {
		var got Image
		if err := DecodeGray(b, &got); err != nil {
			t.Fatal(err)
		}
		if worst, _ := diffStats(got.Pix, refGray[i].Pix); got.W != refGray[i].W || got.H != refGray[i].H || worst != 0 {
			t.Errorf("orientation %d gray: %dx%d vs cv2 %dx%d, max diff %d", i+1, got.W, got.H, refGray[i].W, refGray[i].H, worst)
		}
		if err := DecodeRGB(b, &got); err != nil {
			t.Fatal(err)
		}
		worst, _ := diffStats(got.Pix, ref[i].Pix)
		if wantW := []int{48, 30}[i/4]; got.W != wantW {
			t.Errorf("orientation %d: width %d, want %d", i+1, got.W, wantW)
		}
		if got.W != ref[i].W || got.H != ref[i].H || worst != 0 {
			t.Errorf("orientation %d: %dx%d vs cv2 %dx%d, max diff %d", i+1, got.W, got.H, ref[i].W, ref[i].H, worst)
		}
	}
}
