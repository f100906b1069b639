package imgproc

import "math"

// hsvShift is OpenCV's fixed-point precision for RGB2HSV on 8-bit images.
const hsvShift = 12

// Division tables of cv::RGB2HSV_b (hrange 180), rounded as OpenCV's saturate_cast does.
var sdivTable, hdivTable [256]int32

func init() {
	for i := 1; i < 256; i++ {
		sdivTable[i] = int32(math.RoundToEven(float64(255<<hsvShift) / float64(i)))
		hdivTable[i] = int32(math.RoundToEven(float64(180<<hsvShift) / (6 * float64(i))))
	}
}

// RGBToHSV converts an RGB image to OpenCV's 8-bit HSV (cv2.COLOR_RGB2HSV): H in [0,180),
// S and V in [0,255], with OpenCV's integer arithmetic.
func RGBToHSV(src, dst *Image) {
	dst.Reshape(src.W, src.H, 3)
	s, d := src.Pix, dst.Pix
	for i := 0; i+2 < len(s); i += 3 {
		d[i], d[i+1], d[i+2] = hsvPixel(int32(s[i]), int32(s[i+1]), int32(s[i+2]))
	}
}

func hsvPixel(r, g, b int32) (uint8, uint8, uint8) {
	v, vmin := max(r, g, b), min(r, g, b)
	diff := v - vmin
	sat := (diff*sdivTable[v] + (1 << (hsvShift - 1))) >> hsvShift
	var h int32
	switch {
	case v == r:
		h = g - b
	case v == g:
		h = b - r + 2*diff
	default:
		h = r - g + 4*diff
	}
	h = (h*hdivTable[diff] + (1 << (hsvShift - 1))) >> hsvShift
	if h < 0 {
		h += 180
	}
	return uint8(h), uint8(sat), uint8(v)
}

// hsvSectors is OpenCV's table mapping a hue sector to the (b, g, r) entries of tab.
var hsvSectors = [6][3]int{{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}}

// HSVToRGB converts OpenCV 8-bit HSV back to RGB (cv2.COLOR_HSV2RGB), in float32 as OpenCV does.
// (Used only by the HSV jitter.)
func HSVToRGB(src, dst *Image) {
	dst.Reshape(src.W, src.H, 3)
	s, d := src.Pix, dst.Pix
	for i := 0; i+2 < len(s); i += 3 {
		d[i], d[i+1], d[i+2] = rgbPixel(s[i], s[i+1], s[i+2])
	}
}

func rgbPixel(hb, sb, vb uint8) (uint8, uint8, uint8) {
	h := float32(hb)
	s := float32(sb) * float32(1.0/255.0)
	v := float32(vb) * float32(1.0/255.0)
	var r, g, b float32
	if s == 0 {
		r, g, b = v, v, v
	} else {
		h *= float32(6.0) / float32(180)
		for h < 0 {
			h += 6
		}
		for h >= 6 {
			h -= 6
		}
		sector := int(math.Floor(float64(h)))
		h -= float32(sector)
		if sector < 0 || sector >= 6 {
			sector, h = 0, 0
		}
		tab := [4]float32{v, v * (1 - s), v * (1 - s*h), v * (1 - s*(1-h))}
		idx := hsvSectors[sector]
		b, g, r = tab[idx[0]], tab[idx[1]], tab[idx[2]]
	}
	return trunc8(r * 255), trunc8(g * 255), trunc8(b * 255)
}

// trunc8 converts to uint8 by truncation, clamped: OpenCV 4's vectorised HSV2RGB_b output
// agrees with truncation on 99.995% of all HSV triples (and within one level on the rest),
// while rounding agrees on only 67%.
func trunc8(x float32) uint8 {
	return uint8(max(0, min(255, x)))
}
