package method

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// anrl is ANRL (docs/anrl.md): config section anrl, model settings width, gate and
// adanorm_impl (how AdaNorm is computed; not a property of the weights).
type anrl struct{}

func (anrl) Name() string { return "anrl" }

func num(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func (anrl) ModelSettings(c *config.Config) shim.Settings {
	return shim.Settings{{Key: "width", Value: num(c.Model.Width)}, {Key: "gate", Value: c.ANRL.Gate},
		{Key: "adanorm_impl", Value: c.Model.AdaNormImpl}}
}

func (anrl) TrainSettings(c *config.Config, k int) shim.Settings {
	a := c.ANRL
	return shim.Settings{
		{Key: "num_domains", Value: strconv.Itoa(k)},
		{Key: "metasize", Value: strconv.Itoa(a.Metasize)},
		{Key: "meta", Value: strconv.FormatBool(a.Meta)},
		{Key: "meta_step_size", Value: num(a.MetaStepSize)},
		{Key: "first_order", Value: strconv.FormatBool(a.FirstOrder)},
		{Key: "textbook_fast_weights", Value: strconv.FormatBool(a.TextbookFastWeights)},
		{Key: "freeze_bn", Value: strconv.FormatBool(a.FreezeBN)},
		{Key: "batch_grouping", Value: a.BatchGrouping},
		{Key: "w_cls", Value: num(a.Loss.Cls)},
		{Key: "w_depth", Value: num(a.Loss.Depth)},
		{Key: "w_domain", Value: num(a.Loss.Domain)},
		{Key: "w_discri", Value: num(a.Loss.Discri)},
		{Key: "center_momentum", Value: num(a.CenterMomentum)},
		{Key: "center_reset", Value: a.CenterReset},
	}
}

func (anrl) Batch(b *dataset.TrainBatch) []shim.View { return DomainBatch(b) }

// BatchFromFile reads the shared domain batch (DomainBatchFromFile).
func (anrl) BatchFromFile(f *safetensors.File, path string) ([]shim.View, shim.Settings, int, error) {
	return DomainBatchFromFile(f, path)
}

func (anrl) ProgressKeys() []string { return []string{"loss", "meta_test/cls"} }

func (anrl) Feature() string { return "features" }

func (anrl) DescribeWeights(md map[string]string, ts []safetensors.Tensor) (shim.Settings, []string, error) {
	var inferred []string
	width, ok := md["width"]
	if ok {
		w, err := strconv.ParseFloat(width, 64)
		if err != nil || !(w > 0) || math.IsInf(w, 0) {
			return nil, nil, fmt.Errorf("metadata width=%q is not a positive number", width)
		}
		width = num(w)
	} else {
		w, err := InferWidth(ts)
		if err != nil {
			return nil, nil, err
		}
		width, inferred = num(w), append(inferred, "width")
	}
	gate, ok := md["gate"]
	if !ok || gate == "" {
		g, err := InferGate(ts)
		if err != nil {
			return nil, nil, err
		}
		gate, inferred = g, append(inferred, "gate")
	}
	return shim.Settings{{Key: "width", Value: width}, {Key: "gate", Value: gate}}, inferred, nil
}

// SummaryGroup: FeatExtractor.inc, .down1..3, Classifier, DepthEstmator.
func (anrl) SummaryGroup(name string) string {
	parts := strings.SplitN(name, ".", 3)
	if parts[0] == "FeatExtractor" && len(parts) > 2 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

// InferGate names the gate variant from the tensor names of a state dict.
func InferGate(ts []safetensors.Tensor) (string, error) {
	var found []string
	for _, g := range []struct{ suffix, name string }{
		{".AttentionNet.weight", "1layer"}, {".AttentionNet_fc1.weight", "2layer"}, {".gate_weight", "clamp"},
	} {
		for i := range ts {
			if strings.HasPrefix(ts[i].Name, "FeatExtractor.") && strings.HasSuffix(ts[i].Name, g.suffix) {
				found = append(found, g.name)
				break
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("cannot tell the gate variant: no FeatExtractor tensor named *.AttentionNet.weight (1layer), *.AttentionNet_fc1.weight (2layer) or *.gate_weight (clamp); the constant gates bn and in have no gate tensors, so such weights must name their gate in the metadata")
	}
	return "", fmt.Errorf("tensors of several gate variants (%s) in one state", strings.Join(found, ", "))
}

// WidthProbe is a 4-d conv weight whose output channel count is round(Base·width).
type WidthProbe struct {
	Name string
	Base float64
}

// anrlWidthProbes are ANRL's layers that tell the width (backbone and classifier).
var anrlWidthProbes = []WidthProbe{
	{"FeatExtractor.inc.conv.weight", 64}, {"FeatExtractor.down1.conv_block1.conv.weight", 128},
	{"FeatExtractor.down1.conv_block2.conv.weight", 196}, {"Classifier.conv_block2.conv.weight", 256},
	{"Classifier.conv_block3.conv.weight", 512},
}

// InferWidth infers the width of an ANRL state dict (InferWidthFrom with its probes).
func InferWidth(ts []safetensors.Tensor) (float64, error) { return InferWidthFrom(ts, anrlWidthProbes) }

// InferWidthFrom finds the width multiplier w that gives every channel count of the state:
// a layer of base width b has round(b·w) channels, so each count c bounds w to
// [(c-0.5)/b, (c+0.5)/b). The answer is c/64 of FeatExtractor.inc (probes[0]) when that
// fits all bounds (exact for the usual widths), otherwise the middle of the common interval.
func InferWidthFrom(ts []safetensors.Tensor, probes []WidthProbe) (float64, error) {
	inc := probes[0].Name
	lo, hi := 0.0, math.Inf(1)
	first := 0.0
	for i, p := range probes {
		t := find(ts, p.Name)
		if t == nil || len(t.Shape) != 4 || t.Shape[0] < 1 {
			if i == 0 {
				return 0, fmt.Errorf("cannot infer the width: no 4-d tensor %q", inc)
			}
			continue // Import reports what is missing or mis-shaped
		}
		c := float64(t.Shape[0])
		if i == 0 {
			first = c / p.Base
		}
		lo, hi = math.Max(lo, (c-0.5)/p.Base), math.Min(hi, (c+0.5)/p.Base)
	}
	if first >= lo && first < hi {
		return first, nil
	}
	if lo >= hi {
		return 0, fmt.Errorf("the channel counts fit no single width multiplier")
	}
	return (lo + hi) / 2, nil
}

func find(ts []safetensors.Tensor, name string) *safetensors.Tensor {
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i]
		}
	}
	return nil
}
