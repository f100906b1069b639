package face

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/shim"
)

var (
	finderOnce sync.Once
	finder     *shim.FaceFinder
	finderErr  error
)

// testFinder is a finder with the default landmark model; a shim without face detection
// fails the test (run `make deps`), or skips it after checking its refusal when FASGO_NO_FACE=1.
func testFinder(t *testing.T) *shim.FaceFinder {
	t.Helper()
	if shim.FaceBackend() == "" {
		_, err := shim.NewFaceFinder("")
		if !errors.Is(err, shim.ErrUnsupported) {
			t.Fatalf("a shim without face detection: %v, want ErrUnsupported", err)
		}
		if os.Getenv("FASGO_NO_FACE") == "1" {
			t.Skip("shim built without face detection (FASGO_NO_FACE=1); its refusal is checked")
		}
		t.Fatal("the shim was built without face detection: run `make deps` (libdlib-dev) and rebuild (make shim)")
	}
	finderOnce.Do(func() { finder, finderErr = shim.NewFaceFinder("") })
	if finderErr != nil {
		t.Fatal(finderErr)
	}
	if !finder.HasLandmarks() {
		t.Fatal("no landmark model: run `make deps` (libdlib-data)")
	}
	return finder
}

func iou(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	i := float64(in.Dx() * in.Dy())
	return i / (float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()) - i)
}

// withOrientation inserts an EXIF APP1 segment (little-endian TIFF) carrying orientation o
// right after the SOI marker of a JPEG.
func withOrientation(jpg []byte, o int) []byte {
	tiff := []byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	tiff[18] = byte(o)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1, byte((len(seg)+2)>>8), byte(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// stored is what a camera writes for displayed image d under EXIF orientation o: the pixels
// that orientation o turns into d. Display pixel (x, y) comes from stored pixel src(x, y)
// (the EXIF definitions; written out here independently of imgproc's implementation).
func stored(d *imgproc.Image, o int) *image.RGBA {
	W, H := d.W, d.H
	sw, sh := W, H
	if o >= 5 {
		sw, sh = H, W
	}
	src := func(x, y int) (int, int) {
		switch o {
		case 2:
			return W - 1 - x, y
		case 3:
			return W - 1 - x, H - 1 - y
		case 4:
			return x, H - 1 - y
		case 5:
			return y, x
		case 6: // rotate 90° clockwise to display
			return y, sh - 1 - x
		case 7:
			return sw - 1 - y, sh - 1 - x
		case 8: // rotate 90° counter-clockwise to display
			return sw - 1 - y, x
		}
		return x, y
	}
	s := image.NewRGBA(image.Rect(0, 0, sw, sh))
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			sx, sy := src(x, y)
			p, q := d.Pix[3*(y*W+x):], s.Pix[s.PixOffset(sx, sy):]
			q[0], q[1], q[2], q[3] = p[0], p[1], p[2], 255
		}
	}
	return s
}

