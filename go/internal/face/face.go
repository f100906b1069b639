// Package face is the one path from a photo to the model's input, shared by serving and
// data preparation: decode with the EXIF orientation applied (imgproc.DecodeOriented),
// find the faces (shim.FaceFinder), pick one, crop it with the configured rule and margin
// (imgproc.FaceBox, the rule of dataset.crop_face_from_5points / dataset.margin), and
// transform the crop as evaluation does (dataset.Processor.Input).
package face

import (
	"errors"
	"fmt"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// ErrNoFace reports a photo in which the finder found no face.
var ErrNoFace = errors.New("no face found")

// Box is the crop of face f in a w×h photo: imgproc.FaceBox around its 5 landmarks with
// the margin (a fraction of the landmarks' square side on each side, as training crops), or,
// for a face without landmarks, the same rule on its box's corners (the detector's box is
// about 1.5-1.9 times the landmarks' side, so that crop is larger).
func Box(f shim.Face, margin float64, w, h int) ([4]int, error) {
	if f.HasLandmarks {
		return imgproc.FaceBox(f.Landmarks[:], margin, w, h)
	}
	b := f.Box
	return imgproc.FaceBox([]float64{float64(b.Min.X), float64(b.Min.Y), float64(b.Max.X), float64(b.Max.Y)}, margin, w, h)
}

// Crop copies face f of photo (RGB) into dst with the rule of Box and returns the box.
func Crop(photo *imgproc.Image, f shim.Face, margin float64, dst *imgproc.Image) ([4]int, error) {
	b, err := Box(f, margin, photo.W, photo.H)
	if err != nil {
		return b, err
	}
	return b, imgproc.Crop(photo, b[0], b[1], b[2], b[3], dst)
}

// ToCrop maps x, y pairs of a photo, in place, into the pixels of its crop box b resized to
// size×size (as Crop then a resize to size makes it): the landmarks and the 68 points of a
// stored crop.
func ToCrop(xy []float64, b [4]int, size int) {
	sx, sy := float64(size)/float64(b[2]-b[0]), float64(size)/float64(b[3]-b[1])
	for i := 0; i+1 < len(xy); i += 2 {
		xy[i] = (xy[i] - float64(b[0])) * sx
		xy[i+1] = (xy[i+1] - float64(b[1])) * sy
	}
}

// Input writes the model's 6×S×S input for face f of photo (RGB) into out, with p's
// transform (size, mean, std) and its margin (dataset.margin), and returns the crop box.
// It is what training saw for a list entry with these landmarks and
// crop_face_from_5points: true, without augmentation.
func Input(p *dataset.Processor, photo *imgproc.Image, f shim.Face, out []float32) ([4]int, error) {
	b, err := Box(f, p.Transform().Margin, photo.W, photo.H)
	if err != nil {
		return b, err
	}
	if err := p.Input(photo, b, out); err != nil {
		return b, fmt.Errorf("face input: %w", err)
	}
	return b, nil
}

// Photo is a decoded photo and the faces found in it.
type Photo struct {
	Image       *imgproc.Image // RGB, EXIF orientation applied
	Orientation int            // the EXIF orientation that was applied (1: upright as stored)
	Faces       []shim.Face    // best score first
}

// Find decodes an encoded photo (JPEG or PNG; EXIF orientation applied) and finds its faces.
func Find(fd *shim.FaceFinder, encoded []byte, o shim.FindOptions) (*Photo, error) {
	img, err := imgproc.DecodeOriented(encoded)
	if err != nil {
		return nil, err
	}
	m := img.(*imgproc.Image)
	faces, err := fd.FindWith(m, o)
	if err != nil {
		return nil, err
	}
	return &Photo{Image: m, Orientation: imgproc.Orientation(encoded), Faces: faces}, nil
}

// SubjectMinScore is the detection score below which Subject ignores a face. Weaker
// detections are mostly textures: on the test photos, the astronaut's mission patch scores
// 0.05 after a JPEG re-encode and 0.12 when upsampled, while the frontal portraits score
// about 1.5.
const SubjectMinScore = 0.3

// Subject is the face a single-subject photo is about: the largest one scoring at least
// SubjectMinScore (ErrNoFace when there is none).
func (ph *Photo) Subject() (shim.Face, error) {
	var strong []shim.Face
	for _, f := range ph.Faces {
		if f.Score >= SubjectMinScore {
			strong = append(strong, f)
		}
	}
	f, ok := shim.Largest(strong)
	if !ok {
		if len(ph.Faces) > 0 {
			return shim.Face{}, fmt.Errorf("%w scoring %v or more (best %.2f)", ErrNoFace, SubjectMinScore, ph.Faces[0].Score)
		}
		return shim.Face{}, ErrNoFace
	}
	return f, nil
}
