package imgproc

/*
#cgo CFLAGS: -O3
#include "pixels.h"
*/
import "C"

import "unsafe"

// Go wrappers of the C loops of pixels.c. The slices hold no Go pointers, so cgo may pass
// them; lengths are checked here, where a bad one would otherwise write out of bounds.

func u8p(b []uint8) *C.uint8_t  { return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))) }
func i16p(b []int16) *C.int16_t { return (*C.int16_t)(unsafe.Pointer(unsafe.SliceData(b))) }
func i32p(b []int32) *C.int32_t { return (*C.int32_t)(unsafe.Pointer(unsafe.SliceData(b))) }
func f32p(b []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(b))) }
func pd(n int) C.ptrdiff_t      { return C.ptrdiff_t(n) }

// hline is the horizontal pass over one row s of c-channel pixels into out (c per column),
// each blend >> 4: the 16-bit lanes the vertical pass works in.
func hline(out []int16, s []uint8, cols []hcol, c int) {
	if len(cols) == 0 {
		return
	}
	last := cols[len(cols)-1]
	if len(out) < c*len(cols) || int(max(last.x0, last.x1))+c > len(s) || cols[0].x0 < 0 {
		panic("imgproc: hline buffers too small")
	}
	C.fas_hline(i16p(out), u8p(s), pd(len(s)), (*C.fas_hcol)(unsafe.Pointer(&cols[0])), pd(len(cols)), C.int(c))
}

// vline is OpenCV's vertical pass: out[i] from row0[i] and row1[i] with weights b0, b1.
func vline(out []uint8, row0, row1 []int16, b0, b1 int32) {
	if len(out) == 0 {
		return
	}
	_, _ = row0[len(out)-1], row1[len(out)-1]
	C.fas_vline(u8p(out), i16p(row0), i16p(row1), pd(len(out)), C.int32_t(b0), C.int32_t(b1))
}

// hsvRow is cv::RGB2HSV_b over the pixels of in (RGB in the first three of every inStride
// bytes) into out (HSV into the first three of every outStride bytes).
func hsvRow(out []uint8, outStride int, in []uint8, inStride int) {
	n := (len(in) + inStride - 3) / inStride // pixels whose three bytes lie in in
	if n <= 0 {
		return
	}
	_ = out[(n-1)*outStride+2]
	C.fas_hsv_row(u8p(out), pd(outStride), u8p(in), pd(inStride), pd(n), i32p(sdivTable[:]), i32p(hdivTable[:]))
}

// rgbHSVRow writes the RGB pixels of in to out as R G B H S V.
func rgbHSVRow(out, in []uint8) {
	n := len(in) / 3
	if n == 0 {
		return
	}
	_ = out[6*n-1]
	C.fas_rgbhsv_row(u8p(out), u8p(in), pd(n), i32p(sdivTable[:]), i32p(hdivTable[:]))
}

// rgbRow is cv::HSV2RGB_b over the pixels of in into out, strided as hsvRow.
func rgbRow(out []uint8, outStride int, in []uint8, inStride int) {
	n := (len(in) + inStride - 3) / inStride
	if n <= 0 {
		return
	}
	_ = out[(n-1)*outStride+2]
	C.fas_rgb_row(u8p(out), pd(outStride), u8p(in), pd(inStride), pd(n))
}

// jitterRow applies the tables lut (H, S, V: 256 each) through HSV to the RGB in the first
// three bytes of every stride bytes of pix, in place.
func jitterRow(pix []uint8, stride int, lut *[768]uint8) {
	n := (len(pix) + stride - 3) / stride
	if n <= 0 {
		return
	}
	C.fas_jitter_row(u8p(pix), pd(stride), pd(n), u8p(lut[:]), i32p(sdivTable[:]), i32p(hdivTable[:]))
}

func cflag(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
