package shim

/*
#include <stdlib.h>
#include "fas/fas.h"
*/
import "C"

import (
	"fmt"
	"image"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/fasgo/fasgo/go/internal/imgproc"
)

// Face is one face found in an image, in the image's own coordinates (its Bounds().Min
// included).
type Face struct {
	// Box is the detector's box, clipped to the image, rounded to whole pixels.
	Box image.Rectangle
	// Score is dlib's detection confidence, an SVM margin: detections score above
	// FindOptions.MinScore (0), a clear frontal face about 1 and more.
	Score float64
	// HasLandmarks says whether Landmarks holds the 5 points (the finder has a landmark model).
	HasLandmarks bool
	// Landmarks are x, y of the left eye centre, right eye centre, nose tip, left mouth corner
	// and right mouth corner ("left" = the image's left), pixel centres at integers: the
	// order and meaning of the 10 numbers of a list file (docs/design.md).
	Landmarks [10]float64
	// Points are the 68 points of the shape predictor (when HasLandmarks), x, y pairs in the
	// same coordinates, in iBUG 300-W order (0-based: 0-16 jaw, 17-26 brows, 27-35 nose,
	// 36-47 eyes, 48-67 mouth); the 5 landmarks follow from them.
	Points [2 * FacePoints]float64
}

// FacePoints is the number of points of the shape predictor's shape (Face.Points).
const FacePoints = C.FAS_FACE_POINTS

// Shift moves the face (box, landmarks, points) by d.
func (f Face) Shift(d image.Point) Face {
	f.Box = f.Box.Add(d)
	for i := 0; i < len(f.Landmarks); i += 2 {
		f.Landmarks[i] += float64(d.X)
		f.Landmarks[i+1] += float64(d.Y)
	}
	for i := 0; i < len(f.Points); i += 2 {
		f.Points[i] += float64(d.X)
		f.Points[i+1] += float64(d.Y)
	}
	return f
}

// Point is landmark i (0 left eye, 1 right eye, 2 nose tip, 3 left and 4 right mouth
// corner), rounded.
func (f Face) Point(i int) image.Point {
	return image.Pt(int(math.Round(f.Landmarks[2*i])), int(math.Round(f.Landmarks[2*i+1])))
}

// Largest returns the face with the largest box (the first of equals), false when there is
// none: the subject of a selfie or an ID photo.
func Largest(faces []Face) (Face, bool) {
	best, area := -1, -1
	for i, f := range faces {
		if a := f.Box.Dx() * f.Box.Dy(); a > area {
			best, area = i, a
		}
	}
	if best < 0 {
		return Face{}, false
	}
	return faces[best], true
}

// FindOptions tune a search; the zero value is the default. The JSON names are those of
// the manifests that record them (fas prep).
type FindOptions struct {
	// Upsample 0..2 doubles the image that many times first: the smallest face found is
	// about 80 px at 0, 40 px at 1, 20 px at 2, for 4× the work each.
	Upsample int `json:"upsample"`
	// MaxSide: detect on a copy scaled down so its longer side is at most this many pixels
	// (landmarks still come from the full image); 0 = DefaultMaxSide, < 0 = never scale.
	// A 12-megapixel photo takes about a second unscaled.
	MaxSide int `json:"max_side"`
	// MinScore keeps detections scoring at least this (dlib's adjust_threshold; default 0).
	MinScore float64 `json:"min_score"`
}

// DefaultMaxSide is the longer side detection scales large images down to (FindOptions.MaxSide 0).
const DefaultMaxSide = C.FAS_FACE_DEFAULT_MAX_SIDE

// MaxFacePixels is the largest image (also after upsampling) a search accepts.
const MaxFacePixels = C.FAS_FACE_MAX_PIXELS

// NoLandmarks as NewFaceFinder's model finds boxes only.
const NoLandmarks = "none"

// FaceBackend names the detector this shim was built with ("dlib 19.24.0 HOG
// frontal_face_detector"), or "" when it was built without face detection.
func FaceBackend() string { return C.GoString(C.fas_face_backend()) }

// FaceFinder finds faces: dlib's HOG frontal-face detector, and dlib's 68-point shape
// predictor for the 5 landmarks. Safe for concurrent use: concurrent Finds run in parallel
// (each borrows one of the finder's detectors inside the shim).
type FaceFinder struct {
	h     *handle[*C.fas_face_finder]
	model string
}

// NewFaceFinder loads a finder. landmarkModel is the path of a dlib 68-point shape
// predictor; "" = Debian's /usr/share/dlib/shape_predictor_68_face_landmarks.dat (package
// libdlib-data) when installed, else none; NoLandmarks = none. A shim built without dlib
// fails with ErrUnsupported; a missing file with ErrNotFound; another kind of file with
// ErrInvalidArgument.
func NewFaceFinder(landmarkModel string) (*FaceFinder, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	var cpath *C.char // NULL: the default model
	switch landmarkModel {
	case "":
	case NoLandmarks:
		cpath = C.CString("")
	default:
		cpath = C.CString(landmarkModel)
	}
	if cpath != nil {
		defer C.free(unsafe.Pointer(cpath))
	}
	var p *C.fas_face_finder
	if err := statusError("new face finder", C.fas_face_finder_new(cpath, &p)); err != nil {
		return nil, err
	}
	f := &FaceFinder{h: newHandle(p, func(p *C.fas_face_finder) { C.fas_face_finder_free(p) })}
	info := new(C.fas_face_finder_info)
	if err := f.h.use("face finder", func(p *C.fas_face_finder) error {
		return statusError("face finder", C.fas_face_finder_get_info(p, info))
	}); err != nil {
		f.Close()
		return nil, err
	}
	if info.has_landmarks != 0 {
		f.model = C.GoString(&info.landmark_model[0])
	}
	runtime.AddCleanup(f, func(h *handle[*C.fas_face_finder]) { h.close() }, f.h)
	return f, nil
}

