package imgproc

/*
#include "pixels.h"
*/
import "C"

import "math"

// HSVShift is one draw of albumentations' HueSaturationValue: shifts added to H (mod 180),
// S and V (clipped to [0,255]) of an RGB image.
type HSVShift struct{ Hue, Sat, Val float64 }

// ShiftHSV applies s to the RGB image m in place through HSV, exactly as albumentations'
// shift_hsv_uint8 does: RGB->HSV, per-channel lookup tables (truncated to uint8 after the
// modulo or clip), HSV->RGB.
func ShiftHSV(m *Image, s HSVShift) {
	var j HSVJitter
	j.Set(s)
	j.Apply(m.Pix, m.C)
}

// HSVJitter holds ShiftHSV's lookup tables for one draw, to apply it to runs of pixels (a
// resized row at a time).
type HSVJitter struct {
	lut [768]uint8 // H, S, V
}

// Set prepares the tables of the shift s.
func (j *HSVJitter) Set(s HSVShift) {
	lh, ls, lv := j.lut[:256], j.lut[256:512], j.lut[512:]
	for i := 0; i < 256; i++ {
		x := float64(i)
		lh[i] = uint8(math.Mod(math.Mod(x+s.Hue, 180)+180, 180))
		ls[i] = uint8(math.Max(0, math.Min(255, x+s.Sat)))
		lv[i] = uint8(math.Max(0, math.Min(255, x+s.Val)))
		if s.Hue == 0 {
			lh[i] = uint8(i)
		}
	}
}

// Apply shifts, in place, the RGB in the first three channels of each c-channel pixel of
// pix (c >= 3); other channels are left alone. Each pixel is transformed on its own.
func (j *HSVJitter) Apply(pix []uint8, c int) { jitterRow(pix, c, &j.lut) }

// Normalizer maps 8-bit values to float32 as albumentations' Normalize does for each of the
// three channels: (x - 255*mean) * (1 / (255*std)), in float32.
type Normalizer struct {
	lut [3][256]float32
}

// NewNormalizer builds the lookup tables for per-channel mean and std (fractions of 255).
func NewNormalizer(mean, std [3]float64) *Normalizer {
	n := &Normalizer{}
	for c := 0; c < 3; c++ {
		m := float32(mean[c] * 255)
		inv := 1 / float32(std[c]*255)
		for i := 0; i < 256; i++ {
			n.lut[c][i] = (float32(i) - m) * inv
		}
	}
	return n
}

// CHW writes the three channels of m (HWC) as normalised float32 planes into out
// (len >= 3*W*H): out[c*W*H + y*W + x].
func (n *Normalizer) CHW(m *Image, out []float32) {
	plane := m.W * m.H
	p := m.Pix
	o0, o1, o2 := out[:plane], out[plane:2*plane], out[2*plane:3*plane]
	for i := 0; i < plane; i++ {
		o0[i] = n.lut[0][p[3*i]]
		o1[i] = n.lut[1][p[3*i+1]]
		o2[i] = n.lut[2][p[3*i+2]]
	}
}

// Row6 writes one row of a six-channel image (RGB and HSV side by side, as CropRGBHSV
// makes) normalised into six planes of plane floats each: channel k of pixel x goes to
// out[k*plane + at + x], or to x mirrored when flip is set (cv2.flip(m, 1) of the row).
// Channels k and k+3 share mean and std k, as CHW applied to the RGB and the HSV image.
func (n *Normalizer) Row6(row []uint8, flip bool, out []float32, at, plane int) {
	w := len(row) / 6
	if w == 0 {
		return
	}
	_ = out[5*plane+at+w-1]
	C.fas_norm_row6(u8p(row), pd(w), cflag(flip), f32p(out[at:]), 0, pd(plane), f32p(n.lut[0][:]))
}

// BilinearFloat resizes a one-channel 8-bit image to dw×dh in float32 with the semantics of
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False), then multiplies by
// scale: the reference's depth target F.interpolate(depth, (F, F)) / 255.
func BilinearFloat(src *Image, dw, dh int, scale float32, out []float32) {
	bilinearFloat(src.W, src.H, dw, dh, scale, out, func(x, y int) uint8 { return src.Pix[y*src.W+x] })
}

// NearestBilinearFloat is BilinearFloat of the image that Crop to [x1,x2)×[y1,y2), Nearest
// to sw×sh and, with flip, FlipH would make of the one-channel src, without making it (the
// depth target reads 4·dw·dh of its sw·sh pixels): each tap goes through Nearest's index
// tables instead.
func (r *Resizer) NearestBilinearFloat(src *Image, x1, y1, x2, y2, sw, sh int, flip bool, dw, dh int, scale float32, out []float32) error {
	if err := checkCrop(src, x1, y1, x2, y2); err != nil {
		return err
	}
	r.nx = nearestTable(x2-x1, sw, r.nx[:0])
	r.ny = nearestTable(y2-y1, sh, r.ny[:0])
	nx, ny := r.nx, r.ny
	bilinearFloat(sw, sh, dw, dh, scale, out, func(x, y int) uint8 {
		if flip {
			x = sw - 1 - x
		}
		return src.Pix[(y1+ny[y])*src.W+x1+nx[x]]
	})
	return nil
}

// bilinearFloat is BilinearFloat over the w×h one-channel image whose pixels at gives.
func bilinearFloat(w, h, dw, dh int, scale float32, out []float32, at func(x, y int) uint8) {
	sy := float32(h) / float32(dh)
	sx := float32(w) / float32(dw)
	for y := 0; y < dh; y++ {
		y0, y1, ly := srcIndex(sy, y, h)
		for x := 0; x < dw; x++ {
			x0, x1, lx := srcIndex(sx, x, w)
			top := (1-lx)*float32(at(x0, y0)) + lx*float32(at(x1, y0))
			bot := (1-lx)*float32(at(x0, y1)) + lx*float32(at(x1, y1))
			out[y*dw+x] = ((1-ly)*top + ly*bot) * scale
		}
	}
}

// srcIndex is ATen's area_pixel_compute_source_index for align_corners=False.
func srcIndex(scale float32, d, n int) (int, int, float32) {
	s := max(scale*(float32(d)+0.5)-0.5, 0)
	i0 := int(s)
	i1 := i0
	if i0 < n-1 {
		i1 = i0 + 1
	}
	return i0, i1, s - float32(i0)
}