// TestEXIFOrientation writes Grace Hopper's portrait as a phone would for every EXIF
// orientation (the stored pixels turned, the tag saying how to turn them back) and finds the
// face where it is in the upright photo; OpenCV (cv2.imread applies EXIF) agrees. The stored
// pixels alone, as Go's image/jpeg decodes them, show no upright face for the turned ones.
func TestEXIFOrientation(t *testing.T) {
	fd := testFinder(t)
	upright, err := imgproc.DecodeOriented(pyref.ReadPhoto(t, pyref.GraceHopper))
	if err != nil {
		t.Fatal(err)
	}
	want, err := fd.Find(upright)
	if err != nil || len(want) != 1 {
		t.Fatalf("upright: %v %v", want, err)
	}
	dir := t.TempDir()
	var files []string
	got := map[int]*Photo{}
	for o := 1; o <= 8; o++ {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, stored(upright.(*imgproc.Image), o), &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		b := withOrientation(buf.Bytes(), o)
		name := filepath.Join(dir, fmt.Sprintf("orientation%d.jpg", o))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
		ph, err := Find(fd, b, shim.FindOptions{})
		if err != nil {
			t.Fatalf("orientation %d: %v", o, err)
		}
		got[o] = ph
		if ph.Image.W != 512 || ph.Image.H != 512 {
			t.Errorf("orientation %d: decoded %dx%d", o, ph.Image.W, ph.Image.H)
		}
		if len(ph.Faces) != 1 {
			t.Errorf("orientation %d: %d faces %v, want the one of the upright photo %v", o, len(ph.Faces), ph.Faces, want[0])
			continue
		}
		f := ph.Faces[0]
		if v := iou(f.Box, want[0].Box); v < 0.8 {
			t.Errorf("orientation %d: box %v, upright %v (IoU %.2f)", o, f.Box, want[0].Box, v)
		}
		for k := 0; k < 5; k++ {
			if d := math.Hypot(f.Landmarks[2*k]-want[0].Landmarks[2*k], f.Landmarks[2*k+1]-want[0].Landmarks[2*k+1]); d > 6 {
				t.Errorf("orientation %d: landmark %d at %v, upright %v", o, k, f.Point(k), want[0].Point(k))
			}
		}
		// Ignoring the tag: a turned face (180°, 90°) is no upright face.
		if o == 3 || o >= 5 {
			raw, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			faces, err := fd.Find(raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, rf := range faces {
				if iou(rf.Box, want[0].Box) > 0.3 {
					t.Errorf("orientation %d without EXIF: a face at %v, where the upright one is (%v)", o, rf.Box, want[0].Box)
				}
			}
		}
	}
	// OpenCV reads the same files upright, with its face where ours is.
	var ref map[string]struct {
		Size  [2]int `json:"size"`
		Faces []struct {
			Box [4]int `json:"box"`
		} `json:"faces"`
	}
	if err := json.Unmarshal(pyref.Run(t, nil, "face_ref.py", files...), &ref); err != nil {
		t.Fatal(err)
	}
	for i, name := range files {
		o, r := i+1, ref[name]
		if len(r.Faces) != 1 || len(got[o].Faces) != 1 {
			t.Errorf("orientation %d: OpenCV finds %d faces, we %d", o, len(r.Faces), len(got[o].Faces))
			continue
		}
		b := r.Faces[0].Box
		if v := iou(got[o].Faces[0].Box, image.Rect(b[0], b[1], b[2], b[3])); v < 0.6 {
			t.Errorf("orientation %d: box %v, OpenCV %v (IoU %.2f)", o, got[o].Faces[0].Box, b, v)
		}
	}
}

// memStore is a dataset.Store over a map.
type memStore map[string][]byte

func (m memStore) View(key string, fn func(v []byte) error) error {
	v, ok := m[key]
	if !ok {
		return fmt.Errorf("%q: not found", key)
	}
	return fn(v)
}

// TestInputIsTheTrainingCrop: the model's input for a detected face is, to the bit, what
// the training pipeline makes of a list entry carrying the face's landmarks with
// crop_face_from_5points (dataset.Processor.Sample without augmentation).
func TestInputIsTheTrainingCrop(t *testing.T) {
	fd := testFinder(t)
	for _, name := range []string{pyref.GraceHopper, pyref.Astronaut} {
		b := pyref.ReadPhoto(t, name)
		ph, err := Find(fd, b, shim.FindOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := ph.Subject()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, margin := range []float64{0, 0.5, 2} {
			tr := dataset.DefaultTransform()
			tr.Size, tr.CropFace, tr.Margin = 64, true, margin
			p, err := dataset.NewProcessor(tr)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 6*64*64)
			box, err := Input(p, ph.Image, f, got)
			if err != nil {
				t.Fatal(err)
			}
			wantBox, _ := imgproc.FaceBox(f.Landmarks[:], margin, ph.Image.W, ph.Image.H)
			if box != wantBox {
				t.Errorf("%s margin %v: box %v, FaceBox %v", name, margin, box, wantBox)
			}
			lm := f.Landmarks
			e := &dataset.Entry{Path: name, Label: dataset.Attack, Landmarks: &lm}
			want := make([]float32, 6*64*64)
			if err := p.Sample(memStore{name: b}, e, dataset.Aug{}, want, nil); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s margin %v: input[%d] = %v, the training pipeline %v", name, margin, i, got[i], want[i])
				}
			}
		}
	}
}

