package method

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// fghv is FGHV (docs/fghv.md): config section fghv; model settings width, adanorm, gate
// and adanorm_impl (with adanorm), latent_dim, hypotheses, tau, cls_head, draws, latent_steps, latent_lr,
// delta_kl, lambda.
type fghv struct{}

func (fghv) Name() string { return "fghv" }

// ModelSettings: lambda only when it is not fitted (fghv.fit_lambda: false); a fitted lambda
// is the weights' own, and a config that fits it does not decide it.
func (fghv) ModelSettings(c *config.Config) shim.Settings {
	f := c.FGHV
	s := shim.Settings{{Key: "width", Value: num(c.Model.Width)}, {Key: "adanorm", Value: strconv.FormatBool(f.Backbone.AdaNorm)}}
	if f.Backbone.AdaNorm {
		s = append(s, shim.Setting{Key: "gate", Value: f.Backbone.Gate},
			shim.Setting{Key: "adanorm_impl", Value: c.Model.AdaNormImpl})
	}
	s = append(s,
		shim.Setting{Key: "latent_dim", Value: strconv.Itoa(f.LatentDim)},
		shim.Setting{Key: "hypotheses", Value: strconv.Itoa(f.Hypotheses)},
		shim.Setting{Key: "tau", Value: num(f.Tau)},
		shim.Setting{Key: "cls_head", Value: strconv.FormatBool(f.Loss.Cls > 0)},
		shim.Setting{Key: "draws", Value: strconv.Itoa(f.Test.Draws)},
		shim.Setting{Key: "latent_steps", Value: strconv.Itoa(f.Test.LatentSteps)},
		shim.Setting{Key: "latent_lr", Value: num(f.Test.LatentLR)},
		shim.Setting{Key: "delta_kl", Value: f.Test.DeltaKL},
	)
	if !f.FitLambda {
		s = append(s, shim.Setting{Key: "lambda", Value: num(f.Lambda)})
	}
	return s
}

func (fghv) TrainSettings(c *config.Config, k int) shim.Settings {
	f := c.FGHV
	return shim.Settings{
		{Key: "num_domains", Value: strconv.Itoa(k)},
		{Key: "rcc", Value: f.RCC},
		{Key: "rcc_margin", Value: num(f.RCCMargin)},
		{Key: "w_rcc", Value: num(f.Loss.RCC)},
		{Key: "w_var", Value: num(f.Loss.Var)},
		{Key: "w_ddc", Value: num(f.Loss.DDC)},
		{Key: "w_depth", Value: num(f.Loss.Depth)},
		{Key: "w_cls", Value: num(f.Loss.Cls)},
		{Key: "meta", Value: strconv.FormatBool(f.Meta)},
		{Key: "metasize", Value: strconv.Itoa(f.Metasize)},
		{Key: "meta_step_size", Value: num(f.MetaStep)},
		{Key: "meta_params", Value: f.MetaParams},
		{Key: "first_order", Value: strconv.FormatBool(f.FirstOrder)},
	}
}

func (fghv) Batch(b *dataset.TrainBatch) []shim.View { return DomainBatch(b) }

func (fghv) BatchFromFile(f *safetensors.File, path string) ([]shim.View, shim.Settings, int, error) {
	return DomainBatchFromFile(f, path)
}

func (fghv) ProgressKeys() []string {
	return []string{"loss", "rcc", "acc", "meta_test/rcc", "meta_test/acc"}
}

func (fghv) Feature() string { return "feature" }

// Recognizes a state dict with the real-face generator's first layer.
func (fghv) Recognizes(ts []safetensors.Tensor) bool { return find(ts, "RealFGN.fc1.weight") != nil }

// fghvWidthProbes are FGHV's layers that tell the width (backbone and embedder).
var fghvWidthProbes = []WidthProbe{
	{"FeatExtractor.inc.conv.weight", 64}, {"FeatExtractor.down1.conv_block1.conv.weight", 128},
	{"FeatExtractor.down1.conv_block2.conv.weight", 196}, {"Embedder.conv_block2.conv.weight", 256},
	{"Embedder.conv_block3.conv.weight", 512},
}

