package shim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

// requireFace fails the test when the shim was built without face detection (install
// libdlib-dev: make deps), after checking that such a shim says so. With FASGO_NO_FACE=1 (a
// deliberate -DFAS_FACE=OFF build) the test ends there, skipped.
func requireFace(t *testing.T) {
	t.Helper()
	if FaceBackend() != "" {
		return
	}
	_, err := NewFaceFinder("")
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "install libdlib-dev") {
		t.Fatalf("a shim without face detection: NewFaceFinder = %v, want ErrUnsupported naming libdlib-dev", err)
	}
	if os.Getenv("FASGO_NO_FACE") == "1" {
		t.Skip("shim built without face detection (FASGO_NO_FACE=1); its refusal is checked")
	}
	t.Fatal("the shim was built without face detection: run `make deps` (libdlib-dev) and rebuild (make shim)")
}

var (
	finderOnce   sync.Once
	sharedFinder *FaceFinder
	finderErr    error
)

// testFinder is one finder with the default landmark model for the tests of this package
// (loading the 100 MB model takes about a second).
func testFinder(t *testing.T) *FaceFinder {
	t.Helper()
	requireFace(t)
	finderOnce.Do(func() { sharedFinder, finderErr = NewFaceFinder("") })
	if finderErr != nil {
		t.Fatal(finderErr)
	}
	if !sharedFinder.HasLandmarks() {
		t.Fatal("no landmark model at /usr/share/dlib/shape_predictor_68_face_landmarks.dat: run `make deps` (libdlib-data)")
	}
	return sharedFinder
}

