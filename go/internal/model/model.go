// Package model stores networks of the shim as safetensors files under the reference's
// state-dict names, so that PyTorch users can load_state_dict them and weights trained with
// PyTorch load here. The file's __metadata__ records what the shapes cannot tell.
package model

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Metadata keys written by Save.
const (
	KeyFormat  = "format" // "fasgo"
	KeyMethod  = "method"
	KeySize    = "size"
	KeyWidth   = "width"
	KeyGate    = "gate"
	KeyVersion = "fas_version"
)

// DefaultSize is the input size assumed for files that do not record one (the paper's).
const DefaultSize = 256

// Meta describes the network a weights file holds.
type Meta struct {
	Method  string
	Size    int
	Width   float64
	Gate    string
	Version string            // fasgo version that wrote the file ("" if not fasgo)
	Extra   map[string]string // every other metadata key
	// Inferred lists the fields taken from tensor names and shapes or from Options because
	// the file does not record them (a PyTorch state dict).
	Inferred []string
}

// Options steer Load.
type Options struct {
	Size   int               // input size for files without a "size" entry (0: DefaultSize)
	Device string            // "" = cpu
	DType  safetensors.DType // "" = the dtype of the file's weights
}

// Load reads a weights file and builds the network it describes.
func Load(path string, o Options) (*shim.Model, Meta, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, Meta{}, err
	}
	m, meta, err := FromFile(f, o)
	if err != nil {
		return nil, Meta{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, meta, nil
}

// FromFile builds the network a decoded weights file describes and loads its state.
func FromFile(f *safetensors.File, o Options) (*shim.Model, Meta, error) {
	ts := stripModulePrefix(f.Tensors)
	meta, err := Describe(f.Metadata, ts, o)
	if err != nil {
		return nil, Meta{}, err
	}
	dt := o.DType
	if dt == "" {
		dt = safetensors.F32
		if t := find(ts, "FeatExtractor.inc.conv.weight"); t != nil && t.DType == safetensors.F64 {
			dt = safetensors.F64
		}
	}
	m, err := shim.NewModel(shim.Config{Method: meta.Method, Size: meta.Size, Width: meta.Width,
		Gate: meta.Gate, DType: dt, Device: o.Device})
	if err != nil {
		return nil, Meta{}, err
	}
	if err := m.Import(ts); err != nil {
		m.Close()
		return nil, Meta{}, err
	}
	return m, meta, nil
}

// Save writes the model's state and metadata (plus extra keys) atomically.
func Save(m *shim.Model, path string, extra map[string]string) error {
	ts, err := m.Export()
	if err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	meta, err := Metadata(m.Info(), extra)
	if err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	return safetensors.Write(path, ts, meta)
}

// Metadata is the __metadata__ Save writes for a model.
func Metadata(info shim.ModelInfo, extra map[string]string) (map[string]string, error) {
	meta := map[string]string{
		KeyFormat: "fasgo",
		KeyMethod: info.Method,
		KeySize:   strconv.Itoa(info.Size),
		KeyWidth:  strconv.FormatFloat(info.Width, 'g', -1, 64),
		KeyGate:   info.Gate,
	}
	if v, err := shim.Version(); err == nil {
		meta[KeyVersion] = v.Shim
	}
	for k, v := range extra {
		if _, reserved := meta[k]; reserved || k == KeyVersion {
			return nil, fmt.Errorf("metadata key %q is reserved", k)
		}
		meta[k] = v
	}
	return meta, nil
}

// Describe works out the network from metadata, falling back to tensor names and shapes:
// the gate from which gate tensors exist, the width from the channel counts, the size from
// o.Size (it does not show in any shape).
func Describe(md map[string]string, ts []safetensors.Tensor, o Options) (Meta, error) {
	meta := Meta{Method: md[KeyMethod], Gate: md[KeyGate], Version: md[KeyVersion], Extra: map[string]string{}}
	maps.Copy(meta.Extra, md)
	for _, k := range []string{KeyFormat, KeyMethod, KeySize, KeyWidth, KeyGate, KeyVersion} {
		delete(meta.Extra, k)
	}
	if meta.Method == "" {
		meta.Method = "anrl"
		meta.Inferred = append(meta.Inferred, "method")
	}
	if err := describeSize(&meta, md, o); err != nil {
		return Meta{}, err
	}
	if s, ok := md[KeyWidth]; ok {
		w, err := strconv.ParseFloat(s, 64)
		if err != nil || !(w > 0) || math.IsInf(w, 0) {
			return Meta{}, fmt.Errorf("metadata %s=%q is not a positive number", KeyWidth, s)
		}
		meta.Width = w
	} else {
		w, err := InferWidth(ts)
		if err != nil {
			return Meta{}, err
		}
		meta.Width = w
		meta.Inferred = append(meta.Inferred, "width")
	}
	if meta.Gate == "" {
		g, err := InferGate(ts)
		if err != nil {
			return Meta{}, err
		}
		meta.Gate = g
		meta.Inferred = append(meta.Inferred, "gate")
	}
	return meta, nil
}

func describeSize(meta *Meta, md map[string]string, o Options) error {
	s, ok := md[KeySize]
	if !ok {
		meta.Size = o.Size
		if meta.Size == 0 {
			meta.Size = DefaultSize
		}
		meta.Inferred = append(meta.Inferred, "size")
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("metadata %s=%q is not a positive integer", KeySize, s)
	}
	if o.Size != 0 && o.Size != n {
		return fmt.Errorf("the file records input size %d but %d was asked for", n, o.Size)
	}
	meta.Size = n
	return nil
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
		return "", fmt.Errorf("cannot tell the gate variant: no FeatExtractor tensor named *.AttentionNet.weight (1layer), *.AttentionNet_fc1.weight (2layer) or *.gate_weight (clamp)")
	}
	return "", fmt.Errorf("tensors of several gate variants (%s) in one state", strings.Join(found, ", "))
}

