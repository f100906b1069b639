// Package schedule computes the learning rate of every optimizer step: StepLR or cosine
// annealing over (fractional) epochs, optionally multiplied by a linear warmup counted in
// steps.
package schedule

import (
	"fmt"
	"math"

	"github.com/fasgo/fasgo/go/internal/config"
)

// Spec describes a schedule. Epoch counts are in epochs of the training loop.
type Spec struct {
	Name         string  // StepLR | Cosine | None
	BaseLR       float64 // the optimizer's lr
	DecayT       int     // StepLR: epochs between decays
	DecayRate    float64 // StepLR: factor per decay
	MinLR        float64 // Cosine: the lr the cosine ends at
	Epochs       int     // Cosine: the epoch at which it reaches MinLR
	WarmupEpochs float64 // linear warmup length; 0 = none
}

// Schedule maps a global optimizer step (0-based, counted across epochs) to a learning rate.
type Schedule struct {
	spec          Spec
	stepsPerEpoch int
	warmupSteps   int
}

// New checks s and returns its schedule for an epoch of stepsPerEpoch steps.
func New(s Spec, stepsPerEpoch int) (*Schedule, error) {
	if stepsPerEpoch < 1 {
		return nil, fmt.Errorf("schedule: %d steps per epoch, need >= 1", stepsPerEpoch)
	}
	if !(s.BaseLR > 0) || math.IsInf(s.BaseLR, 0) {
		return nil, fmt.Errorf("schedule: base lr %v must be a finite number > 0", s.BaseLR)
	}
	switch s.Name {
	case "StepLR":
		if s.DecayT < 1 || !(s.DecayRate > 0 && s.DecayRate <= 1) {
			return nil, fmt.Errorf("schedule: StepLR needs decay_t >= 1 and decay_rate in (0, 1], got %d and %v", s.DecayT, s.DecayRate)
		}
	case "Cosine":
		if s.Epochs < 1 || !(s.MinLR >= 0 && s.MinLR <= s.BaseLR) {
			return nil, fmt.Errorf("schedule: Cosine needs epochs >= 1 and min_lr in [0, lr], got %d and %v", s.Epochs, s.MinLR)
		}
	case "None":
	default:
		return nil, fmt.Errorf("schedule: unknown schedule %q (StepLR, Cosine, None)", s.Name)
	}
	if !(s.WarmupEpochs >= 0) || math.IsInf(s.WarmupEpochs, 0) {
		return nil, fmt.Errorf("schedule: warmup_epochs %v must be a finite number >= 0", s.WarmupEpochs)
	}
	// Any positive warmup lasts at least one step.
	warm := int(math.Ceil(s.WarmupEpochs * float64(stepsPerEpoch)))
	return &Schedule{spec: s, stepsPerEpoch: stepsPerEpoch, warmupSteps: warm}, nil
}

// FromConfig builds the schedule a config asks for.
func FromConfig(c *config.Config, stepsPerEpoch int) (*Schedule, error) {
	p := c.Scheduler.Params
	return New(Spec{
		Name: c.Scheduler.Name, BaseLR: c.Optimizer.Params.LR,
		DecayT: p.DecayT, DecayRate: p.DecayRate, MinLR: p.MinLR,
		Epochs: c.Train.Epochs, WarmupEpochs: p.WarmupEpochs,
	}, stepsPerEpoch)
}

// WarmupSteps is the number of steps the warmup lasts.
func (s *Schedule) WarmupSteps() int { return s.warmupSteps }

// Epoch is the fractional epoch at the start of step.
func (s *Schedule) Epoch(step int) float64 { return float64(step) / float64(s.stepsPerEpoch) }

// LR is the learning rate of step: the main schedule at the step's fractional epoch, times
// (step+1)/W during the first W warmup steps.
func (s *Schedule) LR(step int) float64 {
	if step < 0 {
		step = 0
	}
	lr := s.main(step)
	if step < s.warmupSteps {
		lr *= float64(step+1) / float64(s.warmupSteps)
	}
	return lr
}

func (s *Schedule) main(step int) float64 {
	sp := s.spec
	switch sp.Name {
	case "StepLR":
		// The reference steps per epoch: lr · rate^floor(epoch/decay_t). Integer division
		// keeps the boundaries exact.
		n := step / (s.stepsPerEpoch * sp.DecayT)
		return sp.BaseLR * math.Pow(sp.DecayRate, float64(n))
	case "Cosine":
		e := math.Min(s.Epoch(step), float64(sp.Epochs))
		return sp.MinLR + (sp.BaseLR-sp.MinLR)*(1+math.Cos(math.Pi*e/float64(sp.Epochs)))/2
	}
	return sp.BaseLR
}
