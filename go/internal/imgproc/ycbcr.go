package imgproc

import "image"

// libjpeg's YCbCr->RGB tables (jdcolor.c, 16-bit fixed point), so that the colour
// conversion of a decoded JPEG is the same integer arithmetic as cv2.imdecode's.
var crR, cbB, crG, cbG [256]int32

func init() {
	const scaleBits, half = 16, 1 << 15
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
}

// ycbcrToRGB converts a decoded JPEG, upsampling chroma with libjpeg's "fancy" (triangle)
// filters for 4:2:0, 4:2:2 and 4:4:0 and by replication for the rare other ratios.
func ycbcrToRGB(m *image.YCbCr, dst *Image) {
	w, h := dst.W, dst.H
	// libjpeg replicates the last real chroma row, not the MCU padding Go keeps below it.
	rows := h
	if m.SubsampleRatio == image.YCbCrSubsampleRatio420 || m.SubsampleRatio == image.YCbCrSubsampleRatio440 {
		rows = (h + 1) / 2
	}
	cb, cr := make([]uint8, w+1), make([]uint8, w+1)
	for y := 0; y < h; y++ {
		upsampleRow(m, y, rows, m.Cb, cb)
		upsampleRow(m, y, rows, m.Cr, cr)
		yrow, out := m.Y[y*m.YStride:], dst.Row(y)
		for x := 0; x < w; x++ {
			Y, b, r := int32(yrow[x]), cb[x], cr[x]
			out[3*x] = satU8(Y + crR[r])
			out[3*x+1] = satU8(Y + ((cbG[b] + crG[r]) >> 16))
			out[3*x+2] = satU8(Y + cbB[b])
		}
	}
}

// upsampleRow writes the full-resolution chroma of image row y into out (len >= width).
func upsampleRow(m *image.YCbCr, y, rows int, plane, out []uint8) {
	cs := m.CStride
	n := (m.Rect.Dx() + 1) / 2 // chroma width when horizontally subsampled
	row := func(cy int) []uint8 { cy = clampInt(cy, 0, rows-1); return plane[cy*cs : cy*cs+cs] }
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		copy(out, row(y)[:m.Rect.Dx()])
	case image.YCbCrSubsampleRatio422:
		fancyH(row(y), n, 0, nil, out)
	case image.YCbCrSubsampleRatio420:
		near, far := y/2, y/2-1
		if y%2 == 1 {
			far = y/2 + 1
		}
		fancyH(row(near), n, 1, row(far), out)
	case image.YCbCrSubsampleRatio440:
		near, far, bias := y/2, y/2-1, int32(1)
		if y%2 == 1 {
			far, bias = y/2+1, 2
		}
		a, b := row(near), row(far)
		for x := 0; x < m.Rect.Dx(); x++ {
			out[x] = uint8((3*int32(a[x]) + int32(b[x]) + bias) >> 2)
		}
	default: // 4:1:1, 4:1:0: replicate
		for x := 0; x < m.Rect.Dx(); x++ {
			out[x] = m.YCbCrAt(x, y).Cb
			if &plane[0] == &m.Cr[0] {
				out[x] = m.YCbCrAt(x, y).Cr
			}
		}
	}
}

// fancyH doubles a row horizontally with libjpeg's triangle filter: h2v1_fancy_upsample
// when far is nil (vert = 0), h2v2_fancy_upsample on the column sums 3*near+far otherwise.
func fancyH(near []uint8, n, vert int, far []uint8, out []uint8) {
	col := func(i int) int32 {
		i = clampInt(i, 0, n-1)
		if vert == 0 {
			return int32(near[i])
		}
		return 3*int32(near[i]) + int32(far[i])
	}
	// h2v1 works on samples (weights /4), h2v2 on column sums (weights /16).
	shift, lo, hi := int32(2), int32(1), int32(2)
	if vert == 1 {
		shift, lo, hi = 4, 8, 7
	}
	for i := 0; i < n; i++ {
		c := 3 * col(i)
		left, right := col(i-1), col(i+1)
		if i == 0 {
			left = col(i)
		}
		if i == n-1 {
			right = col(i)
		}
		out[2*i] = uint8((c + left + lo) >> shift)
		if vert == 0 && i == 0 {
			out[0] = near[0]
		}
		out[2*i+1] = uint8((c + right + hi) >> shift)
		if vert == 0 && i == n-1 {
			out[2*i+1] = near[clampInt(i, 0, n-1)]
		}
	}
}
