package metrics

import (
	"errors"
	"math"
)

// SciPy's scipy.optimize.brentq defaults, which the reference EER used.
const (
	brentXTol    = 2e-12
	brentRTol    = 4 * 2.220446049250313e-16 // 4 * machine epsilon
	brentMaxIter = 100
)

// brentq finds a root of f in [xa, xb] where f changes sign. It is a line-for-line port of
// SciPy's Zeros/brentq.c (Brent's method: inverse quadratic interpolation, secant steps and
// bisection), so that it takes the same steps and returns the same float64 as SciPy. The
// float64() conversions forbid fused multiply-adds, which C on x86-64 does not use either.
func brentq(f func(float64) float64, xa, xb, xtol, rtol float64, maxIter int) (float64, error) {
	xpre, xcur := xa, xb
	var xblk, fblk, spre, scur float64
	fpre, fcur := f(xpre), f(xcur)
	if math.IsNaN(fpre) || math.IsNaN(fcur) {
		return 0, errors.New("function value is NaN at an end of the bracket")
	}
	if fpre == 0 {
		return xpre, nil
	}
	if fcur == 0 {
		return xcur, nil
	}
	if math.Signbit(fpre) == math.Signbit(fcur) {
		return 0, errors.New("f(a) and f(b) must have different signs")
	}
	for i := 0; i < maxIter; i++ {
		if fpre != 0 && fcur != 0 && math.Signbit(fpre) != math.Signbit(fcur) {
			xblk, fblk = xpre, fpre
			spre = xcur - xpre
			scur = spre
		}
		if math.Abs(fblk) < math.Abs(fcur) {
			xpre, xcur, xblk = xcur, xblk, xcur
			fpre, fcur, fblk = fcur, fblk, fcur
		}
		delta := float64(xtol+float64(rtol*math.Abs(xcur))) / 2
		sbis := (xblk - xcur) / 2
		if fcur == 0 || math.Abs(sbis) < delta {
			return xcur, nil
		}
		if math.Abs(spre) > delta && math.Abs(fcur) < math.Abs(fpre) {
			var stry float64
			if xpre == xblk { // secant (linear interpolation)
				stry = float64(-fcur*float64(xcur-xpre)) / float64(fcur-fpre)
			} else { // inverse quadratic interpolation
				dpre := float64(fpre-fcur) / float64(xpre-xcur)
				dblk := float64(fblk-fcur) / float64(xblk-xcur)
				num := float64(-fcur * float64(float64(fblk*dblk)-float64(fpre*dpre)))
				stry = num / float64(float64(dblk*dpre)*float64(fblk-fpre))
			}
			if 2*math.Abs(stry) < cmin(math.Abs(spre), float64(3*math.Abs(sbis))-delta) {
				spre, scur = scur, stry // a good short step
			} else {
				spre, scur = sbis, sbis
			}
		} else {
			spre, scur = sbis, sbis
		}
		xpre, fpre = xcur, fcur
		if math.Abs(scur) > delta {
			xcur += scur
		} else if sbis > 0 {
			xcur += delta
		} else {
			xcur -= delta
		}
		fcur = f(xcur)
		if math.IsNaN(fcur) {
			return 0, errors.New("function value is NaN inside the bracket")
		}
	}
	return 0, errors.New("brentq did not converge in 100 iterations")
}

// cmin is C's MIN macro: (a < b ? a : b).
func cmin(a, b float64) float64 {
	if a < b {
		return a
	}
	return b
}
