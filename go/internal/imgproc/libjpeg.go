package imgproc

/*
#cgo LDFLAGS: -ljpeg
#include <stdlib.h>
#include "libjpeg.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// jpegDecoder owns one libjpeg decompress object. They are kept on a free list, so that
// decoding reuses both libjpeg's state and the caller's pixel buffer: nothing is allocated
// on the Go heap per image once dst has grown to the largest size seen.
type jpegDecoder struct{ d *C.fas_jdec }

var jpegDecoders = newFreeList(64, func() *jpegDecoder {
	d := C.fas_jdec_new()
	if d == nil {
		return nil
	}
	j := &jpegDecoder{d}
	runtime.AddCleanup(j, func(d *C.fas_jdec) { C.fas_jdec_free(d) }, d) // when dropped
	return j
})

// freeList keeps up to its capacity of reusable values. Unlike a sync.Pool it never drops
// them at a GC or at random (as sync.Pool does under the race detector), so a steady worker
// allocates nothing; values beyond the capacity are left to the GC.
type freeList[T any] struct {
	c  chan T
	mk func() T
}

func newFreeList[T any](n int, mk func() T) *freeList[T] {
	return &freeList[T]{c: make(chan T, n), mk: mk}
}

func (f *freeList[T]) get() T {
	select {
	case v := <-f.c:
		return v
	default:
		return f.mk()
	}
}

func (f *freeList[T]) put(v T) {
	select {
	case f.c <- v:
	default:
	}
}

var errJPEGAlloc = errors.New("JPEG: libjpeg could not allocate a decoder")

// decodeJPEG decodes b into dst with c = 3 (RGB) or 1 (luma) channels, as cv2.imdecode's
// JPEG decoder does (libjpeg, islow IDCT, fancy upsampling, CMYK through OpenCV's formula);
// the EXIF orientation is not applied here.
func decodeJPEG(b []byte, dst *Image, c int) error {
	j := jpegDecoders.get()
	if j == nil {
		return errJPEGAlloc
	}
	defer jpegDecoders.put(j)
	gray := C.int(0)
	if c == 1 {
		gray = 1
	}
	for {
		var out *C.uchar
		if cap(dst.Pix) > 0 {
			out = (*C.uchar)(unsafe.Pointer(unsafe.SliceData(dst.Pix[:cap(dst.Pix)])))
		}
		var src *C.uchar
		if len(b) > 0 {
			src = (*C.uchar)(unsafe.Pointer(unsafe.SliceData(b)))
		}
		code := C.fas_jdec_decode(j.d, src, C.size_t(len(b)), gray, C.size_t(MaxPixels), out, C.size_t(cap(dst.Pix)))
		w, h := int(C.fas_jdec_width(j.d)), int(C.fas_jdec_height(j.d))
		switch code {
		case C.FAS_JPEG_OK:
			dst.W, dst.H, dst.C, dst.Pix = w, h, c, dst.Pix[:w*h*c]
			return nil
		case C.FAS_JPEG_SMALL:
			dst.Pix = make([]uint8, w*h*c)
		case C.FAS_JPEG_LARGE:
			return fmt.Errorf("JPEG of %dx%d pixels is empty or larger than %d pixels", w, h, MaxPixels)
		default:
			return fmt.Errorf("JPEG: %s", C.GoString(C.fas_jdec_message(j.d)))
		}
	}
}