// fghvRuntimeKeys are the settings no tensor shape shows; a file without them gets the
// shim's defaults.
var fghvRuntimeKeys = []string{"hypotheses", "tau", "draws", "latent_steps", "latent_lr", "delta_kl", "lambda"}

// DescribeWeights: width, adanorm, gate, latent_dim and cls_head from the metadata or the
// tensors (FeatExtractor.*.IN.weight means AdaNorm, RealFGN.fc1.weight is hidden x
// latent_dim, Embedder.fc.weight is the head); the other settings from the metadata, else
// the defaults (listed in inferred as "KEY (default)").
func (fghv) DescribeWeights(md map[string]string, ts []safetensors.Tensor) (shim.Settings, []string, error) {
	var s shim.Settings
	var inferred []string
	if width, ok := md["width"]; ok {
		w, err := strconv.ParseFloat(width, 64)
		if err != nil || !(w > 0) || math.IsInf(w, 0) {
			return nil, nil, fmt.Errorf("metadata width=%q is not a positive number", width)
		}
		s = append(s, shim.Setting{Key: "width", Value: num(w)})
	} else {
		w, err := InferWidthFrom(ts, fghvWidthProbes)
		if err != nil {
			return nil, nil, err
		}
		s, inferred = append(s, shim.Setting{Key: "width", Value: num(w)}), append(inferred, "width")
	}
	flag := func(key string, has func() bool) (bool, error) {
		if v, ok := md[key]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false, fmt.Errorf("metadata %s=%q is not true or false", key, v)
			}
			return b, nil
		}
		inferred = append(inferred, key)
		return has(), nil
	}
	adanorm, err := flag("adanorm", func() bool { return find(ts, "FeatExtractor.inc.IN.weight") != nil })
	if err != nil {
		return nil, nil, err
	}
	s = append(s, shim.Setting{Key: "adanorm", Value: strconv.FormatBool(adanorm)})
	if adanorm {
		gate, ok := md["gate"]
		if !ok || gate == "" {
			if gate, err = InferGate(ts); err != nil {
				return nil, nil, err
			}
			inferred = append(inferred, "gate")
		}
		s = append(s, shim.Setting{Key: "gate", Value: gate})
	}
	if v, ok := md["latent_dim"]; ok {
		s = append(s, shim.Setting{Key: "latent_dim", Value: v})
	} else {
		t := find(ts, "RealFGN.fc1.weight")
		if t == nil || len(t.Shape) != 2 {
			return nil, nil, fmt.Errorf("cannot infer latent_dim: no 2-d tensor RealFGN.fc1.weight (is this an fghv state dict?)")
		}
		s, inferred = append(s, shim.Setting{Key: "latent_dim", Value: strconv.FormatInt(t.Shape[1], 10)}), append(inferred, "latent_dim")
	}
	head, err := flag("cls_head", func() bool { return find(ts, "Embedder.fc.weight") != nil })
	if err != nil {
		return nil, nil, err
	}
	s = append(s, shim.Setting{Key: "cls_head", Value: strconv.FormatBool(head)})
	for _, k := range fghvRuntimeKeys {
		if v, ok := md[k]; ok {
			s = append(s, shim.Setting{Key: k, Value: v})
		} else {
			inferred = append(inferred, k+" (default)")
		}
	}
	return s, inferred, nil
}

