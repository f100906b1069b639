package synth

import "math"

// pose places a head in the frame: centre, size, and rotation (radians).
type pose struct{ cx, cy, scale, yaw, pitch, roll float64 }

// expression is what changes from frame to frame on a live face.
type expression struct{ smile, open, brow, blink, gazeU, gazeV float64 }

// lighting is a directional light plus ambient term.
type lighting struct {
	dir     vec3 // towards the light, camera frame (x right, y down, z towards the camera)
	ambient float64
	color   vec3
	spec    float64 // specular strength of skin
}

// person renders one head (face, hair, ears, neck, shoulders) by ray casting an
// ellipsoid head and a smaller ellipsoid nose, and painting features in face units.
type person struct {
	id            *identity
	p             pose
	e             expression
	l             lighting
	seed          uint64
	a, b, c       float64 // head semi-axes in frame units
	cosR, sinR    float64
	rot           mat3
	noseC, noseR  vec3  // nose ellipsoid centre and semi-axes, head frame
	mask          *mask // worn mask or cut photo (nil for a bare face)
	depthLo, depH float64
	earPos        [2]vec3 // head-frame image position (x, y) and half-width (z) of each ear
}

func newPerson(id *identity, p pose, e expression, l lighting, seed uint64) *person {
	ps := &person{id: id, p: p, e: e, l: l, seed: seed}
	ps.a = id.a * p.scale
	ps.b = ps.a * id.bOverA
	ps.c = ps.a * id.cOverA
	ps.cosR, ps.sinR = math.Cos(p.roll), math.Sin(p.roll)
	ps.rot = rotYX(p.yaw, p.pitch)
	nv := id.eyeV + 0.6*id.noseLen
	ps.noseR = v3(id.noseW*ps.a, 0.6*id.noseLen*ps.b, id.noseOut*ps.a)
	zs := ps.c * math.Sqrt(fmax(0, 1-nv*nv))
	ps.noseC = v3(0, nv*ps.b, zs-0.35*ps.noseR.z)
	// Depth normalisation: the nose tip is white; the face rim is mid-grey.
	ps.depH = ps.noseC.z + ps.noseR.z
	ps.depthLo = -0.1 * ps.c
	for i, side := range []float64{-1, 1} {
		p := ps.rot.apply(v3(side*ps.a*0.98, 0.05*ps.b, -0.1*ps.c))
		p.z = ps.a * 0.16 * fmax(0.3, abs(math.Cos(ps.p.yaw+side*0.3)))
		ps.earPos[i] = p
	}
	return ps
}

// toHead maps a frame point to the head's un-rolled, un-tapered frame.
func (ps *person) toHead(x, y float64) (float64, float64) {
	dx, dy := x-ps.p.cx, y-ps.p.cy
	xr := ps.cosR*dx + ps.sinR*dy
	yr := -ps.sinR*dx + ps.cosR*dy
	return xr / ps.taper(yr), yr
}

// fromHead is the inverse of toHead.
func (ps *person) fromHead(xr, yr float64) (float64, float64) {
	xr *= ps.taper(yr)
	return ps.p.cx + ps.cosR*xr - ps.sinR*yr, ps.p.cy + ps.sinR*xr + ps.cosR*yr
}

// taper narrows the lower face towards the chin.
func (ps *person) taper(yr float64) float64 {
	if yr <= 0 {
		return 1
	}
	return 1 - ps.id.jaw*sq(fmin(1, yr/ps.b))
}

// surf is a ray hit on the head.
type surf struct {
	alpha  float64 // silhouette coverage
	u, v   float64 // face units
	front  float64 // head-frame z / c: 1 at the face centre, 0 at the silhouette
	n      vec3    // camera-frame normal
	z      float64 // depth towards the camera, head centre = 0
	xr, yr float64 // the head-frame image point
}

