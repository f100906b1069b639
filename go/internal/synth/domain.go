package synth

import "fmt"

// Attack types, as written in list files (attack=TYPE) and keys.
const (
	Live   = "live"
	Print  = "print"
	Replay = "replay"
	Mask   = "mask"
)

// attackTypes are the attack kinds in a fixed order (domain weights follow it).
var attackTypes = []string{Print, Replay, Mask}

// domain is one capture set-up: a camera, a room, people's framing and the attacks
// its collectors made. Domains differ the way public FAS data sets do.
type domain struct {
	name string
	// Camera.
	res           int
	ss            int
	blur, noise   span
	sharpen       span // unsharp mask of the camera processing
	chroma        span
	gain          span
	wbR, wbB      span // red and blue gains (green = 1)
	gamma, black  span
	sat, vignette span
	hue           span // sensor colour response: hue rotation (radians)
	banding       span // sensor fixed-pattern noise (row/column offsets)
	autoWB        span // strength of the camera's auto white balance (0 fixed, 1 grey world)
	autoExp       span // strength of its auto exposure
	jpegQ         int  // 0 = PNG
	// Room and people.
	bgKinds        []float64 // weights over bgWall..bgDark
	palette        []vec3
	ambient        span
	lightX, lightY span
	lightColor     vec3
	lightTemp      span // per-video warm (+) / cool (-) shift of lightColor
	scale          span // face size in the crop
	yaw, pitch     span
	motion         float64 // amplitude of in-video head motion
	// Attacks.
	attackW    []float64 // weights over attackTypes
	print      printRange
	replay     replayRange
	mask       maskRange
	srcRes     span // resolution of the photo / video the attack shows
	srcBlur    span
	srcNoise   span
	edgeP      float64 // probability that the medium's edges are in view
	attackTilt span    // in-plane rotation of the medium
}

// printRange bounds the parameters of printed photos.
type printRange struct {
	dither               []float64 // weights: amplitude-modulated halftone, ordered dither, stochastic
	period               span      // halftone period in camera pixels
	sat, contrast, black span
	texture, gloss, bend span
	warm                 span // yellowing of the paper white
	cast                 vec3 // colour cast of the printer's inks
}

// replayRange bounds the parameters of screens replaying a video.
type replayRange struct {
	pitch               span // screen pixel pitch in camera pixels
	grid, subpixel      span
	gamma, black, blueB span // display gamma, backlight lift, blue cast
	sat                 span // display saturation
	bright              span // display brightness relative to the room
	moire, glare        span
	bezelP              float64
}

// maskRange bounds the mask and cut-photo attacks.
type maskRange struct {
	rigidP          float64 // probability of a rigid 3D mask instead of a cut photo
	sat, contrast   span
	edge, holeScale span
}

var walls = []vec3{{0.82, 0.8, 0.76}, {0.7, 0.72, 0.74}, {0.86, 0.84, 0.8}, {0.62, 0.66, 0.7}, {0.78, 0.74, 0.66}}
var bright = []vec3{{0.85, 0.3, 0.25}, {0.25, 0.5, 0.8}, {0.35, 0.65, 0.35}, {0.9, 0.8, 0.3}, {0.55, 0.45, 0.7}, {0.7, 0.7, 0.68}}
var offices = []vec3{{0.55, 0.52, 0.48}, {0.45, 0.4, 0.35}, {0.6, 0.62, 0.6}, {0.5, 0.55, 0.62}}
var darks = []vec3{{0.3, 0.28, 0.26}, {0.2, 0.22, 0.26}, {0.35, 0.3, 0.25}}

