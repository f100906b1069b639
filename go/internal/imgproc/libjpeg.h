// JPEG decoding with the system libjpeg (libjpeg-turbo on Debian), the library OpenCV's
// imdecode uses, with OpenCV's settings, so that the pixels are cv2.imdecode's bit for bit.
#ifndef FASGO_IMGPROC_LIBJPEG_H
#define FASGO_IMGPROC_LIBJPEG_H

#include <stddef.h>

enum { FAS_JPEG_OK = 0, FAS_JPEG_SMALL = 1, FAS_JPEG_LARGE = 2, FAS_JPEG_ERROR = -1 };

// A reusable decoder: one libjpeg decompress object whose header and result fields are
// read back by the caller (so no Go pointer needs to cross for them).
typedef struct fas_jdec fas_jdec;

fas_jdec *fas_jdec_new(void);
void fas_jdec_free(fas_jdec *d);

// fas_jdec_decode decodes src into out as packed RGB (gray = 0) or luma (gray = 1) rows.
// FAS_JPEG_SMALL: out's cap is too small for the image (size in fas_jdec_width/height), nothing
// decoded; FAS_JPEG_LARGE: more than max_pixels; FAS_JPEG_ERROR: fas_jdec_message says why
// (libjpeg's warnings, such as a truncated file, are errors too).
int fas_jdec_decode(fas_jdec *d, const unsigned char *src, size_t n, int gray, size_t max_pixels,
                    unsigned char *out, size_t cap);
int fas_jdec_width(const fas_jdec *d);
int fas_jdec_height(const fas_jdec *d);
const char *fas_jdec_message(const fas_jdec *d);

#endif
