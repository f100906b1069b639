package prep

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// The test videos: 12 frames of 256×256 made with ffmpeg from the real photos (a face is
// about 90-110 px, above the detector's 80 px), each frame marked in its top-left 16×16
// corner with gray level 20·i so that frame numbers can be checked.
const (
	vidSize   = 256
	vidFrames = 12
	outSize   = 64
)

var (
	finderOnce sync.Once
	finder     *shim.FaceFinder
	finderErr  error
	baseMu     sync.Mutex
	baseDir    string
)

func testFinder(t *testing.T) *shim.FaceFinder {
	t.Helper()
	finderOnce.Do(func() { finder, finderErr = shim.NewFaceFinder("") })
	if finderErr != nil {
		t.Fatalf("face finder (dlib, libdlib-data; `make deps`): %v", finderErr)
	}
	return finder
}

func testFFmpeg(t *testing.T) *FFmpeg {
	t.Helper()
	f, err := FindFFmpeg()
	if err != nil {
		t.Fatalf("%v (`make deps` installs it)", err)
	}
	return f
}

func TestMain(m *testing.M) {
	code := m.Run()
	if baseDir != "" {
		os.RemoveAll(baseDir)
	}
	os.Exit(code)
}

// photoFrame is a vidSize² RGB frame from a test photo: the photo's region r scaled.
func photoFrame(t *testing.T, name string, r image.Rectangle) *imgproc.Image {
	t.Helper()
	var src imgproc.Image
	if err := imgproc.DecodeRGB(pyref.ReadPhoto(t, name), &src); err != nil {
		t.Fatal(err)
	}
	var crop, out imgproc.Image
	if err := imgproc.Crop(&src, r.Min.X, r.Min.Y, r.Max.X, r.Max.Y, &crop); err != nil {
		t.Fatal(err)
	}
	var rs imgproc.Resizer
	rs.Linear(&crop, vidSize, vidSize, &out)
	return &out
}

// encode writes frames (RGB, all of one size) as a video file (mpeg4, near-lossless) with
// extra ffmpeg output args; the frames go to ffmpeg raw through a pipe.
func encode(t *testing.T, frames []*imgproc.Image, out string, extra ...string) {
	t.Helper()
	var raw bytes.Buffer
	for _, m := range frames {
		raw.Write(m.Pix)
	}
	args := append([]string{"-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
		"-s", fmt.Sprintf("%dx%d", frames[0].W, frames[0].H), "-framerate", "10", "-i", "-",
		"-c:v", "mpeg4", "-q:v", "1", "-pix_fmt", "yuv420p"}, extra...)
	cmd := exec.Command("ffmpeg", append(args, out)...)
	cmd.Stdin = &raw
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
}

// marked returns vidFrames copies of m, frame i with its corner at gray 20·i.
func marked(m *imgproc.Image) []*imgproc.Image {
	out := make([]*imgproc.Image, vidFrames)
	for i := range out {
		c := &imgproc.Image{}
		c.CopyFrom(m)
		for y := range 16 {
			for x := range 16 * 3 {
				c.Pix[y*c.W*3+x] = uint8(20 * i)
			}
		}
		out[i] = c
	}
	return out
}

// baseVideos makes (once) the four kinds of test video in each container: a face (Grace
// Hopper), another face (the astronaut), no face (the ice block), and an unreadable file.
func baseVideos(t *testing.T) string {
	t.Helper()
	baseMu.Lock()
	defer baseMu.Unlock()
	if baseDir != "" {
		return baseDir
	}
	testFFmpeg(t)
	dir, err := os.MkdirTemp("", "prep-videos-")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]*imgproc.Image{
		"grace":     photoFrame(t, pyref.GraceHopper, image.Rect(0, 0, 512, 512)),
		"astronaut": photoFrame(t, pyref.Astronaut, image.Rect(100, 0, 356, 256)),
		"noface":    photoFrame(t, pyref.IceBlock, image.Rect(0, 0, 400, 400)),
	}
	for name, m := range kinds {
		for _, ext := range []string{".avi", ".mov", ".mp4"} {
			encode(t, marked(m), filepath.Join(dir, name+ext))
		}
	}
	for _, ext := range []string{".avi", ".mov", ".mp4"} {
		if err := os.WriteFile(filepath.Join(dir, "broken"+ext), bytes.Repeat([]byte("not a video "), 100), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	baseDir = dir
	return dir
}

// place copies base video kind (grace, astronaut, noface, broken) to root/rel.
func place(t *testing.T, root, rel, kind string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(baseVideos(t), kind+filepath.Ext(rel)))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, rel), b)
}

func write(t *testing.T, file string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// options are the test's Run options: tiny crops, 2 workers, every 4th training frame.
func options(t *testing.T, ds, src, out string) Options {
	t.Helper()
	fd := testFinder(t)
	return Options{
		Settings: Settings{
			Dataset: ds, Domain: ds, Src: src, Size: outSize, Margin: 2, Depth: "approx",
			Sampling: map[string]Sampling{Train: {Rule: "every", N: 4}, Val: DefaultTestSampling, Test: DefaultTestSampling},
			Finder:   shim.FaceBackend() + " " + fd.LandmarkModel(),
		},
		Out: out, Workers: 2, MapSize: 1 << 28, Finder: fd, FFmpeg: testFFmpeg(t), Log: zap.NewNop(),
	}
}