func decodePhoto(t *testing.T, name string) *imgproc.Image {
	t.Helper()
	img, err := imgproc.DecodeOriented(pyref.ReadPhoto(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img.(*imgproc.Image)
}

// The reference: OpenCV's Haar cascades through tests/python/face_ref.py.
type refFace struct {
	Box  [4]float64   `json:"box"`
	Eyes [][2]float64 `json:"eyes"`
}

type refPhoto struct {
	Size  [2]int    `json:"size"`
	Faces []refFace `json:"faces"`
}

func opencvFaces(t *testing.T, paths ...string) map[string]refPhoto {
	t.Helper()
	var ref map[string]refPhoto
	if err := json.Unmarshal(pyref.Run(t, nil, "face_ref.py", paths...), &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

func iou(a, b [4]float64) float64 {
	ix := math.Max(0, math.Min(a[2], b[2])-math.Max(a[0], b[0]))
	iy := math.Max(0, math.Min(a[3], b[3])-math.Max(a[1], b[1]))
	inter := ix * iy
	union := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	return inter / union
}

func boxF(r image.Rectangle) [4]float64 {
	return [4]float64{float64(r.Min.X), float64(r.Min.Y), float64(r.Max.X), float64(r.Max.Y)}
}

// handPoints are the 5 landmarks placed by hand on 3x and 6x zooms of the photos (left eye
// pupil, right eye pupil, nose tip, mouth corners).
var handPoints = map[string][10]float64{
	pyref.GraceHopper: {222, 174, 306, 170, 266, 221, 233, 263, 303, 259},
	pyref.Astronaut:   {203, 101, 247, 104, 225, 127, 201, 140, 245, 141},
}

// Tolerances, as fractions of the side of the detector's box (216 px for Grace Hopper, 88 px
// for the astronaut): the box overlaps OpenCV's Haar box with IoU >= 0.6 (measured 0.78 and
// 0.73: Haar boxes sit higher, taking in the forehead); every landmark lies within 5% of a
// hand-placed point (measured <= 1.8%), every Haar eye centre within 6% of an eye landmark
// (measured 2% and 1.5%).
const (
	minIoU   = 0.6
	handTol  = 0.05
	eyeTol   = 0.06
	minScore = 1.0 // both portraits are clear frontal faces: dlib scores them 1.53 and 1.58
)

func TestFaceFinderOnPhotos(t *testing.T) {
	fd := testFinder(t)
	names := []string{pyref.GraceHopper, pyref.Astronaut, pyref.IceBlock, pyref.Coffee}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = pyref.Photo(t, n)
	}
	ref := opencvFaces(t, paths...)
	for i, name := range names {
		r := ref[paths[i]]
		img := decodePhoto(t, name)
		if img.W != r.Size[0] || img.H != r.Size[1] {
			t.Fatalf("%s: decoded %dx%d, OpenCV %v", name, img.W, img.H, r.Size)
		}
		faces, err := fd.Find(img)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(faces) != len(r.Faces) {
			t.Errorf("%s: %d faces %v, OpenCV finds %d %v", name, len(faces), faces, len(r.Faces), r.Faces)
			continue
		}
		if len(faces) == 0 {
			continue
		}
		if len(faces) != 1 {
			t.Fatalf("%s: the test expects one face, OpenCV finds %d", name, len(faces))
		}
		f, rf := faces[0], r.Faces[0]
		side := float64(f.Box.Dx())
		t.Logf("%s: box %v score %.3f landmarks %.1f; OpenCV box %v eyes %v (IoU %.3f)",
			name, f.Box, f.Score, f.Landmarks, rf.Box, rf.Eyes, iou(boxF(f.Box), rf.Box))
		if v := iou(boxF(f.Box), rf.Box); v < minIoU {
			t.Errorf("%s: box %v vs OpenCV %v: IoU %.3f < %.2f", name, f.Box, rf.Box, v, minIoU)
		}
		if f.Score < minScore {
			t.Errorf("%s: score %.3f < %.1f for a frontal portrait", name, f.Score, minScore)
		}
		if !f.HasLandmarks {
			t.Fatalf("%s: no landmarks from a finder with the landmark model", name)
		}
		lm, hand := f.Landmarks, handPoints[name]
		for k := 0; k < 5; k++ {
			if d := math.Hypot(lm[2*k]-hand[2*k], lm[2*k+1]-hand[2*k+1]); d > handTol*side {
				t.Errorf("%s: landmark %d at (%.1f, %.1f), placed by hand at (%v, %v): %.1f px > %.1f",
					name, k, lm[2*k], lm[2*k+1], hand[2*k], hand[2*k+1], d, handTol*side)
			}
			if !f.Point(k).In(f.Box) {
				t.Errorf("%s: landmark %d %v outside the box %v", name, k, f.Point(k), f.Box)
			}
		}
		if len(rf.Eyes) == 0 {
			t.Fatalf("%s: OpenCV found no eye to compare with", name)
		}
		for _, e := range rf.Eyes {
			d := math.Min(math.Hypot(e[0]-lm[0], e[1]-lm[1]), math.Hypot(e[0]-lm[2], e[1]-lm[3]))
			if d > eyeTol*side {
				t.Errorf("%s: OpenCV eye %v is %.1f px from both eye landmarks (> %.1f)", name, e, d, eyeTol*side)
			}
		}
		// The 68 points: the 5 landmarks are the eyes' means (36-41, 42-47), the nose tip 30
		// and the mouth corners 48, 54; the jaw spans the box.
		pt := f.Points
		mean := func(from, c int) float64 {
			m := 0.0
			for i := from; i < from+6; i++ {
				m += pt[2*i+c]
			}
			return m / 6
		}
		five := []float64{mean(36, 0), mean(36, 1), mean(42, 0), mean(42, 1), pt[60], pt[61], pt[96], pt[97], pt[108], pt[109]}
		for k, v := range five {
			if math.Abs(v-lm[k]) > 1e-3 {
				t.Errorf("%s: landmark coordinate %d %.3f, from the 68 points %.3f", name, k, lm[k], v)
			}
		}
		if jaw := pt[32] - pt[0]; jaw < 0.6*side || jaw > 1.3*side || pt[17] < lm[5] {
			t.Errorf("%s: jaw from x %.1f to %.1f, chin y %.1f, in a box %v", name, pt[0], pt[32], pt[17], f.Box)
		}
		// The list-file order: eyes left then right, above the nose, above the mouth corners.
		if !(lm[0] < lm[2] && lm[6] < lm[8] && math.Max(lm[1], lm[3]) < lm[5] && lm[5] < math.Min(lm[7], lm[9])) {
			t.Errorf("%s: landmarks %v are not left eye, right eye, nose, left and right mouth corner", name, lm)
		}
	}
}

func toRGBA(m *imgproc.Image) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	draw.Draw(out, out.Rect, m, image.Point{}, draw.Src)
	return out
}

func TestFaceFinderImageKinds(t *testing.T) {
	fd := testFinder(t)
	b := pyref.ReadPhoto(t, pyref.GraceHopper)
	base := decodePhoto(t, pyref.GraceHopper)
	want, err := fd.Find(base)
	if err != nil || len(want) != 1 {
		t.Fatalf("grace hopper: %v %v", want, err)
	}
	ycc, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ycc.(*image.YCbCr); !ok {
		t.Fatalf("jpeg.Decode gave %T", ycc)
	}
	rgba := toRGBA(base)
	nrgba := image.NewNRGBA(rgba.Rect)
	draw.Draw(nrgba, nrgba.Rect, base, image.Point{}, draw.Src)
	// Go's decoder has another inverse DCT than libjpeg (imgproc's decoder), so its YCbCr
	// image holds other pixels: it must find what its own pixels as RGB give.
	var yccRGB imgproc.Image
	imgproc.FromImage(ycc, &yccRGB)
	wantYCC, err := fd.Find(&yccRGB)
	if err != nil || len(wantYCC) != 1 {
		t.Fatalf("grace hopper via image/jpeg: %v %v", wantYCC, err)
	}
	// The same pixels in every kind of image: the same faces, exactly.
	for _, c := range []struct {
		name string
		img  image.Image
		want []Face
	}{{"YCbCr", ycc, wantYCC}, {"RGBA", rgba, want}, {"NRGBA", nrgba, want}} {
		got, err := fd.Find(c.img)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, the same pixels as *imgproc.Image give %v", c.name, got, c.want)
		}
	}
	// Sub-images: the faces are those of the same pixels copied to an image of their own,
	// moved to the sub-image's coordinates.
	r := image.Rect(37, 21, 490, 501)
	var crop imgproc.Image
	if err := imgproc.Crop(base, r.Min.X, r.Min.Y, r.Max.X, r.Max.Y, &crop); err != nil {
		t.Fatal(err)
	}
	alone, err := fd.Find(&crop)
	if err != nil || len(alone) != 1 {
		t.Fatalf("the crop alone: %v %v", alone, err)
	}
	moved := alone[0]
	moved.Box = moved.Box.Add(r.Min)
	for k := 0; k < 5; k++ {
		moved.Landmarks[2*k] += float64(r.Min.X)
		moved.Landmarks[2*k+1] += float64(r.Min.Y)
	}
	for k := 0; k < FacePoints; k++ {
		moved.Points[2*k] += float64(r.Min.X)
		moved.Points[2*k+1] += float64(r.Min.Y)
	}
	if moved != alone[0].Shift(r.Min) {
		t.Errorf("Face.Shift: %v, want %v", alone[0].Shift(r.Min), moved)
	}
	for _, c := range []struct {
		name string
		img  image.Image
	}{
		{"RGBA sub-image", rgba.SubImage(r)},
		{"YCbCr sub-image", ycc.(*image.YCbCr).SubImage(r)},
	} {
		got, err := fd.Find(c.img)
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v %v", c.name, got, err)
		}
		if c.name == "RGBA sub-image" && got[0] != moved {
			t.Errorf("%s: %v, the crop alone gives %v moved by %v", c.name, got[0], alone[0], r.Min)
		}
		// The YCbCr sub-image converts with Go's colour arithmetic, a level or so off libjpeg's.
		if v := iou(boxF(got[0].Box), boxF(moved.Box)); v < 0.95 || !got[0].Box.In(r) {
			t.Errorf("%s: box %v, the crop alone %v moved (IoU %.3f)", c.name, got[0].Box, moved.Box, v)
		}
		for k := 0; k < 10; k++ {
			if d := math.Abs(got[0].Landmarks[k] - moved.Landmarks[k]); d > 3 {
				t.Errorf("%s: landmark coordinate %d %.1f, the crop alone %.1f", c.name, k, got[0].Landmarks[k], moved.Landmarks[k])
			}
		}
	}
}

