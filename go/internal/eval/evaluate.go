package eval

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/method"
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
	// Parts are the reports of the method's score parts alone (method.ScoreParts), in the
	// method's order; PlanePath is its decision plane ("" when none was drawn).
	Parts     []PartResult
	PlanePath string
}

// PartResult is the evaluation of one score part on its own.
type PartResult struct {
	Part      method.Part
	Test, Val *metrics.Report
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
	return validate(ctx, m, d.DB, d.Val, d.Transform, o)
}

// validate scores a validation set: the only data it is given.
func validate(ctx context.Context, m *shim.Model, db dataset.Store, val *dataset.EvalSet, t dataset.Transform, o Options) (*Validation, error) {
	s, err := Score(ctx, m, db, val, t, o.Score)
	if err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	units, rep, err := o.evaluate(s.Frames, nil)
	if err != nil {
		return nil, fmt.Errorf("validation: %w", err)
	}
	return &Validation{Report: rep, Units: units, Scores: s}, nil
}

// Calibrate fits the calibrated settings of a method (method.Calibrator; FGHV: lambda) on a
// validation set: it scores val with m (its score parts), averages them per unit, and hands
// them to the method. It is given the validation lists only, by construction: the training
// loop passes the held-out source-domain lists (dataset.val), never the test lists. It
// returns nil settings when the method fits nothing under cfg.
func Calibrate(ctx context.Context, m *shim.Model, cfg *config.Config, db dataset.Store, val *dataset.EvalSet,
	t dataset.Transform, o Options) (shim.Settings, string, error) {
	me, err := method.Get(m.Info().Method)
	if err != nil {
		return nil, "", err
	}
	cal, ok := me.(method.Calibrator)
	if !ok {
		return nil, "", nil
	}
	outs := cal.CalibrationOutputs(cfg)
	if len(outs) == 0 {
		return nil, "", nil
	}
	o.Score.Outputs, o.Score.Features = outs, false
	v, err := validate(ctx, m, db, val, t, o)
	if err != nil {
		return nil, "", fmt.Errorf("calibration: %w", err)
	}
	units := make([]method.Unit, len(v.Units))
	for i, u := range v.Units {
		units[i] = method.Unit{Label: u.Label, Outputs: map[string]float64{}}
	}
	for _, name := range outs {
		us, err := o.outputUnits(v.Scores, name, nil)
		if err != nil {
			return nil, "", fmt.Errorf("calibration: %w", err)
		}
		for i, u := range us {
			units[i].Outputs[name] = u.Score
		}
	}
	return cal.Calibrate(cfg, units)
}

// outputUnits are the units of s with an output's values (mapped by f when not nil) as
// their scores, in the order of s's units.
func (o Options) outputUnits(s *Scores, name string, f func(float64) float64) ([]metrics.VideoScore, error) {
	vals, ok := s.Outputs[name]
	if !ok || len(vals) != len(s.Frames) {
		return nil, fmt.Errorf("output %s: %d values for %d frames", name, len(vals), len(s.Frames))
	}
	frames := slices.Clone(s.Frames)
	for i := range frames {
		frames[i].Score = vals[i]
		if f != nil {
			frames[i].Score = f(vals[i])
		}
	}
	return o.units(frames)
}

