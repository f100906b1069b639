// Package model stores networks of the shim as safetensors files under the reference's
// state-dict names, so that PyTorch users can load_state_dict them and weights trained with
// PyTorch load here. The file's __metadata__ records what the shapes cannot tell: the method,
// the input size and the method's model settings (anrl: width, gate), each under its own key.
package model

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Metadata keys written by Save besides the method's settings.
const (
	KeyFormat  = "format" // "fasgo"
	KeyMethod  = "method"
	KeySize    = "size"
	KeyVersion = "fas_version"
)

// DefaultSize is the input size assumed for files that do not record one (the paper's).
const DefaultSize = 256

// Meta describes the network a weights file holds.
type Meta struct {
	Method   string
	Size     int
	Settings shim.Settings     // the method's model settings (anrl: width, gate)
	Version  string            // fasgo version that wrote the file ("" if not fasgo)
	Extra    map[string]string // every other metadata key
	// Inferred lists the fields taken from tensor names and shapes or from Options because
	// the file does not record them (a PyTorch state dict).
	Inferred []string
	// FromCheckpoint is set when the file was a training state (its "model." tensors).
	FromCheckpoint bool
}

// Setting returns one of the method's settings ("" when absent).
func (m Meta) Setting(key string) string {
	v, _ := m.Settings.Get(key)
	return v
}

// Options steer Load.
type Options struct {
	Size    int               // input size for files without a "size" entry (0: DefaultSize)
	Device  string            // "" = cpu
	DType   safetensors.DType // "" = the dtype of the file's weights
	Threads int               // 0 = every core
}

// Load reads a weights file — or a training-state file, whose model part it takes — and
// builds the network it describes.
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

// FromFile builds the network a decoded weights (or training-state) file describes and
// loads its state.
func FromFile(f *safetensors.File, o Options) (*shim.Model, Meta, error) {
	md, ts, fromCkpt, err := weightsOf(f)
	if err != nil {
		return nil, Meta{}, err
	}
	ts = stripModulePrefix(ts)
	meta, err := Describe(md, ts, o)
	if err != nil {
		return nil, Meta{}, err
	}
	meta.FromCheckpoint = fromCkpt
	dt := o.DType
	if dt == "" {
		dt = safetensors.F32
		for i := range ts {
			if ts[i].DType == safetensors.F64 {
				dt = safetensors.F64
				break
			}
		}
	}
	m, err := shim.NewModel(shim.Config{Method: meta.Method, Size: meta.Size, DType: dt, Device: o.Device,
		Threads: o.Threads, Settings: meta.Settings})
	if err != nil {
		return nil, Meta{}, err
	}
	if err := m.Import(ts); err != nil {
		m.Close()
		return nil, Meta{}, err
	}
	return m, meta, nil
}