// ellipsoidHit intersects the ray through (xr, yr) with an ellipsoid (head frame centre
// cen, semi-axes r). It returns the head-frame hit point, the scaled perpendicular
// distance rho (1 on the silhouette) and the ray parameter.
func (ps *person) ellipsoidHit(xr, yr float64, cen, r vec3) (vec3, float64, float64) {
	q0 := ps.rot.applyT(v3(xr, yr, 0)).sub(cen)
	d := ps.rot.applyT(v3(0, 0, 1))
	Q := v3(q0.x/r.x, q0.y/r.y, q0.z/r.z)
	D := v3(d.x/r.x, d.y/r.y, d.z/r.z)
	A, B := D.dot(D), 2*Q.dot(D)
	m := Q.dot(Q) - B*B/(4*A)
	t := (-B + math.Sqrt(fmax(0, B*B-4*A*(Q.dot(Q)-1)))) / (2 * A)
	return q0.add(d.scale(t)).add(cen), math.Sqrt(fmax(m, 0)), t
}

// cast intersects the frame ray at (x, y) with the head and nose.
func (ps *person) cast(x, y, aa float64) surf {
	xr, yr := ps.toHead(x, y)
	h, rho, t := ps.ellipsoidHit(xr, yr, vec3{}, v3(ps.a, ps.b, ps.c))
	s := surf{alpha: cover((rho-1)*fmin(ps.a, ps.b), aa), z: t, xr: xr, yr: yr}
	if s.alpha == 0 {
		return s
	}
	nh := v3(h.x/(ps.a*ps.a), h.y/(ps.b*ps.b), h.z/(ps.c*ps.c)).norm()
	hn, rn, tn := ps.ellipsoidHit(xr, yr, ps.noseC, ps.noseR)
	if rn < 1 && tn > t-0.02*ps.a {
		// Blend the nose into the face so its base has no hard crease.
		w := smoothstep(-0.03*ps.a, 0.06*ps.a, tn-t)
		nn := v3((hn.x-ps.noseC.x)/sq(ps.noseR.x), (hn.y-ps.noseC.y)/sq(ps.noseR.y), (hn.z-ps.noseC.z)/sq(ps.noseR.z)).norm()
		nh = mixv(nh, nn, w).norm()
		if tn > t {
			t, h = tn, hn
		}
		s.z = t
	}
	s.u, s.v = h.x/ps.a, h.y/ps.b
	s.front = clamp01(h.z / ps.c)
	n := ps.rot.apply(nh)
	s.n = v3(ps.cosR*n.x-ps.sinR*n.y, ps.sinR*n.x+ps.cosR*n.y, n.z)
	return s
}

// light shades an albedo with the person's light at normal n.
func (l lighting) shade(albedo, n vec3, spec float64) vec3 {
	diff := fmax(0, n.dot(l.dir))
	c := albedo.scale(l.ambient + (1-l.ambient)*diff).mul(l.color)
	if spec > 0 {
		h := l.dir.add(v3(0, 0, 1)).norm()
		c = c.add(l.color.scale(spec * pow32(fmax(0, n.dot(h)))))
	}
	return c
}

// at returns the person's colour and coverage at frame point (x, y).
func (ps *person) at(x, y, aa float64) (vec3, float64) {
	col, alpha := vec3{}, 0.0
	over := func(c vec3, a float64) {
		col = mixv(col, c, a)
		alpha = alpha + (1-alpha)*a
	}
	xr, yr := ps.toHead(x, y)
	// Shoulders and neck do not roll with the head much; use the unrolled offsets.
	bx, by := x-ps.p.cx, y-ps.p.cy
	if a := cover(ellipseSD(bx-0.15*ps.p.yaw*ps.a, by-ps.b*1.75, ps.a*2.7, ps.b*0.95), aa); a > 0 {
		sh := 0.75 + 0.25*clamp01(1-(by-ps.b*1.2)/ps.b)
		c := ps.id.shirt.scale(sh * (0.85 + 0.15*vnoise(x*30, y*30, ps.seed+7)))
		// A collar opening shows skin.
		if math.Abs(bx)*1.4 < ps.a*0.55-(by-ps.b*0.95)*0.5 {
			c = ps.id.skin.scale(0.7)
		}
		over(c, a)
	}
	if a := cover(fmax(math.Abs(bx-0.1*ps.p.yaw*ps.a)-ps.a*0.5, ps.b*0.4-by), aa); a > 0 {
		over(ps.id.skin.scale(0.55+0.25*clamp01((by-ps.b*0.7)/ps.b)), a)
	}
	if ps.id.hairStyle >= 3 {
		ps.backHair(xr, yr, aa, over)
		ps.ears(xr, yr, aa, over)
	} else {
		ps.ears(xr, yr, aa, over)
		ps.backHair(xr, yr, aa, over)
	}
	s := ps.cast(x, y, aa)
	if s.alpha > 0 {
		over(ps.faceColor(s, aa/ps.a), s.alpha)
	}
	return col, alpha
}

