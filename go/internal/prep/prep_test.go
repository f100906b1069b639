package prep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

func TestSampling(t *testing.T) {
	cases := []struct {
		spec string
		n    int
		want []int
	}{
		{"ssdg:2", 100, []int{6, 56}}, // SSDG/FLIP: frame 6 and 6 + floor(N/2)
		{"ssdg:2", 101, []int{6, 56}},
		{"ssdg:2", 14, []int{6, 13}},
		{"ssdg:2", 12, []int{0, 6}}, // 12 mod 12, as SSDG's list index
		{"ssdg:2", 5, []int{1, 3}},  // 6 mod 5, 8 mod 5
		{"ssdg:2", 3, []int{0, 1}},  // 6 mod 3, 7 mod 3
		{"ssdg:1", 4, []int{2}},
		{"ssdg:3", 30, []int{6, 16, 26}},
		{"every:4", 12, []int{0, 4, 8}},
		{"all", 3, []int{0, 1, 2}},
	}
	for _, c := range cases {
		s, err := ParseSampling(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Frames(c.n); !reflect.DeepEqual(got, c.want) || s.String() != c.spec {
			t.Errorf("%s of %d frames = %v (%s), want %v", c.spec, c.n, got, s, c.want)
		}
	}
	for _, bad := range []string{"", "every", "every:0", "ssdg:x", "some:3"} {
		if _, err := ParseSampling(bad); err == nil {
			t.Errorf("ParseSampling(%q) accepted", bad)
		}
	}
}

// corner is the mean of frame m's 16×16 top-left marker (20·frame index).
func corner(m *imgproc.Image) float64 {
	s := 0.0
	for y := range 16 {
		for x := range 16 * 3 {
			s += float64(m.Pix[y*m.W*3+x])
		}
	}
	return s / (16 * 16 * 3)
}

// TestExtract: the sampled frames come back in order with the right numbers (their corner
// markers); a video whose pixels are stored turned, with rotation metadata, comes back upright
// (as the upright video, and its face is found where it is there).
func TestExtract(t *testing.T) {
	ff := testFFmpeg(t)
	dir := t.TempDir()
	up := marked(photoFrame(t, pyref.GraceHopper, image.Rect(0, 0, 512, 512)))
	encode(t, up, filepath.Join(dir, "up.mp4"))
	turned := make([]*imgproc.Image, len(up))
	for i, m := range up {
		turned[i] = rot90cw(m)
	}
	// Stored turned clockwise; the display matrix says to turn it back.
	encode(t, turned, filepath.Join(dir, "raw.mp4"))
	if b, err := execFF("-v", "error", "-y", "-i", filepath.Join(dir, "raw.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", filepath.Join(dir, "rot.mp4")); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, b)
	}
	n, err := ff.Frames(context.Background(), filepath.Join(dir, "up.mp4"))
	if err != nil || n != vidFrames {
		t.Fatalf("Frames = %d, %v; want %d", n, err, vidFrames)
	}
	idx := []int{0, 5, 11}
	got, err := ff.Extract(context.Background(), filepath.Join(dir, "up.mp4"), idx)
	if err != nil {
		t.Fatal(err)
	}
	for k, m := range got {
		if c := corner(m); math.Abs(c-float64(20*idx[k])) > 3 {
			t.Errorf("frame %d: corner %.1f, want %d", idx[k], c, 20*idx[k])
		}
	}
	rot, err := ff.Extract(context.Background(), filepath.Join(dir, "rot.mp4"), idx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ff.Extract(context.Background(), filepath.Join(dir, "raw.mp4"), idx[:1])
	if err != nil {
		t.Fatal(err)
	}
	if d := meanDiff(rot[1], got[1]); rot[1].W != vidSize || d > 3 {
		t.Errorf("rotated video: %dx%d, mean difference %.2f from the upright one; want upright", rot[1].W, rot[1].H, d)
	}
	if d := meanDiff(raw[0], got[0]); d < 20 {
		t.Errorf("the stored pixels differ by only %.2f from upright: the test video is not turned", d)
	}
	fd := testFinder(t)
	fu, _, ok1, err1 := findFace(fd, options(t, "oulu", "", "").Find, got[1], nil)
	fr, _, ok2, err2 := findFace(fd, options(t, "oulu", "", "").Find, rot[1], nil)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || iou(fu.Box, fr.Box) < 0.8 {
		t.Errorf("face upright %v %v (%v), rotated %v %v (%v)", ok1, fu.Box, err1, ok2, fr.Box, err2)
	}
	if _, err := ff.Extract(context.Background(), filepath.Join(dir, "up.mp4"), []int{3, 40}); err == nil ||
		!strings.Contains(err.Error(), "decoded 1 of the 2") {
		t.Errorf("a frame past the end: error %v", err)
	}
}

func rot90cw(m *imgproc.Image) *imgproc.Image {
	o := &imgproc.Image{}
	o.Reshape(m.H, m.W, 3)
	for y := range m.H {
		for x := range m.W {
			// (x, y) goes to (H-1-y, x)
			copy(o.Pix[(x*o.W+(m.H-1-y))*3:][:3], m.Pix[(y*m.W+x)*3:][:3])
		}
	}
	return o
}

func meanDiff(a, b *imgproc.Image) float64 {
	if a.W != b.W || a.H != b.H {
		return math.Inf(1)
	}
	s := 0.0
	for i := range a.Pix {
		s += math.Abs(float64(a.Pix[i]) - float64(b.Pix[i]))
	}
	return s / float64(len(a.Pix))
}

// want is what one video of a fake tree must become.
type want struct {
	split, attack string // attack "" = live
	frames        int    // stored frames (0: no face)
}

// checkOutputs reads the lists and the LMDB back: every listed key decodes to outSize²,
// labels and attack types are the protocol's, live frames have a depth map that is the
// approximate surface of their listed landmarks, and every video not failed is listed or in
// the no-face list.
func checkOutputs(t *testing.T, o Options, m *Manifest, videos map[string]want) {
	t.Helper()
	db, err := lmdb.Open(filepath.Join(o.Out, "data.lmdb"), lmdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	frames := map[string]int{}
	points := recordPoints(t, o)
	for _, l := range m.Lists {
		es, err := dataset.ReadList(filepath.Join(o.Out, l))
		if strings.HasSuffix(l, "_noface.txt") || strings.Contains(l, "_all_") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			id := strings.TrimPrefix(e.VideoID(), o.Domain+"/")
			w, ok := videos[id]
			frames[id]++
			if !ok || !strings.Contains(l, "_"+w.split+"_") || (e.Label == dataset.Live) != (w.attack == "") || e.Attack != w.attack {
				t.Errorf("%s: %s label %d attack %q; want %+v", l, e.Path, e.Label, e.Attack, w)
			}
			var img, dep imgproc.Image
			if err := db.View(e.Path, func(b []byte) error { return imgproc.DecodeRGB(b, &img) }); err != nil || img.W != outSize || img.H != outSize {
				t.Errorf("%s: %v, %dx%d", e.Path, err, img.W, img.H)
			}
			if e.Label != dataset.Live {
				continue
			}
			dk, _ := dataset.DepthRule{{From: o.Domain + "/", To: o.Domain + "_depth/"}}.DepthKey(e.Path)
			if err := db.View(dk, func(b []byte) error { return imgproc.DecodeGray(b, &dep) }); err != nil {
				t.Errorf("%s: depth %s: %v", e.Path, dk, err)
				continue
			}
			checkDepth(t, e, points[e.Path], &dep)
		}
	}
	for id, w := range videos {
		if frames[id] != w.frames {
			t.Errorf("video %s: %d listed frames, want %d", id, frames[id], w.frames)
		}
	}
}

// recordPoints reads the 68 points of every stored frame from the per-video records.
func recordPoints(t *testing.T, o Options) map[string]*[136]float64 {
	t.Helper()
	out := map[string]*[136]float64{}
	err := filepath.WalkDir(filepath.Join(o.Out, "prep", o.Domain, "videos"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		for _, f := range r.Frames {
			out[f.Key] = f.Points
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkDepth: the depth map read back from the LMDB is ApproxDepth of the frame's 68 points
// (in the record), whose eye means and nose tip are the list's landmarks; it is highest at
// the nose tip and 0 in the corners.
func checkDepth(t *testing.T, e dataset.Entry, pts *[136]float64, dep *imgproc.Image) {
	t.Helper()
	if e.Landmarks == nil || pts == nil {
		t.Errorf("%s: live frame without landmarks (%v) or 68 points (%v)", e.Path, e.Landmarks != nil, pts != nil)
		return
	}
	lm := *e.Landmarks
	eye := (pts[2*36] + pts[2*37] + pts[2*38] + pts[2*39] + pts[2*40] + pts[2*41]) / 6
	if math.Abs(eye-lm[0]) > 0.006 || math.Abs(pts[60]-lm[4]) > 0.006 || math.Abs(pts[61]-lm[5]) > 0.006 {
		t.Errorf("%s: listed landmarks %v do not follow from the record's points (left eye x %.3f, nose %.3f %.3f)", e.Path, lm, eye, pts[60], pts[61])
	}
	var ref imgproc.Image
	ApproxDepth(pts, outSize, &ref)
	diff, top := 0, 0
	for i := range ref.Pix {
		if ref.Pix[i] != dep.Pix[i] {
			diff++
		}
		top = max(top, int(dep.Pix[i]))
	}
	nose := dep.Pix[int(pts[61])*outSize+int(pts[60])]
	if diff > 0 || int(nose) < top-8 || top < 240 || dep.Pix[0] != 0 || dep.Pix[len(dep.Pix)-1] != 0 {
		t.Errorf("%s: depth differs from the points' surface in %d pixels; nose %d, highest %d, corners %d %d",
			e.Path, diff, nose, top, dep.Pix[0], dep.Pix[len(dep.Pix)-1])
	}
}

// checkCrops compares stored crops with an independent crop (OpenCV decode, the reference's
// get_face_box in Python, cv2.resize) of the same frames.
func checkCrops(t *testing.T, o Options, rec *Record) {
	t.Helper()
	type req struct {
		Video     string      `json:"video"`
		Index     int         `json:"index"`
		Landmarks [10]float64 `json:"landmarks"`
	}
	var frames []req
	for _, f := range rec.Frames {
		if f.InFrame == nil {
			t.Fatalf("%s: no landmarks (found by %s)", f.Key, f.By)
		}
		frames = append(frames, req{rec.Video.Src, f.Index, *f.InFrame})
	}
	in, _ := json.Marshal(map[string]any{"margin": o.Margin, "size": o.Size, "frames": frames})
	var ref []struct {
		Box    [4]int  `json:"box"`
		Pixels []uint8 `json:"pixels"`
	}
	if err := json.Unmarshal(pyref.Run(t, in, "prep_crop_ref.py"), &ref); err != nil {
		t.Fatal(err)
	}
	db, err := lmdb.Open(filepath.Join(o.Out, "data.lmdb"), lmdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, f := range rec.Frames {
		var img imgproc.Image
		if err := db.View(f.Key, func(b []byte) error { return imgproc.DecodeRGB(b, &img) }); err != nil {
			t.Fatal(err)
		}
		d := meanDiff(&img, &imgproc.Image{W: outSize, H: outSize, C: 3, Pix: ref[i].Pixels})
		if ref[i].Box != f.Box || d > 1.5 {
			t.Errorf("%s: box %v, OpenCV/reference rule %v; mean pixel difference %.2f", f.Key, f.Box, ref[i].Box, d)
		}
	}
}

func readRecord(t *testing.T, o Options, v Video) *Record {
	t.Helper()
	b, err := os.ReadFile(recordPath(filepath.Join(o.Out, "prep", o.Domain), v))
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// failures maps the failed videos' ids (unique across splits in these trees) to why.
func failures(t *testing.T, err error) map[string]string {
	t.Helper()
	var fe *FailedError
	if !errors.As(err, &fe) {
		t.Fatalf("Run: %v, want a FailedError", err)
	}
	out := map[string]string{}
	for _, f := range fe.Failures {
		out[f.Video.ID] = f.Why
	}
	return out
}

func protocolFile(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

// TestOULU: Protocol 1 on a fake OULU-NPU tree with a live, a print, a replay without a face,
// an unreadable and a missing video; then a resume and a rerun with other settings.
func TestOULU(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	place(t, src, "Train_files/1_1_01_1.avi", "grace")
	place(t, src, "Train_files/1_1_01_2.avi", "astronaut")
	place(t, src, "Train_files/1_1_01_4.avi", "noface")
	place(t, src, "Train_files/2_1_01_1.avi", "grace") // not in the protocol
	place(t, src, "Dev_files/1_1_21_1.avi", "grace")
	place(t, src, "Dev_files/1_1_21_5.avi", "broken")
	place(t, src, "Test_files/1_1_36_1.avi", "astronaut")
	place(t, src, "Test_files/1_1_36_3.avi", "grace")
	p := filepath.Join(src, "Protocols", "Protocol_1")
	write(t, filepath.Join(p, "Train.txt"), protocolFile("+1,1_1_01_1", "-1,1_1_01_2", "-1,1_1_01_4"))
	write(t, filepath.Join(p, "Dev.txt"), protocolFile("+1,1_1_21_1", "-1,1_1_21_5"))
	write(t, filepath.Join(p, "Test.txt"), protocolFile("+1,1_1_36_1", "-1,1_1_36_3", "-2,1_1_36_4"))
	o := options(t, "oulu", src, out)
	o.Protocol = "1"
	m, err := Run(context.Background(), o)
	fails := failures(t, err)
	if len(fails) != 2 || fails["1_1_21_5"] == "" || fails["1_1_21_5"] == "missing" || fails["1_1_36_4"] != "missing" {
		t.Errorf("failures %v, want 1_1_21_5 unreadable and 1_1_36_4 missing", fails)
	}
	// every:4 of 12 frames = 3 in training; ssdg:2 = frames 6 and 0 in val and test.
	checkOutputs(t, o, m, map[string]want{
		"train/1_1_01_1": {Train, "", 3}, "train/1_1_01_2": {Train, Print, 3}, "train/1_1_01_4": {Train, Replay, 0},
		"val/1_1_21_1": {Val, "", 2}, "test/1_1_36_1": {Test, "", 2}, "test/1_1_36_3": {Test, Print, 2},
	})
	tr := m.Splits[Train]
	if *tr != (SplitSummary{Videos: 3, Done: 3, Frames: 6, NoFaceFrames: 3, NoFaceVideos: 1}) {
		t.Errorf("train summary %+v", *tr)
	}
	if v, te := m.Splits[Val], m.Splits[Test]; v.Unreadable != 1 || v.Frames != 2 || te.Missing != 1 || te.Frames != 4 {
		t.Errorf("val %+v test %+v", *v, *te)
	}
	if len(m.NoFace) != 1 || !strings.HasSuffix(m.NoFace[0], "1_1_01_4.avi") {
		t.Errorf("videos without a face: %v", m.NoFace)
	}
	nf, _ := os.ReadFile(filepath.Join(out, "lists", "oulu_train_noface.txt"))
	if strings.Count(string(nf), "1_1_01_4.avi") != 3 {
		t.Errorf("no-face list:\n%s", nf)
	}
	rec := readRecord(t, o, Video{Split: Train, ID: "1_1_01_1"})
	if !reflect.DeepEqual(rec.Sampled, []int{0, 4, 8}) || rec.N != vidFrames {
		t.Errorf("record %+v", rec)
	}
	checkCrops(t, o, rec)

	// Resume: the done videos are not read again (their sources may even be gone).
	os.Remove(filepath.Join(src, "Train_files", "1_1_01_1.avi"))
	place(t, src, "Test_files/1_1_36_4.avi", "grace")
	m2, err := Run(context.Background(), o)
	if fails := failures(t, err); len(fails) != 1 {
		t.Errorf("rerun failures %v, want only the unreadable one", fails)
	}
	if m2.Splits[Train].Frames != 6 || m2.Splits[Test].Frames != 6 || m2.Splits[Test].Missing != 0 {
		t.Errorf("rerun: train %+v test %+v", *m2.Splits[Train], *m2.Splits[Test])
	}
	// A database removed under the records is refilled from the sources still there.
	if err := os.RemoveAll(filepath.Join(out, "data.lmdb")); err != nil {
		t.Fatal(err)
	}
	m3, err := Run(context.Background(), o)
	if fails := failures(t, err); len(fails) != 2 || fails["1_1_01_1"] != "missing" || m3.Splits[Train].Frames != 3 {
		t.Errorf("after removing the LMDB: failures %v, train %+v; want the removed source missing", fails, *m3.Splits[Train])
	}
	o.Margin = 1
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Errorf("rerun with another margin: %v", err)
	}
}

// TestCASIA: a subject with a live, a print, a cut and a replay video, the other eight of
// its twelve missing, and a broken one in the test release.
func TestCASIA(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	place(t, src, "train_release/1/HR_1.avi", "grace")
	place(t, src, "train_release/1/3.avi", "astronaut")
	place(t, src, "train_release/1/HR_3.avi", "grace")
	place(t, src, "train_release/1/7.avi", "noface")
	place(t, src, "test_release/2/1.avi", "astronaut")
	place(t, src, "test_release/2/8.avi", "broken")
	o := options(t, "casia", src, out)
	m, err := Run(context.Background(), o)
	fails := failures(t, err)
	if len(fails) != 19 || fails["2/8"] == "missing" || fails["1/2"] != "missing" {
		t.Errorf("%d failures (want 8 + 10 missing, 1 unreadable): %v", len(fails), fails)
	}
	checkOutputs(t, o, m, map[string]want{
		"train/1/HR_1": {Train, "", 3}, "train/1/3": {Train, Print, 3}, "train/1/HR_3": {Train, Cut, 3},
		"train/1/7": {Train, Replay, 0}, "test/2/1": {Test, "", 2},
	})
	if _, err := WalkCASIA(t.TempDir(), WalkOptions{}); err == nil || !strings.Contains(err.Error(), "train_release") {
		t.Errorf("an empty tree: %v", err)
	}
}

// TestReplay: real and attack/{fixed,hand} videos with face-locations files (the crop
// follows the annotated face; a frame annotated empty falls back to the detector), a
// face-locations file whose video is missing, and a broken video.
func TestReplay(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	real := "real/client001_session01_webcam_authenticate_adverse_1"
	place(t, src, "train/"+real+".mov", "grace")
	place(t, src, "train/attack/fixed/attack_highdef_client001_session01_highdef_photo_adverse.mov", "astronaut")
	place(t, src, "train/attack/hand/attack_print_client001_session01_highdef_photo_controlled.mov", "grace")
	place(t, src, "devel/real/client003_session01_webcam_authenticate_controlled_1.mov", "grace")
	place(t, src, "devel/attack/fixed/attack_mobile_client003_session01_mobile_video_adverse.mov", "broken")
	place(t, src, "devel/attack/hand/attack_print_client003_session01_highdef_photo_adverse.mov", "noface")
	place(t, src, "test/real/client009_session01_webcam_authenticate_adverse_1.mov", "astronaut")
	if err := os.MkdirAll(filepath.Join(src, "test", "attack", "fixed"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(src, "test", "attack", "hand"), 0o755)
	// Grace Hopper's face: dlib's box (161,113)-(377,329) in the 512 px photo, here halved.
	var lines []string
	for i := range vidFrames {
		if i == 4 {
			lines = append(lines, "4 0 0 0 0")
			continue
		}
		lines = append(lines, fmt.Sprintf("%d 80 56 108 108", i))
	}
	write(t, filepath.Join(src, "face-locations", "train", real+".face"), protocolFile(lines...))
	write(t, filepath.Join(src, "face-locations", "test", "attack/hand/attack_mobile_client009_session01_mobile_photo_adverse.face"), protocolFile("0 1 1 1 1"))
	// The face-less video annotated with a box in frame 6 only: that frame is the box itself.
	write(t, filepath.Join(src, "face-locations", "devel", "attack/hand/attack_print_client003_session01_highdef_photo_adverse.face"), protocolFile("6 50 50 100 100"))
	o := options(t, "replay", src, out)
	m, err := Run(context.Background(), o)
	fails := failures(t, err)
	if len(fails) != 2 || fails["attack/fixed/attack_mobile_client003_session01_mobile_video_adverse"] == "missing" ||
		fails["attack/hand/attack_mobile_client009_session01_mobile_photo_adverse"] != "missing" {
		t.Errorf("failures %v", fails)
	}
	checkOutputs(t, o, m, map[string]want{
		"train/" + real: {Train, "", 3},
		"train/attack/fixed/attack_highdef_client001_session01_highdef_photo_adverse": {Train, Replay, 3},
		"train/attack/hand/attack_print_client001_session01_highdef_photo_controlled": {Train, Print, 3},
		"val/real/client003_session01_webcam_authenticate_controlled_1":               {Val, "", 2},
		"val/attack/hand/attack_print_client003_session01_highdef_photo_adverse":      {Val, Print, 1},
		"test/real/client009_session01_webcam_authenticate_adverse_1":                 {Test, "", 2},
	})
	rec := readRecord(t, o, Video{Split: Train, ID: real})
	by := map[int]string{}
	for _, f := range rec.Frames {
		by[f.Index] = f.By
	}
	if by[0] != ByAnnotation || by[4] != ByDetector || by[8] != ByAnnotation {
		t.Errorf("how the faces were found: %v; want annotation except frame 4 (annotated empty)", by)
	}
	checkCrops(t, o, rec)
	// The annotated box (50,50)-(150,150) by the training rule: side 100, margin 2 adds 100
	// per side, clipped to the 256 px frame.
	box := readRecord(t, o, Video{Split: Val, ID: "attack/hand/attack_print_client003_session01_highdef_photo_adverse"})
	if len(box.Frames) != 1 || box.Frames[0].By != AnnotBox || box.Frames[0].Box != [4]int{0, 0, 250, 250} || m.Splits[Val].AnnotBox != 1 {
		t.Errorf("annotation-box frames %+v, summary %+v", box.Frames, *m.Splits[Val])
	}
}

// TestMSU: the client lists decide the split; --val-subjects holds the highest training
// client out; a listed client without videos is missing.
func TestMSU(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "train_sub_list.txt"), protocolFile("002", "003"))
	write(t, filepath.Join(src, "test_sub_list.txt"), protocolFile("001", "055"))
	place(t, src, "scene01/real/real_client002_android_SD_scene01.mp4", "grace")
	place(t, src, "scene01/attack/attack_client002_android_SD_printed_photo_scene01.mp4", "astronaut")
	place(t, src, "scene01/real/real_client003_laptop_SD_scene01.mov", "astronaut")
	place(t, src, "scene01/attack/attack_client003_laptop_SD_ipad_video_scene01.mov", "noface")
	place(t, src, "scene01/real/real_client001_android_SD_scene01.mp4", "grace")
	place(t, src, "scene01/attack/attack_client001_android_SD_iphone_video_scene01.mp4", "broken")
	o := options(t, "msu", src, out)
	o.ValSubj = 1
	m, err := Run(context.Background(), o)
	fails := failures(t, err)
	if len(fails) != 2 || fails["real/client055"] != "missing" || fails["attack/attack_client001_android_SD_iphone_video_scene01"] == "" {
		t.Errorf("failures %v", fails)
	}
	checkOutputs(t, o, m, map[string]want{
		"train/real/real_client002_android_SD_scene01":                   {Train, "", 3},
		"train/attack/attack_client002_android_SD_printed_photo_scene01": {Train, Print, 3},
		"val/real/real_client003_laptop_SD_scene01":                      {Val, "", 2},
		"val/attack/attack_client003_laptop_SD_ipad_video_scene01":       {Val, Replay, 0},
		"test/real/real_client001_android_SD_scene01":                    {Test, "", 2},
	})
	checkManifestKeys(t, filepath.Join(out, "prep", "msu", "manifest.json"))
	write(t, filepath.Join(src, "scene01/real/real_client077_android_SD_scene01.mp4"), []byte("x"))
	if _, err := WalkMSU(src, WalkOptions{}); err == nil || !strings.Contains(err.Error(), "client 77 is in neither") {
		t.Errorf("a client in no list: %v", err)
	}
}

func TestWalkErrors(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "Train_files", "1_1_01_9.avi"), []byte("x"))
	if _, err := WalkOULU(src, WalkOptions{}); err == nil || !strings.Contains(err.Error(), "Phone_Session_User_Access") {
		t.Errorf("a bad OULU name: %v", err)
	}
	write(t, filepath.Join(src, "Protocols", "Protocol_2", "Train.txt"), protocolFile("+1,1_1_01_2"))
	if _, err := WalkOULU(src, WalkOptions{Protocol: "2"}); err == nil || !strings.Contains(err.Error(), "disagrees") {
		t.Errorf("a protocol label against the access type: %v", err)
	}
	if _, err := WalkOULU(src, WalkOptions{Protocol: "3-7"}); err == nil || !strings.Contains(err.Error(), "3-K") {
		t.Errorf("a bad protocol: %v", err)
	}
}

func execFF(args ...string) ([]byte, error) { return exec.Command("ffmpeg", args...).CombinedOutput() }

// TestDepthDir: precomputed maps (twice the frame's resolution, a horizontal ramp) are
// cropped with the image's box and resized: the stored map is the ramp over the box's
// columns (within 2 levels). A live video without its maps fails, named.
func TestDepthDir(t *testing.T) {
	src, out, maps := t.TempDir(), t.TempDir(), t.TempDir()
	place(t, src, "train_release/1/HR_1.avi", "grace")
	place(t, src, "train_release/1/1.avi", "grace")
	place(t, src, "test_release/2/HR_4.avi", "astronaut")
	ramp := image.NewGray(image.Rect(0, 0, 2*vidSize, 2*vidSize))
	for y := range 2 * vidSize {
		for x := range 2 * vidSize {
			ramp.Pix[y*ramp.Stride+x] = uint8(x / 2)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, ramp); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 4, 8} {
		write(t, filepath.Join(maps, "train", "1", "HR_1", fmt.Sprintf("%04d.png", i)), b.Bytes())
	}
	o := options(t, "casia", src, out)
	o.DepthDir, o.Depth = maps, "dir:"+maps
	_, err := Run(context.Background(), o)
	if f := failures(t, err); !strings.Contains(f["1/1"], "depth map") || f["1/HR_1"] != "" || f["2/HR_4"] != "" {
		t.Errorf("failures %v; want 1/1 without depth maps", f)
	}
	rec := readRecord(t, o, Video{Split: Train, ID: "1/HR_1"})
	db, err := lmdb.Open(filepath.Join(out, "data.lmdb"), lmdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if len(rec.Frames) != 3 {
		t.Fatalf("%d frames stored, want 3", len(rec.Frames))
	}
	for _, f := range rec.Frames {
		var dep imgproc.Image
		if err := db.View(DepthKey("casia", f.Key), func(b []byte) error { return imgproc.DecodeGray(b, &dep) }); err != nil {
			t.Fatal(err)
		}
		w := float64(f.Box[2] - f.Box[0])
		for y := 0; y < outSize; y += 9 {
			for x := range outSize {
				want := math.Floor(float64(f.Box[0]) + (float64(x)+0.5)*w/outSize) // the ramp is the frame's column
				if got := float64(dep.Pix[y*outSize+x]); math.Abs(got-want) > 2 {
					t.Fatalf("%s: depth (%d,%d) = %v, want the ramp %v (box %v)", f.Key, x, y, got, want, f.Box)
				}
			}
		}
	}
}

// TestMapFull: a database too small for the crops stops the run with lmdb.ErrMapFull (the
// command then advises a larger --map-size).
func TestMapFull(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	place(t, src, "train_release/1/HR_1.avi", "grace")
	place(t, src, "test_release/2/1.avi", "grace")
	o := options(t, "casia", src, out)
	o.MapSize = 32 << 10
	if _, err := Run(context.Background(), o); !errors.Is(err, lmdb.ErrMapFull) {
		t.Errorf("Run into a 32 KiB map: %v, want lmdb.ErrMapFull", err)
	}
}

// TestBadInputs: a malformed face-locations file and a truncated frame are named errors.
func TestBadInputs(t *testing.T) {
	f := filepath.Join(t.TempDir(), "v.face")
	write(t, f, protocolFile("0 1 2 3 4", "1 1 2 x 4"))
	if _, err := readFaceLocations(f); err == nil || !strings.Contains(err.Error(), "v.face:2") {
		t.Errorf("a bad face-locations line: %v", err)
	}
	write(t, f, protocolFile("0 1 2 3 4", "1 0 0 0 0"))
	if locs, err := readFaceLocations(f); err != nil || len(locs) != 1 || locs[0] != image.Rect(1, 2, 4, 6) {
		t.Errorf("face locations %v, %v; want frame 0 only, (1,2)-(4,6)", locs, err)
	}
	var m imgproc.Image
	for _, b := range []string{"P6\n2 2\n255\n123", "P5\n1 1\n255\nx", "P6 1 1 65535 abcdef", "P6\n1"} {
		if err := readPPM(bufio.NewReader(strings.NewReader(b)), &m); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("readPPM(%q): %v", b, err)
		}
	}
	r := bufio.NewReader(strings.NewReader("P6\n2 1\n255\nabcdefP6 1 1 255\nxyz"))
	if err := readPPM(r, &m); err != nil || m.W != 2 || m.H != 1 || string(m.Pix) != "abcdef" {
		t.Errorf("readPPM: %+v, %v", m, err)
	}
	if err := readPPM(r, &m); err != nil || m.W != 1 || string(m.Pix) != "xyz" {
		t.Errorf("second PPM: %+v, %v", m, err)
	}
	if err := readPPM(r, &m); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
}

// TestAllList: --all-list writes <domain>_all_* with the train and test videos (not val)
// under the test sampling; the training list keeps the training sampling.
func TestAllList(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	place(t, src, "train_release/1/HR_1.avi", "grace")
	place(t, src, "train_release/2/3.avi", "astronaut")
	place(t, src, "test_release/3/HR_4.avi", "grace")
	o := options(t, "casia", src, out)
	o.AllList, o.ValSubj = true, 1
	m, err := Run(context.Background(), o)
	failures(t, err) // the other videos of each subject are missing
	read := func(name string) []string {
		es, err := dataset.ReadList(filepath.Join(out, "lists", name))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, e := range es {
			keys = append(keys, e.Path)
		}
		return keys
	}
	// 12 frames: training every:4 = 0, 4, 8; test ssdg:2 = 6 and 12 mod 12 = 0.
	if got, want := read("casia_train_live.txt"), []string{"casia/train/1/HR_1/0000.png", "casia/train/1/HR_1/0004.png", "casia/train/1/HR_1/0008.png"}; !reflect.DeepEqual(got, want) {
		t.Errorf("train live %v, want %v", got, want)
	}
	if got, want := read("casia_all_live.txt"), []string{"casia/train/1/HR_1/0000.png", "casia/train/1/HR_1/0006.png"}; !reflect.DeepEqual(got, want) {
		t.Errorf("all live %v, want %v", got, want)
	}
	if got, want := read("casia_all_attack.txt"), []string{"casia/test/3/HR_4/0000.png", "casia/test/3/HR_4/0006.png"}; !reflect.DeepEqual(got, want) {
		t.Errorf("all attack %v, want %v (the val subject 2 is not in it)", got, want)
	}
	if m.Splits[Train].Frames != 3 || m.Splits[Val].Frames != 2 {
		t.Errorf("summaries train %+v val %+v", *m.Splits[Train], *m.Splits[Val])
	}
}

// checkManifestKeys: every key of the manifest is lower-case snake case (as "val_subjects"),
// the face-search options ("find") included.
func checkManifestKeys(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !snake.MatchString(k) {
					t.Errorf("%s: key %s%s is not lower-case snake case", path, at, k)
				}
				walk(at+k+".", e)
			}
		case []any:
			for _, e := range x {
				walk(at, e)
			}
		}
	}
	walk("", v)
	if find, _ := v.(map[string]any)["settings"].(map[string]any)["find"].(map[string]any); find["upsample"] == nil || find["max_side"] == nil {
		t.Errorf("%s: settings.find = %v, want upsample, max_side, min_score", path, find)
	}
}