func TestFaceFinderWithoutLandmarks(t *testing.T) {
	fd := testFinder(t)
	bare, err := NewFaceFinder(NoLandmarks)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	if bare.HasLandmarks() || bare.LandmarkModel() != "" {
		t.Errorf("NoLandmarks finder: has landmarks %v, model %q", bare.HasLandmarks(), bare.LandmarkModel())
	}
	if fd.LandmarkModel() != "/usr/share/dlib/shape_predictor_68_face_landmarks.dat" {
		t.Errorf("default landmark model %q", fd.LandmarkModel())
	}
	img := decodePhoto(t, pyref.Astronaut)
	with, err1 := fd.Find(img)
	without, err2 := bare.Find(img)
	if err1 != nil || err2 != nil || len(with) != 1 || len(without) != 1 {
		t.Fatalf("%v %v / %v %v", with, err1, without, err2)
	}
	if without[0].HasLandmarks || without[0].Landmarks != [10]float64{} {
		t.Errorf("landmarks from a finder without a model: %v", without[0])
	}
	if without[0].Box != with[0].Box || without[0].Score != with[0].Score {
		t.Errorf("box %v score %v without landmarks, %v %v with", without[0].Box, without[0].Score, with[0].Box, with[0].Score)
	}
}

// scaled is m resized by factor f (bilinear).
func scaled(m *imgproc.Image, f float64) *imgproc.Image {
	var rs imgproc.Resizer
	out := &imgproc.Image{}
	rs.Linear(m, int(float64(m.W)*f), int(float64(m.H)*f), out)
	return out
}

