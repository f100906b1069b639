package shim

/*
#include <stdlib.h>
#include "fas/fas.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strings"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// TrainConfig configures the ANRL training step (spec: "Training step"). Start from
// DefaultTrainConfig: the zero value is not a usable configuration.
type TrainConfig struct {
	NumDomains   int     `json:"num_domains"`    // K source domains, 2..16
	Metasize     int     `json:"metasize"`       // meta-train domains per step, 1..K-1
	Meta         bool    `json:"meta"`           // false: plain supervised step over all K domains (ablation)
	MetaStepSize float64 `json:"meta_step_size"` // alpha of the inner update
	// Loss weights: loss_d = WCls·L_cls + WDepth·L_dep + WDomain·L_dom + WDiscri·L_dis.
	WCls    float64 `json:"w_cls"`
	WDepth  float64 `json:"w_depth"`
	WDomain float64 `json:"w_domain"`
	WDiscri float64 `json:"w_discri"`
	// CenterMomentum m of the domain centers: center <- m·center + (1-m)·batch mean.
	CenterMomentum float64 `json:"center_momentum"`
	FirstOrder     bool    `json:"first_order"` // inner gradients detached (ablation)
	// TextbookFastWeights builds theta' = theta - alpha·g on theta itself instead of the
	// reference's detached copy, so the meta-test loss also reaches theta directly.
	TextbookFastWeights bool    `json:"textbook_fast_weights"`
	Optimizer           string  `json:"optimizer"` // "adam" or "sgd"
	WeightDecay         float64 `json:"weight_decay"`
	// DecoupledWeightDecay decays the weights directly (AdamW); otherwise L2 is added to
	// the gradient (torch.optim.Adam / SGD weight_decay).
	DecoupledWeightDecay bool    `json:"decoupled_weight_decay"`
	Momentum             float64 `json:"momentum"` // SGD
	Nesterov             bool    `json:"nesterov"` // SGD
	Beta1                float64 `json:"beta1"`    // Adam
	Beta2                float64 `json:"beta2"`
	Eps                  float64 `json:"eps"`
	Seed                 uint64  `json:"seed"` // domain-order RNG
}

// DefaultTrainConfig returns the spec's settings for k source domains: meta-learning with
// 2 meta-train domains (1 when k = 2), alpha 1e-4, weights 1, 0.1, 0.001, 0.001, center
// momentum 0.9, the reference's detached fast weights, Adam (0.9, 0.999, 1e-8) without
// weight decay.
func DefaultTrainConfig(k int) TrainConfig {
	meta := 2
	if k <= 2 {
		meta = 1
	}
	return TrainConfig{
		NumDomains: k, Metasize: meta, Meta: true, MetaStepSize: 1e-4,
		WCls: 1, WDepth: 0.1, WDomain: 0.001, WDiscri: 0.001, CenterMomentum: 0.9,
		Optimizer: "adam", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
	}
}

func (c TrainConfig) toC() (C.fas_train_config, error) {
	var opt C.int
	switch strings.ToLower(c.Optimizer) {
	case "adam":
		opt = C.FAS_OPT_ADAM
	case "sgd":
		opt = C.FAS_OPT_SGD
	default:
		return C.fas_train_config{}, fmt.Errorf("optimizer %q (want adam or sgd): %w", c.Optimizer, ErrInvalidArgument)
	}
	if c.NumDomains < 2 || c.NumDomains > 16 {
		return C.fas_train_config{}, fmt.Errorf("num_domains %d (want 2..16): %w", c.NumDomains, ErrInvalidArgument)
	}
	if c.Metasize < 0 || c.Metasize > 16 {
		return C.fas_train_config{}, fmt.Errorf("metasize %d out of range: %w", c.Metasize, ErrInvalidArgument)
	}
	return C.fas_train_config{
		num_domains: C.int(c.NumDomains), metasize: C.int(c.Metasize), meta: cbool(c.Meta),
		meta_step_size: C.double(c.MetaStepSize),
		w_cls:          C.double(c.WCls), w_depth: C.double(c.WDepth), w_domain: C.double(c.WDomain), w_discri: C.double(c.WDiscri),
		center_momentum: C.double(c.CenterMomentum), first_order: cbool(c.FirstOrder),
		textbook_fast_weights: cbool(c.TextbookFastWeights), optimizer: opt,
		weight_decay: C.double(c.WeightDecay), decoupled_weight_decay: cbool(c.DecoupledWeightDecay),
		momentum: C.double(c.Momentum), nesterov: cbool(c.Nesterov),
		beta1: C.double(c.Beta1), beta2: C.double(c.Beta2), eps: C.double(c.Eps), seed: C.uint64_t(c.Seed),
	}, nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Batch is one training step's input, one contiguous buffer per tensor.
type Batch struct {
	NumDomains int       // K
	PerClass   int       // B: per domain B live then B attack samples
	Size       int       // S, the model's input size
	Images     []float32 // K×2B×6×S×S
	Depth      []float32 // K×2B×F×F, F = S/8
	Labels     []int64   // K×2B: per domain B zeros (live) then B ones (attack)
	// DomainOrder, when set, is a permutation of 0..K-1 whose first Metasize domains are
	// meta-train; nil draws the order from the trainer's RNG.
	DomainOrder []int
}

func (b *Batch) check() error {
	if b == nil {
		return fmt.Errorf("nil batch: %w", ErrInvalidArgument)
	}
	if b.NumDomains < 1 || b.NumDomains > 16 || b.PerClass < 1 || b.PerClass > 1<<20 || b.Size < 8 || b.Size > 1<<14 {
		return fmt.Errorf("batch of %d domains × 2×%d samples of size %d: %w", b.NumDomains, b.PerClass, b.Size, ErrInvalidArgument)
	}
	n := int64(b.NumDomains) * 2 * int64(b.PerClass)
	s, f := int64(b.Size), int64(b.Size/8)
	for _, c := range []struct {
		name      string
		got, want int64
		shape     string
	}{
		{"images", int64(len(b.Images)), n * 6 * s * s, "K×2B×6×S×S"},
		{"depth", int64(len(b.Depth)), n * f * f, "K×2B×F×F"},
		{"labels", int64(len(b.Labels)), n, "K×2B"},
	} {
		if c.got != c.want {
			return fmt.Errorf("batch %s has %d values, want %s = %d (K=%d, B=%d, S=%d): %w",
				c.name, c.got, c.shape, c.want, b.NumDomains, b.PerClass, b.Size, ErrInvalidArgument)
		}
	}
	if b.DomainOrder != nil && len(b.DomainOrder) != b.NumDomains {
		return fmt.Errorf("domain order %v has %d entries for %d domains: %w", b.DomainOrder, len(b.DomainOrder), b.NumDomains, ErrInvalidArgument)
	}
	return nil
}

// PhaseStats are the figures of one phase of a step: the losses summed over the phase's
// domains (unweighted), the accuracy over its samples and the weighted phase loss.
type PhaseStats struct {
	Cls    float64 `json:"cls"`
	Depth  float64 `json:"depth"`
	Domain float64 `json:"domain"`
	Discri float64 `json:"discri"`
	Acc    float64 `json:"acc"`
	Loss   float64 `json:"loss"`
}

// StepStats are the figures of one step. MetaTest is zero for a plain step.
type StepStats struct {
	MetaTrain   PhaseStats `json:"meta_train"`
	MetaTest    PhaseStats `json:"meta_test"`
	Loss        float64    `json:"loss"` // the total that was back-propagated
	Step        int64      `json:"step"` // steps taken so far, this one included
	DomainOrder []int      `json:"domain_order"`
}

// Trainer runs ANRL training steps on a model. Safe for concurrent use; its calls
// serialise with every other non-eval call on the model. It keeps the network alive on its
// own, so the Model may be closed first.
type Trainer struct {
	h   *handle[*C.fas_trainer]
	cfg TrainConfig
}

// NewTrainer prepares training of m: zero optimizer moments, centers all ones, the RNG
// seeded with cfg.Seed.
func NewTrainer(m *Model, cfg TrainConfig) (*Trainer, error) {
	cc, err := cfg.toC()
	if err != nil {
		return nil, fmt.Errorf("new trainer: %w", err)
	}
	var p *C.fas_trainer
	err = m.use("new trainer", func(mp *C.fas_model) error {
		return statusError("new trainer", C.fas_trainer_new(mp, &cc, &p))
	})
	if err != nil {
		return nil, err
	}
	t := &Trainer{h: newHandle(p, func(p *C.fas_trainer) { C.fas_trainer_free(p) }), cfg: cfg}
	runtime.AddCleanup(t, func(h *handle[*C.fas_trainer]) { h.close() }, t.h)
	return t, nil
}

// Config is the configuration the trainer was built with.
func (t *Trainer) Config() TrainConfig { return t.cfg }

// Close frees the trainer after the calls in flight return. Idempotent.
func (t *Trainer) Close() error {
	if t != nil {
		t.h.close()
	}
	return nil
}

func (t *Trainer) use(op string, fn func(p *C.fas_trainer) error) error {
	if t == nil {
		return fmt.Errorf("%s: nil trainer: %w", op, ErrClosed)
	}
	return t.h.use(op, fn)
}

// Step runs one training step at learning rate lr. All or nothing: on an error (a bad
// batch, NaN/Inf in the input: ErrNonFinite, a loss or gradient that is not finite:
// ErrNonFinite) the training state is unchanged.
func (t *Trainer) Step(b *Batch, lr float64) (StepStats, error) {
	const op = "train step"
	if err := b.check(); err != nil {
		return StepStats{}, fmt.Errorf("%s: %w", op, err)
	}
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return StepStats{}, fmt.Errorf("%s: learning rate %g: %w", op, lr, ErrInvalidArgument)
	}
	var pin runtime.Pinner
	defer pin.Unpin()
	pin.Pin(&b.Images[0])
	pin.Pin(&b.Depth[0])
	pin.Pin(&b.Labels[0])
	cb := C.fas_batch{num_domains: C.int(b.NumDomains), per_class: C.int(b.PerClass), size: C.int(b.Size),
		images: (*C.float)(&b.Images[0]), depth: (*C.float)(&b.Depth[0]), labels: (*C.int64_t)(&b.Labels[0])}
	if b.DomainOrder != nil {
		order := make([]C.int, len(b.DomainOrder))
		for i, d := range b.DomainOrder {
			if d < 0 || d >= b.NumDomains {
				return StepStats{}, fmt.Errorf("%s: domain order %v is not a permutation of 0..%d: %w", op, b.DomainOrder, b.NumDomains-1, ErrInvalidArgument)
			}
			order[i] = C.int(d)
		}
		pin.Pin(&order[0])
		cb.domain_order = &order[0]
	}
	var cs C.fas_step_stats
	err := t.use(op, func(p *C.fas_trainer) error {
		return statusError(op, C.fas_trainer_step(p, &cb, C.double(lr), &cs))
	})
	runtime.KeepAlive(b)
	if err != nil {
		return StepStats{}, err
	}
	s := StepStats{MetaTrain: phase(cs.meta_train), MetaTest: phase(cs.meta_test), Loss: float64(cs.loss),
		Step: int64(cs.step), DomainOrder: make([]int, b.NumDomains)}
	for i := range s.DomainOrder {
		s.DomainOrder[i] = int(cs.domain_order[i])
	}
	return s, nil
}

func phase(p C.fas_phase_stats) PhaseStats {
	return PhaseStats{Cls: float64(p.cls), Depth: float64(p.depth), Domain: float64(p.domain),
		Discri: float64(p.discri), Acc: float64(p.acc), Loss: float64(p.loss)}
}

// ResetCenters sets the domain centers to all ones (the reference does so every epoch).
func (t *Trainer) ResetCenters() error {
	return t.use("reset centers", func(p *C.fas_trainer) error {
		return statusError("reset centers", C.fas_trainer_reset_centers(p))
	})
}

// State copies out the whole training state: "model.<name>" (weights and BN buffers),
// "optim.<name>.exp_avg"/".exp_avg_sq" (Adam) or ".momentum_buffer" (SGD with momentum),
// "centers.real" and "centers.fake" (K×C), "state.step" and "rng.cpu".
func (t *Trainer) State() ([]StateTensor, error) {
	var l *C.fas_tensor_list
	err := t.use("export trainer", func(p *C.fas_trainer) error {
		return statusError("export trainer", C.fas_trainer_export(p, &l))
	})
	if err != nil {
		return nil, err
	}
	return takeList("export trainer", l)
}

// Import replaces the whole training state, all or nothing: every missing, extra,
// mis-shaped or mistyped tensor is listed in the error and nothing changes.
func (t *Trainer) Import(ts []safetensors.Tensor) error {
	return t.use("import trainer", func(p *C.fas_trainer) error {
		return withViews(ts, func(v *C.fas_tensor_view, n C.int64_t) error {
			return statusError("import trainer", C.fas_trainer_import(p, v, n))
		})
	})
}

// Checkpoint metadata keys.
const (
	CheckpointFormat = "fasgo-checkpoint"
	KeyTrainConfig   = "train_config" // TrainConfig as JSON
	KeyModelInfo     = "model_info"   // ModelInfo as JSON
)

// SaveCheckpoint writes the training state to path atomically (a crash leaves the old
// file or the new one), with the train config, the model description and extra as metadata.
func (t *Trainer) SaveCheckpoint(path string, info ModelInfo, extra map[string]string) error {
	st, err := t.State()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	ts := make([]safetensors.Tensor, len(st))
	for i := range st {
		ts[i] = st[i].Tensor
	}
	cfg, err := json.Marshal(t.cfg)
	if err != nil {
		return err
	}
	mi, err := json.Marshal(info)
	if err != nil {
		return err
	}
	meta := map[string]string{"format": CheckpointFormat, KeyTrainConfig: string(cfg), KeyModelInfo: string(mi)}
	for k, v := range extra {
		if _, taken := meta[k]; taken {
			return fmt.Errorf("checkpoint %s: metadata key %q is reserved", path, k)
		}
		meta[k] = v
	}
	return safetensors.Write(path, ts, meta)
}

// LoadCheckpoint restores the training state from a file SaveCheckpoint wrote and returns
// its metadata. The file's train config must agree with the trainer's in everything that
// shapes the state (domains, optimizer); a mismatch fails before anything changes.
func (t *Trainer) LoadCheckpoint(path string) (map[string]string, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	if f.Metadata["format"] != CheckpointFormat {
		return nil, fmt.Errorf("%s: not a fasgo checkpoint (metadata format=%q)", path, f.Metadata["format"])
	}
	var cfg TrainConfig
	if err := json.Unmarshal([]byte(f.Metadata[KeyTrainConfig]), &cfg); err != nil {
		return nil, fmt.Errorf("%s: metadata %s: %w", path, KeyTrainConfig, err)
	}
	if cfg.NumDomains != t.cfg.NumDomains || !strings.EqualFold(cfg.Optimizer, t.cfg.Optimizer) {
		return nil, fmt.Errorf("%s: checkpoint of %d domains with %s, the trainer has %d with %s",
			path, cfg.NumDomains, cfg.Optimizer, t.cfg.NumDomains, t.cfg.Optimizer)
	}
	if err := t.Import(f.Tensors); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Metadata, nil
}
