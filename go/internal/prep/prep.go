package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.uber.org/zap"

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
	Depth    string              `json:"depth"`                  // "approx" or "dir:DIR"
	ValSubj  int                 `json:"val_subjects,omitempty"` // training subjects held out as val (holdOut)
	AllList  bool                `json:"all_list,omitempty"`     // also <domain>_all_*.txt (see AllFrames)
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
	Index     int           `json:"index"` // 0-based frame number in the video
	Key       string        `json:"key"`
	Box       [4]int        `json:"box"`                       // crop in the frame, [x0, y0, x1, y1)
	By        string        `json:"by"`                        // ByDetector, ByAnnotation or AnnotBox
	Landmarks *[10]float64  `json:"landmarks,omitempty"`       // in the stored crop's pixels (as in the list)
	InFrame   *[10]float64  `json:"frame_landmarks,omitempty"` // in the frame's pixels
	Points    *[136]float64 `json:"points,omitempty"`          // the 68 points in the stored crop's pixels (ApproxDepth's input)
	Score     float64       `json:"score"`                     // the detector's (0 for AnnotBox)
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
	ValIDs   []int                    `json:"val_subject_ids,omitempty"` // the subjects held out as val (Settings.ValSubj)
	NoFace   []string                 `json:"no_face_videos,omitempty"`  // videos without a face in any sampled frame
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
	from, to := DepthRule(domain)
	return to + strings.TrimPrefix(key, from)
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
	var valIDs []int
	if videos, valIDs, err = holdOut(videos, o.ValSubj); err != nil {
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
	db, err := lmdb.Open(filepath.Join(o.Out, LMDB), lmdb.Options{MapSize: o.MapSize})
	if err != nil {
		return nil, fmt.Errorf("prep: %w", err)
	}
	defer db.Close()
	recs, fails, err := process(ctx, o, db, dir, videos)
	if err != nil {
		return nil, err
	}
	m, err := writeOutputs(o, dir, videos, valIDs, recs, fails)
	if err != nil {
		return nil, err
	}
	if len(fails) > 0 {
		return m, &FailedError{Failures: fails}
	}
	return m, nil
}

// DefaultValSubjects is how many training subjects prep holds out as val for the data sets
// without an official development set, so that the protocol configs find a val list for
// every source domain: about a fifth of the training subjects (CASIA-FASD has 20, MSU-MFSD
// 15), the highest-numbered ones (holdOut). fasgo's choice: the DG papers select models on
// the target's test set and publish no source validation split.
var DefaultValSubjects = map[string]int{"casia": 4, "msu": 3}

// holdOut moves the training videos of the k highest-numbered subjects to Val (for data sets
// without an official development set) and returns those subjects.
func holdOut(vs []Video, k int) ([]Video, []int, error) {
	if k == 0 {
		return vs, nil, nil
	}
	subj := map[int]bool{}
	for _, v := range vs {
		if v.Split == Val {
			return nil, nil, errors.New("--val-subjects: this data set has an official development split (val)")
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
	if k < 0 || k >= len(ids) {
		return nil, nil, fmt.Errorf("--val-subjects %d: the training split has %d subjects; want 0 <= K < %d", k, len(ids), len(ids))
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
	return out, ids[len(ids)-k:], nil
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
