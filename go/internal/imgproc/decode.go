package imgproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// MaxPixels bounds the decoded size, so that a corrupt header cannot exhaust memory.
const MaxPixels = 1 << 26

// Format is a sniffed image encoding.
type Format int

// The encodings the pipeline reads.
const (
	Unknown Format = iota
	JPEG
	PNG
)

func (f Format) String() string {
	return [...]string{"unknown", "JPEG", "PNG"}[f]
}

// Sniff names the encoding of b from its signature.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	}
	return Unknown
}

// ErrFormat reports bytes that are neither JPEG nor PNG.
var ErrFormat = errors.New("not a JPEG or PNG image")

// sniff returns b's format, or ErrFormat naming its first bytes.
func sniff(b []byte) (Format, error) {
	f := Sniff(b)
	if f == Unknown {
		return f, fmt.Errorf("%w (first bytes % x)", ErrFormat, b[:min(len(b), 8)])
	}
	return f, nil
}

// decodePNG runs the standard library's PNG decoder (exact, as PNG is lossless) after
// checking the size.
func decodePNG(b []byte) (img image.Image, err error) {
	const f = PNG
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s header: %w", f, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return nil, fmt.Errorf("%s of %dx%d pixels is empty or larger than %d pixels", f, cfg.Width, cfg.Height, MaxPixels)
	}
	defer func() { // the decoders are fuzzed upstream; this is only a safety net
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("%s decoder failed: %v", f, p)
		}
	}()
	img, err = png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	return img, nil
}

// DecodeRGB decodes a JPEG or PNG into dst (reusing its buffer) as 8-bit RGB, equal bit
// for bit to cv2.imdecode(IMREAD_COLOR) followed by BGR->RGB: a JPEG goes through libjpeg
// with OpenCV's settings and gets its EXIF orientation applied; a PNG's alpha is dropped
// (not composited), 16-bit samples keep their high byte, gray is replicated. A corrupt or
// truncated JPEG is an error (libjpeg's warnings included, where OpenCV would fill gray).
func DecodeRGB(b []byte, dst *Image) error {
	return decodeInto(b, dst, 3)
}

// decodeInto decodes into c = 3 (RGB) or 1 (gray) channels.
func decodeInto(b []byte, dst *Image, c int) error {
	f, err := sniff(b)
	if err != nil {
		return err
	}
	if f == JPEG {
		if err := decodeJPEG(b, dst, c); err != nil {
			return err
		}
		orient(dst, jpegOrientation(b))
		return nil
	}
	img, err := decodePNG(b)
	if err != nil {
		return err
	}
	if c == 3 {
		toRGB(img, dst)
	} else {
		pngGray(img, dst)
	}
	return nil
}

// DecodeOriented decodes a JPEG or PNG into an 8-bit RGB *Image (returned as an
// image.Image) with a JPEG's EXIF orientation applied: what a phone photo looks like, and the
// pixels DecodeRGB gives the training pipeline. Go's image/jpeg ignores EXIF; a face
// detector shown the stored pixels of a rotated photo finds no upright face.
func DecodeOriented(b []byte) (image.Image, error) {
	m := &Image{}
	if err := DecodeRGB(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// ToRGB converts any image to 8-bit RGB in dst (reusing its buffer), as DecodeRGB does
// after decoding: alpha dropped, not composited; 16-bit samples keep their high byte; a
// decoder's YCbCr with libjpeg's upsampling and arithmetic. Pixel (0, 0) of dst is
// img.Bounds().Min. Fast for *Image, *image.YCbCr, *image.Gray, *image.RGBA, *image.NRGBA
// and their 16-bit kinds; other models go through color.NRGBA64 pixel by pixel.
func ToRGB(img image.Image, dst *Image) {
	if m, ok := img.(*image.YCbCr); ok && m.Rect.Min != (image.Point{}) {
		// The libjpeg upsampling assumes the chroma grid starts at the image's corner, as a
		// decoder's image does; a sub-image of one takes the generic path.
		r := m.Rect
		dst.Reshape(r.Dx(), r.Dy(), 3)
		genericRGB(m, dst)
		return
	}
	toRGB(img, dst)
}

// DecodeGray decodes into a one-channel image as cv2.imdecode(IMREAD_GRAYSCALE): a JPEG
// gives libjpeg's grayscale output (the luma plane of YCbCr), EXIF orientation applied; gray
// PNG stays, colour PNG goes through libpng's rgb_to_gray weights (0.299, 0.587, rest) in
// 15-bit fixed point.
func DecodeGray(b []byte, dst *Image) error {
	return decodeInto(b, dst, 1)
}

// pngGray converts a decoded PNG to one channel as libpng's rgb_to_gray.
func pngGray(img image.Image, dst *Image) {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	dst.Reshape(w, h, 1)
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			copy(dst.Row(y), m.Pix[y*m.Stride:y*m.Stride+w])
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			copy(dst.Row(y), m.Y[y*m.YStride:y*m.YStride+w])
		}
	default:
		var rgb Image
		toRGB(img, &rgb)
		for i := range dst.Pix {
			p := rgb.Pix[3*i:]
			dst.Pix[i] = uint8((9798*int32(p[0]) + 19235*int32(p[1]) + 3735*int32(p[2]) + 16384) >> 15)
		}
	}
}

