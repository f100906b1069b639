package synth

import (
	"math"
	"testing"
)

// A neutral camera: identity processing, no noise, so one effect at a time can be measured.
func neutralCamera(res int) camera {
	return camera{res: res, ss: 1, gain: 1, wb: gray(1), gamma: 1, sat: 1}
}

func flat(c vec3) scene { return func(x, y, aa float64) vec3 { return c } }

// meanColour is the mean of the image's pixels.
func meanColour(m *fimg) vec3 {
	var s vec3
	for j := 0; j < m.h; j++ {
		for i := 0; i < m.w; i++ {
			s = s.add(m.at(i, j))
		}
	}
	return s.scale(1 / float64(m.w*m.h))
}

// hueAngle is the angle of c's chroma in the plane orthogonal to grey, measured with an
// orthonormal basis of that plane (independent of hueRotate's formula).
func hueAngle(c vec3) float64 {
	u := v3(1, -1, 0).scale(1 / math.Sqrt2)
	w := v3(1, 1, -2).scale(1 / math.Sqrt(6))
	return math.Atan2(c.dot(w), c.dot(u))
}

func angleDiff(a, b float64) float64 { return math.Remainder(a-b, 2*math.Pi) }

func TestHueRotate(t *testing.T) {
	// The sign convention: the angle hueAngle measures for a small positive rotation.
	sign := math.Copysign(1, angleDiff(hueAngle(hueRotate(v3(0.8, 0.4, 0.3), 0.1)), hueAngle(v3(0.8, 0.4, 0.3))))
	for _, c := range []vec3{v3(0.8, 0.4, 0.3), v3(0.2, 0.5, 0.9), v3(0.6, 0.6, 0.1)} {
		for _, th := range []float64{0.1, -0.2, 1} {
			got := hueRotate(c, th)
			if d := got.x + got.y + got.z - (c.x + c.y + c.z); math.Abs(d) > 1e-12 {
				t.Errorf("hueRotate(%v, %v) changes the grey component by %g", c, th, d)
			}
			if d := math.Sqrt(got.dot(got)) - math.Sqrt(c.dot(c)); math.Abs(d) > 1e-12 {
				t.Errorf("hueRotate(%v, %v) changes the length by %g", c, th, d)
			}
			if d := angleDiff(hueAngle(got), hueAngle(c)); math.Abs(d-sign*th) > 1e-9 {
				t.Errorf("hueRotate(%v, %v): hue moved by %v", c, th, sign*d)
			}
		}
	}
	if g := hueRotate(gray(0.4), 0.7); math.Abs(g.x-0.4)+math.Abs(g.y-0.4)+math.Abs(g.z-0.4) > 1e-12 {
		t.Errorf("grey is not invariant: %v", g)
	}
}

// presetCamera is video 0 of subject 0's camera in preset domain d with noise and the
// automatic adjustments off.
func presetCamera(d int) (camera, domain) {
	dom := domainAt(d, 1)
	c := newCamera(&dom, newRNG(1, uint64(d), 0, 0, streamVideo))
	c.noise, c.chroma, c.banding = 0, 0, 0
	c.autoWB, c.autoExp = 0, 0
	return c, dom
}

// Each preset's sensor shifts hues by its configured rotation: measured on a flat skin
// colour against the same camera (white balance off) with the rotation off.
func TestDomainColourResponse(t *testing.T) {
	skin := v3(0.75, 0.52, 0.4)
	sign := math.Copysign(1, angleDiff(hueAngle(hueRotate(skin, 0.1)), hueAngle(skin)))
	shift := make([]float64, len(presets))
	for d := range presets {
		c, dom := presetCamera(d)
		c.wb = gray(1) // white balance is a separate, channel-wise effect
		c0 := c
		c0.hue = 0
		got := sign * angleDiff(hueAngle(meanColour(c.capture(flat(skin), 32))), hueAngle(meanColour(c0.capture(flat(skin), 32))))
		shift[d] = got
		// Gamma and saturation act after the rotation, so allow a little slack.
		if got < dom.hue.lo-0.03 || got > dom.hue.hi+0.03 {
			t.Errorf("dom%d: measured hue shift %.3f rad, configured [%.2f, %.2f]", d, got, dom.hue.lo, dom.hue.hi)
		}
	}
	if !(shift[2] > shift[0] && shift[0] > shift[3] && shift[3] > shift[1]) {
		t.Errorf("hue shifts %v: want dom2 > dom0 > dom3 > dom1 as configured", shift)
	}
}

