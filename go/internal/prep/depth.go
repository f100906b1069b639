package prep

import (
	"math"

	"github.com/fasgo/fasgo/go/internal/imgproc"
)

// ApproxDepth draws an approximate face-surface map, size×size gray, for a face whose 5
// landmarks (left eye, right eye, nose tip, left and right mouth corner; x, y pairs) are in
// the map's pixel coordinates. It is an approximation, not a reconstruction: a half
// ellipsoid laid on the face (centred between the eyes' and the mouth's midpoints, half-width
// the eye distance, half-height 1.5 times the eye-to-mouth distance, turned with the eye
// line) plus a Gaussian bump at the nose tip (σ = 0.3 eye distances); 255 at the top, 0 off
// the face. Papers use PRNet's dense depth instead (see the --depth-dir option).
func ApproxDepth(lm [10]float64, size int, dst *imgproc.Image) {
	dst.Reshape(size, size, 1)
	lx, ly, rx, ry := lm[0], lm[1], lm[2], lm[3]
	ex, ey := (lx+rx)/2, (ly+ry)/2
	mx, my := (lm[6]+lm[8])/2, (lm[7]+lm[9])/2
	cx, cy := (ex+mx)/2, (ey+my)/2
	iod := math.Max(math.Hypot(rx-lx, ry-ly), 1)
	a, b := iod, math.Max(1.5*math.Hypot(mx-ex, my-ey), 1)
	ux, uy := (rx-lx)/iod, (ry-ly)/iod // the eye line; v = (-uy, ux) points down the face
	s2 := 2 * (0.3 * iod) * (0.3 * iod)
	for y := range size {
		for x := range size {
			px, py := float64(x)+0.5, float64(y)+0.5
			dx, dy := px-cx, py-cy
			u, v := (dx*ux+dy*uy)/a, (-dx*uy+dy*ux)/b
			r := 1 - u*u - v*v
			val := 0.0
			if r > 0 {
				nx, ny := px-lm[4], py-lm[5]
				val = 0.8*math.Sqrt(r) + 0.2*math.Exp(-(nx*nx+ny*ny)/s2)
			}
			dst.Pix[y*size+x] = uint8(math.Round(255 * math.Min(1, val)))
		}
	}
}
