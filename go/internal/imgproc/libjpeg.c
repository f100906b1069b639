#include "libjpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

struct fas_jdec {
  struct jpeg_decompress_struct cinfo;
  struct jpeg_error_mgr err;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
  int w, h;
};

// libjpeg's default error_exit calls exit(): jump back to fas_jdec_decode instead.
static void on_error(j_common_ptr c) {
  fas_jdec *d = (fas_jdec *)c->client_data;
  (*c->err->format_message)(c, d->msg);
  longjmp(d->jump, 1);
}

// Warnings (level -1: corrupt data, premature end of file) would let libjpeg substitute
// gray for missing data; a training pipeline must not see that silently, so they fail.
// Trace messages (level >= 0) are dropped.
static void on_message(j_common_ptr c, int level) {
  if (level < 0) on_error(c);
}

fas_jdec *fas_jdec_new(void) {
  fas_jdec *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->cinfo.err = jpeg_std_error(&d->err);
  d->err.error_exit = on_error;
  d->err.emit_message = on_message;
  d->cinfo.client_data = d;
  if (setjmp(d->jump)) {  // jpeg_create_decompress fails only when out of memory
    free(d);
    return NULL;
  }
  jpeg_create_decompress(&d->cinfo);
  return d;
}

void fas_jdec_free(fas_jdec *d) {
  if (!d) return;
  jpeg_destroy_decompress(&d->cinfo);
  free(d);
}

// Results are read back by value: a Go pointer passed to C escapes to the heap.
int fas_jdec_width(const fas_jdec *d) { return d->w; }
int fas_jdec_height(const fas_jdec *d) { return d->h; }

const char *fas_jdec_message(const fas_jdec *d) { return d->msg; }

// cmyk_row converts as OpenCV's icvCvt_CMYK2BGR_8u_C4C3R / icvCvt_CMYK2Gray_8u_C4C1R do
// (libjpeg outputs the stored, Adobe-inverted CMYK values; OpenCV does not invert them).
static void cmyk_row(const JSAMPLE *in, unsigned char *out, int w, int gray) {
  for (int x = 0; x < w; x++, in += 4) {
    int k = in[3];
    int c = k - ((255 - in[0]) * k >> 8);
    int m = k - ((255 - in[1]) * k >> 8);
    int y = k - ((255 - in[2]) * k >> 8);
    if (gray) {  // OpenCV's descale(b*cB + g*cG + r*cR, 14), with r = c, g = m, b = y
      out[x] = (unsigned char)((y * 1868 + m * 9617 + c * 4899 + (1 << 13)) >> 14);
    } else {
      out[3 * x] = (unsigned char)c;
      out[3 * x + 1] = (unsigned char)m;
      out[3 * x + 2] = (unsigned char)y;
    }
  }
}

// forget drops the pointer to the caller's bytes that jpeg_mem_src left in the decoder.
static void forget(fas_jdec *d) {
  if (d->cinfo.src) {
    d->cinfo.src->next_input_byte = NULL;
    d->cinfo.src->bytes_in_buffer = 0;
  }
}

int fas_jdec_decode(fas_jdec *d, const unsigned char *src, size_t n, int gray, size_t max_pixels,
                    unsigned char *out, size_t cap) {
  struct jpeg_decompress_struct *c = &d->cinfo;
  d->msg[0] = 0;
  d->w = d->h = 0;
  if (setjmp(d->jump)) {
    jpeg_abort_decompress(c);
    forget(d);
    return FAS_JPEG_ERROR;
  }
  jpeg_mem_src(c, src, (unsigned long)n);
  jpeg_read_header(c, TRUE);
  d->w = (int)c->image_width;
  d->h = (int)c->image_height;
  int oc = gray ? 1 : 3;
  int code = FAS_JPEG_OK;
  if (d->w <= 0 || d->h <= 0 || (size_t)d->w * (size_t)d->h > max_pixels) {
    code = FAS_JPEG_LARGE;
  } else if ((size_t)d->w * (size_t)d->h * oc > cap) {
    code = FAS_JPEG_SMALL;
  }
  if (code != FAS_JPEG_OK) {
    jpeg_abort_decompress(c);
    forget(d);
    return code;
  }
  // OpenCV's grfmt_jpeg.cpp: RGB or gray out, 4 components as CMYK; everything else
  // (islow IDCT, fancy upsampling) at libjpeg's defaults.
  int cmyk = c->num_components == 4;
  c->out_color_space = cmyk ? JCS_CMYK : (gray ? JCS_GRAYSCALE : JCS_RGB);
  jpeg_start_decompress(c);
  if ((int)c->output_width != d->w || (int)c->output_height != d->h) {
    snprintf(d->msg, sizeof d->msg, "decoder output %ux%u differs from the header's %dx%d",
             c->output_width, c->output_height, d->w, d->h);
    jpeg_abort_decompress(c);
    forget(d);
    return FAS_JPEG_ERROR;
  }
  size_t stride = (size_t)d->w * oc;
  JSAMPARRAY tmp = cmyk ? (*c->mem->alloc_sarray)((j_common_ptr)c, JPOOL_IMAGE, d->w * 4, 1) : NULL;
  while (c->output_scanline < c->output_height) {
    unsigned char *row = out + stride * c->output_scanline;
    if (cmyk) {
      jpeg_read_scanlines(c, tmp, 1);
      cmyk_row(tmp[0], row, d->w, gray);
    } else {
      JSAMPROW rows[1] = {row};
      jpeg_read_scanlines(c, rows, 1);
    }
  }
  jpeg_finish_decompress(c);
  forget(d);
  return FAS_JPEG_OK;
}
