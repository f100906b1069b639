package synth

import "math"

// vec3 is a point, a direction or a linear RGB colour.
type vec3 struct{ x, y, z float64 }

func v3(x, y, z float64) vec3          { return vec3{x, y, z} }
func gray(g float64) vec3              { return vec3{g, g, g} }
func (a vec3) add(b vec3) vec3         { return vec3{a.x + b.x, a.y + b.y, a.z + b.z} }
func (a vec3) sub(b vec3) vec3         { return vec3{a.x - b.x, a.y - b.y, a.z - b.z} }
func (a vec3) mul(b vec3) vec3         { return vec3{a.x * b.x, a.y * b.y, a.z * b.z} }
func (a vec3) scale(s float64) vec3    { return vec3{a.x * s, a.y * s, a.z * s} }
func (a vec3) dot(b vec3) float64      { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec3) norm() vec3              { return a.scale(1 / math.Sqrt(a.dot(a))) }
func (a vec3) luma() float64           { return 0.299*a.x + 0.587*a.y + 0.114*a.z }
func mixv(a, b vec3, t float64) vec3   { return a.add(b.sub(a).scale(t)) }
func (a vec3) saturate(s float64) vec3 { return mixv(gray(a.luma()), a, s) }
func (a vec3) clamp01() vec3           { return vec3{clamp01(a.x), clamp01(a.y), clamp01(a.z)} }
func mixf(a, b, t float64) float64     { return a + (b-a)*t }
func sq(x float64) float64             { return x * x }
func clamp01(x float64) float64        { return clamp(x, 0, 1) }
func gauss2(dx, dy, s float64) float64 { return math.Exp(-(dx*dx + dy*dy) / (2 * s * s)) }

// smoothstep is the cubic Hermite step from e0 to e1.
func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

// cover turns a signed distance (negative inside) into an anti-aliased coverage, with aa
// the width of one output pixel in the same units.
func cover(d, aa float64) float64 { return clamp01(0.5 - d/aa) }

// ellipseSD approximates the signed distance to an axis-aligned ellipse centred at 0.
func ellipseSD(x, y, rx, ry float64) float64 {
	return (math.Hypot(x/rx, y/ry) - 1) * math.Min(rx, ry)
}

// mat3 is a row-major 3x3 rotation.
type mat3 [9]float64

// rotYX rotates by pitch about x, then by yaw about y (head turning left/right).
func rotYX(yaw, pitch float64) mat3 {
	cy, sy := math.Cos(yaw), math.Sin(yaw)
	cp, sp := math.Cos(pitch), math.Sin(pitch)
	// Ry * Rx
	return mat3{
		cy, sy * sp, sy * cp,
		0, cp, -sp,
		-sy, cy * sp, cy * cp,
	}
}

func (m mat3) apply(v vec3) vec3 {
	return vec3{
		m[0]*v.x + m[1]*v.y + m[2]*v.z,
		m[3]*v.x + m[4]*v.y + m[5]*v.z,
		m[6]*v.x + m[7]*v.y + m[8]*v.z,
	}
}

// applyT applies the transpose, the inverse of a rotation.
func (m mat3) applyT(v vec3) vec3 {
	return vec3{
		m[0]*v.x + m[3]*v.y + m[6]*v.z,
		m[1]*v.x + m[4]*v.y + m[7]*v.z,
		m[2]*v.x + m[5]*v.y + m[8]*v.z,
	}
}

// affine2 maps (x, y) to (a*x + b*y + c, d*x + e*y + f).
type affine2 struct{ a, b, c, d, e, f float64 }

// similarity rotates by angle, scales by s and then translates by (tx, ty).
func similarity(s, angle, tx, ty float64) affine2 {
	co, si := math.Cos(angle)*s, math.Sin(angle)*s
	return affine2{co, -si, tx, si, co, ty}
}

func (m affine2) apply(x, y float64) (float64, float64) {
	return m.a*x + m.b*y + m.c, m.d*x + m.e*y + m.f
}

func (m affine2) inverse() affine2 {
	det := m.a*m.e - m.b*m.d
	a, b, d, e := m.e/det, -m.b/det, -m.d/det, m.a/det
	return affine2{a, b, -(a*m.c + b*m.f), d, e, -(d*m.c + e*m.f)}
}

// clamp limits x to [lo, hi] (plain comparisons: math.Max's NaN and signed-zero care is
// not needed here and costs a call per pixel).
func clamp(x, lo, hi float64) float64 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

func fmax(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func fmin(a, b float64) float64 {
	if a < b {
		return a
	}
	return b
}

// pow32 is x^32 by repeated squaring (a specular lobe).
func pow32(x float64) float64 {
	x *= x
	x *= x
	x *= x
	x *= x
	return x * x
}

// powTable tabulates x^g on [0, 1] for per-pixel tone curves.
type powTable [1025]float32

func newPowTable(g float64) *powTable {
	var t powTable
	for i := range t {
		t[i] = float32(math.Pow(float64(i)/1024, g))
	}
	return &t
}

// at interpolates x^g for x in [0, 1] (clamped).
func (t *powTable) at(x float64) float64 {
	f := clamp01(x) * 1024
	i := int(f)
	if i >= 1024 {
		return float64(t[1024])
	}
	return mixf(float64(t[i]), float64(t[i+1]), f-float64(i))
}

func (t *powTable) vec(c vec3) vec3 { return vec3{t.at(c.x), t.at(c.y), t.at(c.z)} }

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// cos2pi approximates cos(2*pi*u) within 1e-3 (a polynomial on the folded phase), for
// the per-sample halftone screens and moiré, where math.Cos dominated the render time.
func cos2pi(u float64) float64 {
	f := u - math.Floor(u) // [0, 1)
	if f > 0.5 {
		f = 1 - f
	}
	// cos(2 pi f) = -sin(x) with x = 2 pi (f - 1/4) in [-pi/2, pi/2]: Taylor to x^7.
	x := 2 * math.Pi * (f - 0.25)
	x2 := x * x
	return -x * (1 - x2/6*(1-x2/20*(1-x2/42)))
}
