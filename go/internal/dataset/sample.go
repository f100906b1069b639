package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// Store is where encoded images live (an *lmdb.Env): fn sees the stored bytes of key.
type Store interface {
	View(key string, fn func(v []byte) error) error
}

// Transform configures the per-sample pipeline (config keys transform.* and dataset.*).
type Transform struct {
	Size        int        // S: images are S×S; depth targets F×F with F = S/8
	Mean, Std   [3]float64 // per channel, fractions of 255; applied to RGB and to HSV
	FlipP       float64    // probability of a horizontal flip (training)
	HSVJitterP  float64    // probability of the hue/saturation/value jitter (training)
	HueShift    float64    // jitter draws uniformly in ±HueShift (albumentations default 20)
	SatShift    float64    // ±SatShift (default 30)
	ValShift    float64    // ±ValShift (default 20)
	CropFace    bool       // crop around the 5-point landmarks (crop_face_from_5points)
	Margin      float64    // crop margin (fraction of the landmark box side, as the reference)
	DepthRule   DepthRule  // image key -> depth key
	RequireMark bool       // with CropFace: an entry without landmarks is bad data (else uncropped)
}

// DefaultTransform is the reference's ANRL input at S = 256.
func DefaultTransform() Transform {
	return Transform{Size: 256, Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5},
		FlipP: 0.5, HSVJitterP: 0.1, HueShift: 20, SatShift: 30, ValShift: 20, Margin: 2}
}

// DepthSize is F = S/8.
func (t *Transform) DepthSize() int { return t.Size / 8 }

// Validate rejects settings the pipeline cannot honour.
func (t *Transform) Validate() error {
	switch {
	case t.Size <= 0 || t.Size%8 != 0:
		return fmt.Errorf("transform: image size %d must be a positive multiple of 8 (depth is S/8)", t.Size)
	case t.FlipP < 0 || t.FlipP > 1 || t.HSVJitterP < 0 || t.HSVJitterP > 1:
		return fmt.Errorf("transform: probabilities must lie in [0,1] (flip %v, hsv jitter %v)", t.FlipP, t.HSVJitterP)
	case t.Margin < 0:
		return fmt.Errorf("transform: negative crop margin %v", t.Margin)
	}
	for c := 0; c < 3; c++ {
		if !(t.Std[c] > 0) {
			return fmt.Errorf("transform: std[%d] = %v must be positive", c, t.Std[c])
		}
	}
	return nil
}

// Aug is the random part of one training sample's transform.
type Aug struct {
	Flip   bool
	Jitter bool
	Shift  imgproc.HSVShift
}

// DrawAug draws the augmentation of one sample: flip, then jitter and its three shifts.
func (t *Transform) DrawAug(r *rand.Rand) Aug {
	a := Aug{Flip: r.Float64() < t.FlipP, Jitter: r.Float64() < t.HSVJitterP}
	u := func(lim float64) float64 { return (2*r.Float64() - 1) * lim }
	if a.Jitter {
		a.Shift = imgproc.HSVShift{Hue: u(t.HueShift), Sat: u(t.SatShift), Val: u(t.ValShift)}
	}
	return a
}

// ErrBadSample marks data errors (missing key, undecodable image, bad crop), as opposed
// to failures of the machinery; the bad-data policy applies to these only.
var ErrBadSample = errors.New("bad sample")

// SampleError is a data error with where it happened.
type SampleError struct {
	Entry Entry
	Key   string // the key that failed (the image's or its depth map's)
	Err   error
}

func (e *SampleError) Error() string {
	return fmt.Sprintf("%s:%d: key %q: %v", e.Entry.List, e.Entry.Line, e.Key, e.Err)
}

func (e *SampleError) Unwrap() []error { return []error{ErrBadSample, e.Err} }

// Processor turns entries into tensors. It owns all scratch memory, so one Processor per
// worker allocates nothing per sample in steady state (beyond the standard library's
// decoders). Not safe for concurrent use.
type Processor struct {
	t    Transform
	norm *imgproc.Normalizer
	rs   imgproc.Resizer

	img, six imgproc.Image // decoded; cropped RGB+HSV (6 channels)
	jit      imgproc.HSVJitter
	dep      imgproc.Image
}

// NewProcessor validates t and returns a processor.
func NewProcessor(t Transform) (*Processor, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &Processor{t: t, norm: imgproc.NewNormalizer(t.Mean, t.Std)}, nil
}

// Transform returns the processor's settings.
func (p *Processor) Transform() Transform { return p.t }

// Sample writes entry e as 6×S×S float32 (RGB then HSV planes) into img and its F×F depth
// target into depth (zeros for attacks; nil depth skips the target, as evaluation
// does). Data errors are *SampleError.
func (p *Processor) Sample(db Store, e *Entry, aug Aug, img, depth []float32) error {
	s, f := p.t.Size, p.t.DepthSize()
	if len(img) < 6*s*s || (depth != nil && len(depth) < f*f) {
		return fmt.Errorf("dataset: output buffers of %d and %d floats are too small for S=%d", len(img), len(depth), s)
	}
	if err := p.load(db, e, e.Path, false, &p.img); err != nil {
		return err
	}
	box, err := p.cropBox(e, p.img.W, p.img.H)
	if err != nil {
		return &SampleError{Entry: *e, Key: e.Path, Err: err}
	}
	if err := p.input(&p.img, box, aug, img); err != nil {
		return &SampleError{Entry: *e, Key: e.Path, Err: err}
	}
	if depth == nil {
		return nil
	}
	return p.depth(db, e, box, aug.Flip, depth[:f*f])
}

