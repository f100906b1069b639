package synth

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
)

// fimg is a float RGB image (values nominally in [0, 1]).
type fimg struct {
	w, h int
	pix  []float32
}

func newFimg(w, h int) *fimg { return &fimg{w, h, make([]float32, 3*w*h)} }

func (m *fimg) at(x, y int) vec3 {
	i := 3 * (y*m.w + x)
	return vec3{float64(m.pix[i]), float64(m.pix[i+1]), float64(m.pix[i+2])}
}

func (m *fimg) set(x, y int, c vec3) {
	i := 3 * (y*m.w + x)
	m.pix[i], m.pix[i+1], m.pix[i+2] = float32(c.x), float32(c.y), float32(c.z)
}

// sample reads the image bilinearly at normalised coordinates (-1..1 over the whole
// image), clamping at the border.
func (m *fimg) sample(x, y float64) vec3 {
	fx := clamp((x+1)/2*float64(m.w)-0.5, 0, float64(m.w-1))
	fy := clamp((y+1)/2*float64(m.h)-0.5, 0, float64(m.h-1))
	x0, y0 := int(fx), int(fy)
	x1, y1 := min(x0+1, m.w-1), min(y0+1, m.h-1)
	tx, ty := fx-float64(x0), fy-float64(y0)
	return mixv(mixv(m.at(x0, y0), m.at(x1, y0), tx), mixv(m.at(x0, y1), m.at(x1, y1), tx), ty)
}

// scene is anything that can be looked at: colour at frame point (x, y) in [-1, 1]
// (y down), with aa the width of one camera pixel in frame units.
type scene func(x, y, aa float64) vec3

// camera turns a scene into pixels the way a capture device would.
type camera struct {
	res       int     // sensor resolution before the resize to the output size
	ss        int     // samples per pixel side
	blur      float64 // optical blur, sigma in sensor pixels
	sharpen   float64 // unsharp-mask amount of the camera's processing
	gain      float64 // exposure
	wb        vec3    // white balance gains
	gamma     float64 // tone curve exponent
	black     float64 // black level lift
	sat       float64 // saturation of the processing
	noise     float64 // luminance noise sigma
	chroma    float64 // colour noise sigma
	vignette  float64
	hue       float64 // sensor colour response: rotation of the chroma about the grey axis (radians)
	banding   float64 // fixed-pattern noise: row and column offsets of the sensor (sigma)
	fpnSeed   uint64  // the sensor's fixed pattern (one per domain: its cameras' model)
	autoWB    float64 // strength of grey-world auto white balance (0 = fixed white balance)
	autoExp   float64 // strength of auto exposure towards a mid-grey frame mean (0 = fixed)
	jpegQ     int     // 0 = PNG
	noiseSeed uint64
}

// hueRotate rotates v about the grey axis (1, 1, 1) by theta (Rodrigues' formula): a
// sensor whose spectral response renders hues shifted, which no white balance undoes.
func hueRotate(v vec3, theta float64) vec3 {
	if theta == 0 {
		return v
	}
	c, s := math.Cos(theta), math.Sin(theta)
	k := 1 / math.Sqrt(3)
	kv := k * (v.x + v.y + v.z) // k . v
	cross := v3(k*(v.z-v.y), k*(v.x-v.z), k*(v.y-v.x))
	return v.scale(c).add(cross.scale(s)).add(gray(k * kv * (1 - c)))
}

// fixedPattern is the sensor's row and column offset at pixel (i, j), zero mean.
func fixedPattern(i, j int, seed uint64) float64 {
	return lattice(int64(i), -1, seed) + lattice(-1, int64(j), seed) - 1
}

// render samples the scene on a w x h grid with ss x ss samples per pixel.
func render(sc scene, w, h, ss int) *fimg {
	m := newFimg(w, h)
	aa := 2 / float64(w)
	inv := 1 / float64(ss*ss)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			var acc vec3
			for sj := 0; sj < ss; sj++ {
				for si := 0; si < ss; si++ {
					x := (float64(i)+(float64(si)+0.5)/float64(ss))*2/float64(w) - 1
					y := (float64(j)+(float64(sj)+0.5)/float64(ss))*2/float64(h) - 1
					acc = acc.add(sc(x, y, aa))
				}
			}
			m.set(i, j, acc.scale(inv))
		}
	}
	return m
}

// capture renders the scene through the camera and resizes it to size x size.
func (c *camera) capture(sc scene, size int) *fimg {
	m := render(sc, c.res, c.res, c.ss)
	if c.blur > 0.3 {
		m = gaussBlur(m, c.blur)
	}
	if c.sharpen > 0 {
		soft := gaussBlur(m, 1)
		for i, v := range m.pix {
			m.pix[i] = v + float32(c.sharpen)*(v-soft.pix[i])
		}
	}
	wb, gain := c.autoAdjust(m)
	r := newRNG(c.noiseSeed)
	tone := newPowTable(c.gamma)
	for j := 0; j < m.h; j++ {
		for i := 0; i < m.w; i++ {
			x := (float64(i)+0.5)/float64(m.w)*2 - 1
			y := (float64(j)+0.5)/float64(m.h)*2 - 1
			v := hueRotate(m.at(i, j), c.hue).mul(wb).scale(gain * (1 - c.vignette*(x*x+y*y)/2))
			v = tone.vec(v).saturate(c.sat)
			v = v.scale(1 - c.black).add(gray(c.black))
			n := c.noise*r.approxNormal()*(0.5+math.Sqrt(fmax(v.luma(), 0))) + c.banding*fixedPattern(i, j, c.fpnSeed)
			v = v.add(v3(n+c.chroma*r.approxNormal(), n, n+c.chroma*r.approxNormal()))
			m.set(i, j, v)
		}
	}
	if m.w != size {
		m = resize(m, size, size)
	}
	return m
}