// InferWidth finds the width multiplier w that gives every channel count of the state:
// a layer of base width b has round(b·w) channels, so each count c bounds w to
// [(c-0.5)/b, (c+0.5)/b). The answer is c/64 of FeatExtractor.inc when that fits all
// bounds (exact for the usual widths), otherwise the middle of the common interval.
func InferWidth(ts []safetensors.Tensor) (float64, error) {
	const inc = "FeatExtractor.inc.conv.weight"
	probes := []struct {
		name string
		base float64
	}{
		{inc, 64}, {"FeatExtractor.down1.conv_block1.conv.weight", 128},
		{"FeatExtractor.down1.conv_block2.conv.weight", 196}, {"Classifier.conv_block2.conv.weight", 256},
		{"Classifier.conv_block3.conv.weight", 512},
	}
	lo, hi := 0.0, math.Inf(1)
	first := 0.0
	for i, p := range probes {
		t := find(ts, p.name)
		if t == nil || len(t.Shape) != 4 || t.Shape[0] < 1 {
			if i == 0 {
				return 0, fmt.Errorf("cannot infer the width: no 4-d tensor %q", inc)
			}
			continue // Import reports what is missing or mis-shaped
		}
		c := float64(t.Shape[0])
		if i == 0 {
			first = c / p.base
		}
		lo, hi = math.Max(lo, (c-0.5)/p.base), math.Min(hi, (c+0.5)/p.base)
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

// stripModulePrefix drops the "module." that DistributedDataParallel puts before every
// name, when every name has it.
func stripModulePrefix(ts []safetensors.Tensor) []safetensors.Tensor {
	if len(ts) == 0 {
		return ts
	}
	for i := range ts {
		if !strings.HasPrefix(ts[i].Name, "module.") {
			return ts
		}
	}
	out := make([]safetensors.Tensor, len(ts))
	for i := range ts {
		out[i] = ts[i]
		out[i].Name = strings.TrimPrefix(ts[i].Name, "module.")
	}
	return out
}
