#include "pixels.h"

// hline_c is fas_hline for a constant channel count, so that the inner loop unrolls.
static inline void hline_c(int16_t *restrict out, const uint8_t *restrict s, const fas_hcol *restrict cols,
                           ptrdiff_t n, int c) {
    for (ptrdiff_t dx = 0; dx < n; dx++, out += c) {
        const uint8_t *p0 = s + cols[dx].x0, *p1 = s + cols[dx].x1;
        int32_t a0 = cols[dx].a0, a1 = cols[dx].a1;
        for (int k = 0; k < c; k++) out[k] = (int16_t)((p0[k] * a0 + p1[k] * a1) >> 4);
    }
}

#ifdef __SSE2__
#include <emmintrin.h>

// hline6_sse2 blends a six-channel column in one pmaddwd pair: the 16 bytes at x0 hold both
// pixels when x1 = x0 + 6 (all columns but the clamped last ones, which it leaves to the
// scalar loop with any column whose 16 bytes would pass the row's end). Each store spills
// two values into the next column, which that column then overwrites. Returns the columns done.
static ptrdiff_t hline6_sse2(int16_t *out, const uint8_t *s, const fas_hcol *cols, ptrdiff_t n, ptrdiff_t len) {
    const __m128i z = _mm_setzero_si128();
    ptrdiff_t dx = 0;
    for (; dx + 1 < n; dx++) {
        int32_t x0 = cols[dx].x0;
        if (x0 + 16 > len || cols[dx].x1 != x0 + 6) break;
        __m128i u = _mm_loadu_si128((const __m128i *)(s + x0));
        __m128i p0 = _mm_unpacklo_epi8(u, z), p1 = _mm_unpacklo_epi8(_mm_srli_si128(u, 6), z);
        __m128i w = _mm_set1_epi32((int32_t)(((uint32_t)(uint16_t)cols[dx].a1 << 16) | (uint16_t)cols[dx].a0));
        __m128i lo = _mm_srai_epi32(_mm_madd_epi16(_mm_unpacklo_epi16(p0, p1), w), 4);
        __m128i hi = _mm_srai_epi32(_mm_madd_epi16(_mm_unpackhi_epi16(p0, p1), w), 4);
        _mm_storeu_si128((__m128i *)(out + 6 * dx), _mm_packs_epi32(lo, hi));
    }
    return dx;
}
#endif

void fas_hline(int16_t *out, const uint8_t *s, ptrdiff_t len, const fas_hcol *cols, ptrdiff_t n, int c) {
    switch (c) {
    case 1: hline_c(out, s, cols, n, 1); break;
    case 3: hline_c(out, s, cols, n, 3); break;
    case 6: {
        ptrdiff_t done = 0;
#ifdef __SSE2__
        done = hline6_sse2(out, s, cols, n, len);
#endif
        hline_c(out + 6 * done, s, cols + done, n - done, 6);
        break;
    }
    default: hline_c(out, s, cols, n, c);
    }
}

void fas_vline(uint8_t *restrict out, const int16_t *restrict row0, const int16_t *restrict row1, ptrdiff_t n,
               int32_t b0, int32_t b1) {
    // Multiply-high by the weights, a rounding shift by 2; the inputs (<= 255*2048 >> 4)
    // never saturate 16 bits. Written in int16 so that GCC uses pmulhw, as OpenCV does.
    int16_t w0 = (int16_t)b0, w1 = (int16_t)b1;
    for (ptrdiff_t i = 0; i < n; i++) {
        int16_t t = (int16_t)((row0[i] * w0) >> 16) + (int16_t)((row1[i] * w1) >> 16);
        t = (int16_t)((t + 2) >> 2);
        out[i] = (uint8_t)(t > 255 ? 255 : t);
    }
}

// hsv_pixel is cv::RGB2HSV_b for one pixel (hrange 180, OpenCV's 12-bit fixed point).
static inline void hsv_pixel(uint8_t *restrict out, const uint8_t *restrict in, const int32_t *sdiv,
                             const int32_t *hdiv) {
    enum { shift = 12, half = 1 << (shift - 1) };
    int32_t r = in[0], g = in[1], b = in[2];
    int32_t v = r > g ? r : g, vmin = r < g ? r : g;
    v = v > b ? v : b;
    vmin = vmin < b ? vmin : b;
    int32_t diff = v - vmin;
    int32_t sat = (diff * sdiv[v] + half) >> shift;
    // OpenCV's branch-free choice of the hue formula: masks are -1 where v == r, v == g.
    int32_t vr = -(v == r), vg = -(v == g);
    int32_t h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + (~vg & (r - g + 4 * diff))));
    h = (h * hdiv[diff] + half) >> shift;
    h += h < 0 ? 180 : 0;
    out[0] = (uint8_t)h, out[1] = (uint8_t)sat, out[2] = (uint8_t)v;
}