func scaleBox(r image.Rectangle, f float64) [4]float64 {
	b := boxF(r)
	for i := range b {
		b[i] *= f
	}
	return b
}

func TestFaceFinderOptions(t *testing.T) {
	fd := testFinder(t)
	img := decodePhoto(t, pyref.GraceHopper)
	want, err := fd.Find(img)
	if err != nil || len(want) != 1 {
		t.Fatalf("%v %v", want, err)
	}
	// A 50 px face is below the detector's 80 px window: found only when upsampled.
	const f = 120.0 / 512
	small := scaled(img, f)
	if got, err := fd.Find(small); err != nil || len(got) != 0 {
		t.Errorf("a 50 px face without upsampling: %v %v, want none (the detector's window is 80 px)", got, err)
	}
	got, err := fd.FindWith(small, FindOptions{Upsample: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("a 50 px face upsampled once: %v %v", got, err)
	}
	if v := iou(boxF(got[0].Box), scaleBox(want[0].Box, f)); v < 0.7 {
		t.Errorf("upsampled: box %v vs %v scaled (IoU %.2f)", got[0].Box, want[0].Box, v)
	}
	// A large photo is searched at DefaultMaxSide (or MaxSide, or unscaled); the box and the
	// landmarks (taken from the full image) come back in its pixels. The detector's pyramid
	// steps by 5/6, so box sides at different scales differ by up to 20%: IoU >= minIoU.
	big := scaled(img, 5)
	for _, o := range []FindOptions{{}, {MaxSide: 700}, {MaxSide: -1}} {
		got, err := fd.FindWith(big, o)
		if err != nil || len(got) != 1 {
			t.Fatalf("%+v: a 2560 px photo: %v %v", o, got, err)
		}
		if v := iou(boxF(got[0].Box), scaleBox(want[0].Box, 5)); v < minIoU {
			t.Errorf("%+v: box %v vs %v x5 (IoU %.2f)", o, got[0].Box, want[0].Box, v)
		}
		for k := 0; k < 10; k++ {
			if d := math.Abs(got[0].Landmarks[k] - 5*want[0].Landmarks[k]); d > 0.04*float64(got[0].Box.Dx()) {
				t.Errorf("%+v: landmark coordinate %d %.1f, 5x the 512 px one %.1f", o, k, got[0].Landmarks[k], 5*want[0].Landmarks[k])
			}
		}
	}
	if got, err := fd.FindWith(img, FindOptions{MinScore: 3}); err != nil || len(got) != 0 {
		t.Errorf("min score 3: %v %v, want nothing (the face scores %.2f)", got, err, want[0].Score)
	}
	if got, err := fd.FindWith(img, FindOptions{MinScore: -0.5}); err != nil || len(got) < 1 {
		t.Errorf("min score -0.5: %v %v, want at least the face", got, err)
	}
}

func TestFaceFinderBadInput(t *testing.T) {
	fd := testFinder(t)
	invalid := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", what, err)
		}
	}
	_, err := fd.Find(nil)
	invalid("nil image", err)
	_, err = fd.Find(image.NewRGBA(image.Rect(0, 0, 0, 0)))
	invalid("0x0 image", err)
	_, err = fd.Find(image.NewRGBA(image.Rect(0, 0, 640, 0)))
	invalid("640x0 image", err)
	_, err = fd.Find(&imgproc.Image{C: 3})
	invalid("empty imgproc.Image", err)
	_, err = fd.FindRGB(nil, 0, 0, 0, FindOptions{})
	invalid("FindRGB of nothing", err)
	_, err = fd.FindRGB(make([]byte, 30), 10, 1, 29, FindOptions{})
	invalid("stride < 3 x width", err)
	_, err = fd.FindRGB(make([]byte, 3*10*10-1), 10, 10, 30, FindOptions{})
	invalid("pixels shorter than the image", err)
	for _, o := range []FindOptions{{Upsample: -1}, {Upsample: 3}, {MinScore: math.NaN()}, {MinScore: math.Inf(1)}} {
		_, err = fd.FindWith(image.NewRGBA(image.Rect(0, 0, 8, 8)), o)
		invalid(fmt.Sprintf("options %+v", o), err)
	}
	// Huge sizes are refused before anything is allocated: an image.Uniform has bounds of
	// 2e9 x 2e9 pixels, and FindRGB's sizes alone exceed MaxFacePixels.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = fd.Find(image.NewUniform(color.White))
	invalid("image.Uniform (2e9 x 2e9)", err)
	_, err = fd.FindRGB(make([]byte, 3), 1<<20, 1<<20, 3<<20, FindOptions{})
	invalid("1M x 1M pixels", err)
	_, err = fd.FindRGB(make([]byte, 3), MaxFacePixels/4+1, 4, 3*(MaxFacePixels/4+1), FindOptions{})
	invalid("just over MaxFacePixels", err)
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("refusing huge images allocated %d bytes", d)
	}
	// Upsampling that would exceed the bound is refused by the shim.
	_, err = fd.FindRGB(make([]byte, 3*4096*4096), 4096, 4096, 3*4096, FindOptions{Upsample: 2, MaxSide: -1})
	invalid("upsample 2 of a 16 MP image", err)

	// Landmark models: missing, not a model.
	_, err = NewFaceFinder(filepath.Join(t.TempDir(), "nope.dat"))
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nope.dat") {
		t.Errorf("missing landmark model: %v, want ErrNotFound naming the file", err)
	}
	_, err = NewFaceFinder(pyref.Photo(t, pyref.GraceHopper))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "not a dlib shape predictor") {
		t.Errorf("a JPEG as landmark model: %v, want ErrInvalidArgument", err)
	}
	// A closed finder.
	bare, err := NewFaceFinder(NoLandmarks)
	if err != nil {
		t.Fatal(err)
	}
	bare.Close()
	bare.Close()
	if _, err := bare.Find(image.NewRGBA(image.Rect(0, 0, 8, 8))); !errors.Is(err, ErrClosed) {
		t.Errorf("closed finder: %v, want ErrClosed", err)
	}
	var nilFinder *FaceFinder
	if _, err := nilFinder.Find(image.NewRGBA(image.Rect(0, 0, 8, 8))); !errors.Is(err, ErrClosed) {
		t.Errorf("nil finder: %v, want ErrClosed", err)
	}
	// Degenerate but valid shapes: a 1 px strip scaled down 80 times, a pixel upsampled.
	for _, c := range []struct {
		w, h int
		o    FindOptions
	}{{100000, 1, FindOptions{}}, {1, 100000, FindOptions{}}, {1, 1, FindOptions{Upsample: 2}}, {3, 2, FindOptions{MaxSide: 1}}} {
		if got, err := fd.FindRGB(make([]byte, 3*c.w*c.h), c.w, c.h, 3*c.w, c.o); err != nil || len(got) != 0 {
			t.Errorf("%dx%d %+v: %v %v, want no face and no error", c.w, c.h, c.o, got, err)
		}
	}
	// A blank image has no face, and is no error.
	if got, err := fd.Find(image.NewRGBA(image.Rect(0, 0, 200, 100))); err != nil || len(got) != 0 {
		t.Errorf("a blank image: %v %v", got, err)
	}
}

