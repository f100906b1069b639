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

// TrainConfig is what every method's training shares — the optimizer and the seed of the
// trainer's generator (domain orders, latent draws) — plus the method's own training
// settings. Start from DefaultTrainConfig.
type TrainConfig struct {
	Optimizer   string  `json:"optimizer"` // "adam" or "sgd"
	WeightDecay float64 `json:"weight_decay"`
	// DecoupledWeightDecay decays the weights directly (AdamW); otherwise L2 is added to
	// the gradient (torch.optim.Adam / SGD weight_decay).
	DecoupledWeightDecay bool     `json:"decoupled_weight_decay"`
	Momentum             float64  `json:"momentum"` // SGD
	Nesterov             bool     `json:"nesterov"` // SGD
	Beta1                float64  `json:"beta1"`    // Adam
	Beta2                float64  `json:"beta2"`
	Eps                  float64  `json:"eps"`
	Seed                 uint64   `json:"seed"`
	Settings             Settings `json:"settings"` // the method's training settings
}

// DefaultTrainConfig is Adam (0.9, 0.999, 1e-8) without weight decay and no method settings.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{Optimizer: "adam", Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
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
	return C.fas_train_config{optimizer: opt,
		weight_decay: C.double(c.WeightDecay), decoupled_weight_decay: cbool(c.DecoupledWeightDecay),
		momentum: C.double(c.Momentum), nesterov: cbool(c.Nesterov),
		beta1: C.double(c.Beta1), beta2: C.double(c.Beta2), eps: C.double(c.Eps), seed: C.uint64_t(c.Seed),
	}, nil
}

// Stat is one named statistic of a step.
type Stat struct {
	Name  string
	Value float64
}

// StepResult is what one step returns: the method's statistics in its order (anrl: "loss",
// "meta_train/cls", ...), its other integer results (anrl: "domain_order"), and the step
// count (steps taken so far, this one included).
type StepResult struct {
	Stats []Stat
	Ints  map[string][]int64
	Step  int64
}

// Value returns the statistic called name.
func (r StepResult) Value(name string) (float64, bool) {
	for _, s := range r.Stats {
		if s.Name == name {
			return s.Value, true
		}
	}
	return 0, false
}

// Values returns the statistics as a map.
func (r StepResult) Values() map[string]float64 {
	m := make(map[string]float64, len(r.Stats))
	for _, s := range r.Stats {
		m[s.Name] = s.Value
	}
	return m
}

// Trainer runs training steps of a model's method. Safe for concurrent use; its calls
// serialise with every other non-eval call on the model. It keeps the network alive on its
// own, so the Model may be closed first.
type Trainer struct {
	h      *handle[*C.fas_trainer]
	thread *threadRef // every call runs there: the model's thread
	cfg    TrainConfig
}

// NewTrainer prepares training of m: zero optimizer moments, the method's fresh training
// state, the generator seeded with cfg.Seed.
func NewTrainer(m *Model, cfg TrainConfig) (*Trainer, error) {
	cc, err := cfg.toC()
	if err != nil {
		return nil, fmt.Errorf("new trainer: %w", err)
	}
	var p *C.fas_trainer
	err = m.use("new trainer", func(mp *C.fas_model) error {
		return cSettings(cfg.Settings, func(sp *C.fas_setting, n C.int64_t) error {
			cc.settings, cc.num_settings = sp, n
			return statusError("new trainer", C.fas_trainer_new(mp, &cc, &p))
		})
	})
	if err != nil {
		return nil, err
	}
	t := &Trainer{h: newHandle(p, func(p *C.fas_trainer) { C.fas_trainer_free(p) }),
		thread: &threadRef{t: m.thread.t.retain()}, cfg: cfg}
	runtime.AddCleanup(t, owned[*C.fas_trainer].free, owned[*C.fas_trainer]{t.h, t.thread})
	return t, nil
}

// Config is the configuration the trainer was built with.
func (t *Trainer) Config() TrainConfig { return t.cfg }

