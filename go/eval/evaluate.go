package eval

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/fasgo/fasgo/go/metrics"
	"github.com/fasgo/fasgo/go/report"
	"github.com/fasgo/fasgo/go/shim"
)

// Options steer an evaluation.
type Options struct {
	OutDir     string // where the report files go; "" writes none
	FrameLevel bool   // metrics on frames instead of video means
	Embed      bool   // also write a t-SNE picture of the pooled features (embed.png)
	EmbedMax   int    // at most this many frames in the embedding (default 1500)
	Seed       uint64 // t-SNE and the embedding's subsample
	Score      ScoreOptions
}

// Result is an evaluation: the test report (both protocols) and the validation report
// whose EER threshold is the realistic protocol's.
type Result struct {
	Test, Val  *metrics.Report
	TestUnits  []metrics.VideoScore
	Skipped    int // frames the skip policy left out, val and test together
	Threshold  *metrics.Threshold
	EmbedPath  string
	TestFrames int
	ValFrames  int
}

// Level names the unit of evaluation.
func (o Options) Level() string {
	if o.FrameLevel {
		return "frame"
	}
	return "video"
}

func (o Options) units(frames []metrics.FrameScore) ([]metrics.VideoScore, error) {
	if o.FrameLevel {
		return metrics.Frames(frames)
	}
	return metrics.Videos(frames)
}

// Validate scores the held-out source-domain lists; model selection uses its report.
func Validate(ctx context.Context, m *shim.Model, d *Data, o Options) (*metrics.Report, *Scores, error) {
	s, err := Score(ctx, m, d.DB, d.Val, d.Transform, o.Score)
	if err != nil {
		return nil, nil, fmt.Errorf("validation: %w", err)
	}
	units, err := o.units(s.Frames)
	if err != nil {
		return nil, nil, fmt.Errorf("validation: %w", err)
	}
	rep, err := metrics.Evaluate(units, o.Level(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("validation: %w", err)
	}
	return rep, s, nil
}

// Run evaluates m on the test lists: the paper protocol takes the test set's own EER
// threshold, the realistic one the EER threshold of the validation (source) lists.
func Run(ctx context.Context, m *shim.Model, d *Data, o Options) (*Result, error) {
	if o.Embed {
		o.Score.Features = true
	}
	valRep, valScores, err := Validate(ctx, m, d, o)
	if err != nil {
		return nil, err
	}
	valUnits, _ := o.units(valScores.Frames)
	thr, err := metrics.EERThreshold(valUnits, "source-domain validation lists")
	if err != nil {
		return nil, fmt.Errorf("realistic threshold: %w", err)
	}
	test, err := Score(ctx, m, d.DB, d.Test, d.Transform, o.Score)
	if err != nil {
		return nil, fmt.Errorf("test: %w", err)
	}
	units, err := o.units(test.Frames)
	if err != nil {
		return nil, fmt.Errorf("test: %w", err)
	}
	rep, err := metrics.Evaluate(units, o.Level(), thr)
	if err != nil {
		return nil, fmt.Errorf("test: %w", err)
	}
	res := &Result{Test: rep, Val: valRep, TestUnits: units, Threshold: thr,
		Skipped:    valScores.Stats.Skipped + test.Stats.Skipped,
		TestFrames: len(test.Frames), ValFrames: len(valScores.Frames)}
	if o.OutDir == "" {
		return res, nil
	}
	if err := report.Write(o.OutDir, rep, units); err != nil {
		return nil, err
	}
	if err := report.Write(filepath.Join(o.OutDir, "val"), valRep, valUnits); err != nil {
		return nil, err
	}
	if o.Embed {
		res.EmbedPath = filepath.Join(o.OutDir, "embed.png")
		if err := embed(res.EmbedPath, []*Scores{valScores, test}, o); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// embed draws a t-SNE of the pooled features of source and target frames, coloured by
// domain and marked by class, over an evenly spaced subsample.
func embed(path string, sets []*Scores, o Options) error {
	var feats [][]float64
	var domains []string
	var labels []int
	for _, s := range sets {
		feats = append(feats, s.Features...)
		domains = append(domains, s.Domains...)
		for _, f := range s.Frames {
			labels = append(labels, f.Label)
		}
	}
	limit := o.EmbedMax
	if limit <= 0 {
		limit = 1500
	}
	if n := len(feats); n > limit {
		var f2 [][]float64
		var d2 []string
		var l2 []int
		for i := 0; i < limit; i++ {
			j := i * n / limit
			f2, d2, l2 = append(f2, feats[j]), append(d2, domains[j]), append(l2, labels[j])
		}
		feats, domains, labels = f2, d2, l2
	}
	perp := 30.0
	if max := float64(len(feats)-1) / 3; perp > max {
		perp = max
	}
	pts, err := report.TSNE(feats, report.TSNEOptions{Perplexity: perp, Seed: o.Seed})
	if err != nil {
		return fmt.Errorf("embedding: %w", err)
	}
	return report.EmbedPlot(path, pts, domains, labels)
}
