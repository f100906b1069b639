package imgproc

import "math"

// coefBits is OpenCV's INTER_RESIZE_COEF_BITS: 8-bit bilinear resize works in 11-bit fixed point.
const (
	coefBits  = 11
	coefScale = 1 << coefBits
)

// Resizer resizes images the way cv2.resize does and keeps its tables and row buffers
// between calls, so a worker that owns one allocates nothing in steady state. Not safe
// for concurrent use.
type Resizer struct {
	sw, sh, dw, dh, c int
	xofs, yofs        []int      // source pixel of each destination column / row
	alpha, beta       []int16    // two fixed-point weights per column / row
	cols              []hcol     // xofs and alpha as the horizontal pass reads them
	rows              [2][]int16 // horizontally resized source rows, >> 4 (see hline)
	rowY              [2]int     // source row held in rows[i], -1 when none
	out               []uint8    // LinearRows' destination row
	nx, ny            []int      // Nearest's source indices
}

// hcol is one destination column of the horizontal pass: the byte offsets of its two
// source pixels in a row (the second clamped to the last pixel, whose weight is then 0)
// and their weights.
type hcol struct{ x0, x1, a0, a1 int32 }

// setup recomputes the tables when the geometry changes (cv::resizeGeneric's set-up for
// INTER_LINEAR: half-pixel centres, edge clamping, weights rounded to 11 bits).
func (r *Resizer) setup(sw, sh, dw, dh, c int) {
	if r.sw == sw && r.sh == sh && r.dw == dw && r.dh == dh && r.c == c && r.xofs != nil {
		r.rowY = [2]int{-1, -1}
		return
	}
	r.sw, r.sh, r.dw, r.dh, r.c = sw, sh, dw, dh, c
	r.xofs, r.alpha = linearTable(sw, dw, true, r.xofs[:0], r.alpha[:0])
	r.yofs, r.beta = linearTable(sh, dh, false, r.yofs[:0], r.beta[:0])
	r.cols = r.cols[:0]
	for dx, sx := range r.xofs {
		x0 := sx * c
		r.cols = append(r.cols, hcol{int32(x0), int32(min(x0+c, (sw-1)*c)), int32(r.alpha[2*dx]), int32(r.alpha[2*dx+1])})
	}
	for i := range r.rows {
		if cap(r.rows[i]) < dw*c {
			r.rows[i] = make([]int16, dw*c)
		}
		r.rows[i] = r.rows[i][:dw*c]
	}
	r.rowY = [2]int{-1, -1}
}

// linearTable computes source indices and weights along one axis. OpenCV clamps the
// weight to the edge pixel horizontally only; vertically it clamps the row indices.
func linearTable(sn, dn int, clampWeights bool, ofs []int, w []int16) ([]int, []int16) {
	scale := 1 / (float64(dn) / float64(sn))
	for d := 0; d < dn; d++ {
		f := float32((float64(d)+0.5)*scale - 0.5)
		s := int(math.Floor(float64(f)))
		f -= float32(s)
		if clampWeights {
			if s < 0 {
				f, s = 0, 0
			}
			if s >= sn-1 {
				f, s = 0, sn-1
			}
		}
		ofs = append(ofs, s)
		w = append(w, sat16((1-f)*coefScale), sat16(f*coefScale))
	}
	return ofs, w
}

func sat16(x float32) int16 {
	return int16(max(-32768, min(32767, math.RoundToEven(float64(x)))))
}

// Linear resizes src to dw×dh into dst with cv2.INTER_LINEAR semantics. The vertical pass
// uses the arithmetic of OpenCV's SIMD kernel (the path x86 builds take), so results agree
// with cv2.resize to within one level and are mostly identical. Each channel is resized on
// its own, so any channel count gives what cv2.resize gives for each channel alone.
func (r *Resizer) Linear(src *Image, dw, dh int, dst *Image) {
	if src.W == dw && src.H == dh {
		dst.CopyFrom(src)
		return
	}
	r.setup(src.W, src.H, dw, dh, src.C)
	dst.Reshape(dw, dh, src.C)
	for dy := 0; dy < dh; dy++ {
		r.vrow(src, dy, dst.Row(dy))
	}
}

// LinearRows resizes as Linear does but hands each destination row to fn, top to bottom,
// instead of storing the image, so that a caller consuming rows (normalising them into
// planes) does not write and re-read a whole image. row belongs to r; fn may modify it.
func (r *Resizer) LinearRows(src *Image, dw, dh int, fn func(dy int, row []uint8)) {
	n := dw * src.C
	if cap(r.out) < n {
		r.out = make([]uint8, n)
	}
	row := r.out[:n]
	if src.W == dw && src.H == dh {
		for dy := 0; dy < dh; dy++ {
			copy(row, src.Row(dy))
			fn(dy, row)
		}
		return
	}
	r.setup(src.W, src.H, dw, dh, src.C)
	for dy := 0; dy < dh; dy++ {
		r.vrow(src, dy, row)
		fn(dy, row)
	}
}

// vrow computes destination row dy into out from the two horizontally resized source rows.
func (r *Resizer) vrow(src *Image, dy int, out []uint8) {
	y0 := clampInt(r.yofs[dy], 0, src.H-1)
	y1 := clampInt(r.yofs[dy]+1, 0, src.H-1)
	s0 := r.hrow(src, y0, -1)
	row0, row1 := r.rows[s0], r.rows[r.hrow(src, y1, s0)]
	vline(out, row0, row1, int32(r.beta[2*dy]), int32(r.beta[2*dy+1]))
}

// hrow returns the slot of r.rows holding the horizontally resized source row y (fixed
// point, scaled by 2048, then >> 4), computing it into a slot other than avoid when
// neither holds it.
func (r *Resizer) hrow(src *Image, y, avoid int) int {
	for i := range r.rowY {
		if r.rowY[i] == y {
			return i
		}
	}
	slot := 0
	if avoid == 0 {
		slot = 1
	}
	r.rowY[slot] = y
	buf, s := r.rows[slot], src.Row(y)
	hline(buf, s, r.cols, src.C)
	return slot
}

// Nearest resizes with cv2.INTER_NEAREST: source index floor(d*scale), clamped.
func (r *Resizer) Nearest(src *Image, dw, dh int, dst *Image) {
	c := src.C
	dst.Reshape(dw, dh, c)
	r.nx = nearestTable(src.W, dw, r.nx[:0])
	r.ny = nearestTable(src.H, dh, r.ny[:0])
	for dy, sy := range r.ny {
		srow, out := src.Row(sy), dst.Row(dy)
		if c == 1 {
			for dx, sx := range r.nx {
				out[dx] = srow[sx]
			}
			continue
		}
		for dx, sx := range r.nx {
			copy(out[dx*c:dx*c+c], srow[sx*c:sx*c+c])
		}
	}
}

func nearestTable(sn, dn int, t []int) []int {
	scale := 1 / (float64(dn) / float64(sn))
	for d := 0; d < dn; d++ {
		t = append(t, min(int(math.Floor(float64(d)*scale)), sn-1))
	}
	return t
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

func satU8(v int32) uint8 { return uint8(max(0, min(255, v))) }