// autoAdjust is the camera's automatic white balance and exposure on this frame: the
// fixed gains moved towards a grey-world balance and a mid-grey mean by the camera's
// strengths. Cameras that adapt hide a scene's colour cast and brightness (a screen's blue
// white point, a dim print) that fixed ones record.
func (c *camera) autoAdjust(m *fimg) (vec3, float64) {
	if c.autoWB == 0 && c.autoExp == 0 {
		return c.wb, c.gain
	}
	var mean vec3
	for i := 0; i < len(m.pix); i += 3 {
		mean = mean.add(v3(float64(m.pix[i]), float64(m.pix[i+1]), float64(m.pix[i+2])))
	}
	mean = mean.scale(3 / float64(len(m.pix))).mul(c.wb)
	g := (mean.x + mean.y + mean.z) / 3
	wb := c.wb
	if g > 1e-4 {
		wb = wb.mul(v3(math.Pow(g/fmax(mean.x, 1e-4), c.autoWB), math.Pow(g/fmax(mean.y, 1e-4), c.autoWB),
			math.Pow(g/fmax(mean.z, 1e-4), c.autoWB)))
	}
	gain := c.gain * math.Pow(0.42/fmax(g*c.gain, 1e-3), c.autoExp)
	return wb, gain
}

// gaussBlur applies a separable Gaussian blur.
func gaussBlur(m *fimg, sigma float64) *fimg {
	rad := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*rad+1)
	sum := 0.0
	for i := range k {
		d := float64(i - rad)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	pass := func(src *fimg, dx, dy int) *fimg {
		dst := newFimg(src.w, src.h)
		for y := 0; y < src.h; y++ {
			for x := 0; x < src.w; x++ {
				var acc vec3
				for t, w := range k {
					xx := min(max(x+(t-rad)*dx, 0), src.w-1)
					yy := min(max(y+(t-rad)*dy, 0), src.h-1)
					acc = acc.add(src.at(xx, yy).scale(w))
				}
				dst.set(x, y, acc)
			}
		}
		return dst
	}
	return pass(pass(m, 1, 0), 0, 1)
}

// resize resamples with a triangle filter widened by the scale when shrinking (the
// antialiased bilinear filter of PIL), separably.
func resize(m *fimg, w, h int) *fimg {
	return resizeAxis(resizeAxis(m, w, true), h, false)
}

func resizeAxis(m *fimg, n int, horiz bool) *fimg {
	srcN := m.h
	if horiz {
		srcN = m.w
	}
	scale := float64(srcN) / float64(n)
	support := fmax(1, scale)
	var dst *fimg
	if horiz {
		dst = newFimg(n, m.h)
	} else {
		dst = newFimg(m.w, n)
	}
	other := m.h
	if !horiz {
		other = m.w
	}
	for i := 0; i < n; i++ {
		c := (float64(i)+0.5)*scale - 0.5
		lo := max(int(math.Floor(c-support)), 0)
		hi := min(int(math.Ceil(c+support)), srcN-1)
		ws := make([]float64, 0, hi-lo+1)
		sum := 0.0
		for s := lo; s <= hi; s++ {
			w := fmax(0, 1-math.Abs(float64(s)-c)/support)
			ws = append(ws, w)
			sum += w
		}
		for o := 0; o < other; o++ {
			var acc vec3
			for k, w := range ws {
				if horiz {
					acc = acc.add(m.at(lo+k, o).scale(w))
				} else {
					acc = acc.add(m.at(o, lo+k).scale(w))
				}
			}
			if horiz {
				dst.set(i, o, acc.scale(1/sum))
			} else {
				dst.set(o, i, acc.scale(1/sum))
			}
		}
	}
	return dst
}

// toRGBA quantises to 8 bits.
func (m *fimg) toRGBA() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, m.w, m.h))
	for y := 0; y < m.h; y++ {
		for x := 0; x < m.w; x++ {
			c := m.at(x, y)
			img.SetRGBA(x, y, color.RGBA{q8(c.x), q8(c.y), q8(c.z), 255})
		}
	}
	return img
}

func q8(v float64) uint8 { return uint8(math.Round(clamp01(v) * 255)) }

// encode writes JPEG at quality q, or PNG when q is 0.
func encode(img image.Image, q int) ([]byte, error) {
	var buf bytes.Buffer
	var err error
	if q > 0 {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: q})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	}
	return buf.Bytes(), err
}