// Run evaluates m on the test lists: the paper protocol takes the test set's own EER
// threshold, the realistic one the EER threshold of the validation (source) lists. For a
// method with score parts (method.ScoreParts) each part is reported on its own as well
// (OutDir/<part>/, its realistic threshold from the part's validation scores), and the
// decision plane is drawn (OutDir/decision_plane.png).
func Run(ctx context.Context, m *shim.Model, d *Data, o Options) (*Result, error) {
	if o.Embed {
		o.Score.Features = true
	}
	me, err := method.Get(m.Info().Method)
	if err != nil {
		return nil, err
	}
	sp, hasParts := me.(method.ScoreParts)
	var plane method.Plane
	hasPlane := false
	if hasParts {
		for _, p := range sp.Parts() {
			o.Score.Outputs = appendNew(o.Score.Outputs, p.Output)
		}
		if plane, hasPlane = sp.Plane(); hasPlane {
			o.Score.Outputs = appendNew(o.Score.Outputs, plane.X, plane.Y)
		}
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
	if hasParts {
		for _, p := range sp.Parts() {
			pr, err := o.part(p, val.Scores, test)
			if err != nil {
				return nil, err
			}
			res.Parts = append(res.Parts, pr)
		}
	}
	if hasPlane {
		res.PlanePath = filepath.Join(o.OutDir, "decision_plane.png")
		if err := o.drawPlane(res.PlanePath, plane, val.Scores, test); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func appendNew(list []string, names ...string) []string {
	for _, n := range names {
		if !slices.Contains(list, n) {
			list = append(list, n)
		}
	}
	return list
}

// part reports one score part alone, on the test set (realistic threshold from its val
// scores) and on the validation set, into OutDir/<name>/ and OutDir/<name>/val/.
func (o Options) part(p method.Part, val, test *Scores) (PartResult, error) {
	vu, err := o.outputUnits(val, p.Output, p.AttackScore)
	if err != nil {
		return PartResult{}, fmt.Errorf("part %s: validation: %w", p.Name, err)
	}
	vrep, err := metrics.EvaluateWith(vu, o.Level(), nil, o.Metrics())
	if err != nil {
		return PartResult{}, fmt.Errorf("part %s: validation: %w", p.Name, err)
	}
	thr, err := metrics.EERThreshold(vu, "source-domain validation lists ("+p.Name+")")
	if err != nil {
		return PartResult{}, fmt.Errorf("part %s: realistic threshold: %w", p.Name, err)
	}
	tu, err := o.outputUnits(test, p.Output, p.AttackScore)
	if err != nil {
		return PartResult{}, fmt.Errorf("part %s: test: %w", p.Name, err)
	}
	trep, err := metrics.EvaluateWith(tu, o.Level(), thr, o.Metrics())
	if err != nil {
		return PartResult{}, fmt.Errorf("part %s: test: %w", p.Name, err)
	}
	dir := filepath.Join(o.OutDir, p.Name)
	if err := report.Write(dir, trep, tu); err != nil {
		return PartResult{}, err
	}
	if err := report.Write(filepath.Join(dir, "val"), vrep, vu); err != nil {
		return PartResult{}, err
	}
	return PartResult{Part: p, Test: trep, Val: vrep}, nil
}

// drawPlane draws every unit of the validation (source) and test (target) sets at its
// (X, Y) outputs, coloured by class.
func (o Options) drawPlane(path string, pl method.Plane, val, test *Scores) error {
	var pts []report.PlanePoint
	for _, set := range []struct {
		s      *Scores
		target bool
	}{{val, false}, {test, true}} {
		xs, err := o.outputUnits(set.s, pl.X, nil)
		if err != nil {
			return fmt.Errorf("decision plane: %w", err)
		}
		ys, err := o.outputUnits(set.s, pl.Y, nil)
		if err != nil {
			return fmt.Errorf("decision plane: %w", err)
		}
		for i := range xs {
			pts = append(pts, report.PlanePoint{X: xs[i].Score, Y: ys[i].Score, Label: xs[i].Label, Target: set.target})
		}
	}
	return report.PlanePlot(path, report.PlaneOptions{Title: fmt.Sprintf("%s (%s level)", pl.Title, o.Level()),
		XLabel: pl.XLabel, YLabel: pl.YLabel}, pts)
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

// PartsMarkdown is a table of the score and each of its parts alone on the test lists (AUC,
// EER, HTER under both protocols); "" when the method has no parts.
func PartsMarkdown(res *Result) string {
	if len(res.Parts) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| score (%s level, test) | AUC %% | EER %% | HTER %% (paper) | HTER %% (realistic) |\n|---|---:|---:|---:|---:|\n", res.Test.Level)
	row := func(name string, r *metrics.Report) {
		real := "n/a"
		if r.Realistic != nil {
			real = fmt.Sprintf("%.2f", 100*r.Realistic.HTER)
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f | %s |\n", name, 100*r.AUC, 100*r.EER, 100*r.Paper.HTER, real)
	}
	row("the method's score", res.Test)
	for _, p := range res.Parts {
		row(p.Part.Name+": "+p.Part.Desc, p.Test)
	}
	return b.String()
}