// Close frees the trainer after the calls in flight return. Idempotent.
func (t *Trainer) Close() error {
	if t != nil {
		owned[*C.fas_trainer]{t.h, t.thread}.free()
	}
	return nil
}

func (t *Trainer) use(op string, fn func(p *C.fas_trainer) error) error {
	if t == nil {
		return fmt.Errorf("%s: nil trainer: %w", op, ErrClosed)
	}
	var err error
	t.run(func() { err = t.h.use(op, fn) })
	return err
}

// run calls f on the trainer's thread.
func (t *Trainer) run(f func()) { t.thread.t.run(f) }

// Step runs one training step on the named batch tensors at learning rate lr. All or
// nothing: on an error (a bad batch, NaN/Inf in the input, a loss or gradient that is not
// finite: ErrNonFinite, naming the step and the term) the training state is unchanged.
func (t *Trainer) Step(batch []View, lr float64) (StepResult, error) {
	const op = "train step"
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return StepResult{}, fmt.Errorf("%s: learning rate %g: %w", op, lr, ErrInvalidArgument)
	}
	var l *C.fas_tensor_list
	err := t.use(op, func(p *C.fas_trainer) error {
		return withViews(batch, func(v *C.fas_tensor_view, n C.int64_t) error {
			return statusError(op, C.fas_trainer_step(p, v, n, C.double(lr), &l))
		})
	})
	if err != nil {
		return StepResult{}, err
	}
	st, err := takeList(op, l)
	if err != nil {
		return StepResult{}, err
	}
	return stepResult(st)
}

func stepResult(st []StateTensor) (StepResult, error) {
	r := StepResult{Ints: map[string][]int64{}}
	for _, x := range st {
		switch {
		case x.Name == "step" && x.DType == safetensors.I64 && len(x.Shape) == 0:
			v, _ := x.Int64()
			r.Step = v[0]
		case x.DType == safetensors.F64 && len(x.Shape) == 0:
			v, _ := x.Float64()
			r.Stats = append(r.Stats, Stat{x.Name, v[0]})
		case x.DType == safetensors.I64:
			v, _ := x.Int64()
			r.Ints[x.Name] = v
		default:
			return StepResult{}, fmt.Errorf("train step: unexpected result %q (%s %v): %w", x.Name, x.DType, x.Shape, ErrInternal)
		}
	}
	return r, nil
}

// EpochBegin runs the method's per-epoch hook (anrl: resets the domain centers); epoch is
// 1-based.
func (t *Trainer) EpochBegin(epoch int) error {
	return t.use("epoch begin", func(p *C.fas_trainer) error {
		return statusError("epoch begin", C.fas_trainer_epoch_begin(p, C.int64_t(epoch)))
	})
}

// State copies out the whole training state: "model.<name>" (weights and buffers),
// "optim.<name>.exp_avg"/".exp_avg_sq" (Adam) or ".momentum_buffer" (SGD with momentum), the
// method's extra state (anrl: "centers.real", "centers.fake"), "state.step" and "rng.cpu".
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
	views, err := fileViews(ts)
	if err != nil {
		return fmt.Errorf("import trainer: %w", err)
	}
	return t.use("import trainer", func(p *C.fas_trainer) error {
		return withViews(views, func(v *C.fas_tensor_view, n C.int64_t) error {
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
	return safetensors.Write(path, tensorsOf(st), meta)
}

// LoadCheckpoint restores the training state from a file SaveCheckpoint wrote and returns
// its metadata. The file's optimizer must be the trainer's; every tensor must fit (the
// method's settings shape its state); a mismatch fails before anything changes.
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
	if !strings.EqualFold(cfg.Optimizer, t.cfg.Optimizer) {
		return nil, fmt.Errorf("%s: checkpoint of a %s optimizer, the trainer has %s", path, cfg.Optimizer, t.cfg.Optimizer)
	}
	if err := t.Import(f.Tensors); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Metadata, nil
}
