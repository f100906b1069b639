package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func needFaces(t *testing.T) {
	t.Helper()
	if shim.FaceBackend() == "" {
		if os.Getenv("FASGO_NO_FACE") == "1" {
			out, err := modelRun(t, "face", "find", "--image", pyref.Photo(t, pyref.GraceHopper))
			if err == nil || !strings.Contains(err.Error(), "make deps") {
				t.Fatalf("fas face find without face detection: %q %v, want an error saying make deps", out, err)
			}
			t.Skip("shim built without face detection (FASGO_NO_FACE=1); its refusal is checked")
		}
		t.Fatal("the shim was built without face detection: run `make deps` (libdlib-dev) and rebuild")
	}
}

func TestFaceFindJSON(t *testing.T) {
	needFaces(t)
	crop := filepath.Join(t.TempDir(), "crop.png")
	out, err := modelRun(t, "face", "find", "--image", pyref.Photo(t, pyref.GraceHopper), "--json", "--crop", crop, "--margin", "0.5")
	if err != nil {
		t.Fatal(err)
	}
	var got faceFindJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Width != 512 || got.Height != 512 || got.Orientation != 1 || len(got.Faces) != 1 || got.Margin != 0.5 ||
		!strings.HasPrefix(got.Detector, "dlib") || !strings.HasSuffix(got.LandmarkModel, "shape_predictor_68_face_landmarks.dat") {
		t.Fatalf("%+v", got)
	}
	f := got.Faces[0]
	// Around (269, 221), 216 px (go/internal/shim's tests compare it with OpenCV).
	if cx, cy, side := (f.Box[0]+f.Box[2])/2, (f.Box[1]+f.Box[3])/2, f.Box[2]-f.Box[0]; cx < 250 || cx > 290 || cy < 200 || cy > 240 || side < 170 || side > 260 {
		t.Errorf("box %v", f.Box)
	}
	if f.Landmarks == nil || f.Score < 1 {
		t.Fatalf("face %+v", f)
	}
	wantCrop, err := imgproc.FaceBox(f.Landmarks[:], 0.5, 512, 512)
	if err != nil || f.Crop != wantCrop {
		t.Errorf("crop %v, FaceBox %v %v", f.Crop, wantCrop, err)
	}
	b, err := os.ReadFile(crop)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != f.Crop[2]-f.Crop[0] || img.Bounds().Dy() != f.Crop[3]-f.Crop[1] {
		t.Errorf("crop file: %v %v, want the %v crop", img.Bounds(), err, f.Crop)
	}

	out, err = modelRun(t, "face", "find", "--image", pyref.Photo(t, pyref.IceBlock), "--json", "--landmarks", "none")
	if err != nil {
		t.Fatal(err)
	}
	got = faceFindJSON{}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Faces) != 0 || got.LandmarkModel != "" || !strings.Contains(out, `"faces": []`) {
		t.Errorf("no face: %v\n%s", err, out)
	}
}

func TestFaceFindText(t *testing.T) {
	needFaces(t)
	// A phone photo: stored turned 90° counter-clockwise, EXIF orientation 6 says turn it back.
	up, err := imgproc.DecodeOriented(pyref.ReadPhoto(t, pyref.Astronaut))
	if err != nil {
		t.Fatal(err)
	}
	u := up.(*imgproc.Image)
	st := image.NewRGBA(image.Rect(0, 0, u.H, u.W))
	for y := 0; y < u.H; y++ {
		for x := 0; x < u.W; x++ { // displayed (x, y) is stored (y, H-1-x)
			p, q := u.Pix[3*(y*u.W+x):], st.Pix[st.PixOffset(y, u.W-1-x):]
			q[0], q[1], q[2], q[3] = p[0], p[1], p[2], 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, st, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	tiff := []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00")
	seg := append([]byte("Exif\x00\x00"), tiff...)
	jpg := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
	jpg = append(jpg, buf.Bytes()[2:]...)
	file := filepath.Join(t.TempDir(), "phone.jpg")
	if err := os.WriteFile(file, jpg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := modelRun(t, "face", "find", "--image", file)
	if err != nil {
		t.Fatal(err)
	}
	// The re-encoded photo also gives a weak detection (score ~0.05) on the mission patch:
	// the first face, the best, is the astronaut's.
	for _, want := range []string{"(512x512, EXIF orientation 6 applied)", "face 0 ", "left eye (", "right mouth ("} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The astronaut's face is at (179,83)-(267,171) upright.
	m := regexp.MustCompile(`box \((\d+),(\d+)\)-\((\d+),(\d+)\)`).FindStringSubmatch(out)
	if m == nil || m[1][0] != '1' || m[2][0] != '8' {
		t.Errorf("box %v, want about (179,83)-(267,171):\n%s", m, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", file, "--upsample", "3"}, "--upsample 3"},
		{[]string{"--image", file, "--margin", "-1"}, "--margin -1"},
		{[]string{"--image", filepath.Join(t.TempDir(), "none.jpg")}, "none.jpg"},
		{[]string{"--image", file, "--landmarks", "/nonexistent.dat"}, "--landmarks /nonexistent.dat"},
		{[]string{"--image", pyref.Photo(t, pyref.Coffee), "--crop", filepath.Join(t.TempDir(), "c.png")}, "no face found"},
	} {
		if _, err := modelRun(t, append([]string{"face", "find"}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %q", c.args, err, c.want)
		}
	}
}