func TestFaceFinderConcurrent(t *testing.T) {
	fd := testFinder(t)
	imgs := []*imgproc.Image{decodePhoto(t, pyref.GraceHopper), decodePhoto(t, pyref.Astronaut), decodePhoto(t, pyref.IceBlock)}
	want := make([][]Face, len(imgs))
	for i, m := range imgs {
		var err error
		if want[i], err = fd.Find(m); err != nil {
			t.Fatal(err)
		}
	}
	// Several goroutines on one finder, and on one image each of them reads (RGBA: each
	// call converts into its own buffer).
	rgba := toRGBA(imgs[0])
	const workers, rounds = 6, 2
	var wg sync.WaitGroup
	errs := make(chan string, workers*rounds*4)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				for i := range imgs {
					var img image.Image = imgs[(i+w)%len(imgs)]
					k := (i + w) % len(imgs)
					if (w+r)%2 == 1 && k == 0 {
						img = rgba
					}
					got, err := fd.Find(img)
					if err != nil || !reflect.DeepEqual(got, want[k]) {
						errs <- fmt.Sprintf("worker %d, image %d: %v %v, serially %v", w, k, got, err, want[k])
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLargestFace(t *testing.T) {
	if _, ok := Largest(nil); ok {
		t.Error("Largest of no faces says ok")
	}
	faces := []Face{
		{Box: image.Rect(0, 0, 10, 10), Score: 2},
		{Box: image.Rect(5, 5, 40, 30), Score: 0.1},
		{Box: image.Rect(0, 0, 35, 25), Score: 1},
	}
	if f, ok := Largest(faces); !ok || f != faces[1] {
		t.Errorf("Largest = %v %v, want %v", f, ok, faces[1])
	}
}
