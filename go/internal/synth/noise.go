package synth

import "math"

// lattice returns a deterministic value in [0, 1) for an integer lattice point.
func lattice(ix, iy int64, seed uint64) float64 {
	h := mix64(seed ^ mix64(uint64(ix)*0x9e3779b97f4a7c15^uint64(iy)*0xc2b2ae3d27d4eb4f))
	return float64(h>>11) * (1.0 / (1 << 53))
}

// vnoise is smooth value noise in [0, 1) with unit lattice spacing.
func vnoise(x, y float64, seed uint64) float64 {
	fx, fy := math.Floor(x), math.Floor(y)
	ix, iy := int64(fx), int64(fy)
	tx, ty := x-fx, y-fy
	tx = tx * tx * (3 - 2*tx)
	ty = ty * ty * (3 - 2*ty)
	a := lattice(ix, iy, seed)
	b := lattice(ix+1, iy, seed)
	c := lattice(ix, iy+1, seed)
	d := lattice(ix+1, iy+1, seed)
	return mixf(mixf(a, b, tx), mixf(c, d, tx), ty)
}

// fbm sums octaves of value noise; the result lies in [0, 1) with mean about 0.5.
func fbm(x, y float64, octaves int, seed uint64) float64 {
	sum, amp, norm := 0.0, 1.0, 0.0
	for i := 0; i < octaves; i++ {
		sum += amp * vnoise(x, y, seed+uint64(i)*0x632be59bd9b4e019)
		norm += amp
		amp *= 0.5
		x, y = x*2.03+17.1, y*2.01+5.3
	}
	return sum / norm
}
