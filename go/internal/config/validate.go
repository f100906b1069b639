package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/metrics"
)

// Validate checks every value against its allowed range and the values against each other.
// Load calls it; call it again after changing a Config by hand.
func (c *Config) Validate() error { return c.validate(nil) }

// validator collects every problem so that one run of the command reports them all.
type validator struct {
	origins map[string]string
	errs    []error
}

// need records a problem with key unless ok.
func (v *validator) need(ok bool, key string, value any, msg string) {
	if ok {
		return
	}
	e := &KeyError{Key: key, Source: v.source(key), Msg: msg}
	if value != nil {
		e.Value = showValue(value)
	}
	v.errs = append(v.errs, e)
}

// source is where key's value came from; a list element inherits its list's source.
func (v *validator) source(key string) string {
	for k := key; k != ""; {
		if s, ok := v.origins[k]; ok {
			return s
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

func showValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []float64:
		return fmt.Sprint(x)
	}
	return fmt.Sprint(v)
}

func (v *validator) oneOf(key, value string, allowed ...string) {
	v.need(slices.Contains(allowed, value), key, value, "must be one of "+strings.Join(allowed, ", "))
}

func (v *validator) prob(key string, p float64) {
	v.need(p >= 0 && p <= 1, key, p, "must be a probability in [0, 1]")
}

func (v *validator) positive(key string, x float64) {
	v.need(x > 0 && !math.IsInf(x, 0), key, x, "must be a finite number > 0")
}

func (v *validator) nonNegative(key string, x float64) {
	v.need(x >= 0 && !math.IsInf(x, 0), key, x, "must be a finite number >= 0")
}

func (c *Config) validate(origins map[string]string) error {
	v := &validator{origins: origins}
	v.oneOf("method", c.Method, "anrl", "fghv")
	c.validateRun(v)
	c.validateDataset(v)
	c.validateTransform(v)
	c.validateModel(v)
	c.validateOptimizer(v)
	c.validateScheduler(v)
	c.validateTrain(v)
	v.need(c.Val.BatchSize >= 1, "val.batch_size", c.Val.BatchSize, "must be >= 1")
	v.need(c.Test.BatchSize >= 1, "test.batch_size", c.Test.BatchSize, "must be >= 1")
	c.validateEval(v)
	c.validateANRL(v)
	c.validateFGHV(v)
	return errors.Join(v.errs...)
}

var deviceRE = regexp.MustCompile(`^(cpu|cuda|cuda:[0-9]+)$`)

// pathElement reports whether s can name one directory: no separators, not . or ..
func pathElement(s string) bool {
	return s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && !strings.ContainsRune(s, 0)
}

func (c *Config) validateRun(v *validator) {
	r := c.Run
	v.need(r.Name == "" || pathElement(r.Name), "run.name", r.Name, "must be one directory name (no /, not . or ..) or empty for an automatic name")
	v.need(r.Protocol != "" && pathElement(r.Protocol), "run.protocol", r.Protocol, "must be a non-empty name without /")
	v.need(r.Dir != "", "run.dir", r.Dir, "must not be empty")
	v.need(r.Threads >= 0, "run.threads", r.Threads, "must be >= 0 (0 = all cores)")
	v.need(deviceRE.MatchString(r.Device), "run.device", r.Device, "must be cpu, cuda or cuda:N")
	v.oneOf("run.dist.backend", r.Dist.Backend, "auto", "gloo", "nccl")
	v.need(r.Dist.Timeout > 0 && r.Dist.Timeout <= 86400, "run.dist.timeout", r.Dist.Timeout, "must be in (0, 86400] seconds")
	v.need(r.Dist.Interface == "" || r.Dist.Hostname == "", "run.dist.interface", r.Dist.Interface, "excludes run.dist.hostname (one way to bind Gloo)")
}

func (c *Config) validateDataset(v *validator) {
	d := c.Dataset
	v.need(d.Name == "DG_Dataset", "dataset.name", d.Name, "must be DG_Dataset (the only data set type)")
	v.need(d.Root != "", "dataset.root", d.Root, "must not be empty")
	v.need(d.LMDB != "", "dataset.lmdb", d.LMDB, "must not be empty")
	v.need(len(d.DepthRule) > 0, "dataset.depth_rule", nil, "needs at least one {from, to} rule (depth keys of live samples)")
	for i, r := range d.DepthRule {
		if r.Preset != "" {
			_, err := dataset.DepthPreset(r.Preset)
			v.need(err == nil, fmt.Sprintf("dataset.depth_rule[%d].preset", i), r.Preset, fmt.Sprint(err))
			v.need(r.From == "" && r.To == "", fmt.Sprintf("dataset.depth_rule[%d].from", i), r.From, "must be empty with a preset (one or the other)")
			continue
		}
		v.need(r.From != "", fmt.Sprintf("dataset.depth_rule[%d].from", i), r.From, "must not be empty")
		v.need(r.To != "" && r.To != r.From, fmt.Sprintf("dataset.depth_rule[%d].to", i), r.To, "must be non-empty and differ from `from`")
	}
	v.nonNegative("dataset.margin", d.Margin)
	v.oneOf("dataset.bad_data", d.BadData, "fail", "skip")
	v.need(len(d.Train) >= 2, "dataset.train", nil, fmt.Sprintf("needs K >= 2 source domains, has %d", len(d.Train)))
	v.need(len(d.Val) >= 1, "dataset.val", nil, "needs at least one list pair (held-out source data)")
	v.need(len(d.Test) >= 1, "dataset.test", nil, "needs at least one list pair (the target domain)")
	v.domains("dataset.train", d.Train, true)
	v.domains("dataset.val", d.Val, false)
	v.domains("dataset.test", d.Test, false)
}

// domains checks list pairs. Each training entry is one meta-learning domain, so its name
// is unique; val and test may give several list pairs of one domain (they are appended).
func (v *validator) domains(key string, ds []DomainList, unique bool) {
	seen := map[string]bool{}
	for i, d := range ds {
		k := fmt.Sprintf("%s[%d]", key, i)
		if unique {
			v.need(d.Name != "" && !seen[d.Name], k+".name", d.Name, "must be a non-empty domain name, unique in "+key)
		} else {
			v.need(d.Name != "", k+".name", d.Name, "must be a non-empty domain name")
		}
		seen[d.Name] = true
		v.need(d.Live != "", k+".live", d.Live, "must name the live list file")
		v.need(d.Attack != "", k+".attack", d.Attack, "must name the attack list file")
	}
}

func (c *Config) validateTransform(v *validator) {
	t := c.Transform
	v.need(t.ImageSize >= 32 && t.ImageSize%8 == 0, "transform.image_size", t.ImageSize,
		"must be a multiple of 8 and >= 32 (features and depth map are image_size/8, and the classifier max-pools them twice)")
	v.need(len(t.Mean) == 3 && allFinite(t.Mean), "transform.mean", t.Mean, "must be 3 finite numbers (per channel, applied to RGB and HSV)")
	v.need(len(t.Std) == 3 && allPositive(t.Std), "transform.std", t.Std, "must be 3 finite numbers > 0")
	v.prob("transform.hsv_jitter_p", t.HSVJitterP)
	v.prob("transform.flip_p", t.FlipP)
}

func (c *Config) validateModel(v *validator) {
	w := c.Model.Width
	v.need(w > 0 && w <= 16, "model.width", w, "must be in (0, 16] (channel multiplier, 1 = paper)")
	v.oneOf("model.adanorm_impl", c.Model.AdaNormImpl, "fused", "composite")
}

// validateANRL checks the anrl section's own value ranges always, and what depends on other
// sections (the number of sources) or on each other (meta-only switches) when method is anrl.
func (c *Config) validateANRL(v *validator) {
	a := c.ANRL
	v.oneOf("anrl.gate", a.Gate, "1layer", "2layer", "clamp", "bn", "in")
	if c.Method == "anrl" && a.Meta {
		v.need(a.Gate != "bn" && a.Gate != "in", "anrl.gate", a.Gate,
			"is a constant gate (BN-only or IN-only): the meta step adapts the gates and it has none; set anrl.meta: false")
	}
	k := len(c.Dataset.Train)
	if c.Method == "anrl" && a.Meta && k >= 2 {
		v.need(a.Metasize >= 1 && a.Metasize <= k-1, "anrl.metasize", a.Metasize,
			fmt.Sprintf("must be in [1, K-1] = [1, %d] (meta-train domains; K = %d sources)", k-1, k))
	} else {
		v.need(a.Metasize >= 1, "anrl.metasize", a.Metasize, "must be >= 1 (meta-train domains)")
	}
	v.positive("anrl.meta_step_size", a.MetaStepSize)
	if c.Method == "anrl" && !a.Meta {
		v.need(!a.FirstOrder, "anrl.first_order", a.FirstOrder, "applies only with anrl.meta: true")
		v.need(!a.TextbookFastWeights, "anrl.textbook_fast_weights", a.TextbookFastWeights, "applies only with anrl.meta: true")
	}
	v.nonNegative("anrl.loss.cls", a.Loss.Cls)
	v.nonNegative("anrl.loss.depth", a.Loss.Depth)
	v.nonNegative("anrl.loss.domain", a.Loss.Domain)
	v.need(!math.IsNaN(a.Loss.Discri) && !math.IsInf(a.Loss.Discri, 0), "anrl.loss.discri", a.Loss.Discri,
		"must be a finite number (a negative weight flips the inter-class term, as TFace's first release had it)")
	v.need(a.CenterMomentum >= 0 && a.CenterMomentum < 1, "anrl.center_momentum", a.CenterMomentum, "must be in [0, 1)")
	v.oneOf("anrl.center_reset", a.CenterReset, "epoch", "never")
	v.oneOf("anrl.batch_grouping", a.BatchGrouping, "domain", "tface")
}

// validateFGHV checks the fghv section's own value ranges always, and what depends on other
// sections or on each other when method is fghv.
func (c *Config) validateFGHV(v *validator) {
	f := c.FGHV
	fghv := c.Method == "fghv"
	v.oneOf("fghv.backbone.gate", f.Backbone.Gate, "1layer", "2layer", "clamp")
	if fghv && !f.Backbone.AdaNorm {
		v.need(f.Backbone.Gate == "1layer", "fghv.backbone.gate", f.Backbone.Gate, "applies only with fghv.backbone.adanorm: true")
	}
	v.need(f.LatentDim >= 1 && f.LatentDim <= 65536, "fghv.latent_dim", f.LatentDim, "must be in [1, 65536]")
	v.need(f.Hypotheses >= 2 && f.Hypotheses <= 65536, "fghv.hypotheses", f.Hypotheses,
		"must be in [2, 65536] (hypotheses per generator; its BatchNorm needs 2)")
	v.positive("fghv.tau", f.Tau)
	v.oneOf("fghv.rcc", f.RCC, "bce", "hinge")
	v.nonNegative("fghv.rcc_margin", f.RCCMargin)
	v.nonNegative("fghv.loss.rcc", f.Loss.RCC)
	v.nonNegative("fghv.loss.var", f.Loss.Var)
	v.nonNegative("fghv.loss.ddc", f.Loss.DDC)
	v.nonNegative("fghv.loss.depth", f.Loss.Depth)
	v.nonNegative("fghv.loss.cls", f.Loss.Cls)
	k := len(c.Dataset.Train)
	if fghv && f.Meta && k >= 2 {
		v.need(f.Metasize >= 1 && f.Metasize <= k-1, "fghv.metasize", f.Metasize,
			fmt.Sprintf("must be in [1, K-1] = [1, %d] (meta-train domains; K = %d sources)", k-1, k))
	} else {
		v.need(f.Metasize >= 1, "fghv.metasize", f.Metasize, "must be >= 1 (meta-train domains)")
	}
	v.positive("fghv.meta_step_size", f.MetaStep)
	v.oneOf("fghv.meta_params", f.MetaParams, "auto", "gates", "embedder", "fgn", "all")
	if fghv {
		v.need(!f.FirstOrder || f.Meta, "fghv.first_order", f.FirstOrder, "applies only with fghv.meta: true")
		v.need(f.MetaParams != "gates" || f.Backbone.AdaNorm, "fghv.meta_params", f.MetaParams,
			"gates needs fghv.backbone.adanorm: true (plain BatchNorm blocks have no gates)")
	}
	v.need(f.Test.Draws >= 1 && f.Test.Draws <= 65536, "fghv.test.draws", f.Test.Draws, "must be in [1, 65536]")
	v.need(f.Test.LatentSteps >= 0 && f.Test.LatentSteps <= 100000, "fghv.test.latent_steps", f.Test.LatentSteps, "must be in [0, 100000]")
	v.nonNegative("fghv.test.latent_lr", f.Test.LatentLR)
	v.oneOf("fghv.test.delta_kl", f.Test.DeltaKL, "after_minus_before", "real_minus_attack")
	v.need(!math.IsNaN(f.Lambda) && !math.IsInf(f.Lambda, 0), "fghv.lambda", f.Lambda, "must be a finite number")
}

func (c *Config) validateOptimizer(v *validator) {
	o, p := c.Optimizer, c.Optimizer.Params
	v.oneOf("optimizer.name", o.Name, "Adam", "AdamW", "SGD")
	v.positive("optimizer.params.lr", p.LR)
	v.nonNegative("optimizer.params.weight_decay", p.WeightDecay)
	v.need(p.Momentum >= 0 && p.Momentum < 1, "optimizer.params.momentum", p.Momentum, "must be in [0, 1)")
	v.need(len(p.Betas) == 2 && p.Betas[0] >= 0 && p.Betas[0] < 1 && p.Betas[1] >= 0 && p.Betas[1] < 1,
		"optimizer.params.betas", p.Betas, "must be two numbers in [0, 1)")
	v.positive("optimizer.params.eps", p.Eps)
	if o.Name == "Adam" {
		v.need(p.Momentum == 0, "optimizer.params.momentum", p.Momentum, "applies to SGD only (Adam uses betas)")
		v.need(!p.Nesterov, "optimizer.params.nesterov", p.Nesterov, "applies to SGD only")
	}
	if o.Name == "SGD" {
		v.need(!p.Nesterov || p.Momentum > 0, "optimizer.params.nesterov", p.Nesterov, "needs optimizer.params.momentum > 0")
		v.need(!p.DecoupledWeightDecay, "optimizer.params.decoupled_weight_decay", p.DecoupledWeightDecay, "applies to Adam only (AdamW)")
	}
}

func (c *Config) validateScheduler(v *validator) {
	s, p := c.Scheduler, c.Scheduler.Params
	v.oneOf("scheduler.name", s.Name, "StepLR", "Cosine", "None")
	v.need(p.DecayT >= 1, "scheduler.params.decay_t", p.DecayT, "must be >= 1 epoch")
	v.need(p.DecayRate > 0 && p.DecayRate <= 1, "scheduler.params.decay_rate", p.DecayRate, "must be in (0, 1]")
	v.need(p.MinLR >= 0 && p.MinLR <= c.Optimizer.Params.LR, "scheduler.params.min_lr", p.MinLR, "must be in [0, optimizer.params.lr]")
	v.need(p.WarmupEpochs >= 0 && p.WarmupEpochs <= float64(c.Train.Epochs), "scheduler.params.warmup_epochs", p.WarmupEpochs,
		"must be in [0, train.epochs]")
}

func (c *Config) validateTrain(v *validator) {
	t := c.Train
	v.need(t.Epochs >= 1, "train.epochs", t.Epochs, "must be >= 1")
	v.need(t.BatchSize >= 1, "train.batch_size", t.BatchSize, "must be >= 1 (samples per domain and class)")
	v.need(t.PrintInterval >= 1, "train.print_interval", t.PrintInterval, "must be >= 1 step")
	if _, _, err := metrics.Select(t.SelectMetric); err != nil {
		v.need(false, "train.select_metric", t.SelectMetric, "must be one of "+strings.Join(metrics.SelectNames(), ", ")+" (any case)")
	} else if target, ok := metrics.SelectTarget(t.SelectMetric); ok {
		v.need(slices.Contains(c.Eval.TPRAtFPR, target), "train.select_metric", t.SelectMetric,
			fmt.Sprintf("needs the FPR target %g in eval.tpr_at_fpr (TPR@FPR is computed for those targets only)", target))
	}
	v.need(t.CheckpointEvery >= 0, "train.checkpoint_every", t.CheckpointEvery, "must be >= 0 (0 = once per epoch)")
}

func (c *Config) validateEval(v *validator) {
	e := c.Eval
	v.need(len(e.Protocols) > 0, "eval.protocols", nil, "needs at least one of paper, realistic")
	seen := map[string]bool{}
	for i, p := range e.Protocols {
		key := fmt.Sprintf("eval.protocols[%d]", i)
		v.oneOf(key, p, "paper", "realistic")
		v.need(!seen[p], key, p, "is listed twice")
		seen[p] = true
	}
	for i, f := range e.TPRAtFPR {
		key := fmt.Sprintf("eval.tpr_at_fpr[%d]", i)
		v.need(f > 0 && f < 1, key, f, "must be an FPR in (0, 1)")
		v.need(!slices.Contains(e.TPRAtFPR[:i], f), key, f, "is listed twice")
	}
}

func allFinite(xs []float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func allPositive(xs []float64) bool {
	for _, x := range xs {
		if !(x > 0) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