// hf is the mean absolute 4-neighbour Laplacian of the luma: the image's fine detail.
func hf(m *fimg) float64 {
	s := 0.0
	for j := 1; j < m.h-1; j++ {
		for i := 1; i < m.w-1; i++ {
			l := func(x, y int) float64 { return m.at(x, y).luma() }
			s += math.Abs(4*l(i, j) - l(i-1, j) - l(i+1, j) - l(i, j-1) - l(i, j+1))
		}
	}
	return s / float64((m.w-2)*(m.h-2))
}

// The low-resolution domain (dom1, a 48-pixel camera, optical blur) records less fine detail
// than dom0 (96 pixels) at S = 64.
func TestDomainSharpness(t *testing.T) {
	bars := func(x, y, aa float64) vec3 { // vertical bars 3 output pixels wide at S = 64
		if math.Mod(math.Floor((x+1)*32/3), 2) == 0 {
			return gray(0.8)
		}
		return gray(0.2)
	}
	c0, _ := presetCamera(0)
	c1, _ := presetCamera(1)
	h0, h1 := hf(c0.capture(bars, 64)), hf(c1.capture(bars, 64))
	if h0 < 1.5*h1 {
		t.Errorf("fine detail dom0 %.4f, dom1 %.4f: want dom0's sharper camera at least 1.5x", h0, h1)
	}
}

// The fixed pattern is the sensor's: the same in every frame of a domain (whatever the
// frame's noise seed), different between domains, of the configured strength.
func TestFixedPatternNoise(t *testing.T) {
	c := neutralCamera(32)
	c.banding, c.fpnSeed = 0.02, hashString("dom0")
	a := c.capture(flat(gray(0.5)), 32)
	c.noiseSeed = 99
	b := c.capture(flat(gray(0.5)), 32)
	c.fpnSeed = hashString("dom1")
	other := c.capture(flat(gray(0.5)), 32)
	same, diff := 0.0, 0.0
	for i := range a.pix {
		same = math.Max(same, math.Abs(float64(a.pix[i]-b.pix[i])))
		diff = math.Max(diff, math.Abs(float64(a.pix[i]-other.pix[i])))
	}
	if same > 1e-6 || diff < 0.005 {
		t.Errorf("fixed pattern: max change between frames %g (want 0), between domains %g (want > 0.005)", same, diff)
	}
	// Column means keep the column offsets: std about banding * std(U[0,1)) = 0.02 / sqrt(12).
	var cols []float64
	for i := 0; i < a.w; i++ {
		s := 0.0
		for j := 0; j < a.h; j++ {
			s += a.at(i, j).x
		}
		cols = append(cols, s/float64(a.h))
	}
	m, v := 0.0, 0.0
	for _, x := range cols {
		m += x / float64(len(cols))
	}
	for _, x := range cols {
		v += (x - m) * (x - m) / float64(len(cols))
	}
	if want := 0.02 / math.Sqrt(12); math.Sqrt(v) < want/2 || math.Sqrt(v) > 2*want {
		t.Errorf("column offsets std %.4f, want about %.4f", math.Sqrt(v), want)
	}
}

// Auto white balance neutralises a scene's cast (grey world); auto exposure brings the mean
// to mid grey; fixed cameras keep both.
func TestAutoWhiteBalanceAndExposure(t *testing.T) {
	cast := v3(0.2, 0.24, 0.36) // a dim, blue scene: a screen's white point
	c := neutralCamera(16)
	fixed := meanColour(c.capture(flat(cast), 16))
	c.autoWB, c.autoExp = 1, 1
	auto := meanColour(c.capture(flat(cast), 16))
	if math.Abs(fixed.z-0.36) > 1e-3 || math.Abs(fixed.x-0.2) > 1e-3 {
		t.Errorf("fixed camera changed the scene: %v", fixed)
	}
	if math.Abs(auto.x-auto.z) > 1e-3 || math.Abs(auto.y-auto.z) > 1e-3 {
		t.Errorf("auto white balance left a cast: %v", auto)
	}
	if g := (auto.x + auto.y + auto.z) / 3; math.Abs(g-0.42) > 1e-3 {
		t.Errorf("auto exposure mean %.4f, want 0.42", g)
	}
}
