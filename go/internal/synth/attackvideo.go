package synth

import "math"

// frameFunc builds the scene of frame f; it returns the landmarks and, for live
// frames only, the person whose depth map goes with the frame.
type frameFunc func(f int, fr *rng) (scene, [5][2]float64, *person)

// sourcePerson is the subject as an attacker photographed or filmed them, at the given
// face scale. Mostly, as in the public data sets, in the same room and light as the live
// sessions; otherwise a near-frontal, evenly lit portrait
// in front of a plain backdrop.
func (rd *renderer) sourcePerson(r *rng, scale float64) (*person, *background, camera) {
	p := pose{cx: 0.02 * r.normal(), cy: 0.02 * r.normal(), scale: scale,
		yaw: r.uniform(-0.12, 0.12), pitch: r.uniform(-0.06, 0.06), roll: r.uniform(-0.05, 0.05)}
	e := expression{smile: r.uniform(0, 0.5), brow: r.uniform(-0.2, 0.3)}
	var l lighting
	var bg *background
	if r.chance(0.7) {
		l = newLighting(rd.d, r)
		bg = newBackground(r.pick(rd.d.bgKinds), rd.d.palette, r)
	} else {
		l = lighting{dir: v3(r.uniform(-0.3, 0.3), r.uniform(-0.4, -0.1), 1).norm(),
			ambient: r.uniform(0.5, 0.7), color: gray(r.uniform(0.95, 1.05)), spec: 0.1}
		bg = newBackground(bgWall, walls, r)
	}
	// The attackers' cameras were good ones with neutral colour processing.
	cam := camera{res: int(r.in(rd.d.srcRes)), ss: 1, blur: r.in(rd.d.srcBlur), gain: 1, wb: gray(1),
		gamma: 1, sat: 1, noise: r.in(rd.d.srcNoise), noiseSeed: r.next()}
	return newPerson(rd.id, p, e, l, rd.seed^uint64(rd.v.subject)), bg, cam
}

// mediumPlacement draws where a hand-held medium sits: when its edges are in view it
// is smaller than the frame, otherwise it fills it. It returns the placement and the
// face scale the medium's picture must have for the face to look life-sized.
func (rd *renderer) mediumPlacement(r *rng, edges bool, bend float64) (placement, float64) {
	s := r.uniform(1.0, 1.25)
	if edges {
		s = r.uniform(0.62, 0.82)
	}
	fwd := similarity(s, r.in(rd.d.attackTilt), 0.04*r.normal(), 0.04*r.normal())
	face := clamp(rd.mo.base.scale/s, 0.7, 1.6)
	return placement{fwd: fwd, inv: fwd.inverse(), bend: bend}, face
}

// tremor moves a hand-held medium a little from frame to frame.
func tremor(pl placement, fr *rng) placement {
	j := similarity(1+0.01*fr.normal(), 0.01*fr.normal(), 0.01*fr.normal(), 0.01*fr.normal())
	f := pl.fwd
	pl.fwd = affine2{
		j.a*f.a + j.b*f.d, j.a*f.b + j.b*f.e, j.a*f.c + j.b*f.f + j.c,
		j.d*f.a + j.e*f.d, j.d*f.b + j.e*f.e, j.d*f.c + j.e*f.f + j.f,
	}
	pl.inv = pl.fwd.inverse()
	return pl
}

func mediumLandmarks(ps *person, pl placement) [5][2]float64 {
	lm := ps.landmarks(ps.id)
	for i, p := range lm {
		lm[i][0], lm[i][1] = pl.toFrame(p[0], p[1])
	}
	return lm
}

// printFrames is a printed photo of the subject held in front of the camera.
func (rd *renderer) printFrames() frameFunc {
	r := newRNG(rd.seed, uint64(rd.v.dom), uint64(rd.v.subject), uint64(rd.v.index), streamSource)
	pr := rd.d.print
	edges := r.chance(rd.d.edgeP)
	pl, face := rd.mediumPlacement(r, edges, r.in(pr.bend))
	src, backdrop, cam := rd.sourcePerson(r, face)
	photo := cam.capture(personScene(src, backdrop), cam.res)
	p := &printed{
		photo: photo, sheet: 1 + r.uniform(0.02, 0.15), dither: r.pick(pr.dither),
		period: r.in(pr.period) * 2 / (float64(rd.cam.res) * pl.scale()),
		sat:    r.in(pr.sat), con: r.in(pr.contrast), black: r.in(pr.black),
		paper: v3(1, 1-0.3*r.in(pr.warm), 1-r.in(pr.warm)).scale(r.uniform(0.9, 1)), cast: pr.cast,
		texture: r.in(pr.texture), gloss: r.in(pr.gloss), glossX: r.uniform(-1, 1),
		light: rd.light, bg: rd.bg, thumb: [2]float64{99, 0}, thumbColor: newIdentity(r).skin,
		seed: r.next(),
	}
	if edges && r.chance(0.5) {
		p.thumb = [2]float64{r.uniform(-0.6, 0.6), p.sheet * r.sign()}
	}
	return func(f int, fr *rng) (scene, [5][2]float64, *person) {
		q := *p
		q.pl = tremor(pl, fr)
		return q.at, mediumLandmarks(src, q.pl), nil
	}
}