// weightsOf returns the metadata and tensors of the network a file holds: the file itself,
// or for a training-state file (format fasgo-checkpoint) its "model." tensors and the
// model description recorded with them.
func weightsOf(f *safetensors.File) (map[string]string, []safetensors.Tensor, bool, error) {
	if f.Metadata[KeyFormat] != shim.CheckpointFormat {
		return f.Metadata, f.Tensors, false, nil
	}
	var info shim.ModelInfo
	if err := json.Unmarshal([]byte(f.Metadata[shim.KeyModelInfo]), &info); err != nil {
		return nil, nil, false, fmt.Errorf("a training-state file whose metadata %s does not parse: %w", shim.KeyModelInfo, err)
	}
	md := map[string]string{KeyMethod: info.Method, KeySize: strconv.Itoa(info.Size)}
	for _, s := range info.Settings {
		md[s.Key] = s.Value
	}
	for _, k := range []string{"epoch", "epoch_step", "step", "seed"} {
		if v, ok := f.Metadata[k]; ok {
			md[k] = v
		}
	}
	var ts []safetensors.Tensor
	for _, t := range f.Tensors {
		if name, ok := strings.CutPrefix(t.Name, "model."); ok {
			t.Name = name
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil, nil, false, fmt.Errorf("a training-state file without model.* tensors")
	}
	return md, ts, true, nil
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
	}
	for _, s := range info.Settings {
		meta[s.Key] = s.Value
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

// Describe works out the network from metadata, falling back to the method's inference from
// tensor names and shapes (a file without metadata is the state dict of the method that
// recognizes its names, method.Recognize: fghv's, else anrl's) and to o.Size for the input
// size (it does not show in any shape).
func Describe(md map[string]string, ts []safetensors.Tensor, o Options) (Meta, error) {
	meta := Meta{Method: md[KeyMethod], Version: md[KeyVersion], Extra: map[string]string{}}
	if meta.Method == "" {
		meta.Method = method.Recognize(ts)
		meta.Inferred = append(meta.Inferred, "method")
	}
	me, err := method.Get(meta.Method)
	if err != nil {
		return Meta{}, fmt.Errorf("metadata %s: %w", KeyMethod, err)
	}
	if err := describeSize(&meta, md, o); err != nil {
		return Meta{}, err
	}
	s, inferred, err := me.DescribeWeights(md, ts)
	if err != nil {
		return Meta{}, err
	}
	meta.Settings = s
	meta.Inferred = append(meta.Inferred, inferred...)
	maps.Copy(meta.Extra, md)
	for _, k := range []string{KeyFormat, KeyMethod, KeySize, KeyVersion} {
		delete(meta.Extra, k)
	}
	for _, kv := range s {
		delete(meta.Extra, kv.Key)
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

// SetSettings rewrites a weights file, or a training-state file (its model description),
// with the model settings in set replacing or joining the recorded ones (FGHV's fitted
// lambda), atomically; the tensors are unchanged. The network with the new settings must
// build and take the file's tensors, or nothing is written.
func SetSettings(path string, set shim.Settings) error {
	f, err := safetensors.Read(path)
	if err != nil {
		return err
	}
	md := maps.Clone(f.Metadata)
	if md[KeyFormat] == shim.CheckpointFormat {
		var info shim.ModelInfo
		if err := json.Unmarshal([]byte(md[shim.KeyModelInfo]), &info); err != nil {
			return fmt.Errorf("%s: metadata %s does not parse: %w", path, shim.KeyModelInfo, err)
		}
		info.Settings = mergeSettings(info.Settings, set)
		b, err := json.Marshal(info)
		if err != nil {
			return err
		}
		md[shim.KeyModelInfo] = string(b)
	} else {
		for _, kv := range set {
			if kv.Key == KeyFormat || kv.Key == KeyMethod || kv.Key == KeySize || kv.Key == KeyVersion {
				return fmt.Errorf("%s: %q is not a model setting", path, kv.Key)
			}
			md[kv.Key] = kv.Value
		}
	}
	f.Metadata = md
	m, _, err := FromFile(f, Options{Threads: 1})
	if err != nil {
		return fmt.Errorf("%s: with settings %s: %w", path, set, err)
	}
	have := m.Info().Settings
	m.Close()
	for _, kv := range set {
		if v, ok := have.Get(kv.Key); !ok || v != kv.Value {
			return fmt.Errorf("%s: %s=%s is not a model setting of its %s network (settings: %s)", path, kv.Key, kv.Value, m.Info().Method, have)
		}
	}
	return safetensors.Write(path, f.Tensors, md)
}

// mergeSettings replaces the values of have's keys that set gives and appends set's others.
func mergeSettings(have, set shim.Settings) shim.Settings {
	out := append(shim.Settings{}, have...)
	for _, kv := range set {
		found := false
		for i := range out {
			if out[i].Key == kv.Key {
				out[i].Value, found = kv.Value, true
			}
		}
		if !found {
			out = append(out, kv)
		}
	}
	return out
}