// toRGB converts any decoded image to 8-bit RGB without compositing alpha.
func toRGB(img image.Image, dst *Image) {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	dst.Reshape(w, h, 3)
	switch m := img.(type) {
	case *Image:
		switch m.C {
		case 3:
			copy(dst.Pix, m.Pix)
		case 1:
			for i, v := range m.Pix[:w*h] {
				dst.Pix[3*i], dst.Pix[3*i+1], dst.Pix[3*i+2] = v, v, v
			}
		default:
			genericRGB(img, dst)
		}
	case *image.YCbCr:
		ycbcrToRGB(m, dst)
	case *image.Gray:
		for y := 0; y < h; y++ {
			row, src := dst.Row(y), m.Pix[y*m.Stride:]
			for x := 0; x < w; x++ {
				row[3*x], row[3*x+1], row[3*x+2] = src[x], src[x], src[x]
			}
		}
	case *image.RGBA:
		copyRGB(dst, m.Pix, m.Stride, 4, 1)
	case *image.NRGBA:
		copyRGB(dst, m.Pix, m.Stride, 4, 1)
	case *image.RGBA64:
		copyRGB(dst, m.Pix, m.Stride, 8, 2)
	case *image.NRGBA64:
		copyRGB(dst, m.Pix, m.Stride, 8, 2)
	default:
		genericRGB(img, dst)
	}
}

// copyRGB copies the first three channels of packed pixels of px bytes, taking the high
// byte of each sample of sb bytes (big-endian, as image.RGBA64 stores them).
func copyRGB(dst *Image, pix []uint8, stride, px, sb int) {
	for y := 0; y < dst.H; y++ {
		row, src := dst.Row(y), pix[y*stride:]
		for x := 0; x < dst.W; x++ {
			s := src[x*px:]
			row[3*x], row[3*x+1], row[3*x+2] = s[0], s[sb], s[2*sb]
		}
	}
}

// genericRGB handles the rare models (paletted, CMYK, 16-bit gray) through color.NRGBA64,
// which keeps the stored colour of transparent pixels as OpenCV does.
func genericRGB(img image.Image, dst *Image) {
	r := img.Bounds()
	for y := 0; y < dst.H; y++ {
		row := dst.Row(y)
		for x := 0; x < dst.W; x++ {
			c := color.NRGBA64Model.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA64)
			if p, ok := img.(*image.Paletted); ok {
				if n, ok := p.Palette[p.ColorIndexAt(r.Min.X+x, r.Min.Y+y)].(color.NRGBA); ok {
					row[3*x], row[3*x+1], row[3*x+2] = n.R, n.G, n.B
					continue
				}
			}
			row[3*x], row[3*x+1], row[3*x+2] = uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8)
		}
	}
}

// FromImage converts a decoded image to 8-bit RGB in dst with the conventions of DecodeRGB
// (alpha dropped, not composited; 16-bit samples keep their high byte; gray replicated). The
// image's own bounds are kept (its Min corner becomes 0,0). A YCbCr image (Go's image/jpeg
// output) gets libjpeg's chroma upsampling and colour arithmetic, but Go's inverse DCT, so
// it can differ from DecodeRGB of the same bytes by a few levels; a YCbCr sub-image that
// does not start at 0,0 goes through Go's colour conversion instead.
func FromImage(img image.Image, dst *Image) {
	if m, ok := img.(*image.YCbCr); ok && m.Rect.Min != (image.Point{}) {
		dst.Reshape(m.Rect.Dx(), m.Rect.Dy(), 3)
		genericRGB(img, dst)
		return
	}
	toRGB(img, dst)
}

// DecodeConfig reads only the header of a JPEG or PNG: its encoding and its stored width and
// height (before any EXIF orientation, which may swap them). It decodes no pixels, so it is
// the check to run on untrusted bytes before DecodeRGB.
func DecodeConfig(b []byte) (Format, int, int, error) {
	f, err := sniff(b)
	if err != nil {
		return f, 0, 0, err
	}
	cfgDec := jpeg.DecodeConfig
	if f == PNG {
		cfgDec = png.DecodeConfig
	}
	cfg, err := cfgDec(bytes.NewReader(b))
	if err != nil {
		return f, 0, 0, fmt.Errorf("%s header: %w", f, err)
	}
	return f, cfg.Width, cfg.Height, nil
}
