package synth

import "math"

// placement puts a flat medium (a photo or a screen; medium coordinates -1..1 over the
// picture) in the frame: a similarity transform after an optional cylindrical bend.
type placement struct {
	fwd, inv affine2
	bend     float64 // curvature 1/R in medium units (0 = flat)
}

// toMedium maps a frame point onto the medium; ok is false off the bent sheet.
func (p placement) toMedium(x, y float64) (mx, my float64, ok bool) {
	bx, by := p.inv.apply(x, y)
	if p.bend < 1e-6 {
		return bx, by, true
	}
	s := bx * p.bend
	if math.Abs(s) >= 1 {
		return 0, 0, false
	}
	return math.Asin(s) / p.bend, by, true
}

// scale is the medium's magnification (frame units per medium unit).
func (p placement) scale() float64 { return math.Hypot(p.fwd.a, p.fwd.d) }

// toFrame maps a medium point into the frame.
func (p placement) toFrame(mx, my float64) (float64, float64) {
	if p.bend >= 1e-6 {
		mx = math.Sin(mx*p.bend) / p.bend
	}
	return p.fwd.apply(mx, my)
}

// normal is the camera-frame normal of the bent medium at medium x.
func (p placement) normal(mx float64) vec3 {
	return v3(math.Sin(mx*p.bend), 0, math.Cos(mx*p.bend))
}

// printed is a photo printed on paper and held in front of the camera.
type printed struct {
	photo      *fimg
	pl         placement
	sheet      float64 // paper half-size in medium units (the picture spans 1)
	dither     int     // 0 AM halftone, 1 ordered (Bayer), 2 stochastic
	period     float64 // halftone cell size in medium units
	sat, con   float64
	black      float64
	paper      vec3
	cast       vec3 // ink colour cast
	texture    float64
	gloss      float64
	glossX     float64
	light      lighting
	bg         *background
	thumb      [2]float64 // medium coordinates of a holding thumb (x > 9: none)
	thumbColor vec3
	seed       uint64
}

// screenAngles are the cosine and sine of the cyan, magenta and yellow screen angles
// (15, 75 and 45 degrees).
var screenAngles = [3][2]float64{{0.9659258, 0.2588190}, {0.2588190, 0.9659258}, {0.7071068, 0.7071068}}

var bayer4 = [16]float64{0, 8, 2, 10, 12, 4, 14, 6, 3, 11, 1, 9, 15, 7, 13, 5}

// ink reproduces colour c through the printer's gamut and its screening at medium
// point (mx, my).
func (pr *printed) ink(c vec3, mx, my, aa float64) vec3 {
	c = c.saturate(pr.sat)
	c = c.scale(pr.con).add(gray((1 - pr.con) * 0.45))
	k := [3]float64{1 - c.x, 1 - c.y, 1 - c.z} // cyan, magenta, yellow coverage
	cx, cy := mx/pr.period, my/pr.period
	vis := 0.1 + 0.8*smoothstep(0.5, 3, pr.period/aa)
	for i := range k {
		var th float64
		switch pr.dither {
		case 0:
			co, si := screenAngles[i][0], screenAngles[i][1]
			u, v := co*cx+si*cy, -si*cx+co*cy
			th = 0.5 + 0.25*(cos2pi(u)+cos2pi(v))
		case 1:
			ix, iy := int64(math.Floor(cx*2)), int64(math.Floor(cy*2))
			th = (bayer4[(iy&3)*4+(ix&3)] + 0.5) / 16
		default:
			th = lattice(int64(math.Floor(cx*2)), int64(math.Floor(cy*2)), pr.seed+uint64(i))
		}
		// A lens cannot resolve screens much finer than a pixel: their contrast fades.
		k[i] = mixf(k[i], smoothstep(-0.12, 0.12, k[i]-th), vis)
	}
	ink := v3(1-k[0], 1-k[1], 1-k[2]).mul(pr.cast)
	return pr.paper.scale(1 - pr.black).mul(ink).add(gray(pr.black))
}

func (pr *printed) at(x, y, aa float64) vec3 {
	mx, my, ok := pr.pl.toMedium(x, y)
	if !ok {
		return pr.bg.at(x, y, aa)
	}
	aaM := aa / pr.pl.scale()
	onSheet := cover(fmax(math.Abs(mx), math.Abs(my))-pr.sheet, aaM)
	var c vec3
	if onSheet > 0 {
		alb := pr.paper
		if fmax(math.Abs(mx), math.Abs(my)) <= 1 {
			alb = pr.ink(pr.photo.sample(mx, my), mx, my, aaM)
		}
		alb = alb.scale(1 + pr.texture*(2*fbm(mx*40, my*40, 2, pr.seed)-1))
		c = pr.light.shade(alb, pr.pl.normal(mx), 0)
		c = c.add(gray(pr.gloss * gauss2(mx-pr.glossX, 0, 0.35)))
	}
	if onSheet < 1 {
		c = mixv(pr.bg.at(x, y, aa), c, onSheet)
	}
	if pr.thumb[0] < 9 {
		if a := cover(ellipseSD(mx-pr.thumb[0], my-pr.thumb[1], 0.13, 0.22), aaM); a > 0 {
			shade := 0.9 - 0.3*smoothstep(0.05, 0.2, math.Abs(mx-pr.thumb[0]))
			c = mixv(c, pr.light.shade(pr.thumbColor, v3(0, 0, 1), 0).scale(shade), a)
		}
	}
	return c
}

