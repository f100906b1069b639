// Package imgproc decodes JPEG and PNG images and applies the transforms of the ANRL input
// pipeline with OpenCV's arithmetic: bilinear and nearest resize (cv2.resize), RGB<->HSV
// (cv2.cvtColor, H in [0,180)), horizontal flip, albumentations-style HSV jitter, and the
// normalisation into float32 CHW planes. Buffers are reused so that a worker that keeps
// its own Images and Resizer allocates nothing per image after the first few. The
// innermost pixel loops are C (pixels.c), which GCC keeps in registers and vectorises.
package imgproc

import (
	"fmt"
	"image"
	"image/color"
)

// Image is an 8-bit image, rows top to bottom, channels interleaved (HWC). RGB images have
// C = 3 in R, G, B order; HSV images hold H, S, V; grayscale images have C = 1.
type Image struct {
	W, H, C int
	Pix     []uint8 // len W*H*C, stride W*C
}

// Reshape sets the size, growing Pix only when its capacity is too small (contents undefined).
func (m *Image) Reshape(w, h, c int) {
	m.W, m.H, m.C = w, h, c
	n := w * h * c
	if cap(m.Pix) < n {
		m.Pix = make([]uint8, n)
	}
	m.Pix = m.Pix[:n]
}

// ColorModel, Bounds and At make an RGB (C = 3) or gray (C = 1) Image an image.Image, so
// that DecodeOriented's result goes wherever an image.Image does (png.Encode, the face
// finder's zero-copy path). Other channel counts read their first channel(s) as RGB or gray.
func (m *Image) ColorModel() color.Model {
	if m.C == 1 {
		return color.GrayModel
	}
	return color.RGBAModel
}

// Bounds is (0, 0)-(W, H).
func (m *Image) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At is the pixel at (x, y); opaque black outside the image.
func (m *Image) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		if m.C == 1 {
			return color.Gray{}
		}
		return color.RGBA{A: 255}
	}
	p := m.Pix[(y*m.W+x)*m.C:]
	if m.C < 3 {
		return color.Gray{Y: p[0]}
	}
	return color.RGBA{R: p[0], G: p[1], B: p[2], A: 255}
}

// Row returns row y.
func (m *Image) Row(y int) []uint8 {
	s := m.W * m.C
	return m.Pix[y*s : (y+1)*s]
}

// CopyFrom makes m a copy of src, reusing m's buffer.
func (m *Image) CopyFrom(src *Image) {
	m.Reshape(src.W, src.H, src.C)
	copy(m.Pix, src.Pix)
}

// Crop copies the rectangle [x1,x2)×[y1,y2) of src into dst.
func Crop(src *Image, x1, y1, x2, y2 int, dst *Image) error {
	if err := checkCrop(src, x1, y1, x2, y2); err != nil {
		return err
	}
	dst.Reshape(x2-x1, y2-y1, src.C)
	for y := y1; y < y2; y++ {
		copy(dst.Row(y-y1), src.Row(y)[x1*src.C:x2*src.C])
	}
	return nil
}

func checkCrop(src *Image, x1, y1, x2, y2 int) error {
	if x1 < 0 || y1 < 0 || x2 > src.W || y2 > src.H || x1 >= x2 || y1 >= y2 {
		return fmt.Errorf("crop [%d,%d)x[%d,%d) is empty or outside the %dx%d image", x1, x2, y1, y2, src.W, src.H)
	}
	return nil
}

// FlipH mirrors m left to right in place (cv2.flip(m, 1)).
func FlipH(m *Image) {
	c := m.C
	for y := 0; y < m.H; y++ {
		r := m.Row(y)
		for i, j := 0, (m.W-1)*c; i < j; i, j = i+c, j-c {
			for k := 0; k < c; k++ {
				r[i+k], r[j+k] = r[j+k], r[i+k]
			}
		}
	}
}
