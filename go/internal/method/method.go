// Package method is the Go side of the method seam: one registration per method (anrl.go,
// fghv.go) says how a config becomes the shim's model and training settings, what batch a
// step takes, which statistics a person watches, and how a weights file describes its
// network. The training loop, evaluation and the CLI talk to this interface only; the
// numbers themselves are computed by the method's C++ class behind the same name.
package method

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Method is one training method's Go registration.
type Method interface {
	// Name is the method's config and shim name ("anrl").
	Name() string
	// ModelSettings are the shim settings of the network the config describes.
	ModelSettings(c *config.Config) shim.Settings
	// TrainSettings are the method's training-step settings for the config's k sources.
	TrainSettings(c *config.Config, k int) shim.Settings
	// Batch lends a domain-balanced training batch to the shim as the named tensors the
	// method's step takes (no copy).
	Batch(b *dataset.TrainBatch) []shim.View
	// BatchFromFile reads a batch file (`fas model step`): the views and the training
	// settings its shapes imply (anrl: num_domains).
	BatchFromFile(f *safetensors.File, path string) ([]shim.View, shim.Settings, int, error)
	// ProgressKeys are the step statistics shown on the progress line (with "lr").
	ProgressKeys() []string
	// Feature is the forward output whose per-channel mean embeds a frame (t-SNE).
	Feature() string
	// DescribeWeights gives the settings of a state dict: from its metadata where recorded,
	// else inferred from tensor names and shapes; inferred lists the keys it inferred.
	DescribeWeights(md map[string]string, ts []safetensors.Tensor) (s shim.Settings, inferred []string, err error)
	// SummaryGroup names the module a tensor belongs to (`fas model summary`).
	SummaryGroup(name string) string
}

// ScoreParts is implemented by a method whose attack score combines parts that are worth
// reporting on their own (FGHV: the space score and the distribution score). Evaluation
// writes a full report per part next to the main one and draws the decision plane.
type ScoreParts interface {
	// Parts are the per-frame outputs reported each as its own score (eval/<Name>/).
	Parts() []Part
	// Plane names two per-frame outputs drawn against each other, every unit a point
	// (eval/decision_plane.png); ok false: none.
	Plane() (p Plane, ok bool)
}

// Part is one reported part of a method's score: a forward output with one value per frame.
type Part struct {
	Name   string // report directory and label, e.g. "space"
	Output string // the forward output, e.g. "space_score"
	// Live: higher values mean live (a liveness score); the report's attack score is then
	// 1 - value. Otherwise higher values mean attack and the value is the attack score.
	Live bool
	Desc string // one line for people
}

// AttackScore is the part's value as an attack score (higher = attack).
func (p Part) AttackScore(v float64) float64 {
	if p.Live {
		return 1 - v
	}
	return v
}

// Plane is the decision plane of a method: X and Y are forward outputs with one value per
// frame; the labels name the axes.
type Plane struct {
	Title          string
	X, Y           string
	XLabel, YLabel string
}

// Calibrator is implemented by a method with model settings fitted after training on the
// held-out SOURCE validation lists (FGHV: lambda). The training loop scores the validation
// lists with the best checkpoint, passes the units here and stores the returned settings
// with that checkpoint's weights; the test lists never reach it.
type Calibrator interface {
	// CalibrationOutputs are the per-frame forward outputs Calibrate reads; nil: nothing to
	// fit under this config.
	CalibrationOutputs(c *config.Config) []string
	// Calibrate returns the fitted model settings and a line saying what was fitted.
	Calibrate(c *config.Config, val []Unit) (shim.Settings, string, error)
}

// Unit is one evaluation unit (a video, or a frame at frame level) of a validation pass: its
// label (0 live, 1 attack) and the mean over its frames of each requested forward output.
type Unit struct {
	Label   int
	Outputs map[string]float64
}

// Recognizer is implemented by a method whose state dicts can be told by their tensor names
// (FGHV: RealFGN.*), so that a weights file without metadata (a PyTorch state dict) finds its
// method. Files that no method recognizes are ANRL's.
type Recognizer interface {
	Recognizes(ts []safetensors.Tensor) bool
}

// Recognize names the method of a state dict without metadata: the one recognizer that
// claims it, else "anrl".
func Recognize(ts []safetensors.Tensor) string {
	for _, n := range Names() {
		if r, ok := registry[n].(Recognizer); ok && r.Recognizes(ts) {
			return n
		}
	}
	return "anrl"
}

var registry = map[string]Method{}

func register(m Method) { registry[m.Name()] = m }

func init() {
	register(anrl{})
	register(fghv{})
	register(minifasnet{})
}

// Get returns the method called name.
func Get(name string) (Method, error) {
	m, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown method %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return m, nil
}

// Names lists the registered methods.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TrainConfig maps a config onto the shim's trainer: the generic optimizer settings and the
// method's own training settings for k source domains.
func TrainConfig(c *config.Config, k int) (shim.TrainConfig, error) {
	m, err := Get(c.Method)
	if err != nil {
		return shim.TrainConfig{}, err
	}
	tc := shim.DefaultTrainConfig()
	op := c.Optimizer.Params
	switch strings.ToLower(c.Optimizer.Name) {
	case "adam", "adamw":
		tc.Optimizer = "adam"
		if len(op.Betas) == 2 {
			tc.Beta1, tc.Beta2 = op.Betas[0], op.Betas[1]
		}
		if op.Eps > 0 {
			tc.Eps = op.Eps
		}
	case "sgd":
		tc.Optimizer = "sgd"
		tc.Momentum, tc.Nesterov = op.Momentum, op.Nesterov
	default:
		return tc, fmt.Errorf("optimizer.name %q: want Adam, AdamW or SGD", c.Optimizer.Name)
	}
	tc.WeightDecay = op.WeightDecay
	tc.DecoupledWeightDecay = op.DecoupledWeightDecay || strings.EqualFold(c.Optimizer.Name, "AdamW")
	tc.Seed = uint64(c.Seed)
	tc.Settings = m.TrainSettings(c, k)
	return tc, nil
}

// ModelConfig is the shim model a config describes, built on device with threads.
func ModelConfig(c *config.Config, threads int) (shim.Config, error) {
	m, err := Get(c.Method)
	if err != nil {
		return shim.Config{}, err
	}
	return shim.Config{Method: m.Name(), Size: c.Transform.ImageSize, Device: c.Run.Device, Seed: uint64(c.Seed),
		Threads: threads, Settings: m.ModelSettings(c)}, nil
}

// Mismatch lists the settings in which a network differs from the one want describes, as
// "key: have X, config Y"; keys absent from have are not compared.
func Mismatch(have, want shim.Settings) []string {
	var out []string
	for _, w := range want {
		if h, ok := have.Get(w.Key); ok && h != w.Value {
			out = append(out, fmt.Sprintf("%s: %s, the config says %s", w.Key, h, w.Value))
		}
	}
	return out
}
