package imgproc

import (
	"fmt"
	"math"
)

// FaceBox is the crop rule of the reference (TFace's get_face_box, dataset key
// crop_face_from_5points with dataset.margin): the bounding square of the points (x, y
// pairs; coordinates truncated to integers), side = the larger extent, anchored at the
// points' top-left corner, grown by int(side*margin/2) on every side and clipped to the w×h
// image. The result is [x0, y0, x1, y1) in pixels.
//
// The points are the 5 landmarks of a list file or a face detector; a face without
// landmarks may pass its box's two corners, with the same rule (the margin is then
// relative to the detector's box, which is larger than the landmarks' box).
func FaceBox(points []float64, margin float64, w, h int) ([4]int, error) {
	if len(points) < 2 || len(points)%2 != 0 {
		return [4]int{}, fmt.Errorf("face box: %d coordinates, want x, y pairs", len(points))
	}
	if !(margin >= 0) || math.IsInf(margin, 0) {
		return [4]int{}, fmt.Errorf("face box: margin %v, want a finite value >= 0", margin)
	}
	x0, y0, x1, y1 := math.MaxInt, math.MaxInt, math.MinInt, math.MinInt
	for i := 0; i < len(points); i += 2 {
		px, py := points[i], points[i+1]
		if !(math.Abs(px) < 1<<30 && math.Abs(py) < 1<<30) { // also NaN
			return [4]int{}, fmt.Errorf("face box: point (%v, %v) is not a pixel position", px, py)
		}
		x, y := int(px), int(py)
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
	}
	side := max(x1-x0, y1-y0)
	m := int(float64(side) * margin / 2)
	b := [4]int{max(0, x0-m), max(0, y0-m), min(w, x0+side+m), min(h, y0+side+m)}
	if b[0] >= b[2] || b[1] >= b[3] {
		return b, fmt.Errorf("face box [%d,%d)x[%d,%d) is empty inside the %dx%d image", b[0], b[2], b[1], b[3], w, h)
	}
	return b, nil
}
