package prep

import (
	"math"

	"github.com/fasgo/fasgo/go/internal/imgproc"
)

// ApproxDepth draws an approximate face-surface map, size×size gray, from the 68 points of
// a face (iBUG 300-W order, x, y pairs in the map's pixels). It is an approximation, not a
// reconstruction: a height field, piecewise linear over a fixed triangulation of the 68
// points (faceMesh), with the heights of a mean face at the points (faceHeight: the nose tip
// 1, the jaw line low, the brows, eyes and mouth between), 255 at 1 and 0 outside the
// triangles (the points' hull: from the brows to the chin; the forehead above the brows
// is not covered). Where the face's pose folds triangles over each other, the higher one
// shows. Papers use PRNet's dense depth instead (see the --depth-dir option).
func ApproxDepth(pts *[136]float64, size int, dst *imgproc.Image) {
	surface(pts, &faceHeight, size, dst)
}

// surface rasterises the height field z (0..1 at the points) over faceMesh: each pixel
// centre inside a triangle takes the barycentric interpolation of its corners' heights, the
// highest where triangles overlap; pixels in no triangle are 0.
func surface(pts *[136]float64, z *[68]float64, size int, dst *imgproc.Image) {
	dst.Reshape(size, size, 1)
	clear(dst.Pix)
	for _, t := range faceMesh {
		ax, ay, bx, by, cx, cy := pts[2*t[0]], pts[2*t[0]+1], pts[2*t[1]], pts[2*t[1]+1], pts[2*t[2]], pts[2*t[2]+1]
		det := (bx-ax)*(cy-ay) - (cx-ax)*(by-ay)
		if math.Abs(det) < 1e-9 {
			continue // a degenerate triangle covers no area
		}
		x0, x1 := clampPix(math.Min(ax, math.Min(bx, cx))-0.5, size), clampPix(math.Max(ax, math.Max(bx, cx))+0.5, size)
		y0, y1 := clampPix(math.Min(ay, math.Min(by, cy))-0.5, size), clampPix(math.Max(ay, math.Max(by, cy))+0.5, size)
		const eps = -1e-9
		for y := y0; y <= y1; y++ {
			py := float64(y) + 0.5
			for x := x0; x <= x1; x++ {
				px := float64(x) + 0.5
				u := ((px-ax)*(cy-ay) - (cx-ax)*(py-ay)) / det // weight of b
				v := ((bx-ax)*(py-ay) - (px-ax)*(by-ay)) / det // weight of c
				if u < eps || v < eps || 1-u-v < eps {
					continue
				}
				h := (1-u-v)*z[t[0]] + u*z[t[1]] + v*z[t[2]]
				if g := uint8(math.Round(255 * math.Max(0, math.Min(1, h)))); g > dst.Pix[y*size+x] {
					dst.Pix[y*size+x] = g
				}
			}
		}
	}
}

// clampPix is the pixel of coordinate c, within 0..size-1.
func clampPix(c float64, size int) int {
	return max(0, min(size-1, int(math.Floor(c))))
}

// faceHeight is the height of a mean face at each of the 68 points, 0..1 (1 = the nose
// tip, the closest point to the camera), set by hand from the usual proportions of a face
// seen from the front; mirror points (faceFlip) have equal heights.
var faceHeight = [68]float64{
	// 0-16 jaw, from the ear to the chin and back: low at the sides, rising to the chin.
	0.10, 0.16, 0.23, 0.31, 0.39, 0.46, 0.52, 0.57, 0.60, 0.57, 0.52, 0.46, 0.39, 0.31, 0.23, 0.16, 0.10,
	// 17-26 brows, outer to inner on each side.
	0.35, 0.45, 0.53, 0.59, 0.63, 0.63, 0.59, 0.53, 0.45, 0.35,
	// 27-30 nose bridge to the tip; 31-35 the nostrils' base, left to right.
	0.66, 0.76, 0.88, 1.00, 0.70, 0.78, 0.82, 0.78, 0.70,
	// 36-41 left eye (outer corner, upper lid, inner corner, lower lid), 42-47 right eye.
	0.45, 0.52, 0.54, 0.56, 0.53, 0.50, 0.56, 0.54, 0.52, 0.45, 0.50, 0.53,
	// 48-59 outer lips (corner, upper lip, corner, lower lip), 60-67 inner lips.
	0.60, 0.69, 0.75, 0.77, 0.75, 0.69, 0.60, 0.68, 0.73, 0.74, 0.73, 0.68,
	0.62, 0.72, 0.74, 0.72, 0.62, 0.70, 0.72, 0.70,
}

// faceFlip maps each point to its mirror image (left and right swapped).
var faceFlip = [68]int{
	16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
	26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33,
	32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52,
	51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65,
}

