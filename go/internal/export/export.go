// Package export defines the deployable model file that `fas export` writes and the public
// package liveness loads: the network's weights as safetensors (the reference's state-dict
// names, loadable by PyTorch, `fas eval` and `fas model forward` like any weights file) plus
// the metadata a service needs to run it without the training config: the method and its
// settings, the input size, the input layout and normalisation, the face-crop rule, the
// decision threshold calibrated on source-domain validation data (or the statement that
// there is none) and where the model came from.
//
// The package imports only the shim and the safetensors codec, so that the public package
// stays free of configuration, data and training code.
package export

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// FormatVersion names this layout of the metadata (key KeyExport). A reader refuses others.
const FormatVersion = "fasgo-liveness/1"

// Metadata keys of an exported model. Besides these, every model setting is also stored
// under its own name (as model.Save does), so the file stays an ordinary weights file.
const (
	KeyFormat         = "format"               // "fasgo" (as every weights file fasgo writes)
	KeyExport         = "export_format"        // FormatVersion
	KeyMethod         = "method"               // "anrl"
	KeySize           = "size"                 // input size S
	KeySettings       = "model_settings"       // JSON [[key, value], ...]: the settings that rebuild the network, in order
	KeyInput          = "input"                // InputRGBHSV
	KeyMean           = "transform_mean"       // JSON [m0, m1, m2]: per-channel mean, fractions of 255 (RGB and HSV)
	KeyStd            = "transform_std"        // JSON [s0, s1, s2]
	KeyCrop           = "crop"                 // CropNone or Crop5Points
	KeyMargin         = "crop_margin"          // the 5-point crop's margin
	KeyCalibrated     = "calibrated"           // "true" or "false"
	KeyThreshold      = "threshold"            // attack when score >= threshold (exact decimal)
	KeyThresholdFrom  = "threshold_from"       // what it was computed on, in words
	KeyProtocol       = "threshold_protocol"   // the protocol (run.protocol) whose source validation lists fixed it
	KeyThresholdLevel = "threshold_level"      // "video" or "frame": the units of the EER
	KeyThresholdEER   = "threshold_eer"        // the EER at that threshold on those lists
	KeyThresholdLive  = "threshold_live"       // live units it was computed on
	KeyThresholdAtk   = "threshold_attacks"    // attack units
	KeyFasVersion     = "fas_version"          // fasgo version of the exporter
	KeyGitCommit      = "git_commit"           // commit the model was trained from
	KeyConfigDigest   = "train_config_sha256"  // SHA-256 of the resolved training config (config.yaml)
	KeySource         = "source"               // the checkpoint it was exported from
	KeyModelVersion   = "model_version"        // sha256:<16 hex>, a digest of the tensors (names, types, shapes, bytes)
	KeyStep           = "step"                 // training step of the checkpoint, when known
	KeyEpoch          = "epoch"                // epoch, when known
	KeyExporterCommit = "export_git_commit"    // commit of the fas binary that exported it
	KeyGitCommitFrom  = "git_commit_from"      // where git_commit was read
	KeyPreprocessFrom = "preprocess_from"      // where the transform and crop keys came from
	KeyThresholdOrig  = "threshold_recomputed" // "true" when the threshold was recomputed from per-unit scores
	KeyFamily         = "family"               // the model family (the method; "minifasnet")
	KeyCropScale      = "crop_scale"           // CropScale's factor
	KeyDecision       = "decision"             // DecisionThreshold (absent) or DecisionArgmax
	KeyClassNames     = "class_names"          // JSON ["attack_2d", "real", "attack_3d"]: what each output class means
	KeyRealClass      = "real_class"           // the index of the live class among class_names
	KeyLicense        = "license"              // the license of imported weights
	KeySourceSHA256   = "source_sha256"        // SHA-256 of the imported file
)

// The input layouts a reader knows.
const (
	InputRGBHSV = "rgb+hsv" // 6 planes: R, G, B, then OpenCV 8-bit HSV (H in [0,180)), each normalised
	InputBGR255 = "bgr255"  // 3 planes B, G, R, the raw 0..255 values (no normalisation): MiniFASNet
)

