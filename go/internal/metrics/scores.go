package metrics

import (
	"fmt"
	"math"
)

// Labels, as in the list files: 0 = live (bona fide), 1 = attack (presentation attack).
const (
	LabelLive   = 0
	LabelAttack = 1
)

// FrameScore is the attack score of one scored frame.
type FrameScore struct {
	Video      string  // video id: frames with the same id are averaged
	Label      int     // LabelLive or LabelAttack
	Score      float64 // attack score: the class-1 (attack) softmax probability
	AttackType string  // optional attack type (print, replay, ...); empty for live samples
	Where      string  // where the frame came from ("file.csv:12"), used in error messages
}

// VideoScore is the score of one unit of evaluation: a video (mean of its frame scores) or,
// in frame-level mode, one frame.
type VideoScore struct {
	Video      string
	Label      int
	Score      float64
	Frames     int // frames averaged into Score
	AttackType string
}

// Videos averages the frame scores of each video. Videos come out in order of first
// appearance; the mean is the frame scores summed in input order, divided by their count.
// A video whose frames disagree on label or attack type, a bad label and a non-finite score
// are errors naming the video and the frames' Where.
func Videos(frames []FrameScore) ([]VideoScore, error) {
	type acc struct {
		first int // index of the video's first frame
		sum   float64
		n     int
	}
	index := map[string]int{}
	var out []VideoScore
	var accs []acc
	for i, f := range frames {
		if err := checkFrame(f, i); err != nil {
			return nil, err
		}
		k, ok := index[f.Video]
		if !ok {
			k = len(out)
			index[f.Video] = k
			out = append(out, VideoScore{Video: f.Video, Label: f.Label, AttackType: f.AttackType})
			accs = append(accs, acc{first: i})
		}
		v, a := &out[k], &accs[k]
		if f.Label != v.Label || f.AttackType != v.AttackType {
			first := frames[a.first]
			return nil, fmt.Errorf("%s: video %q has label %d attack type %q, but %s gave it label %d attack type %q",
				where(f, i), f.Video, f.Label, f.AttackType, where(first, a.first), first.Label, first.AttackType)
		}
		a.sum += f.Score
		a.n++
	}
	for k := range out {
		out[k].Score = accs[k].sum / float64(accs[k].n)
		out[k].Frames = accs[k].n
	}
	return out, nil
}

// Frames makes every frame its own unit of evaluation (frame-level metrics).
func Frames(frames []FrameScore) ([]VideoScore, error) {
	out := make([]VideoScore, len(frames))
	for i, f := range frames {
		if err := checkFrame(f, i); err != nil {
			return nil, err
		}
		out[i] = VideoScore{Video: f.Video, Label: f.Label, Score: f.Score, Frames: 1, AttackType: f.AttackType}
	}
	return out, nil
}

func checkFrame(f FrameScore, i int) error {
	if f.Label != LabelLive && f.Label != LabelAttack {
		return fmt.Errorf("%s: video %q: label %d is neither 0 (live) nor 1 (attack)", where(f, i), f.Video, f.Label)
	}
	if math.IsNaN(f.Score) || math.IsInf(f.Score, 0) {
		return fmt.Errorf("%s: video %q: score %v is not finite", where(f, i), f.Video, f.Score)
	}
	if f.Label == LabelLive && f.AttackType != "" {
		return fmt.Errorf("%s: video %q: live sample has attack type %q", where(f, i), f.Video, f.AttackType)
	}
	return nil
}

func where(f FrameScore, i int) string {
	if f.Where != "" {
		return f.Where
	}
	return fmt.Sprintf("frame %d", i)
}

// split returns the labels and scores of vs as parallel slices.
func split(vs []VideoScore) ([]int, []float64) {
	labels := make([]int, len(vs))
	scores := make([]float64, len(vs))
	for i, v := range vs {
		labels[i], scores[i] = v.Label, v.Score
	}
	return labels, scores
}