void fas_hsv_row(uint8_t *restrict out, ptrdiff_t out_stride, const uint8_t *restrict in, ptrdiff_t in_stride,
                 ptrdiff_t n, const int32_t *sdiv, const int32_t *hdiv) {
    for (ptrdiff_t i = 0; i < n; i++, in += in_stride, out += out_stride) hsv_pixel(out, in, sdiv, hdiv);
}

// rgbhsv_loop is fas_rgbhsv_row's loop, indexed so that GCC vectorises it for a target with
// gathers (for the division tables).
static inline __attribute__((always_inline)) void rgbhsv_loop(uint8_t *restrict out, const uint8_t *restrict in,
                                                              ptrdiff_t n, const int32_t *restrict sdiv,
                                                              const int32_t *restrict hdiv) {
    for (ptrdiff_t i = 0; i < n; i++) {
        out[6 * i] = in[3 * i], out[6 * i + 1] = in[3 * i + 1], out[6 * i + 2] = in[3 * i + 2];
        hsv_pixel(out + 6 * i + 3, in + 3 * i, sdiv, hdiv);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define FAS_AVX2 1
// The same loop with AVX2 (its gathers make it vectorise: about a quarter faster); integer
// arithmetic, so the bytes are the same. Chosen at run time.
__attribute__((target("avx2"))) static void rgbhsv_avx2(uint8_t *restrict out, const uint8_t *restrict in,
                                                        ptrdiff_t n, const int32_t *restrict sdiv,
                                                        const int32_t *restrict hdiv) {
    rgbhsv_loop(out, in, n, sdiv, hdiv);
}
#endif

void fas_rgbhsv_row(uint8_t *out, const uint8_t *in, ptrdiff_t n, const int32_t *sdiv, const int32_t *hdiv) {
#ifdef FAS_AVX2
    if (__builtin_cpu_supports("avx2")) {
        rgbhsv_avx2(out, in, n, sdiv, hdiv);
        return;
    }
#endif
    rgbhsv_loop(out, in, n, sdiv, hdiv);
}

// trunc8 converts to uint8 by truncation, clamped (see Go's trunc8).
static inline uint8_t trunc8(float x) { return x <= 0 ? 0 : x >= 255 ? 255 : (uint8_t)x; }

// rgb_pixel is cv::HSV2RGB_b's float32 arithmetic for one pixel (hrange 180).
static inline void rgb_pixel(uint8_t *out, uint8_t hb, uint8_t sb, uint8_t vb) {
    static const int sectors[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    float h = hb, s = sb * (1.0f / 255.0f), v = vb * (1.0f / 255.0f), r = v, g = v, b = v;
    if (s != 0) {
        h *= 6.0f / 180.0f;
        while (h < 0) h += 6;
        while (h >= 6) h -= 6;
        int sector = (int)h; // h >= 0: floor
        h -= sector;
        if (sector < 0 || sector >= 6) sector = 0, h = 0;
        float tab[4] = {v, v * (1 - s), v * (1 - s * h), v * (1 - s * (1 - h))};
        b = tab[sectors[sector][0]], g = tab[sectors[sector][1]], r = tab[sectors[sector][2]];
    }
    out[0] = trunc8(r * 255), out[1] = trunc8(g * 255), out[2] = trunc8(b * 255);
}

void fas_rgb_row(uint8_t *restrict out, ptrdiff_t out_stride, const uint8_t *restrict in, ptrdiff_t in_stride,
                 ptrdiff_t n) {
    for (ptrdiff_t i = 0; i < n; i++, in += in_stride, out += out_stride) rgb_pixel(out, in[0], in[1], in[2]);
}

void fas_jitter_row(uint8_t *pix, ptrdiff_t stride, ptrdiff_t n, const uint8_t *lut, const int32_t *sdiv,
                    const int32_t *hdiv) {
    for (ptrdiff_t i = 0; i < n; i++, pix += stride) {
        uint8_t hsv[3];
        hsv_pixel(hsv, pix, sdiv, hdiv);
        rgb_pixel(pix, lut[hsv[0]], lut[256 + hsv[1]], lut[512 + hsv[2]]);
    }
}

void fas_norm_row6(const uint8_t *restrict row, ptrdiff_t w, int flip, float *restrict out, ptrdiff_t at,
                   ptrdiff_t plane, const float *restrict lut) {
    float *o[6];
    for (int k = 0; k < 6; k++) o[k] = out + k * plane + at;
    for (ptrdiff_t x = 0; x < w; x++, row += 6) {
        ptrdiff_t d = flip ? w - 1 - x : x;
        for (int k = 0; k < 6; k++) o[k][d] = lut[(k % 3) * 256 + row[k]];
    }
}
