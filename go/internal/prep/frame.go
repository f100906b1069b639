package prep

import (
	"bufio"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/face"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// readFaceLocations reads a Replay-Attack .face file: "frame x y width height" a line; a
// zero-sized box means no face in that frame (it is left out of the map).
func readFaceLocations(path string) (map[int]image.Rectangle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[int]image.Rectangle{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		var v [5]int
		ok := len(fs) == 5
		for i := 0; ok && i < 5; i++ {
			v[i], err = strconv.Atoi(fs[i])
			ok = err == nil && v[i] >= 0
		}
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q: want `frame x y width height` (whole numbers >= 0)", path, line, sc.Text())
		}
		if v[3] > 0 && v[4] > 0 {
			out[v[0]] = image.Rect(v[1], v[2], v[1]+v[3], v[2]+v[4])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// How a frame's face was found (recorded per frame).
const (
	ByDetector   = "detector"   // the finder's subject (largest face scoring >= face.SubjectMinScore)
	ByAnnotation = "annotation" // the finder's face best overlapping the data set's face box
	AnnotBox     = "annot_box"  // the data set's face box itself (the finder found nothing there)
)

// findFace finds the face of frame m: with an annotated box, the finder searches the box
// grown by half its size on each side and the found face overlapping the box most is taken
// (none: the box itself, cropped by its corners); without, the subject of the whole frame.
// ok is false when there is no face.
func findFace(fd *shim.FaceFinder, o shim.FindOptions, m *imgproc.Image, annot *image.Rectangle) (shim.Face, string, bool, error) {
	if annot == nil {
		faces, err := fd.FindWith(m, o)
		if err != nil {
			return shim.Face{}, "", false, err
		}
		f, err := (&face.Photo{Image: m, Faces: faces}).Subject()
		return f, ByDetector, err == nil, nil
	}
	a := *annot
	g := image.Rect(a.Min.X-a.Dx()/2, a.Min.Y-a.Dy()/2, a.Max.X+a.Dx()/2, a.Max.Y+a.Dy()/2).Intersect(image.Rect(0, 0, m.W, m.H))
	if g.Empty() {
		return shim.Face{}, "", false, nil
	}
	off := g.Min.Y*m.W*3 + g.Min.X*3
	faces, err := fd.FindRGB(m.Pix[off:], g.Dx(), g.Dy(), m.W*3, o)
	if err != nil {
		return shim.Face{}, "", false, err
	}
	best, bestIoU := shim.Face{}, 0.0
	for _, f := range faces {
		f = f.Shift(g.Min)
		if u := iou(f.Box, a); u > bestIoU && f.Score >= face.SubjectMinScore {
			best, bestIoU = f, u
		}
	}
	if bestIoU > 0 {
		return best, ByAnnotation, true, nil
	}
	return shim.Face{Box: a.Intersect(image.Rect(0, 0, m.W, m.H))}, AnnotBox, !a.Intersect(image.Rect(0, 0, m.W, m.H)).Empty(), nil
}

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	i := float64(in.Dx() * in.Dy())
	return i / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - i)
}

// cropFace crops face f of m with the training rule (face.Crop, margin) and resizes the crop
// to size×size (bilinear, cv2.INTER_LINEAR); it returns the crop box in m and, when the face
// has landmarks, the 5 landmarks and the 68 points in the resized crop's pixels.
func cropFace(rs *imgproc.Resizer, m *imgproc.Image, f shim.Face, margin float64, size int, tmp, dst *imgproc.Image) ([4]int, *[10]float64, *[2 * shim.FacePoints]float64, error) {
	b, err := face.Crop(m, f, margin, tmp)
	if err != nil {
		return b, nil, nil, err
	}
	rs.Linear(tmp, size, size, dst)
	if !f.HasLandmarks {
		return b, nil, nil, nil
	}
	lm, pts := f.Landmarks, f.Points
	face.ToCrop(lm[:], b, size)
	face.ToCrop(pts[:], b, size)
	return b, &lm, &pts, nil
}