// backHair draws the hair volume behind the head.
func (ps *person) backHair(xr, yr, aa float64, over func(vec3, float64)) {
	st := ps.id.hairStyle
	if st == 0 {
		return
	}
	vol := 1.06 + ps.id.hairVolume
	hx := xr + 0.25*ps.p.yaw*ps.a
	d := ellipseSD(hx, yr+ps.b*(0.1+ps.id.hairVolume), ps.a*vol, ps.b*(0.95+ps.id.hairVolume))
	if st == 1 || st == 4 {
		// Short hair only covers the top of the head.
		d = fmax(d, yr+0.1*ps.b)
	}
	if st == 3 {
		// Long hair falls behind the neck to the shoulders.
		d = fmin(d, ellipseSD(hx, yr-ps.b*0.45, ps.a*(vol+0.12), ps.b*1.05))
	}
	if a := cover(d, aa); a > 0 {
		over(ps.hairShade(xr, yr), a)
	}
}

// hairShade is the hair colour at a head-frame image point: the hair is shaded as one
// rounded shell so that hair on the scalp and the volume around it join seamlessly.
func (ps *person) hairShade(xr, yr float64) vec3 {
	hx := xr + 0.25*ps.p.yaw*ps.a
	strand := 0.7 + 0.45*vnoise(hx/ps.a*18, yr/ps.b*4, ps.seed+11)
	nx, ny := hx/(ps.a*1.15), (yr+ps.b*0.3)/(ps.b*1.25)
	n := v3(nx, ny, math.Sqrt(fmax(0.05, 1-nx*nx-ny*ny))).norm()
	return ps.l.shade(ps.id.hair.scale(strand), n, 0).scale(0.9)
}

// ears draws both ears beside the head.
func (ps *person) ears(xr, yr, aa float64, over func(vec3, float64)) {
	for _, e := range ps.earPos {
		if fmax(abs(xr-e.x), abs(yr-e.y)) > ps.b*0.3 {
			continue
		}
		if a := cover(ellipseSD(xr-e.x, yr-e.y, e.z, ps.b*0.2), aa); a > 0 {
			inner := smoothstep(0.6, 0.2, math.Hypot((xr-e.x)/(ps.a*0.1), (yr-e.y)/(ps.b*0.12)))
			over(ps.id.skin.scale(0.78-0.2*inner), a)
		}
	}
}

// faceColor paints and shades the head surface at s; aa is one pixel in face units.
func (ps *person) faceColor(s surf, aa float64) vec3 {
	id := ps.id
	u, v := s.u, s.v
	if ps.mask != nil {
		if c, ok := ps.mask.paint(ps, s, aa); ok {
			return c
		}
	}
	alb := id.skin.scale(1 + id.skinDetail*(2*fbm(u*9, v*9, 3, ps.seed+1)-1))
	alb = mixv(alb, v3(0.8, 0.3, 0.3).mul(id.skin.scale(1.3)), id.blush*(gauss2(math.Abs(u)-0.45, v-0.25, 0.15)))
	spec := ps.l.spec * (0.6 + 0.8*fbm(u*25, v*25, 2, ps.seed+2))
	alb, spec = ps.features(alb, spec, u, v, aa, id, ps.e)
	c := ps.l.shade(alb, s.n, spec)
	// Ambient occlusion of the skin towards the silhouette.
	c = c.scale(0.7 + 0.3*math.Sqrt(s.front))
	if _, ha := scalpHair(id, u, v, aa, ps.seed); ha > 0 {
		c = mixv(c, ps.hairShade(s.xr, s.yr), ha)
	}
	return c
}