// Close frees the finder after the searches in flight return. Idempotent; later calls
// return ErrClosed.
func (f *FaceFinder) Close() error {
	if f != nil {
		f.h.close()
	}
	return nil
}

// HasLandmarks says whether faces come with the 5 landmarks.
func (f *FaceFinder) HasLandmarks() bool { return f != nil && f.model != "" }

// LandmarkModel is the landmark model file loaded ("" when none).
func (f *FaceFinder) LandmarkModel() string {
	if f == nil {
		return ""
	}
	return f.model
}

// rgbPool recycles the RGB copies of images that are not RGB8 already.
var rgbPool = sync.Pool{New: func() any { return new(imgproc.Image) }}

// Find returns every face in img, best score first, with the default options. Apply a
// JPEG's EXIF orientation first (imgproc.DecodeOriented does).
func (f *FaceFinder) Find(img image.Image) ([]Face, error) {
	return f.FindWith(img, FindOptions{})
}

// FindWith is Find with options. An *imgproc.Image (RGB) is read in place; any other image
// is converted to RGB8 first (imgproc.ToRGB: fast for YCbCr, RGBA, NRGBA, Gray). An empty
// image, or one of more than MaxFacePixels pixels, is refused before anything is allocated.
func (f *FaceFinder) FindWith(img image.Image, o FindOptions) ([]Face, error) {
	if f == nil {
		return nil, fmt.Errorf("find faces: nil face finder: %w", ErrClosed)
	}
	if img == nil {
		return nil, fmt.Errorf("find faces: nil image: %w", ErrInvalidArgument)
	}
	r := img.Bounds()
	if err := checkFaceSize(int64(r.Dx()), int64(r.Dy())); err != nil {
		return nil, err
	}
	var faces []Face
	var err error
	if m, ok := img.(*imgproc.Image); ok && m.C == 3 {
		faces, err = f.FindRGB(m.Pix, m.W, m.H, 3*m.W, o)
	} else {
		rgb := rgbPool.Get().(*imgproc.Image)
		imgproc.ToRGB(img, rgb)
		faces, err = f.FindRGB(rgb.Pix, rgb.W, rgb.H, 3*rgb.W, o)
		rgbPool.Put(rgb)
	}
	if err != nil || r.Min == (image.Point{}) {
		return faces, err
	}
	for i := range faces {
		faces[i] = faces[i].Shift(r.Min)
	}
	return faces, nil
}

func checkFaceSize(w, h int64) error {
	if w < 1 || h < 1 {
		return fmt.Errorf("find faces: image of %dx%d pixels is empty: %w", w, h, ErrInvalidArgument)
	}
	if w > MaxFacePixels || h > MaxFacePixels || w*h > MaxFacePixels {
		return fmt.Errorf("find faces: image of %dx%d pixels is larger than %d pixels: %w", w, h, MaxFacePixels, ErrInvalidArgument)
	}
	return nil
}

// FindRGB finds the faces in RGB8 pixels: height rows of stride bytes, each width pixels
// of R, G, B, coordinates from (0, 0).
func (f *FaceFinder) FindRGB(pix []byte, width, height, stride int, o FindOptions) ([]Face, error) {
	if f == nil {
		return nil, fmt.Errorf("find faces: nil face finder: %w", ErrClosed)
	}
	if err := checkFaceSize(int64(width), int64(height)); err != nil {
		return nil, err
	}
	if stride < 3*width || stride > math.MaxInt32 || int64(len(pix)) < int64(stride)*int64(height-1)+3*int64(width) {
		return nil, fmt.Errorf("find faces: %d bytes with row stride %d do not hold %dx%d RGB pixels: %w",
			len(pix), stride, width, height, ErrInvalidArgument)
	}
	if o.Upsample < 0 || o.Upsample > 2 || o.MaxSide > math.MaxInt32 || o.MaxSide < math.MinInt32 || math.IsNaN(o.MinScore) {
		return nil, fmt.Errorf("find faces: options %+v out of range (upsample 0..2): %w", o, ErrInvalidArgument)
	}
	copts := C.fas_face_options{upsample: C.int(o.Upsample), max_side: C.int(o.MaxSide), min_score: C.double(o.MinScore)}
	out := make([]C.fas_face, 8)
	var count C.int
	for {
		err := f.h.use("find faces", func(p *C.fas_face_finder) error {
			return statusError("find faces", C.fas_face_find(p, (*C.uint8_t)(unsafe.Pointer(&pix[0])), C.int(width), C.int(height),
				C.int(stride), &copts, &out[0], C.int(len(out)), &count))
		})
		runtime.KeepAlive(pix)
		if err != nil {
			return nil, err
		}
		if int(count) <= len(out) {
			break
		}
		out = make([]C.fas_face, int(count)) // more faces than room: search again with enough
	}
	faces := make([]Face, int(count))
	for i := range faces {
		c := &out[i]
		fc := Face{
			Box: image.Rect(int(math.Round(float64(c.x0))), int(math.Round(float64(c.y0))),
				int(math.Round(float64(c.x1))), int(math.Round(float64(c.y1)))),
			Score:        float64(c.score),
			HasLandmarks: c.has_landmarks != 0,
		}
		if fc.HasLandmarks {
			for k := range fc.Landmarks {
				fc.Landmarks[k] = float64(c.landmarks[k])
			}
			for k := range fc.Points {
				fc.Points[k] = float64(c.points[k])
			}
		}
		faces[i] = fc
	}
	return faces, nil
}