// replayFrames is a recorded video of the subject played on a screen.
func (rd *renderer) replayFrames() frameFunc {
	r := newRNG(rd.seed, uint64(rd.v.dom), uint64(rd.v.subject), uint64(rd.v.index), streamSource)
	rp := rd.d.replay
	edges := r.chance(rp.bezelP)
	pl, face := rd.mediumPlacement(r, edges, 0)
	src, backdrop, cam := rd.sourcePerson(r, face)
	mo := newMotion(rd.d, r, rd.n) // the recording's own head motion and blinks
	mo.base = src.p
	blue := r.in(rp.blueB)
	s := &screen{
		bezel: r.uniform(0.05, 0.25), bezelColor: gray(r.uniform(0.02, 0.15)),
		pitch: r.in(rp.pitch) * 2 / (float64(rd.cam.res) * pl.scale()),
		grid:  r.in(rp.grid), subpix: r.in(rp.subpixel), gamma: r.in(rp.gamma), black: r.in(rp.black),
		cast:  v3(1/blue, 1, blue).scale(r.in(rp.bright)),
		moire: r.in(rp.moire), moireF: r.uniform(2.5, 7),
		moirePh: r.uniform(0, 1), glare: r.in(rp.glare), glareX: r.uniform(-0.8, 0.8),
		glareY: r.uniform(-0.8, 0.8), glareR: r.uniform(0.12, 0.4), bg: rd.bg,
	}
	s.tone = newPowTable(s.gamma)
	s.sat = r.in(rp.sat)
	ang := r.uniform(0, math.Pi)
	s.moireCos, s.moireSin = math.Cos(ang), math.Sin(ang)
	drift := r.uniform(0.5, 1.5)
	return func(f int, fr *rng) (scene, [5][2]float64, *person) {
		p, e := mo.at(f)
		shown := newPerson(rd.id, p, e, src.l, src.seed)
		c := cam
		c.noiseSeed = fr.next()
		q := *s
		q.frame = c.capture(personScene(shown, backdrop), c.res)
		q.pl = tremor(pl, fr)
		q.moirePh += drift * float64(f) / (2 * math.Pi)
		return q.at, mediumLandmarks(shown, q.pl), nil
	}
}

// maskFrames is another person (the wearer) behind a cut-out photo or a rigid mask of
// the subject; the wearer's own eyes and blinks show through the eye holes.
func (rd *renderer) maskFrames() frameFunc {
	r := newRNG(rd.seed, uint64(rd.v.dom), uint64(rd.v.subject), uint64(rd.v.index), streamWearer)
	mr := rd.d.mask
	wearer := *newIdentity(r)
	wearer.eyeU, wearer.eyeV, wearer.eyeW, wearer.eyeTilt = rd.id.eyeU, rd.id.eyeV, rd.id.eyeW, rd.id.eyeTilt
	rigid := r.chance(mr.rigidP)
	if rd.v.variant != 0 {
		rigid = rd.v.variant == 2
	}
	m := &mask{
		rigid: rigid, subj: rd.id, e: expression{smile: r.uniform(0, 0.4)},
		sat: r.in(mr.sat), con: r.in(mr.contrast), edge: r.in(mr.edge), hole: r.in(mr.holeScale),
	}
	pp := rd.d.print
	m.pr = &printed{dither: r.pick(pp.dither), period: r.uniform(0.008, 0.02), sat: 1, con: 1, cast: pp.cast,
		black: r.in(pp.black), paper: gray(r.uniform(0.9, 1)), seed: r.next()}
	seed := rd.seed ^ uint64(rd.v.subject) ^ 0x5a5a
	return func(f int, fr *rng) (scene, [5][2]float64, *person) {
		p, e := rd.mo.at(f)
		ps := newPerson(&wearer, p, e, rd.light, seed)
		ps.mask = m
		return personScene(ps, rd.bg), ps.landmarks(rd.id), nil
	}
}
