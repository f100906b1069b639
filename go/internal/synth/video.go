package synth

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// Stream purposes, so that each random decision has its own stream.
const (
	streamIdentity = iota + 1
	streamVideo
	streamFrame
	streamKind
	streamWearer
	streamSource
)

// video names one video of the benchmark.
type video struct {
	dom, subject, index int
	kind                string // Live or an attack type
	variant             int    // 0: as drawn; masks: 1 forces a cut photo, 2 a rigid mask
}

// dir is the video's directory in keys, e.g. dom0/live/s003_v01.
func (v video) dir() string {
	return fmt.Sprintf("%s/%s/s%03d_v%02d", domainName(v.dom), v.kind, v.subject, v.index)
}

// frameOut is one rendered frame.
type frameOut struct {
	key   string
	img   []byte
	depth []byte // the encoded pseudo-depth map; nil for attacks
	lm    [5][2]float64
}

// motion is a head's pose and expression over a video: a base plus slow oscillations
// and at most one blink.
type motion struct {
	base        pose
	amp         [5]float64 // cx, cy, yaw, pitch, roll
	freq, phase [5]float64
	e           expression
	blink       int // frame index, -1 for none
	talk        float64
}

func newMotion(d *domain, r *rng, frames int) motion {
	m := motion{blink: -1}
	m.base = pose{
		cx: 0.04 * r.normal(), cy: 0.02 + 0.03*r.normal(), scale: r.in(d.scale),
		yaw: r.in(d.yaw), pitch: r.in(d.pitch), roll: r.uniform(-0.1, 0.1),
	}
	for i := range m.amp {
		m.amp[i] = d.motion * r.uniform(0.3, 1)
		m.freq[i] = r.uniform(0.3, 1.2)
		m.phase[i] = r.uniform(0, 2*math.Pi)
	}
	m.amp[2] *= 3 // yaw moves most
	m.e = expression{smile: r.uniform(-0.2, 0.8), brow: r.uniform(-0.3, 0.5),
		gazeU: r.uniform(-0.4, 0.4), gazeV: r.uniform(-0.3, 0.3)}
	if r.chance(0.2) {
		m.e.open = r.uniform(0.1, 0.5)
	}
	m.talk = r.uniform(0, 0.15)
	if frames > 1 && r.chance(0.6) {
		m.blink = r.intn(frames)
	}
	return m
}

// at returns the pose and expression at frame f. Frames are a fixed time apart, so a
// frame does not change when a video gets more frames.
func (m motion) at(f int) (pose, expression) {
	t := float64(f) / 4
	osc := func(i int) float64 { return m.amp[i] * math.Sin(2*math.Pi*m.freq[i]*t+m.phase[i]) }
	p := m.base
	p.cx += osc(0)
	p.cy += osc(1)
	p.yaw += osc(2)
	p.pitch += osc(3)
	p.roll += osc(4)
	e := m.e
	e.open = fmax(0, e.open+m.talk*math.Sin(7*t+m.phase[0]))
	if f == m.blink {
		e.blink = 1
	} else if f == m.blink-1 || f == m.blink+1 {
		e.blink = 0.4
	}
	return p, e
}

// newCamera draws a video's camera settings from the domain's ranges. The sensor's
// resolution is the domain's whatever the output size (a camera does not change with the
// crop it is resized to): below S = 64 the low-resolution domains lose part of their blur.
func newCamera(d *domain, r *rng) camera {
	return camera{
		res: d.res, ss: d.ss, blur: r.in(d.blur), sharpen: r.in(d.sharpen), gain: r.in(d.gain),
		wb: v3(r.in(d.wbR), 1, r.in(d.wbB)), gamma: r.in(d.gamma), black: r.in(d.black),
		sat: r.in(d.sat), noise: r.in(d.noise), chroma: r.in(d.chroma),
		vignette: r.in(d.vignette), jpegQ: d.jpegQ,
		hue: r.in(d.hue), banding: r.in(d.banding), fpnSeed: hashString(d.name),
		autoWB: r.in(d.autoWB), autoExp: r.in(d.autoExp),
	}
}

// hashString is FNV-1a of s.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// newLighting draws the room light of a video.
func newLighting(d *domain, r *rng) lighting {
	return lighting{
		dir:     v3(r.in(d.lightX), r.in(d.lightY), 1).norm(),
		ambient: r.in(d.ambient), color: lightTint(d.lightColor, r.in(d.lightTemp)), spec: r.uniform(0.06, 0.2),
	}
}