func TestBoxRule(t *testing.T) {
	lm := [10]float64{10.7, 20.2, 30.9, 20, 20, 30, 12, 40.5, 28, 40}
	f := shim.Face{Box: image.Rect(5, 5, 45, 55), HasLandmarks: true, Landmarks: lm}
	// The landmarks' square: x 10..30, y 20..40 (truncated), side 20, margin 2 adds 20 a side.
	if b, err := Box(f, 2, 100, 100); err != nil || b != [4]int{0, 0, 50, 60} {
		t.Errorf("landmarks, margin 2: %v %v, want [0 0 50 60]", b, err)
	}
	if b, err := Box(f, 0.5, 100, 100); err != nil || b != [4]int{5, 15, 35, 45} {
		t.Errorf("landmarks, margin 0.5: %v %v, want [5 15 35 45]", b, err)
	}
	// Without landmarks the rule runs on the box corners: side 50, margin 0.5 adds 12.
	f.HasLandmarks = false
	if b, err := Box(f, 0.5, 60, 100); err != nil || b != [4]int{0, 0, 60, 67} {
		t.Errorf("box, margin 0.5: %v %v, want [0 0 60 67] (clipped to the 60x100 image)", b, err)
	}
	if _, err := Box(shim.Face{Box: image.Rect(200, 200, 240, 240)}, 0, 100, 100); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("a face outside the image: %v", err)
	}
	var dst imgproc.Image
	photo := &imgproc.Image{}
	photo.Reshape(60, 100, 3)
	for i := range photo.Pix {
		photo.Pix[i] = uint8(i)
	}
	b, err := Crop(photo, f, 0.5, &dst)
	if err != nil || dst.W != b[2]-b[0] || dst.H != b[3]-b[1] || dst.Pix[0] != photo.Pix[3*(b[1]*60+b[0])] {
		t.Errorf("crop %v: %dx%d %v", b, dst.W, dst.H, err)
	}
	if _, err := (&Photo{}).Subject(); !errors.Is(err, ErrNoFace) {
		t.Errorf("Subject of a photo without faces: %v", err)
	}
	// The largest face that scores enough: a weak, slightly larger detection is passed over.
	ph := &Photo{Faces: []shim.Face{
		{Box: image.Rect(0, 0, 50, 50), Score: 1.4},
		{Box: image.Rect(0, 0, 60, 60), Score: 0.05},
		{Box: image.Rect(0, 0, 55, 55), Score: 0.9},
		{Box: image.Rect(0, 0, 20, 20), Score: 2},
	}}
	if f, err := ph.Subject(); err != nil || f != ph.Faces[2] {
		t.Errorf("Subject = %v %v, want %v", f, err, ph.Faces[2])
	}
	ph.Faces = ph.Faces[1:2]
	if _, err := ph.Subject(); !errors.Is(err, ErrNoFace) || !strings.Contains(err.Error(), "0.05") {
		t.Errorf("Subject of a weak detection: %v", err)
	}
}

// TestToCrop: the crop box's corners go to the resized crop's corners, its centre to the
// centre, each axis scaled by its own factor.
func TestToCrop(t *testing.T) {
	xy := []float64{10, 20, 110, 70, 60, 45, 35, 57.5}
	ToCrop(xy, [4]int{10, 20, 110, 70}, 64)
	want := []float64{0, 0, 64, 64, 32, 32, 16, 48}
	for i := range xy {
		if math.Abs(xy[i]-want[i]) > 1e-12 {
			t.Errorf("coordinate %d: %v, want %v", i, xy[i], want[i])
		}
	}
}