// Input writes the model's 6×S×S input (RGB then HSV planes) for the region box
// [x0, y0, x1, y1) of an RGB image, as Sample does for an entry without augmentation (the
// evaluation transform): the one path from a photo and its face box (imgproc.FaceBox) to
// the network, shared by serving and the training data.
func (p *Processor) Input(src *imgproc.Image, box [4]int, img []float32) error {
	s := p.t.Size
	if len(img) < 6*s*s {
		return fmt.Errorf("dataset: an output buffer of %d floats is too small for S=%d", len(img), s)
	}
	if src.C != 3 {
		return fmt.Errorf("dataset: input from an image of %d channels, want RGB", src.C)
	}
	return p.input(src, box, Aug{}, img)
}

// input is the reference's steps (crop, HSV of the crop, resize of both, flip, jitter of
// the RGB, normalisation) fused so that each pixel is read and written as few times as
// possible: RGB and HSV go through one six-channel resize, and each resized row is
// flipped, jittered and normalised into the planes as it comes. Every step works per
// channel or per pixel, so the values are the step-by-step pipeline's exactly.
func (p *Processor) input(src *imgproc.Image, box [4]int, aug Aug, img []float32) error {
	s := p.t.Size
	if err := imgproc.CropRGBHSV(src, box[0], box[1], box[2], box[3], &p.six); err != nil {
		return err
	}
	if aug.Jitter {
		p.jit.Set(aug.Shift)
	}
	plane := s * s
	p.rs.LinearRows(&p.six, s, s, func(y int, row []uint8) {
		if aug.Jitter {
			p.jit.Apply(row, 6) // the RGB only; the HSV planes come from the un-jittered crop
		}
		p.norm.Row6(row, aug.Flip, img[:6*plane], y*s, plane)
	})
	return nil
}

// depth builds the target: the depth map cropped with the image's box (scaled when the
// map's size differs), nearest-resized to S×S (albumentations treats it as a mask),
// flipped with the image, then bilinear to F×F and divided by 255.
func (p *Processor) depth(db Store, e *Entry, box [4]int, flip bool, out []float32) error {
	if e.Label != Live {
		clear(out)
		return nil
	}
	key, ok := p.t.DepthRule.DepthKey(e.Path)
	if !ok {
		return &SampleError{Entry: *e, Key: e.Path, Err: errors.New("no depth rule matches this live sample's key")}
	}
	if err := p.load(db, e, key, true, &p.dep); err != nil {
		return err
	}
	if p.dep.W != p.img.W || p.dep.H != p.img.H {
		box = scaleBox(box, p.img.W, p.img.H, p.dep.W, p.dep.H)
	}
	// Crop, Nearest to S×S, flip and bilinear to F×F in one: only the taps are read.
	s, f := p.t.Size, p.t.DepthSize()
	if err := p.rs.NearestBilinearFloat(&p.dep, box[0], box[1], box[2], box[3], s, s, flip, f, f, 1.0/255, out); err != nil {
		return &SampleError{Entry: *e, Key: key, Err: err}
	}
	return nil
}

// load fetches key and decodes it (gray for depth maps) into dst. A missing key and an
// undecodable value are data errors; any other store failure is not.
func (p *Processor) load(db Store, e *Entry, key string, gray bool, dst *imgproc.Image) error {
	var derr error
	err := db.View(key, func(v []byte) error {
		if gray {
			derr = imgproc.DecodeGray(v, dst)
		} else {
			derr = imgproc.DecodeRGB(v, dst)
		}
		return derr
	})
	switch {
	case err == nil:
		return nil
	case derr != nil || errors.Is(err, lmdb.ErrNotFound):
		return &SampleError{Entry: *e, Key: key, Err: err}
	}
	return fmt.Errorf("%s: reading key %q: %w", e.Where(), key, err)
}

// cropBox is the region [x1,y1,x2,y2) of the image to use: the whole image, or the
// reference's get_face_box around the landmarks (imgproc.FaceBox).
func (p *Processor) cropBox(e *Entry, w, h int) ([4]int, error) {
	if !p.t.CropFace || e.Landmarks == nil {
		if p.t.CropFace && p.t.RequireMark {
			return [4]int{}, errors.New("no landmarks to crop the face from")
		}
		return [4]int{0, 0, w, h}, nil
	}
	b, err := imgproc.FaceBox(e.Landmarks[:], p.t.Margin, w, h)
	if err != nil {
		return b, fmt.Errorf("landmarks: %w", err)
	}
	return b, nil
}

// scaleBox maps a box from a w×h image onto a dw×dh one, keeping it non-empty.
func scaleBox(b [4]int, w, h, dw, dh int) [4]int {
	sx, sy := float64(dw)/float64(w), float64(dh)/float64(h)
	x0, y0 := int(float64(b[0])*sx), int(float64(b[1])*sy)
	x1, y1 := int(math.Ceil(float64(b[2])*sx)), int(math.Ceil(float64(b[3])*sy))
	return [4]int{min(x0, dw-1), min(y0, dh-1), max(min(x1, dw), x0+1), max(min(y1, dh), y0+1)}
}

// AugFor draws the augmentation `fas data dump` applies to entry index of a list: a
// generator seeded by (seed, index), so a dump is reproducible on its own.
func (t *Transform) AugFor(seed uint64, index int) Aug {
	return t.DrawAug(rand.New(rand.NewPCG(seed, mix(uint64(index), 0xD0))))
}
