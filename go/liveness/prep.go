package liveness

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// prepWork is one call's scratch: decoded image, crop, HSV planes and their resized copies.
type prepWork struct {
	norm                       *imgproc.Normalizer
	rs                         imgproc.Resizer
	rgb, crop, hsv, rgbS, hsvS imgproc.Image
}

func newPrepWork(s export.Spec) *prepWork {
	return &prepWork{norm: imgproc.NewNormalizer(s.Mean, s.Std)}
}

// nativeFinder is fasgo's own detector (dlib's HOG detector and 68-point landmarks in the
// shim). Detections scoring below minFaceScore are dropped: on real photos a badge or patch
// can come back weakly and nearly as large as the face.
type nativeFinder struct{ f *shim.FaceFinder }

// minFaceScore is face.SubjectMinScore (not imported: that package reaches the data pipeline).
const minFaceScore = 0.3

func (n nativeFinder) Find(img image.Image) ([]Face, error) {
	fs, err := n.f.Find(img)
	if err != nil {
		return nil, err
	}
	var out []Face
	for _, f := range fs {
		if f.Score < minFaceScore {
			continue
		}
		g := Face{Box: f.Box, Score: f.Score, HasLandmarks: f.HasLandmarks}
		for i := range g.Landmarks {
			g.Landmarks[i] = Point{f.Landmarks[2*i], f.Landmarks[2*i+1]}
		}
		out = append(out, g)
	}
	return out, nil
}

// wholeImage is the "finder" of WithFaceCrops: the image is the face.
type wholeImage struct{}

func (wholeImage) Find(img image.Image) ([]Face, error) {
	return []Face{{Box: img.Bounds(), Score: 1}}, nil
}

// prepare decodes a source, finds its face and writes the model's input (6×S×S: RGB then
// HSV planes, normalised) into a pooled buffer. A nil buffer means no face (the Result says
// so). This is the evaluation pipeline of the training data (package dataset) without
// augmentation: crop, HSV of the crop at its own resolution, both resized bilinearly (OpenCV
// arithmetic) to S×S, normalised.
func (d *Detector) prepare(ctx context.Context, s source) (Result, []float32, error) {
	select {
	case d.prep <- struct{}{}:
	case <-ctx.Done():
		return Result{}, nil, ctx.Err()
	}
	defer func() { <-d.prep }()
	w := d.pool.Get().(*prepWork)
	defer d.pool.Put(w)

	var findIn image.Image // what the finder sees
	var origin image.Point // findIn's coordinates minus ours
	if s.bytes {
		if err := d.decode(s.data, &w.rgb); err != nil {
			return Result{}, nil, err
		}
		findIn = rgbView{&w.rgb}
	} else {
		if s.img == nil {
			return Result{}, nil, fmt.Errorf("%w: nil image", ErrEmptyImage)
		}
		b := s.img.Bounds()
		if err := d.checkSize(b.Dx(), b.Dy()); err != nil {
			return Result{}, nil, err
		}
		imgproc.FromImage(s.img, &w.rgb)
		findIn, origin = s.img, b.Min
	}
	var faces []Face
	if d.o.faceCrops {
		faces = []Face{{Box: image.Rect(0, 0, w.rgb.W, w.rgb.H), Score: 1}}
	} else {
		found, err := find(d.finder, findIn)
		if err != nil {
			return Result{}, nil, fmt.Errorf("liveness: face finder: %w", err)
		}
		bounds := image.Rect(0, 0, w.rgb.W, w.rgb.H)
		for _, f := range found {
			f.Box = f.Box.Sub(origin).Intersect(bounds)
			if f.Box.Empty() { // outside the image: not a face of it
				continue
			}
			for i := range f.Landmarks {
				f.Landmarks[i].X -= float64(origin.X)
				f.Landmarks[i].Y -= float64(origin.Y)
			}
			faces = append(faces, f)
		}
	}
	res := Result{Faces: len(faces), Decision: NoFace}
	if len(faces) == 0 {
		return res, nil, nil
	}
	best := 0
	for i, f := range faces {
		if area(f.Box) > area(faces[best].Box) {
			best = i
		}
	}
	face := faces[best]
	res.Box = face.Box
	if face.HasLandmarks {
		res.Landmarks = append([]Point(nil), face.Landmarks[:]...)
	}
	if d.ens != nil {
		x := d.getInput()
		ms, err := d.ens.prepare(w, face.Box, x)
		if err != nil {
			d.putInput(x)
			return Result{}, nil, err
		}
		res.Members, res.Crop = ms, ms[0].Crop
		return res, x, nil
	}
	crop, err := d.cropBox(face, w.rgb.W, w.rgb.H)
	if err != nil {
		return Result{}, nil, err
	}
	res.Crop = crop
	src := &w.rgb
	if crop != image.Rect(0, 0, w.rgb.W, w.rgb.H) {
		if err := imgproc.Crop(&w.rgb, crop.Min.X, crop.Min.Y, crop.Max.X, crop.Max.Y, &w.crop); err != nil {
			return Result{}, nil, fmt.Errorf("liveness: %w", err)
		}
		src = &w.crop
	}
	size := d.spec.Size
	imgproc.RGBToHSV(src, &w.hsv)
	w.rs.Linear(src, size, size, &w.rgbS)
	w.rs.Linear(&w.hsv, size, size, &w.hsvS)
	x := d.getInput()
	plane := 3 * size * size
	w.norm.CHW(&w.rgbS, x[:plane])
	w.norm.CHW(&w.hsvS, x[plane:2*plane])
	return res, x, nil
}

