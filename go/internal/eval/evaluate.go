package eval

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/report"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Options steer an evaluation. OptionsFromConfig fills the fields a config decides.
type Options struct {
	OutDir     string // where the report files go; "" writes none
	FrameLevel bool   // metrics on frames instead of video means (eval.video_level: false)
	// Protocols are the threshold protocols the Markdown tables (metrics.md, the printed
	// table) show, in order (eval.protocols); nil = both. Both are always computed and are
	// in metrics.json.
	Protocols []string
	// TPRAtFPR are the FPR targets of TPR@FPR in every report, validation included, so that
	// a tpr@fpr= selection criterion finds its target (eval.tpr_at_fpr); nil =
	// metrics.TargetFPRs(), empty = none.
	TPRAtFPR []float64
	Embed    bool   // also write a t-SNE picture of the pooled features (embed.png)
	EmbedMax int    // at most this many frames in the embedding (default 1500)
	Seed     uint64 // t-SNE and the embedding's subsample
	Score    ScoreOptions
}

// OptionsFromConfig maps a config onto Options: the eval section (video_level, protocols,
// tpr_at_fpr) and the seed. What the config does not decide is left for the caller: OutDir,
// Embed, EmbedMax and Score (batch size: val.batch_size when validating, test.batch_size
// for the test; loader options from dataset.bad_data).
func OptionsFromConfig(c *config.Config) Options {
	return Options{
		FrameLevel: !c.Eval.VideoLevel,
		Protocols:  append([]string{}, c.Eval.Protocols...),
		TPRAtFPR:   append([]float64{}, c.Eval.TPRAtFPR...),
		Seed:       uint64(c.Seed),
	}
}

// Metrics is what o asks of metrics.EvaluateWith.
func (o Options) Metrics() metrics.Options {
	return metrics.Options{TPRAtFPR: o.TPRAtFPR, Protocols: o.Protocols}
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

// evaluate turns frame scores into units (videos or frames) and their report; realistic,
// when not nil, is the realistic protocol's threshold.
func (o Options) evaluate(frames []metrics.FrameScore, realistic *metrics.Threshold) ([]metrics.VideoScore, *metrics.Report, error) {
	units, err := o.units(frames)
	if err != nil {
		return nil, nil, err
	}
	rep, err := metrics.EvaluateWith(units, o.Level(), realistic, o.Metrics())
	if err != nil {
		return nil, nil, err
	}
	return units, rep, nil
}

// Validation is a scored pass over the held-out source-domain lists.
type Validation struct {
	Report *metrics.Report      // model selection reads it
	Units  []metrics.VideoScore // the realistic threshold is fixed on them
	Scores *Scores
}

// Validate scores the held-out source-domain lists.
func Validate(ctx context.Context, m *shim.Model, d *Data, o Options) (*Validation, error) {
	s, err := Score(ctx, m, d.DB, d.Val, d.Transform, o.Score)
	if err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	units, rep, err := o.evaluate(s.Frames, nil)
	if err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	return &Validation{Report: rep, Units: units, Scores: s}, nil
}

// Run evaluates m on the test lists: the paper protocol takes the test set's own EER
// threshold, the realistic one the EER threshold of the validation (source) lists.
func Run(ctx context.Context, m *shim.Model, d *Data, o Options) (*Result, error) {
	if o.Embed {
		o.Score.Features = true
	}
	val, err := Validate(ctx, m, d, o)
	if err != nil {
		return nil, err
	}
	thr, err := metrics.EERThreshold(val.Units, "source-domain validation lists")
	if err != nil {
		return nil, fmt.Errorf("realistic threshold: %w", err)
	}
	test, err := Score(ctx, m, d.DB, d.Test, d.Transform, o.Score)
	if err != nil {
		return nil, fmt.Errorf("test: %w", err)
	}
	units, rep, err := o.evaluate(test.Frames, thr)
	if err != nil {
		return nil, fmt.Errorf("test: %w", err)
	}
	res := &Result{Test: rep, Val: val.Report, TestUnits: units, Threshold: thr,
		Skipped:    val.Scores.Stats.Skipped + test.Stats.Skipped,
		TestFrames: len(test.Frames), ValFrames: len(val.Scores.Frames)}
	if o.OutDir == "" {
		return res, nil
	}
	if err := report.Write(o.OutDir, rep, units); err != nil {
		return nil, err
	}
	if err := report.Write(filepath.Join(o.OutDir, "val"), val.Report, val.Units); err != nil {
		return nil, err
	}
	if o.Embed {
		res.EmbedPath = filepath.Join(o.OutDir, "embed.png")
		if err := embed(res.EmbedPath, []*Scores{val.Scores, test}, o); err != nil {
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