// features paints eyes, brows, nose, mouth, beard and glasses of identity id with
// expression e onto albedo alb.
func (ps *person) features(alb vec3, spec, u, v, aa float64, id *identity, e expression) (vec3, float64) {
	side, au := 1.0, u
	if u < 0 {
		side, au = -1, -u
	}
	// Eye socket shadow and eyelid crease.
	du := (au - id.eyeU) / id.eyeW
	dv := (v-id.eyeV)/id.eyeW - id.eyeTilt*du
	alb = alb.scale(1 - 0.16*gauss2(du*0.7, dv+0.2, 0.8))
	if c, a := eyeColor(du, dv, aa/id.eyeW, id, e, side); a > 0 {
		alb = mixv(alb, c, a)
		spec *= 1 - a
	}
	// Brow.
	bu := (au - id.eyeU + 0.02) / (id.eyeW * 1.35)
	bv := id.eyeV - id.browGap - 0.06*e.brow - id.browArch*(1-bu*bu) - id.browTilt*bu
	th := id.browThick * (1 - 0.45*clamp01(bu))
	if d := fmax(math.Abs(v-bv)-th/2, (math.Abs(bu)-1.05)*id.eyeW); d < aa {
		strands := 0.7 + 0.3*vnoise(u*60, v*12, ps.seed+5)
		alb = mixv(alb, id.browColor, 0.9*strands*cover(d, aa))
	}
	// Nostrils and the shadow under the nose.
	nb := id.eyeV + id.noseLen*1.08
	alb = alb.scale(1 - 0.35*gauss2((au-id.noseW*0.45)/1.5, v-nb, 0.035))
	alb = alb.scale(1 - 0.12*gauss2(u/2.5, v-nb-0.04, 0.04))
	// Beard below the nose.
	if id.beard > 0 && v > nb {
		dens := id.beard * smoothstep(nb, nb+0.12, v) * (0.6 + 0.4*vnoise(u*40, v*40, ps.seed+9))
		alb = mixv(alb, id.hair.scale(0.8), clamp01(dens)*0.85)
	}
	if c, a := mouthColor(u, v, aa, id, e); a > 0 {
		alb = mixv(alb, c, a)
		spec = mixf(spec, spec*1.5, a)
	}
	if id.glasses {
		r := math.Hypot(du*0.85, dv*1.1)
		ring := math.Abs(r-1.45) - 0.09
		bridge := fmax(math.Abs(v-id.eyeV+0.02)-0.02, au-id.eyeU+id.eyeW*1.2)
		if d := fmin(ring*id.eyeW, bridge); d < aa {
			alb = mixv(alb, id.frame, cover(d, aa))
			spec = fmax(spec, 0.3*cover(d, aa))
		}
	}
	return alb, spec
}

// eyeColor paints one eye in eye units (du across, dv down, 1 = eye half-width).
func eyeColor(du, dv, aa float64, id *identity, e expression, side float64) (vec3, float64) {
	if math.Abs(du) > 1.3 || math.Abs(dv) > 1.2 {
		return vec3{}, 0
	}
	w := fmax(0, 1-du*du)
	up := -id.eyeH * w * (1 - 0.95*e.blink) * (1 + 0.15*e.brow)
	lo := 0.55 * id.eyeH * w
	lash := math.Abs(dv-up) - 0.06 - 0.04*w
	if up >= lo-0.02 {
		lash = math.Abs(dv-lo) - 0.05
	}
	d := fmax(up-dv, dv-lo)
	d = fmax(d, math.Abs(du)-1)
	col, a := vec3{}, 0.0
	if ca := cover(d, aa); ca > 0 {
		gu, gv := e.gazeU*side, e.gazeV
		ir := math.Hypot(du-gu*0.4, dv-gv*0.2)
		c := gray(0.86).mul(v3(1, 0.97, 0.95))
		c = c.scale(1 - 0.25*smoothstep(0.5, 1, math.Abs(du)))
		if ia := cover(ir-id.irisR, aa); ia > 0 {
			ic := id.iris.scale(0.7 + 0.5*smoothstep(id.irisR, 0.3*id.irisR, ir))
			if pa := cover(ir-0.42*id.irisR, aa); pa > 0 {
				ic = mixv(ic, gray(0.03), pa)
			}
			c = mixv(c, ic, ia)
		}
		// Shadow of the upper lid and a catch light.
		c = c.scale(1 - 0.35*smoothstep(0.25, 0, dv-up))
		c = mixv(c, gray(1), 0.8*cover(math.Hypot(du-gu*0.4-0.15, dv-gv*0.2+0.12)-0.09, aa))
		col, a = c, ca
	}
	if la := cover(lash, aa); la > 0 {
		col = mixv(col, gray(0.05), la)
		a = a + (1-a)*la
	}
	return col, a
}