// The decision rules.
const (
	DecisionThreshold = "threshold" // attack when the attack score is at or above the threshold
	// DecisionArgmax: the class of the largest probability (of the sum over an ensemble's
	// members) decides; live when it is real_class (Silent-Face's rule). No threshold.
	DecisionArgmax = "argmax"
)

// The crop rules.
const (
	CropNone    = "none"    // the model saw whole frames: the image is the model input
	Crop5Points = "5points" // the landmarks' bounding square grown by int(side*margin/2) per side, clipped
	// CropScale: the face box scaled by crop_scale around its centre, the scale reduced so
	// that the crop fits the image, shifted inside at the border (Silent-Face's rule).
	CropScale = "scale"
)

// Threshold is a calibrated decision threshold and its provenance.
type Threshold struct {
	Value    float64
	From     string // e.g. "EER of the source-domain validation lists dom0, dom1, dom2"
	Protocol string // e.g. "lodo_dom3"
	Level    string // "video" or "frame"
	EER      float64
	Live     int
	Attacks  int
	// Recomputed is set when Value was recomputed from per-unit scores (eval/val/scores.csv).
	Recomputed bool
}

// Spec is everything an exported model records besides its tensors.
type Spec struct {
	Method   string
	Size     int
	Settings shim.Settings
	Input    string
	Mean     [3]float64
	Std      [3]float64
	Crop     string
	Margin   float64
	Scale    float64 // CropScale's factor
	// Decision is DecisionThreshold ("" reads as it) or DecisionArgmax; ClassNames and
	// RealClass say what the outputs of an argmax model mean.
	Decision   string
	ClassNames []string
	RealClass  int
	Family     string // "" = Method (FamilyOf)
	License    string
	SourceSHA  string
	// Threshold is nil for a model without a calibrated threshold: the caller must give one.
	Threshold *Threshold

	FasVersion     string
	GitCommit      string
	GitCommitFrom  string
	ExporterCommit string
	ConfigSHA256   string
	Source         string
	PreprocessFrom string
	Step, Epoch    string
	// ModelVersion is computed from the tensors by Write and checked by Read.
	ModelVersion string
}

