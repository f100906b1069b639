package imgproc

import (
	"math"
	"testing"
)

// TestNearestBilinearFloatEqualsSteps: the depth target's one-pass form against Crop,
// Nearest, FlipH and BilinearFloat, bit for bit.
func TestNearestBilinearFloatEqualsSteps(t *testing.T) {
	cases := []struct{ w, h, x1, y1, x2, y2, s, f int }{
		{320, 320, 0, 0, 320, 320, 256, 32}, {97, 61, 10, 5, 80, 60, 64, 8}, {40, 90, 3, 7, 39, 88, 128, 16},
		{5, 3, 0, 0, 5, 3, 16, 2}, {256, 256, 17, 3, 200, 250, 32, 4},
	}
	var rs, rs2 Resizer
	for i, tc := range cases {
		src := testImage(tc.w, tc.h, 1, uint64(40+i))
		for _, flip := range []bool{false, true} {
			var crop, near Image
			if err := Crop(src, tc.x1, tc.y1, tc.x2, tc.y2, &crop); err != nil {
				t.Fatal(err)
			}
			rs.Nearest(&crop, tc.s, tc.s, &near)
			if flip {
				FlipH(&near)
			}
			want, got := make([]float32, tc.f*tc.f), make([]float32, tc.f*tc.f)
			BilinearFloat(&near, tc.f, tc.f, 1.0/255, want)
			if err := rs2.NearestBilinearFloat(src, tc.x1, tc.y1, tc.x2, tc.y2, tc.s, tc.s, flip, tc.f, tc.f, 1.0/255, got); err != nil {
				t.Fatal(err)
			}
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("%+v flip=%v: value %d = %v, steps %v", tc, flip, j, got[j], want[j])
				}
			}
		}
	}
	if err := rs2.NearestBilinearFloat(testImage(8, 8, 1, 1), 2, 2, 9, 8, 4, 4, false, 2, 2, 1, make([]float32, 4)); err == nil {
		t.Fatal("a crop outside the image: no error")
	}
}

// TestCropRGBHSVEqualsRGBToHSV: the six-channel crop (its own loop, vectorised where the
// CPU allows) over every 8-bit colour, against RGBToHSV (checked against cv2).
func TestCropRGBHSVEqualsRGBToHSV(t *testing.T) {
	all := &Image{}
	all.Reshape(4096, 4096, 3)
	for i := 0; i < 1<<24; i++ {
		all.Pix[3*i], all.Pix[3*i+1], all.Pix[3*i+2] = uint8(i>>16), uint8(i>>8), uint8(i)
	}
	var hsv, six Image
	RGBToHSV(all, &hsv)
	if err := CropRGBHSV(all, 0, 0, 4096, 4096, &six); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1<<24; i++ {
		if string(six.Pix[6*i:6*i+3]) != string(all.Pix[3*i:3*i+3]) || string(six.Pix[6*i+3:6*i+6]) != string(hsv.Pix[3*i:3*i+3]) {
			t.Fatalf("colour %06x: %v, want RGB %v and HSV %v", i, six.Pix[6*i:6*i+6], all.Pix[3*i:3*i+3], hsv.Pix[3*i:3*i+3])
		}
	}
	var part Image // a crop inside a bigger picture
	if err := CropRGBHSV(all, 7, 3, 100, 50, &part); err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 47; y++ {
		for x := 0; x < 93; x++ {
			i := (3+y)*4096 + 7 + x
			if string(part.Pix[(y*93+x)*6:(y*93+x)*6+6]) != string(six.Pix[6*i:6*i+6]) {
				t.Fatalf("crop pixel (%d,%d) differs", x, y)
			}
		}
	}
}