// SummaryGroup: FeatExtractor.inc, .down1..3, Embedder, DepthEstmator, RealFGN, AttackFGN.
func (fghv) SummaryGroup(name string) string {
	parts := strings.SplitN(name, ".", 3)
	if parts[0] == "FeatExtractor" && len(parts) > 2 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

// Parts: the space score alone (p_live averaged over the draws, a liveness score) and the
// distribution score alone (delta_kl, higher = attack).
func (fghv) Parts() []Part {
	return []Part{
		{Name: "space", Output: "space_score", Live: true, Desc: "space score alone (p_live over the hypotheses; attack score 1 - p_live)"},
		{Name: "delta_kl", Output: "delta_kl", Desc: "distribution score alone (ΔKL of the optimised latents; higher = attack)"},
	}
}

// Plane: the paper's decision plane, the spread of the correlations with the real-face
// hypotheses against ΔKL (live faces low on both).
func (fghv) Plane() (Plane, bool) {
	return Plane{Title: "FGHV decision plane", X: "corr_spread", Y: "delta_kl",
		XLabel: "variance of cos(f, g_k) over the real-face hypotheses", YLabel: "ΔKL of the optimised latents"}, true
}

// CalibrationOutputs: the space score and ΔKL when fghv.fit_lambda.
func (fghv) CalibrationOutputs(c *config.Config) []string {
	if !c.FGHV.FitLambda {
		return nil
	}
	return []string{"space_score", "delta_kl"}
}

// Calibrate fits lambda on the validation units (FitLambda).
func (fghv) Calibrate(c *config.Config, val []Unit) (shim.Settings, string, error) {
	space, dkl := make([]float64, len(val)), make([]float64, len(val))
	labels := make([]int, len(val))
	for i, u := range val {
		var ok1, ok2 bool
		space[i], ok1 = u.Outputs["space_score"]
		dkl[i], ok2 = u.Outputs["delta_kl"]
		if !ok1 || !ok2 {
			return nil, "", fmt.Errorf("fghv calibration: unit %d lacks space_score or delta_kl", i)
		}
		labels[i] = u.Label
	}
	fit, err := FitLambda(space, dkl, labels)
	if err != nil {
		return nil, "", err
	}
	desc := fmt.Sprintf("lambda = %s fitted on %d validation units: AUC of the fused score %.4f, of the space score alone %.4f",
		num(fit.Lambda), len(val), fit.AUC, fit.SpaceAUC)
	return shim.Settings{{Key: "lambda", Value: num(fit.Lambda)}}, desc, nil
}

// LambdaFit is the result of FitLambda.
type LambdaFit struct {
	Lambda   float64
	AUC      float64 // of the fused score at Lambda
	SpaceAUC float64 // of the space score alone (lambda 0)
}

// FitLambda chooses lambda >= 0 for the fused liveness score s = space - lambda * dkl: the
// candidate with the highest AUC of the attack score -s on the units given (the smallest
// lambda among equals). Candidates: 0 and c · std(space)/std(dkl) for c = 10^(-2 + i/10),
// i = 0..40 (so lambda·ΔKL ranges from 1 % to 100 times the spread of the space score). It
// sees only what it is given: the training loop gives it the validation (source) units.
func FitLambda(space, dkl []float64, labels []int) (LambdaFit, error) {
	if len(space) != len(dkl) || len(space) != len(labels) || len(space) == 0 {
		return LambdaFit{}, fmt.Errorf("fit lambda: %d space scores, %d ΔKL values, %d labels", len(space), len(dkl), len(labels))
	}
	for i := range space {
		if math.IsNaN(space[i]) || math.IsInf(space[i], 0) || math.IsNaN(dkl[i]) || math.IsInf(dkl[i], 0) {
			return LambdaFit{}, fmt.Errorf("fit lambda: unit %d has a non-finite score (space %v, ΔKL %v)", i, space[i], dkl[i])
		}
	}
	auc := func(lambda float64) (float64, error) {
		a := make([]float64, len(space))
		for i := range a {
			a[i] = -(space[i] - lambda*dkl[i])
		}
		roc, err := metrics.RocCurve(labels, a, false)
		if err != nil {
			return 0, fmt.Errorf("fit lambda: %w", err)
		}
		return roc.AUC(), nil
	}
	base, err := auc(0)
	if err != nil {
		return LambdaFit{}, err
	}
	best := LambdaFit{Lambda: 0, AUC: base, SpaceAUC: base}
	sd := func(x []float64) float64 {
		var m, v float64
		for _, y := range x {
			m += y
		}
		m /= float64(len(x))
		for _, y := range x {
			v += (y - m) * (y - m)
		}
		return math.Sqrt(v / float64(len(x)))
	}
	ss, sk := sd(space), sd(dkl)
	if !(sk > 0) || !(ss > 0) {
		return best, nil // nothing to weigh: one of the scores is constant
	}
	for i := 0; i <= 40; i++ {
		l := math.Pow(10, -2+float64(i)/10) * ss / sk
		a, err := auc(l)
		if err != nil {
			return LambdaFit{}, err
		}
		if a > best.AUC {
			best.Lambda, best.AUC = l, a
		}
	}
	return best, nil
}