// mouthColor paints the lips (and an open mouth) in face units.
func mouthColor(u, v, aa float64, id *identity, e expression) (vec3, float64) {
	mu := u / id.mouthW
	if math.Abs(mu) > 1.2 {
		return vec3{}, 0
	}
	w := math.Pow(fmax(0, 1-mu*mu), 0.6)
	yc := id.mouthV - e.smile*0.07*mu*mu + 0.02*e.smile
	g := e.open * 0.09 * w
	top := yc - g*0.35 - id.lipUp*w*(1-0.35*math.Exp(-mu*mu/0.015))
	bot := yc + g*0.65 + id.lipLow*w
	d := fmax(fmax(top-v, v-bot), (math.Abs(mu)-1)*id.mouthW)
	a := cover(d, aa)
	if a == 0 {
		return vec3{}, 0
	}
	c := id.lip.scale(0.9 + 0.15*smoothstep(bot, yc, v))
	if g > 0.004 && v > yc-g*0.35 && v < yc+g*0.65 {
		c = v3(0.25, 0.08, 0.08)
		if v < yc-g*0.35+g*0.4 {
			c = v3(0.85, 0.82, 0.76)
		}
	}
	// The line between the lips and darker corners.
	c = c.scale(1 - 0.5*cover(math.Abs(v-yc-g*0.15)-0.006-g*0.5, aa))
	c = c.scale(1 - 0.3*smoothstep(0.7, 1, math.Abs(mu)))
	return c, a
}

// scalpHair is the hair colour and coverage of identity id on the head surface.
func scalpHair(id *identity, u, v, aa float64, seed uint64) (vec3, float64) {
	line := id.hairline + 0.28*u*u
	switch id.hairStyle {
	case 4: // a fringe falls over the forehead with a ragged edge
		line = id.hairline + 0.25 + 0.05*math.Sin(u*23+float64(seed%7)) + 0.1*u*u
	case 3, 2: // hair over the temples and sides
		if math.Abs(u) > 0.78 {
			line = fmax(line, 0.2+0.4*(math.Abs(u)-0.78))
		}
	}
	a := cover(v-line, aa*1.5+0.03)
	if a == 0 {
		return vec3{}, 0
	}
	strand := 0.7 + 0.45*vnoise(u*18, v*4, seed+11)
	if id.hairStyle == 0 {
		return id.hair.scale(strand), 0.35 * a
	}
	return id.hair.scale(strand), a
}

// depthAt is the pseudo-depth (1 = nearest, 0 = background) of the face region at
// (x, y), like the PRNet renderings: face surface only, no hair, ears or neck.
func (ps *person) depthAt(x, y, aa float64) float64 {
	s := ps.cast(x, y, aa)
	if s.alpha == 0 {
		return 0
	}
	// Only the facial region: below the hairline level, inside the cheeks.
	in := smoothstep(-0.72, -0.62, s.v) * smoothstep(0.97, 0.88, math.Abs(s.u))
	z := clamp01((s.z - ps.depthLo) / (ps.depH - ps.depthLo))
	return s.alpha * in * (0.15 + 0.85*z)
}

// landmarks are the 5 points (image-left eye, image-right eye, nose tip, left and
// right mouth corners) in frame coordinates, for the features of identity id (the
// person's own, or those painted on a mask) on this head.
func (ps *person) landmarks(id *identity) [5][2]float64 {
	surfacePt := func(u, v float64) vec3 {
		x, y := u*ps.a, v*ps.b
		z := ps.c * math.Sqrt(fmax(0, 1-u*u-v*v))
		return v3(x, y, z)
	}
	yc := id.mouthV + 0.02*ps.e.smile - ps.e.smile*0.07
	pts := []vec3{
		surfacePt(-id.eyeU, id.eyeV),
		surfacePt(id.eyeU, id.eyeV),
		ps.noseC.add(v3(0, 0.3*ps.noseR.y, 0.95*ps.noseR.z)),
		surfacePt(-id.mouthW, yc),
		surfacePt(id.mouthW, yc),
	}
	var out [5][2]float64
	for i, p := range pts {
		q := ps.rot.apply(p)
		out[i][0], out[i][1] = ps.fromHead(q.x, q.y)
	}
	return out
}
