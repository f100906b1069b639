// The innermost loops of the resize, the RGB->HSV conversion and the normalisation, in C:
// GCC keeps them in registers and vectorises the vertical pass, which Go's compiler does not
// (it spills and bounds-checks), and they are most of a training sample's time. The Go
// callers (resize.go, hsv.go, augment.go) hold the logic; these only run the arithmetic.
#ifndef FASGO_IMGPROC_PIXELS_H
#define FASGO_IMGPROC_PIXELS_H

#include <stddef.h>
#include <stdint.h>

// One destination column of the horizontal resize pass: the byte offsets of its two source
// pixels and their 11-bit fixed-point weights (Go's hcol).
typedef struct { int32_t x0, x1, a0, a1; } fas_hcol;

// fas_hline: out[dx*c+k] = (s[x0+k]*a0 + s[x1+k]*a1) >> 4 for the n columns of
// the len-byte row s: OpenCV's
// 8-bit kernel keeps the blend in 32 bits and its vertical pass shifts it into 16-bit
// lanes, so storing the shifted value is the same and halves the rows.
void fas_hline(int16_t *out, const uint8_t *s, ptrdiff_t len, const fas_hcol *cols, ptrdiff_t n, int c);

// fas_vline: OpenCV's SIMD vertical kernel over n values of two rows from fas_hline.
void fas_vline(uint8_t *out, const int16_t *row0, const int16_t *row1, ptrdiff_t n, int32_t b0, int32_t b1);

// fas_hsv_row: cv::RGB2HSV_b for n pixels, RGB at in + i*in_stride, HSV to out + i*out_stride;
// sdiv and hdiv are OpenCV's division tables.
void fas_hsv_row(uint8_t *out, ptrdiff_t out_stride, const uint8_t *in, ptrdiff_t in_stride, ptrdiff_t n,
                 const int32_t *sdiv, const int32_t *hdiv);

// fas_rgbhsv_row: n RGB pixels to R G B H S V (six bytes each).
void fas_rgbhsv_row(uint8_t *out, const uint8_t *in, ptrdiff_t n, const int32_t *sdiv, const int32_t *hdiv);

// fas_rgb_row: cv::HSV2RGB_b (float32 arithmetic) for n pixels, strided as fas_hsv_row.
void fas_rgb_row(uint8_t *out, ptrdiff_t out_stride, const uint8_t *in, ptrdiff_t in_stride, ptrdiff_t n);

// fas_jitter_row: albumentations' shift_hsv_uint8 in place on the RGB at pix + i*stride
// for n pixels: RGB->HSV, lut (three tables of 256: H, S, V), HSV->RGB.
void fas_jitter_row(uint8_t *pix, ptrdiff_t stride, ptrdiff_t n, const uint8_t *lut, const int32_t *sdiv,
                    const int32_t *hdiv);

// fas_norm_row6: the w pixels of a six-channel row through lut[k % 3] into six planes:
// channel k of pixel x to out[k*plane + at + x], x mirrored when flip is set.
void fas_norm_row6(const uint8_t *row, ptrdiff_t w, int flip, float *out, ptrdiff_t at, ptrdiff_t plane,
                   const float *lut);

#endif
