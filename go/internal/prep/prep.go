package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Settings are everything that decides what prep writes for a data set; they are recorded
// in the manifest, and a rerun with other settings into the same output is refused.
type Settings struct {
	Dataset  string              `json:"dataset"`
	Domain   string              `json:"domain"`
	Src      string              `json:"src"`
	Protocol string              `json:"protocol,omitempty"`
	Sampling map[string]Sampling `json:"sampling"` // per split
	Size     int                 `json:"size"`
	Margin   float64             `json:"margin"`
	Depth    string              `json:"depth"` // "approx" or "dir:DIR"
	ValSubj  int                 `json:"val_subjects,omitempty"`
	AllList  bool                `json:"all_list,omitempty"` // also <domain>_all_*.txt (see AllFrames)
	Find     shim.FindOptions    `json:"find"`
	Finder   string              `json:"finder"` // detector and landmark model
}

// Options are Run's inputs.
type Options struct {
	Settings
	Out      string           // output directory: data.lmdb, lists/, prep/<domain>/
	DepthDir string           // precomputed depth maps ("" = ApproxDepth)
	Workers  int              // videos in parallel (>= 1)
	MapSize  int64            // LMDB map size in bytes (0 = lmdb's default)
	Finder   *shim.FaceFinder // shared by the workers (safe for concurrent use)
	FFmpeg   *FFmpeg
	Log      *zap.Logger
	Progress func(done, total int) // after each video, if set
}

// MarshalJSON writes a Sampling as its text.
func (s Sampling) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a Sampling's text.
func (s *Sampling) UnmarshalJSON(b []byte) error {
	var t string
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	v, err := ParseSampling(t)
	*s = v
	return err
}

// Frame is one stored frame of a video.
type Frame struct {
	Index     int          `json:"index"` // 0-based frame number in the video
	Key       string       `json:"key"`
	Box       [4]int       `json:"box"`                       // crop in the frame, [x0, y0, x1, y1)
	By        string       `json:"by"`                        // ByDetector, ByAnnotation or AnnotBox
	Landmarks *[10]float64 `json:"landmarks,omitempty"`       // in the stored crop's pixels (as in the list)
	InFrame   *[10]float64 `json:"frame_landmarks,omitempty"` // in the frame's pixels
	Score     float64      `json:"score"`                     // the detector's (0 for AnnotBox)
}

// Record is what prep stored for one video; its file marks the video done.
type Record struct {
	Video   Video   `json:"video"`
	N       int     `json:"n_frames"` // decoded frames
	Sampled []int   `json:"sampled"`
	Frames  []Frame `json:"frames"`  // those with a face
	NoFace  []int   `json:"no_face"` // sampled frames without one
}

// Failure is a video prep could not read; it is retried by the next run.
type Failure struct {
	Video Video  `json:"video"`
	Why   string `json:"why"` // "missing" or the reason it cannot be read
}

// SplitSummary counts one split.
type SplitSummary struct {
	Videos       int `json:"videos"`         // listed by the protocol
	Done         int `json:"done"`           // read (with or without faces)
	Frames       int `json:"frames"`         // in the split's lists
	NoFaceFrames int `json:"no_face_frames"` // sampled frames without a face (listed in *_noface.txt)
	NoFaceVideos int `json:"no_face_videos"` // videos without a face in any sampled frame
	AnnotBox     int `json:"annotation_box_frames,omitempty"`
	Missing      int `json:"missing"`
	Unreadable   int `json:"unreadable"`
}

// Manifest is prep/<domain>/manifest.json.
type Manifest struct {
	Settings Settings                 `json:"settings"`
	DepthKey string                   `json:"depth_rule"` // "<domain>/=<domain>_depth/"
	Splits   map[string]*SplitSummary `json:"splits"`
	Lists    []string                 `json:"lists"`
	NoFace   []string                 `json:"no_face_videos,omitempty"` // videos without a face in any sampled frame
	Failures []Failure                `json:"failures,omitempty"`
}

// FailedError reports videos that are missing or unreadable; everything else was written.
type FailedError struct{ Failures []Failure }

func (e *FailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d videos could not be read (the rest is written; a rerun retries them):", len(e.Failures))
	for i, f := range e.Failures {
		if i == 20 {
			fmt.Fprintf(&b, "\n  and %d more", len(e.Failures)-20)
			break
		}
		fmt.Fprintf(&b, "\n  %s: %s", f.Video.Src, f.Why)
	}
	return b.String()
}

// listFrames are the frames of an n-frame video of split that go to the split's lists.
func (s Settings) listFrames(split string, n int) []int { return s.Sampling[split].Frames(n) }

