package imgproc

import (
	"fmt"
	"math"
)

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
	hsvRow(dst.Pix, 3, src.Pix, 3)
}

// CropRGBHSV writes the rectangle [x1,x2)×[y1,y2) of the RGB image src into dst with six
// channels per pixel, R G B H S V (the HSV as RGBToHSV's), so that one resize pass serves
// both: resizing treats each channel on its own.
func CropRGBHSV(src *Image, x1, y1, x2, y2 int, dst *Image) error {
	if src.C != 3 {
		return fmt.Errorf("RGB+HSV crop of an image of %d channels, want RGB", src.C)
	}
	if err := checkCrop(src, x1, y1, x2, y2); err != nil {
		return err
	}
	dst.Reshape(x2-x1, y2-y1, 6)
	for y := y1; y < y2; y++ {
		rgbHSVRow(dst.Row(y-y1), src.Row(y)[x1*3:x2*3])
	}
	return nil
}

// HSVToRGB converts OpenCV 8-bit HSV back to RGB (cv2.COLOR_HSV2RGB), in float32 as OpenCV
// does, truncating to 8 bits: OpenCV 4's vectorised HSV2RGB_b output agrees with truncation
// on 99.995% of all HSV triples (and within one level on the rest), while rounding agrees on
// only 67%. (Used only by the HSV jitter.)
func HSVToRGB(src, dst *Image) {
	dst.Reshape(src.W, src.H, 3)
	rgbRow(dst.Pix, 3, src.Pix, 3)
}