// lightTint shifts a light's colour towards warm (t > 0: incandescent) or cool (t < 0:
// daylight, some fluorescents) by t, about 0.2 per 1000 K near 4000 K.
func lightTint(c vec3, t float64) vec3 { return c.mul(v3(1+t, 1, 1-t)) }

// renderer holds what every frame of one video shares.
type renderer struct {
	seed  uint64
	d     *domain
	v     video
	size  int
	n     int // frames
	id    *identity
	bg    *background
	cam   camera
	light lighting
	mo    motion
}

func newRenderer(seed uint64, d *domain, v video, frames, size int) *renderer {
	vr := newRNG(seed, uint64(v.dom), uint64(v.subject), uint64(v.index), streamVideo)
	rd := &renderer{seed: seed, d: d, v: v, size: size, n: frames}
	rd.id = newIdentity(newRNG(seed, uint64(v.dom), uint64(v.subject), streamIdentity))
	rd.bg = newBackground(vr.pick(d.bgKinds), d.palette, vr)
	rd.cam = newCamera(d, vr)
	rd.light = newLighting(d, vr)
	rd.mo = newMotion(d, vr, frames)
	return rd
}

// frameRNG is the stream of frame f (camera noise, hand tremor).
func (rd *renderer) frameRNG(f int) *rng {
	return newRNG(rd.seed, uint64(rd.v.dom), uint64(rd.v.subject), uint64(rd.v.index), uint64(f), streamFrame)
}

// renderVideo renders every frame of v.
func renderVideo(seed uint64, d *domain, v video, frames, size int) ([]frameOut, error) {
	rd := newRenderer(seed, d, v, frames, size)
	var frameFn func(f int, fr *rng) (scene, [5][2]float64, *person)
	switch v.kind {
	case Live:
		frameFn = rd.liveFrame
	case Print:
		frameFn = rd.printFrames()
	case Replay:
		frameFn = rd.replayFrames()
	case Mask:
		frameFn = rd.maskFrames()
	default:
		return nil, fmt.Errorf("synth: unknown video kind %q", v.kind)
	}
	ext := "png"
	if d.jpegQ > 0 {
		ext = "jpg"
	}
	out := make([]frameOut, frames)
	for f := range out {
		fr := rd.frameRNG(f)
		sc, lm, live := frameFn(f, fr)
		cam := rd.cam
		cam.noiseSeed = fr.next()
		img, err := encode(cam.capture(sc, size).toRGBA(), cam.jpegQ)
		if err != nil {
			return nil, fmt.Errorf("synth: encoding %s frame %d: %w", v.dir(), f, err)
		}
		o := frameOut{key: fmt.Sprintf("%s/%02d.%s", v.dir(), f, ext), img: img}
		for i, p := range lm {
			o.lm[i] = [2]float64{(p[0] + 1) / 2 * float64(size), (p[1] + 1) / 2 * float64(size)}
		}
		if live != nil {
			// The depth key has the image key's extension, so its bytes use the same format.
			if o.depth, err = encode(depthMap(live, size), depthQuality(cam.jpegQ)); err != nil {
				return nil, fmt.Errorf("synth: encoding depth of %s frame %d: %w", v.dir(), f, err)
			}
		}
		out[f] = o
	}
	return out, nil
}

// liveFrame is a real person in front of the camera.
func (rd *renderer) liveFrame(f int, fr *rng) (scene, [5][2]float64, *person) {
	p, e := rd.mo.at(f)
	ps := newPerson(rd.id, p, e, rd.light, rd.seed^uint64(rd.v.subject))
	return personScene(ps, rd.bg), ps.landmarks(rd.id), ps
}

// personScene composites a person over a background.
func personScene(ps *person, bg *background) scene {
	return func(x, y, aa float64) vec3 {
		c, a := ps.at(x, y, aa)
		if a >= 1 {
			return c
		}
		return bg.at(x, y, aa).scale(1 - a).add(c) // c is premultiplied by a
	}
}

// depthMap renders the pseudo-depth map at size x size as an 8-bit grey image.
func depthMap(ps *person, size int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, size, size))
	aa := 2 / float64(size)
	for j := 0; j < size; j++ {
		for i := 0; i < size; i++ {
			x := (float64(i)+0.5)*aa - 1
			y := (float64(j)+0.5)*aa - 1
			img.SetGray(i, j, color.Gray{q8(ps.depthAt(x, y, aa))})
		}
	}
	return img
}

// depthQuality is the JPEG quality of depth maps in a domain that stores JPEG (high:
// depth is a smooth target), or 0 (PNG) in a PNG domain.
func depthQuality(imageQ int) int {
	if imageQ > 0 {
		return 95
	}
	return 0
}