// faceLayout is a mean frontal face's 68 points (x, y; eyes' midpoint at 0, eye distance 1,
// y down): dlib's points on the test photos (Grace Hopper, the astronaut), aligned, averaged
// and made mirror-symmetric. faceMesh was triangulated on it.
var faceLayout = [136]float64{
	-1.0650, 0.0741, -1.0355, 0.3447, -1.0031, 0.6067, -0.9559, 0.8746,
	-0.8735, 1.1243, -0.7239, 1.3568, -0.5155, 1.5362, -0.2710, 1.6741,
	0.0000, 1.7063, 0.2710, 1.6741, 0.5155, 1.5362, 0.7239, 1.3568,
	0.8735, 1.1243, 0.9559, 0.8746, 1.0031, 0.6067, 1.0355, 0.3447,
	1.0650, 0.0741, -0.9072, -0.1435, -0.7960, -0.2971, -0.6102, -0.3476,
	-0.4097, -0.3274, -0.2361, -0.2507, 0.2361, -0.2507, 0.4097, -0.3274,
	0.6102, -0.3476, 0.7960, -0.2971, 0.9072, -0.1435, 0.0000, -0.0292,
	0.0000, 0.1657, 0.0000, 0.3712, 0.0000, 0.5655, -0.2355, 0.6629,
	-0.1208, 0.6956, 0.0000, 0.7307, 0.1208, 0.6956, 0.2355, 0.6629,
	-0.6768, 0.0069, -0.5712, -0.0666, -0.4363, -0.0693, -0.3036, 0.0333,
	-0.4386, 0.0447, -0.5736, 0.0511, 0.3036, 0.0333, 0.4363, -0.0693,
	0.5712, -0.0666, 0.6768, 0.0069, 0.5736, 0.0511, 0.4386, 0.0447,
	-0.4609, 0.9537, -0.2906, 0.9233, -0.1237, 0.9114, 0.0000, 0.9439,
	0.1237, 0.9114, 0.2906, 0.9233, 0.4609, 0.9537, 0.3024, 1.1162,
	0.1349, 1.1860, 0.0000, 1.2068, -0.1349, 1.1860, -0.3024, 1.1162,
	-0.4020, 0.9679, -0.1232, 0.9906, 0.0000, 1.0084, 0.1232, 0.9906,
	0.4020, 0.9679, 0.1293, 1.0654, 0.0000, 1.0772, -0.1293, 1.0654,
}

// faceMesh is the Delaunay triangulation of faceLayout (scipy.spatial.Delaunay; made, and
// checked by a test, with tests/python/face_mesh_ref.py) together with its mirror image, so that a mirror-symmetric face gives a mirror-symmetric map where
// Delaunay had a tie to break (4 triangles; overlaps take the higher surface).
var faceMesh = [][3]int{
	{0, 1, 36}, {0, 17, 18}, {0, 17, 36}, {1, 2, 41}, {1, 36, 41}, {2, 3, 48}, {2, 31, 41}, {2, 31, 48},
	{3, 4, 48}, {4, 5, 48}, {5, 6, 59}, {5, 48, 59}, {6, 7, 58}, {6, 58, 59}, {7, 8, 58}, {8, 9, 56},
	{8, 56, 57}, {8, 57, 58}, {9, 10, 56}, {10, 11, 55}, {10, 55, 56}, {11, 12, 54}, {11, 54, 55}, {12, 13, 54},
	{13, 14, 54}, {14, 15, 46}, {14, 35, 46}, {14, 35, 54}, {15, 16, 45}, {15, 45, 46}, {16, 25, 26}, {16, 26, 45},
	{17, 18, 36}, {18, 19, 37}, {18, 36, 37}, {19, 20, 23}, {19, 20, 24}, {19, 20, 37}, {19, 23, 24}, {20, 21, 22},
	{20, 21, 23}, {20, 21, 38}, {20, 22, 23}, {20, 23, 24}, {20, 37, 38}, {21, 22, 23}, {21, 22, 27}, {21, 27, 39},
	{21, 38, 39}, {22, 23, 43}, {22, 27, 42}, {22, 42, 43}, {23, 24, 44}, {23, 43, 44}, {24, 25, 44}, {25, 26, 45},
	{25, 44, 45}, {27, 28, 39}, {27, 28, 42}, {28, 29, 39}, {28, 29, 42}, {29, 30, 31}, {29, 30, 35}, {29, 31, 39},
	{29, 35, 42}, {30, 31, 32}, {30, 32, 33}, {30, 33, 34}, {30, 34, 35}, {31, 32, 50}, {31, 39, 40}, {31, 40, 41},
	{31, 48, 49}, {31, 49, 50}, {32, 33, 50}, {33, 34, 52}, {33, 50, 51}, {33, 51, 52}, {34, 35, 52}, {35, 42, 47},
	{35, 46, 47}, {35, 52, 53}, {35, 53, 54}, {36, 37, 41}, {37, 38, 40}, {37, 40, 41}, {38, 39, 40}, {42, 43, 47},
	{43, 44, 47}, {44, 45, 46}, {44, 46, 47}, {48, 49, 60}, {48, 59, 60}, {49, 50, 61}, {49, 59, 60}, {49, 59, 67},
	{49, 61, 67}, {50, 51, 61}, {51, 52, 63}, {51, 61, 62}, {51, 62, 63}, {52, 53, 63}, {53, 54, 64}, {53, 55, 64},
	{53, 55, 65}, {53, 63, 65}, {54, 55, 64}, {55, 56, 65}, {56, 57, 66}, {56, 65, 66}, {57, 58, 66}, {58, 59, 67},
	{58, 66, 67}, {61, 62, 67}, {62, 63, 65}, {62, 65, 66}, {62, 66, 67},
}