// find runs the finder, turning a panic into an error: a bad input must not take a service down.
func find(f FaceFinder, img image.Image) (faces []Face, err error) {
	defer func() {
		if p := recover(); p != nil {
			faces, err = nil, fmt.Errorf("panicked: %v", p)
		}
	}()
	return f.Find(img)
}

func area(r image.Rectangle) int64 { return int64(r.Dx()) * int64(r.Dy()) }

func (d *Detector) checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w (%dx%d)", ErrEmptyImage, w, h)
	}
	if w > d.o.maxSide || h > d.o.maxSide || int64(w)*int64(h) > d.o.maxPixels {
		return fmt.Errorf("%w: %dx%d pixels; the limit is %d per side and %d in all", ErrImageTooLarge, w, h, d.o.maxSide, d.o.maxPixels)
	}
	return nil
}

// decode reads the header, checks the limits, then decodes the pixels.
func (d *Detector) decode(b []byte, dst *imgproc.Image) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: empty body", ErrBadImage)
	}
	f, w, h, err := imgproc.DecodeConfig(b)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadImage, err)
	}
	if err := d.checkSize(w, h); err != nil {
		return err
	}
	if err := imgproc.DecodeRGB(b, dst); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadImage, f, err)
	}
	return nil
}

// cropBox is the region the model's input is cut from, by the model's crop rule.
//
//   - "none": the model was trained on whole frames, so the whole image is its input (the face
//     found only decides whether there is one to score).
//   - "5points": the training crop of the reference (crop_face_from_5points): the bounding
//     square of the 5 landmarks (coordinates truncated to integers; side = the larger extent)
//     grown by int(side·margin/2) on every side and clipped to the image. A face without
//     landmarks uses its box in their place (square side = the box's larger side, from its
//     top-left corner).
func (d *Detector) cropBox(f Face, w, h int) (image.Rectangle, error) {
	whole := image.Rect(0, 0, w, h)
	if d.o.faceCrops || d.spec.Crop == export.CropNone {
		return whole, nil
	}
	var x0, y0, x1, y1 int
	if f.HasLandmarks {
		x0, y0, x1, y1 = math.MaxInt, math.MaxInt, math.MinInt, math.MinInt
		for _, p := range f.Landmarks {
			if math.IsNaN(p.X) || math.IsNaN(p.Y) || math.Abs(p.X) > 1e9 || math.Abs(p.Y) > 1e9 {
				return image.Rectangle{}, fmt.Errorf("liveness: face finder gave landmark %v", p)
			}
			x, y := int(p.X), int(p.Y)
			x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
		}
	} else {
		x0, y0, x1, y1 = f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y
	}
	side := max(x1-x0, y1-y0)
	m := int(float64(side) * d.spec.Margin / 2)
	b := image.Rect(max(0, x0-m), max(0, y0-m), min(w, x0+side+m), min(h, y0+side+m))
	if b.Min.X >= b.Max.X || b.Min.Y >= b.Max.Y {
		return image.Rectangle{}, fmt.Errorf("liveness: face crop [%d,%d)x[%d,%d) is empty inside the %dx%d image", b.Min.X, b.Max.X, b.Min.Y, b.Max.Y, w, h)
	}
	return b, nil
}

// rgbView shows a decoded RGB image to a face finder without copying it.
type rgbView struct{ m *imgproc.Image }

func (v rgbView) ColorModel() color.Model { return color.RGBAModel }
func (v rgbView) Bounds() image.Rectangle { return image.Rect(0, 0, v.m.W, v.m.H) }
func (v rgbView) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= v.m.W || y >= v.m.H {
		return color.RGBA{}
	}
	p := v.m.Pix[(y*v.m.W+x)*3:]
	return color.RGBA{p[0], p[1], p[2], 255}
}