// allFrames are the frames that go to the all list (with AllList): the train and test
// videos, not val, with the test sampling, as SSDG's all_label.json evaluates a target domain.
func (s Settings) allFrames(split string, n int) []int {
	if !s.AllList || split == Val {
		return nil
	}
	return s.Sampling[Test].Frames(n)
}

// union merges sorted distinct index lists.
func union(a, b []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, i := range append(append([]int(nil), a...), b...) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out
}

// Key is the LMDB key of frame i of video v: <domain>/<split>/<video id>/<i:04d>.png.
func Key(domain string, v Video, i int) string {
	return path.Join(domain, v.Split, v.ID, fmt.Sprintf("%04d.png", i))
}

// DepthKey is the depth map's key of an image key of domain (the rule <domain>/ → <domain>_depth/).
func DepthKey(domain, key string) string {
	return domain + "_depth/" + strings.TrimPrefix(key, domain+"/")
}

// Run prepares one data set: walks it, processes every video not done yet (in parallel),
// then writes the lists, the no-face lists and the manifest. Missing or unreadable videos
// do not stop it; they are reported as a *FailedError after everything else is written.
func Run(ctx context.Context, o Options) (*Manifest, error) {
	walk, ok := Walkers[o.Dataset]
	if !ok {
		return nil, fmt.Errorf("prep: unknown data set %q (known: %s)", o.Dataset, strings.Join(Names(), ", "))
	}
	videos, err := walk(o.Src, WalkOptions{Protocol: o.Protocol})
	if err != nil {
		return nil, fmt.Errorf("prep: %w", err)
	}
	if videos, err = holdOut(videos, o.ValSubj); err != nil {
		return nil, fmt.Errorf("prep: %w", err)
	}
	dir := filepath.Join(o.Out, "prep", o.Domain)
	known, err := checkSettings(dir, o.Settings)
	if err != nil {
		return nil, err
	}
	// The settings go down before any video, so that an interrupted run's records are never
	// taken up by a run with other settings.
	if !known {
		if err := writeJSON(filepath.Join(dir, "manifest.json"), &Manifest{Settings: o.Settings}); err != nil {
			return nil, err
		}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	db, err := lmdb.Open(filepath.Join(o.Out, "data.lmdb"), lmdb.Options{MapSize: o.MapSize})
	if err != nil {
		return nil, fmt.Errorf("prep: %w", err)
	}
	defer db.Close()
	recs, fails, err := process(ctx, o, db, dir, videos)
	if err != nil {
		return nil, err
	}
	m, err := writeOutputs(o, dir, videos, recs, fails)
	if err != nil {
		return nil, err
	}
	if len(fails) > 0 {
		return m, &FailedError{Failures: fails}
	}
	return m, nil
}

// holdOut moves the training videos of the k highest-numbered subjects to Val (for data sets
// without an official development set).
func holdOut(vs []Video, k int) ([]Video, error) {
	if k == 0 {
		return vs, nil
	}
	subj := map[int]bool{}
	for _, v := range vs {
		if v.Split == Val {
			return nil, errors.New("--val-subjects: this data set has an official development split (val)")
		}
		if v.Split == Train {
			subj[v.Subject] = true
		}
	}
	var ids []int
	for s := range subj {
		ids = append(ids, s)
	}
	sort.Ints(ids)
	if k >= len(ids) {
		return nil, fmt.Errorf("--val-subjects %d: the training split has only %d subjects", k, len(ids))
	}
	val := map[int]bool{}
	for _, s := range ids[len(ids)-k:] {
		val[s] = true
	}
	out := append([]Video(nil), vs...)
	for i := range out {
		if out[i].Split == Train && val[out[i].Subject] {
			out[i].Split = Val
		}
	}
	return out, nil
}

// checkSettings compares s with the settings of an earlier run in dir; known is false when
// there was none.
func checkSettings(dir string, s Settings) (known bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("prep: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return false, fmt.Errorf("prep: %s: %w", filepath.Join(dir, "manifest.json"), err)
	}
	old, _ := json.Marshal(m.Settings)
	now, _ := json.Marshal(s)
	if string(old) != string(now) {
		return true, fmt.Errorf("prep: %s was prepared with other settings:\n  before: %s\n  now:    %s\n"+
			"use another --out (or --domain), or remove %s to start over", dir, old, now, dir)
	}
	return true, nil
}

func recordPath(dir string, v Video) string {
	return filepath.Join(dir, "videos", v.Split, filepath.FromSlash(v.ID)+".json")
}

// process runs the worker pool over the videos; records come back in the videos' order.
func process(ctx context.Context, o Options, db *lmdb.Env, dir string, videos []Video) ([]*Record, []Failure, error) {
	recs := make([]*Record, len(videos))
	failed := make([]string, len(videos))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	done := 0
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < max(1, o.Workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{o: o, db: db, dir: dir}
			for i := range jobs {
				r, why, err := wk.video(ctx, videos[i])
				if why != "" {
					o.Log.Warn("prep: video not read", zap.String("video", videos[i].Src), zap.String("why", why))
				}
				mu.Lock()
				recs[i], failed[i] = r, why
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				done++
				if o.Progress != nil {
					o.Progress(done, len(videos))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range videos {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var fails []Failure
	for i, why := range failed {
		if why != "" {
			fails = append(fails, Failure{Video: videos[i], Why: why})
		}
	}
	return recs, fails, nil
}

// worker holds one goroutine's scratch.
type worker struct {
	o                      Options
	db                     *lmdb.Env
	dir                    string
	rs                     imgproc.Resizer
	tmp, crop, dep, depSrc imgproc.Image
}

// video processes one video, or loads its record when it is done. why is non-empty for a
// missing or unreadable video; err is for failures that stop the run (output, context).
func (w *worker) video(ctx context.Context, v Video) (*Record, string, error) {
	rp := recordPath(w.dir, v)
	if b, err := os.ReadFile(rp); err == nil {
		var r Record
		if err := json.Unmarshal(b, &r); err == nil && r.Video == v && w.stored(&r) {
			return &r, "", nil
		}
	}
	if _, err := os.Stat(v.Src); err != nil {
		return nil, "missing", nil
	}
	scratch, err := os.MkdirTemp(filepath.Join(w.o.Out, "prep"), ".work-")
	if err != nil {
		if err = os.MkdirAll(filepath.Join(w.o.Out, "prep"), 0o755); err == nil {
			scratch, err = os.MkdirTemp(filepath.Join(w.o.Out, "prep"), ".work-")
		}
		if err != nil {
			return nil, "", fmt.Errorf("prep: %w", err)
		}
	}
	defer os.RemoveAll(scratch)
	r, why, err := w.frames(ctx, v, scratch)
	if err != nil || why != "" {
		return nil, why, err
	}
	if err := writeJSON(rp, r); err != nil {
		return nil, "", err
	}
	return r, "", nil
}

// stored reports whether the LMDB holds every record of r (a replaced database is refilled).
func (w *worker) stored(r *Record) bool {
	for _, f := range r.Frames {
		keys := []string{f.Key}
		if r.Video.Live {
			keys = append(keys, DepthKey(w.o.Domain, f.Key))
		}
		for _, k := range keys {
			if ok, err := w.db.Has(k); err != nil || !ok {
				return false
			}
		}
	}
	return true
}

// frames decodes the sampled frames of v, crops the faces and packs them into the LMDB.
func (w *worker) frames(ctx context.Context, v Video, scratch string) (*Record, string, error) {
	n, err := w.o.FFmpeg.Frames(ctx, v.Src)
	if err != nil {
		return nil, "cannot be read: " + err.Error(), ctx.Err()
	}
	var annot map[int]image.Rectangle
	if v.Faces != "" {
		if annot, err = readFaceLocations(v.Faces); err != nil {
			return nil, "face locations: " + err.Error(), nil
		}
	}
	r := &Record{Video: v, N: n, Sampled: union(w.o.listFrames(v.Split, n), w.o.allFrames(v.Split, n))}
	var items []dataset.PackItem
	var fatal error // stops the run
	var why string  // fails the video
	errStop := errors.New("stop")
	err = w.o.FFmpeg.Each(ctx, v.Src, r.Sampled, func(k int, m *imgproc.Image) error {
		idx := r.Sampled[k]
		var a *image.Rectangle
		if b, ok := annot[idx]; ok {
			a = &b
		}
		f, by, ok, err := findFace(w.o.Finder, w.o.Find, m, a)
		if err != nil {
			fatal = fmt.Errorf("prep: %s frame %d: %w", v.Src, idx, err)
			return errStop
		}
		if !ok {
			r.NoFace = append(r.NoFace, idx)
			return nil
		}
		fr, its, y, err := w.store(v, idx, m, f, by, scratch)
		if err != nil || y != "" {
			fatal, why = err, y
			return errStop
		}
		r.Frames, items = append(r.Frames, fr), append(items, its...)
		return nil
	})
	switch {
	case fatal != nil || why != "":
		return nil, why, fatal
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case err != nil:
		return nil, "cannot be read: " + err.Error(), nil
	}
	if len(items) > 0 {
		if _, err := dataset.Pack(ctx, w.db, items, dataset.PackOptions{}); err != nil {
			return nil, "", fmt.Errorf("prep: %s: %w", v.Src, err)
		}
	}
	return r, "", nil
}

// store writes frame idx's crop (and a live frame's depth map) as PNG files for Pack.
func (w *worker) store(v Video, idx int, m *imgproc.Image, f shim.Face, by, scratch string) (Frame, []dataset.PackItem, string, error) {
	key := Key(w.o.Domain, v, idx)
	box, lm, err := cropFace(&w.rs, m, f, w.o.Margin, w.o.Size, &w.tmp, &w.crop)
	if err != nil {
		return Frame{}, nil, "", fmt.Errorf("prep: %s frame %d: %w", v.Src, idx, err)
	}
	fr := Frame{Index: idx, Key: key, Box: box, By: by, Landmarks: lm, Score: f.Score}
	if f.HasLandmarks {
		l := f.Landmarks
		fr.InFrame = &l
	}
	file := filepath.Join(scratch, fmt.Sprintf("%06d.png", idx))
	if err := writePNG(file, &w.crop); err != nil {
		return fr, nil, "", err
	}
	items := []dataset.PackItem{{Key: key, File: file, Where: v.Src}}
	if !v.Live {
		return fr, items, "", nil
	}
	why, err := w.depth(v, idx, m, box, lm)
	if err != nil || why != "" {
		return fr, nil, why, err
	}
	dfile := filepath.Join(scratch, fmt.Sprintf("%06d_depth.png", idx))
	if err := writePNG(dfile, &w.dep); err != nil {
		return fr, nil, "", err
	}
	return fr, append(items, dataset.PackItem{Key: DepthKey(w.o.Domain, key), File: dfile, Where: v.Src + " (depth)", Gray: true}), "", nil
}

// depth fills w.dep: the precomputed map of the frame cropped like the image, or ApproxDepth.
func (w *worker) depth(v Video, idx int, m *imgproc.Image, box [4]int, lm *[10]float64) (string, error) {
	s := w.o.Size
	if w.o.DepthDir == "" {
		if lm == nil {
			return "", fmt.Errorf("prep: %s frame %d: the approximate depth map needs landmarks (a landmark model)", v.Src, idx)
		}
		ApproxDepth(*lm, s, &w.dep)
		return "", nil
	}
	base := filepath.Join(w.o.DepthDir, v.Split, filepath.FromSlash(v.ID), fmt.Sprintf("%04d", idx))
	var b []byte
	var err error
	for _, ext := range []string{".png", ".jpg"} {
		if b, err = os.ReadFile(base + ext); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Sprintf("depth map %s.png (or .jpg) of frame %d is missing", base, idx), nil
	}
	if err := imgproc.DecodeGray(b, &w.depSrc); err != nil {
		return fmt.Sprintf("depth map %s of frame %d: %v", base, idx, err), nil
	}
	sx, sy := float64(w.depSrc.W)/float64(m.W), float64(w.depSrc.H)/float64(m.H)
	x0, y0 := int(float64(box[0])*sx), int(float64(box[1])*sy)
	x1, y1 := max(x0+1, int(float64(box[2])*sx)), max(y0+1, int(float64(box[3])*sy))
	if err := imgproc.Crop(&w.depSrc, x0, y0, min(x1, w.depSrc.W), min(y1, w.depSrc.H), &w.tmp); err != nil {
		return fmt.Sprintf("depth map %s of frame %d: %v", base, idx, err), nil
	}
	w.rs.Linear(&w.tmp, s, s, &w.dep)
	return "", nil
}

func writePNG(file string, m *imgproc.Image) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	var img image.Image = m
	if m.C == 1 {
		img = &image.Gray{Pix: m.Pix, Stride: m.W, Rect: image.Rect(0, 0, m.W, m.H)}
	} else {
		rgba := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
		for i, j := 0, 0; i < len(m.Pix); i, j = i+3, j+4 {
			rgba.Pix[j], rgba.Pix[j+1], rgba.Pix[j+2], rgba.Pix[j+3] = m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255
		}
		img = rgba
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("prep: %s: %w", file, err)
	}
	return f.Close()
}

// writeJSON writes v atomically (temp file + rename).
func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(file, append(b, '\n'))
}

func writeAtomic(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(file), ".tmp-"+filepath.Base(file)+"-")
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("prep: writing %s: %w", file, err)
	}
	return nil
}