// presets are the first four domains, loosely after OULU-NPU (sharp phone cameras,
// careful attacks), CASIA-FASD (low resolution, cut photos), Replay-Attack (noisy
// webcam, dim office, screens) and MSU-MFSD (laptop camera, JPEG, tablets and prints).
var presets = []domain{
	{
		res: 96, ss: 2, blur: span{0.3, 0.7}, sharpen: span{0.4, 0.9}, noise: span{0.005, 0.015}, chroma: span{0, 0.004},
		gain: span{0.95, 1.1}, wbR: span{1.0, 1.08}, wbB: span{0.88, 0.96}, gamma: span{0.9, 1.0},
		black: span{0, 0.02}, sat: span{0.95, 1.1}, vignette: span{0, 0.1}, hue: span{0, 0.06}, banding: span{0, 0.003}, autoWB: span{0.6, 0.9}, autoExp: span{0.6, 0.9}, jpegQ: 0,
		bgKinds: []float64{0.7, 0.3, 0, 0}, palette: walls, ambient: span{0.35, 0.5},
		lightX: span{-0.4, 0.4}, lightY: span{-0.5, -0.1}, lightColor: v3(1, 0.97, 0.92), lightTemp: span{-0.05, 0.1},
		scale: span{1.25, 1.4}, yaw: span{-0.2, 0.2}, pitch: span{-0.1, 0.1}, motion: 0.03,
		attackW: []float64{0.45, 0.45, 0.1},
		print: printRange{dither: []float64{0.8, 0.1, 0.1}, period: span{0.7, 1.4}, sat: span{0.95, 1.15},
			contrast: span{0.95, 1.1}, black: span{0.0, 0.04}, texture: span{0.01, 0.03}, gloss: span{0, 0.15},
			bend: span{0, 0.25}, warm: span{0, 0.04}, cast: v3(1.04, 0.98, 0.95)},
		replay: replayRange{pitch: span{0.3, 0.6}, grid: span{0.1, 0.25}, subpixel: span{0.1, 0.3},
			gamma: span{1.0, 1.25}, black: span{0.0, 0.04}, blueB: span{1.0, 1.06}, sat: span{1.0, 1.2}, moire: span{0, 0.02},
			glare: span{0, 0.2}, bright: span{1.0, 1.2}, bezelP: 0.3},
		mask:   maskRange{rigidP: 0.5, sat: span{0.8, 1}, contrast: span{0.8, 0.95}, edge: span{0.3, 0.6}, holeScale: span{1.1, 1.4}},
		srcRes: span{80, 128}, srcBlur: span{0.3, 0.8}, srcNoise: span{0.003, 0.01}, edgeP: 0.25,
		attackTilt: span{-0.08, 0.08},
	},
	{
		res: 48, ss: 2, blur: span{0.5, 0.9}, sharpen: span{0, 0}, noise: span{0.008, 0.02}, chroma: span{0.003, 0.01},
		gain: span{1.0, 1.25}, wbR: span{0.88, 0.96}, wbB: span{1.02, 1.12}, gamma: span{0.85, 0.95},
		black: span{0.05, 0.1}, sat: span{0.7, 0.9}, vignette: span{0.1, 0.3}, hue: span{-0.2, -0.1}, banding: span{0.01, 0.02}, autoWB: span{0.3, 0.5}, autoExp: span{0.5, 0.8},
		jpegQ:   75,
		bgKinds: []float64{0.2, 0.2, 0.6, 0}, palette: bright, ambient: span{0.45, 0.6},
		lightX: span{-0.2, 0.2}, lightY: span{-0.3, 0}, lightColor: v3(0.95, 1, 1.05), lightTemp: span{-0.15, -0.05},
		scale: span{1.05, 1.25}, yaw: span{-0.3, 0.3}, pitch: span{-0.15, 0.1}, motion: 0.05,
		attackW: []float64{0.35, 0.2, 0.45},
		print: printRange{dither: []float64{0.2, 0.5, 0.3}, period: span{1.2, 2.5}, sat: span{0.55, 0.8},
			contrast: span{0.65, 0.85}, black: span{0.1, 0.18}, texture: span{0.03, 0.07}, gloss: span{0, 0.05},
			bend: span{0.2, 0.6}, warm: span{0.02, 0.08}, cast: v3(0.97, 1.03, 0.97)},
		replay: replayRange{pitch: span{0.8, 1.5}, grid: span{0.2, 0.4}, subpixel: span{0.2, 0.4},
			gamma: span{1.1, 1.4}, black: span{0.08, 0.16}, blueB: span{1.0, 1.1}, sat: span{0.8, 0.95}, moire: span{0.03, 0.08},
			glare: span{0.1, 0.3}, bright: span{0.9, 1.1}, bezelP: 0.5},
		mask:   maskRange{rigidP: 0.1, sat: span{0.6, 0.85}, contrast: span{0.7, 0.85}, edge: span{0.5, 0.9}, holeScale: span{1.2, 1.6}},
		srcRes: span{64, 96}, srcBlur: span{0.4, 0.9}, srcNoise: span{0.01, 0.02}, edgeP: 0.6,
		attackTilt: span{-0.15, 0.15},
	},
	{
		res: 64, ss: 1, blur: span{0.4, 0.9}, sharpen: span{0, 0.2}, noise: span{0.015, 0.03}, chroma: span{0.01, 0.02},
		gain: span{0.7, 0.9}, wbR: span{0.9, 1.0}, wbB: span{0.85, 0.95}, gamma: span{1.0, 1.1},
		black: span{0.03, 0.06}, sat: span{0.85, 1.0}, vignette: span{0.2, 0.4}, hue: span{0.12, 0.22}, banding: span{0.005, 0.012}, autoWB: span{0, 0.2}, autoExp: span{0, 0.3}, jpegQ: 0,
		bgKinds: []float64{0, 0.7, 0, 0.3}, palette: offices, ambient: span{0.25, 0.4},
		lightX: span{-0.7, 0.7}, lightY: span{-0.8, -0.3}, lightColor: v3(0.95, 1.02, 0.9), lightTemp: span{0.1, 0.25},
		scale: span{1.15, 1.3}, yaw: span{-0.15, 0.15}, pitch: span{-0.05, 0.15}, motion: 0.02,
		attackW: []float64{0.35, 0.55, 0.1},
		print: printRange{dither: []float64{0.6, 0.2, 0.2}, period: span{0.8, 1.6}, sat: span{0.8, 1.0},
			contrast: span{0.8, 0.95}, black: span{0.03, 0.08}, texture: span{0.02, 0.04}, gloss: span{0.05, 0.25},
			bend: span{0, 0.15}, warm: span{0, 0.05}, cast: v3(1, 1, 1)},
		replay: replayRange{pitch: span{0.7, 1.3}, grid: span{0.15, 0.35}, subpixel: span{0.15, 0.35},
			gamma: span{0.75, 0.95}, black: span{0.05, 0.12}, blueB: span{1.08, 1.2}, sat: span{0.9, 1.05}, moire: span{0.04, 0.1},
			glare: span{0.05, 0.25}, bright: span{0.7, 0.9}, bezelP: 0.2},
		mask:   maskRange{rigidP: 0.6, sat: span{0.7, 0.9}, contrast: span{0.75, 0.9}, edge: span{0.3, 0.6}, holeScale: span{1.1, 1.4}},
		srcRes: span{64, 96}, srcBlur: span{0.4, 0.9}, srcNoise: span{0.005, 0.015}, edgeP: 0.3,
		attackTilt: span{-0.05, 0.05},
	},
	{
		res: 56, ss: 2, blur: span{0.5, 1.0}, sharpen: span{0.6, 1.1}, noise: span{0.01, 0.02}, chroma: span{0.002, 0.008},
		gain: span{1.1, 1.3}, wbR: span{1.05, 1.15}, wbB: span{0.8, 0.9}, gamma: span{0.8, 0.9},
		black: span{0.0, 0.02}, sat: span{1.05, 1.25}, vignette: span{0.05, 0.15}, hue: span{-0.08, 0}, banding: span{0.004, 0.01}, autoWB: span{0.3, 0.6}, autoExp: span{0.7, 1},
		jpegQ:   65,
		bgKinds: []float64{0.4, 0.3, 0.2, 0.1}, palette: walls, ambient: span{0.5, 0.65},
		lightX: span{-0.3, 0.3}, lightY: span{-0.4, -0.1}, lightColor: v3(1, 0.95, 0.85), lightTemp: span{0, 0.15},
		scale: span{1.3, 1.45}, yaw: span{-0.1, 0.1}, pitch: span{-0.1, 0.05}, motion: 0.03,
		attackW: []float64{0.45, 0.45, 0.1},
		print: printRange{dither: []float64{0.5, 0.1, 0.4}, period: span{0.4, 0.8}, sat: span{1.05, 1.3},
			contrast: span{0.9, 1.1}, black: span{0.0, 0.05}, texture: span{0.005, 0.015}, gloss: span{0.2, 0.45},
			bend: span{0, 0.2}, warm: span{0, 0.03}, cast: v3(0.95, 0.99, 1.06)},
		replay: replayRange{pitch: span{0.25, 0.45}, grid: span{0.05, 0.15}, subpixel: span{0.05, 0.15},
			gamma: span{0.85, 1.05}, black: span{0.02, 0.06}, blueB: span{1.0, 1.08}, sat: span{1.0, 1.15}, moire: span{0, 0.01},
			glare: span{0.2, 0.45}, bright: span{1.1, 1.3}, bezelP: 0.6},
		mask:   maskRange{rigidP: 0.8, sat: span{0.85, 1}, contrast: span{0.85, 1}, edge: span{0.2, 0.5}, holeScale: span{1.05, 1.3}},
		srcRes: span{72, 112}, srcBlur: span{0.3, 0.7}, srcNoise: span{0.003, 0.008}, edgeP: 0.4,
		attackTilt: span{-0.1, 0.1},
	},
}

// domainName is the name of domain i in keys, lists and configs.
func domainName(i int) string { return fmt.Sprintf("dom%d", i) }

// domainAt returns domain i: a preset for the first four, beyond that a random mixture
// of two presets (seeded), so any number of domains stays plausible and distinct.
func domainAt(i int, seed uint64) domain {
	if i < len(presets) {
		d := presets[i]
		d.name = domainName(i)
		return d
	}
	r := newRNG(seed, uint64(i), 0xd0)
	d := presets[r.intn(len(presets))]
	o := presets[r.intn(len(presets))]
	d.name = domainName(i)
	d.res = 40 + 8*r.intn(8)
	d.ss = 1 + r.intn(2)
	d.jpegQ = []int{0, 60, 75, 90}[r.intn(4)]
	d.noise, d.blur, d.gain, d.wbB, d.hue, d.banding, d.autoWB = o.noise, o.blur, o.gain, o.wbB, o.hue, o.banding, o.autoWB
	d.bgKinds, d.palette = o.bgKinds, o.palette
	d.attackW = []float64{r.uniform(0.1, 1), r.uniform(0.1, 1), r.uniform(0.05, 0.5)}
	return d
}