// screen is a display (phone, tablet, monitor) replaying a video.
type screen struct {
	frame        *fimg
	pl           placement
	bezel        float64 // bezel width in medium units (0 = bezel out of view)
	bezelColor   vec3
	pitch        float64 // display pixel pitch in medium units
	grid, subpix float64
	gamma, black float64
	tone         *powTable // x^gamma
	cast         vec3
	sat          float64
	moire        float64
	moireF       float64
	moireCos     float64 // direction of the moiré bands
	moireSin     float64
	moirePh      float64
	glare        float64
	glareX       float64
	glareY       float64
	glareR       float64
	bg           *background
}

func (sc *screen) at(x, y, aa float64) vec3 {
	mx, my, _ := sc.pl.toMedium(x, y)
	aaM := aa / sc.pl.scale()
	out := fmax(math.Abs(mx), math.Abs(my)) - 1
	reflect := gray(sc.glare * gauss2((x-sc.glareX)/sc.glareR, (y-sc.glareY)/sc.glareR, 1))
	if out > 0 {
		a := cover(out-sc.bezel, aaM)
		if a == 0 {
			return sc.bg.at(x, y, aa)
		}
		return mixv(sc.bg.at(x, y, aa), sc.bezelColor.add(reflect), a)
	}
	// Each display pixel shows the frame's colour at its centre, in RGB stripes.
	ix, iy := math.Floor((mx+1)/sc.pitch), math.Floor((my+1)/sc.pitch)
	fx, fy := (mx+1)/sc.pitch-ix, (my+1)/sc.pitch-iy
	c := sc.frame.sample((ix+0.5)*sc.pitch-1, (iy+0.5)*sc.pitch-1)
	c = sc.tone.vec(c).mul(sc.cast).saturate(sc.sat)
	stripe := v3(0, 0, 0)
	switch {
	case fx < 1.0/3:
		stripe.x = 3
	case fx < 2.0/3:
		stripe.y = 3
	default:
		stripe.z = 3
	}
	c = c.mul(mixv(gray(1), stripe, sc.subpix*smoothstep(0.3, 1.5, sc.pitch/(3*aaM))))
	border := fmin(fmin(fx, 1-fx), fmin(fy, 1-fy))
	// The black matrix between display pixels: only resolved when pixels are large.
	c = c.scale(1 - sc.grid*smoothstep(0.18, 0.02, border)*smoothstep(0.5, 2, sc.pitch/aaM))
	c = c.scale(1 + sc.moire*cos2pi(sc.moireF*(x*sc.moireCos+y*sc.moireSin)+sc.moirePh))
	return c.scale(1 - sc.black).add(gray(sc.black)).add(reflect)
}

// mask is worn over the face: a cut-out printed photo (flat, with eye holes) or a rigid
// 3D mask painted with the subject's face.
type mask struct {
	rigid    bool
	subj     *identity
	e        expression
	sat, con float64
	edge     float64
	hole     float64
	pr       *printed // ink model of a cut photo
}

// paint colours the mask at surface point s, or reports false where the wearer shows
// (outside the mask, or through an eye hole).
func (m *mask) paint(ps *person, s surf, aa float64) (vec3, bool) {
	u, v := s.u, s.v
	d := ellipseSD(u, v-0.1, 0.92, 0.88)
	if d > 0 {
		return vec3{}, false
	}
	id := m.subj
	hd := ellipseSD(math.Abs(u)-id.eyeU, v-id.eyeV, id.eyeW*m.hole, id.eyeW*m.hole*0.62)
	if hd < 0 {
		return vec3{}, false
	}
	alb := id.skin
	if !m.rigid {
		alb = alb.scale(1 + 0.5*id.skinDetail*(2*fbm(u*9, v*9, 3, ps.seed+1)-1))
	}
	alb, _ = ps.features(alb, 0, u, v, aa, id, m.e)
	if hc, ha := scalpHair(id, u, v, aa, ps.seed); ha > 0 {
		alb = mixv(alb, hc, ha)
	}
	alb = alb.saturate(m.sat).scale(m.con).add(gray((1 - m.con) * 0.45))
	var c vec3
	if m.rigid {
		c = ps.l.shade(alb, s.n, 0.25)
	} else {
		alb = m.pr.ink(alb, u*0.8, v*0.8, aa*0.8)
		flat := ps.rot.apply(v3(math.Sin(0.5*u), 0, math.Cos(0.5*u)))
		c = ps.l.shade(alb, mixv(s.n, flat, 0.8).norm(), 0)
	}
	// Dark rims at the cut edge and around the eye holes.
	rim := smoothstep(0.05, 0, fmin(-d, hd))
	c = c.scale(1 - m.edge*rim)
	return c, true
}
