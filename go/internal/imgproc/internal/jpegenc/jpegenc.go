// Package jpegenc writes the JPEGs that the tests need and neither Go's encoder (4:2:0
// only) nor cv2.imencode (4:2:0 only in OpenCV 4.6) can write: chosen chroma sampling, and
// 4-component CMYK as print workflows save them. Through the system libjpeg; test support only.
package jpegenc

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

// encode compresses w*h packed samples of c = 1, 3 (RGB, stored as YCbCr with luma sampled
// hs x vs) or 4 (CMYK) components; returns the malloc'ed bytes (jpeg_mem_dest).
static unsigned char *encode(const unsigned char *pix, int w, int h, int c, int quality,
                             int hs, int vs, int progressive, unsigned long *n) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr err;
  unsigned char *out = NULL;
  ci.err = jpeg_std_error(&err); // the input is the test's own: an error here is a bug, exit is fine
  jpeg_create_compress(&ci);
  jpeg_mem_dest(&ci, &out, n);
  ci.image_width = w;
  ci.image_height = h;
  ci.input_components = c;
  ci.in_color_space = c == 1 ? JCS_GRAYSCALE : c == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, quality, TRUE);
  if (c == 3) {
    ci.comp_info[0].h_samp_factor = hs;
    ci.comp_info[0].v_samp_factor = vs;
  }
  if (progressive) jpeg_simple_progression(&ci);
  jpeg_start_compress(&ci, TRUE);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(pix + (size_t)ci.next_scanline * w * c);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  return out;
}
*/
import "C"

import "unsafe"

// Options choose the luma sampling factors of an RGB image (H, V: 1x1 = 4:4:4, 2x1 = 4:2:2,
// 1x2 = 4:4:0, 2x2 = 4:2:0, 4x1 = 4:1:1; chroma stays 1x1) and progressive coding.
type Options struct {
	Quality, H, V int
	Progressive   bool
}

// Encode compresses w×h packed samples with c = 1 (gray), 3 (RGB) or 4 (C, M, Y, K) channels.
func Encode(pix []byte, w, h, c int, o Options) []byte {
	if len(pix) != c*w*h || (c != 1 && c != 3 && c != 4) {
		panic("jpegenc.Encode: bad channel count or pixel count")
	}
	if o.H == 0 {
		o.H, o.V = 2, 2
	}
	prog := 0
	if o.Progressive {
		prog = 1
	}
	var n C.ulong
	p := C.encode((*C.uchar)(unsafe.Pointer(&pix[0])), C.int(w), C.int(h), C.int(c), C.int(o.Quality),
		C.int(o.H), C.int(o.V), C.int(prog), &n)
	defer C.free(unsafe.Pointer(p))
	return C.GoBytes(unsafe.Pointer(p), C.int(n))
}