// Validate checks what a reader needs.
func (s *Spec) Validate() error {
	var bad []string
	if s.Method == "" {
		bad = append(bad, "no method")
	}
	if s.Size < 32 || s.Size%8 != 0 {
		bad = append(bad, fmt.Sprintf("input size %d is not a multiple of 8 of at least 32", s.Size))
	}
	if s.Input != InputRGBHSV && s.Input != InputBGR255 {
		bad = append(bad, fmt.Sprintf("input layout %q is neither %q nor %q", s.Input, InputRGBHSV, InputBGR255))
	}
	for c := 0; c < 3 && s.Input != InputBGR255; c++ {
		if !(s.Std[c] > 0) || math.IsInf(s.Std[c], 0) || math.IsNaN(s.Mean[c]) || math.IsInf(s.Mean[c], 0) {
			bad = append(bad, fmt.Sprintf("normalisation mean %v std %v: std must be positive and both finite", s.Mean, s.Std))
			break
		}
	}
	switch s.Crop {
	case CropNone:
	case CropScale:
		if !(s.Scale > 0) || math.IsInf(s.Scale, 0) {
			bad = append(bad, fmt.Sprintf("crop scale %v must be finite and > 0", s.Scale))
		}
	case Crop5Points:
		if !(s.Margin >= 0) || math.IsInf(s.Margin, 0) {
			bad = append(bad, fmt.Sprintf("crop margin %v must be finite and >= 0", s.Margin))
		}
	default:
		bad = append(bad, fmt.Sprintf("crop rule %q is not %q, %q or %q", s.Crop, CropNone, Crop5Points, CropScale))
	}
	switch s.Decision {
	case "", DecisionThreshold:
	case DecisionArgmax:
		if s.RealClass < 0 || s.RealClass >= len(s.ClassNames) {
			bad = append(bad, fmt.Sprintf("real class %d outside the %d class names %v", s.RealClass, len(s.ClassNames), s.ClassNames))
		}
		if s.Threshold != nil {
			bad = append(bad, "an argmax model with a calibrated threshold")
		}
	default:
		bad = append(bad, fmt.Sprintf("decision rule %q is neither %q nor %q", s.Decision, DecisionThreshold, DecisionArgmax))
	}
	if t := s.Threshold; t != nil {
		if math.IsNaN(t.Value) || math.IsInf(t.Value, 0) {
			bad = append(bad, fmt.Sprintf("threshold %v is not finite", t.Value))
		}
		if t.From == "" {
			bad = append(bad, "a threshold without its provenance (threshold_from)")
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// Metadata is the __metadata__ of s for tensors ts.
func (s *Spec) Metadata(ts []safetensors.Tensor) (map[string]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	pairs := make([][2]string, len(s.Settings))
	md := map[string]string{}
	for i, kv := range s.Settings {
		pairs[i] = [2]string{kv.Key, kv.Value}
		md[kv.Key] = kv.Value
	}
	settings, _ := json.Marshal(pairs)
	mean, _ := json.Marshal(s.Mean[:])
	std, _ := json.Marshal(s.Std[:])
	set := func(k, v string) error {
		if _, clash := md[k]; clash {
			return fmt.Errorf("model setting %q clashes with the export key of the same name", k)
		}
		if v != "" {
			md[k] = v
		}
		return nil
	}
	fields := [][2]string{
		{KeyFormat, "fasgo"}, {KeyExport, FormatVersion}, {KeyMethod, s.Method}, {KeySize, strconv.Itoa(s.Size)},
		{KeySettings, string(settings)}, {KeyInput, s.Input},
		{KeyCrop, s.Crop}, {KeyCalibrated, strconv.FormatBool(s.Threshold != nil)},
		{KeyFamily, s.Family}, {KeyLicense, s.License}, {KeySourceSHA256, s.SourceSHA},
		{KeyFasVersion, s.FasVersion}, {KeyGitCommit, s.GitCommit}, {KeyGitCommitFrom, s.GitCommitFrom},
		{KeyExporterCommit, s.ExporterCommit}, {KeyConfigDigest, s.ConfigSHA256}, {KeySource, s.Source},
		{KeyPreprocessFrom, s.PreprocessFrom}, {KeyStep, s.Step}, {KeyEpoch, s.Epoch},
		{KeyModelVersion, Digest(ts)},
	}
	if s.Input != InputBGR255 {
		fields = append(fields, [][2]string{{KeyMean, string(mean)}, {KeyStd, string(std)}}...)
	}
	if s.Crop == Crop5Points {
		fields = append(fields, [2]string{KeyMargin, num(s.Margin)})
	}
	if s.Crop == CropScale {
		fields = append(fields, [2]string{KeyCropScale, num(s.Scale)})
	}
	if s.Decision == DecisionArgmax {
		names, _ := json.Marshal(s.ClassNames)
		fields = append(fields, [][2]string{{KeyDecision, s.Decision}, {KeyClassNames, string(names)},
			{KeyRealClass, strconv.Itoa(s.RealClass)}}...)
	}
	if t := s.Threshold; t != nil {
		fields = append(fields, [][2]string{{KeyThreshold, num(t.Value)}, {KeyThresholdFrom, t.From},
			{KeyProtocol, t.Protocol}, {KeyThresholdLevel, t.Level}, {KeyThresholdEER, num(t.EER)},
			{KeyThresholdLive, strconv.Itoa(t.Live)}, {KeyThresholdAtk, strconv.Itoa(t.Attacks)},
			{KeyThresholdOrig, strconv.FormatBool(t.Recomputed)}}...)
	}
	for _, f := range fields {
		if err := set(f[0], f[1]); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// num writes a float so that it reads back exactly.
func num(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// Write saves m's weights with the metadata of s, atomically. s.Method, s.Size and
// s.Settings are taken from the model.
func Write(m *shim.Model, path string, s Spec) error {
	ts, err := m.Export()
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	info := m.Info()
	s.Method, s.Size, s.Settings = info.Method, info.Size, info.Settings
	if s.FasVersion == "" {
		if v, err := shim.Version(); err == nil {
			s.FasVersion = v.Shim
		}
	}
	md, err := s.Metadata(ts)
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	return safetensors.Write(path, ts, md)
}

// Digest is the model version of a set of tensors: "sha256:" and the first 16 hex digits of a
// SHA-256 over every tensor's name, dtype, shape and bytes, in name order.
func Digest(ts []safetensors.Tensor) string {
	idx := make([]int, len(ts))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return ts[idx[a]].Name < ts[idx[b]].Name })
	h := sha256.New()
	var b [8]byte
	for _, i := range idx {
		t := &ts[i]
		h.Write([]byte(t.Name))
		h.Write([]byte{0})
		h.Write([]byte(t.DType))
		h.Write([]byte{0})
		for _, d := range t.Shape {
			binary.LittleEndian.PutUint64(b[:], uint64(d))
			h.Write(b[:])
		}
		binary.LittleEndian.PutUint64(b[:], uint64(len(t.Data)))
		h.Write(b[:])
		h.Write(t.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// ErrNotExported marks a safetensors file that is not an exported model (a plain weights
// file or a training state).
var ErrNotExported = errors.New("not an exported model")

// Read decodes an exported model file: its tensors and its Spec. Every problem with the
// metadata is reported at once, naming the keys.
func Read(path string) (*safetensors.File, Spec, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, Spec{}, err
	}
	s, err := Parse(f)
	if err != nil {
		return nil, Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	return f, s, nil
}

// Parse reads the Spec of a decoded file and checks its model version against its tensors.
func Parse(f *safetensors.File) (Spec, error) {
	md := f.Metadata
	if got := md[KeyExport]; got != FormatVersion {
		if got == "" {
			return Spec{}, fmt.Errorf("%w (no %s metadata; make one with `fas export --checkpoint FILE --out MODEL`)", ErrNotExported, KeyExport)
		}
		return Spec{}, fmt.Errorf("%w: %s is %q, this build reads %q", ErrNotExported, KeyExport, got, FormatVersion)
	}
	var bad []string
	need := func(k string) string {
		v, ok := md[k]
		if !ok {
			bad = append(bad, k+" is missing")
		}
		return v
	}
	s := Spec{Method: need(KeyMethod), Input: need(KeyInput), Crop: need(KeyCrop),
		FasVersion: md[KeyFasVersion], GitCommit: md[KeyGitCommit], GitCommitFrom: md[KeyGitCommitFrom],
		ExporterCommit: md[KeyExporterCommit], ConfigSHA256: md[KeyConfigDigest], Source: md[KeySource],
		PreprocessFrom: md[KeyPreprocessFrom], Step: md[KeyStep], Epoch: md[KeyEpoch], ModelVersion: need(KeyModelVersion),
		Family: md[KeyFamily], License: md[KeyLicense], SourceSHA: md[KeySourceSHA256], Decision: md[KeyDecision]}
	if v := need(KeySize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s %q is not an integer", KeySize, v))
		}
		s.Size = n
	}
	if v := need(KeySettings); v != "" {
		var pairs [][2]string
		if err := json.Unmarshal([]byte(v), &pairs); err != nil {
			bad = append(bad, fmt.Sprintf("%s %q is not a JSON list of [key, value] pairs", KeySettings, v))
		}
		for _, p := range pairs {
			s.Settings = append(s.Settings, shim.Setting{Key: p[0], Value: p[1]})
		}
	}
	triple := func(k string, dst *[3]float64) {
		v := need(k)
		if v == "" {
			return
		}
		var xs []float64
		if err := json.Unmarshal([]byte(v), &xs); err != nil || len(xs) != 3 {
			bad = append(bad, fmt.Sprintf("%s %q is not a JSON list of 3 numbers", k, v))
			return
		}
		copy(dst[:], xs)
	}
	if s.Input != InputBGR255 {
		triple(KeyMean, &s.Mean)
		triple(KeyStd, &s.Std)
	}
	float := func(k string) float64 {
		v := need(k)
		x, err := strconv.ParseFloat(v, 64)
		if err != nil && v != "" {
			bad = append(bad, fmt.Sprintf("%s %q is not a number", k, v))
		}
		return x
	}
	if s.Crop == Crop5Points {
		s.Margin = float(KeyMargin)
	}
	if s.Crop == CropScale {
		s.Scale = float(KeyCropScale)
	}
	if s.Decision == DecisionArgmax {
		if v := need(KeyClassNames); v != "" {
			if err := json.Unmarshal([]byte(v), &s.ClassNames); err != nil {
				bad = append(bad, fmt.Sprintf("%s %q is not a JSON list of names", KeyClassNames, v))
			}
		}
		if v := need(KeyRealClass); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s %q is not an integer", KeyRealClass, v))
			}
			s.RealClass = n
		}
	}
	switch c := need(KeyCalibrated); c {
	case "true":
		t := &Threshold{Value: float(KeyThreshold), From: need(KeyThresholdFrom), Protocol: md[KeyProtocol],
			Level: md[KeyThresholdLevel], Recomputed: md[KeyThresholdOrig] == "true"}
		if v, ok := md[KeyThresholdEER]; ok {
			t.EER, _ = strconv.ParseFloat(v, 64)
		}
		t.Live, _ = strconv.Atoi(md[KeyThresholdLive])
		t.Attacks, _ = strconv.Atoi(md[KeyThresholdAtk])
		s.Threshold = t
	case "false", "":
	default:
		bad = append(bad, fmt.Sprintf("%s %q is neither true nor false", KeyCalibrated, c))
	}
	if len(bad) == 0 {
		if err := s.Validate(); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) == 0 && s.ModelVersion != Digest(f.Tensors) {
		bad = append(bad, fmt.Sprintf("the tensors do not match %s %s (they digest to %s): the file was changed after export",
			KeyModelVersion, s.ModelVersion, Digest(f.Tensors)))
	}
	if len(bad) > 0 {
		return Spec{}, fmt.Errorf("exported model metadata: %s", strings.Join(bad, "; "))
	}
	return s, nil
}

// An ensemble is a manifest (JSON) naming exported member models that score the same face
// together: each member cuts its own crop, and the members' class probabilities are summed
// and the argmax decides (Silent-Face's rule). A directory that holds ManifestName is the
// ensemble it describes.
const (
	EnsembleFormat = "fasgo-ensemble/1"
	ManifestName   = "ensemble.json"
	CombineSum     = "sum_softmax" // sum of the members' softmaxes; argmax; liveness = sum[real]/members
)

// Manifest is an ensemble's JSON.
type Manifest struct {
	Format  string   `json:"format"`
	Family  string   `json:"family"`
	Combine string   `json:"combine"`
	Members []string `json:"members"` // exported model files, relative to the manifest's directory
}

// IsEnsemble reports whether path names an ensemble: a directory or a .json file.
func IsEnsemble(path string) bool {
	if strings.HasSuffix(strings.ToLower(path), ".json") {
		return true
	}
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// ReadManifest reads an ensemble (a manifest file or a directory holding ManifestName) and
// returns it with its members' paths resolved.
func ReadManifest(path string) (Manifest, []string, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, ManifestName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("ensemble: %w", err)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, nil, fmt.Errorf("ensemble %s: not a manifest: %w", path, err)
	}
	switch {
	case m.Format != EnsembleFormat:
		return Manifest{}, nil, fmt.Errorf("ensemble %s: format %q, this build reads %q", path, m.Format, EnsembleFormat)
	case m.Combine != CombineSum:
		return Manifest{}, nil, fmt.Errorf("ensemble %s: combine %q, this build knows %q", path, m.Combine, CombineSum)
	case len(m.Members) == 0:
		return Manifest{}, nil, fmt.Errorf("ensemble %s: no members", path)
	}
	paths := make([]string, len(m.Members))
	for i, f := range m.Members {
		if filepath.IsAbs(f) {
			paths[i] = f
		} else {
			paths[i] = filepath.Join(filepath.Dir(path), f)
		}
	}
	return m, paths, nil
}

// WriteManifest writes m atomically.
func WriteManifest(path string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(path, append(b, '\n'))
}

// FamilyOf is the model family of s: its Family, else its method.
func (s *Spec) FamilyOf() string {
	if s.Family != "" {
		return s.Family
	}
	return s.Method
}
