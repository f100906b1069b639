// Package silentface imports the pretrained anti-spoofing models that Minivision publishes
// with Silent-Face-Anti-Spoofing (Apache-2.0; resources/anti_spoof_models of their GitHub
// repository) into fasgo's exported-model format: MiniFASNet weights as safetensors plus the
// metadata a service needs (family, variant, crop scale, input size, class meaning, the
// argmax decision rule). The published files are legacy PyTorch pickles that libtorch
// cannot read, so a small converter (convert.py) runs with Debian's python3-torch.
package silentface

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

//go:embed convert.py
var converter []byte

// DefaultPython is the interpreter with python3-torch on Debian.
const DefaultPython = "/usr/bin/python3"

// ClassNames are the three outputs of the published models (index 1 = real; 0 and 2 the two
// kinds of attack, as a maintainer described them: "2D Fake, Real and 3D Fake").
var ClassNames = []string{"attack_2d", "real", "attack_3d"}

// License is recorded with every imported model.
const License = "Apache-2.0 (Minivision Silent-Face-Anti-Spoofing, github.com/minivision-ai/Silent-Face-Anti-Spoofing)"

// Name is what a published file name says: <scale>_<H>x<W>_<ModelType>.pth.
type Name struct {
	Scale   float64 // 0 for "org" (no crop: the whole image)
	Size    int     // H = W
	Variant string
}

var nameRE = regexp.MustCompile(`^([^_]+)_.*?(\d+)x(\d+)_(MiniFASNet\w+)\.pth$`)

// ParseName reads the configuration from a published file name.
func ParseName(file string) (Name, error) {
	base := filepath.Base(file)
	m := nameRE.FindStringSubmatch(base)
	if m == nil {
		return Name{}, fmt.Errorf("file name %q is not <scale>_<H>x<W>_<ModelType>.pth as published (e.g. 2.7_80x80_MiniFASNetV2.pth); give --scale and --size", base)
	}
	var n Name
	if m[1] != "org" {
		s, err := strconv.ParseFloat(m[1], 64)
		if err != nil || !(s > 0) || s > 100 {
			return Name{}, fmt.Errorf("file name %q: crop scale %q is not a positive number", base, m[1])
		}
		n.Scale = s
	}
	h, _ := strconv.Atoi(m[2])
	w, _ := strconv.Atoi(m[3])
	if h != w {
		return Name{}, fmt.Errorf("file name %q: input %dx%d is not square (only square inputs are supported)", base, h, w)
	}
	n.Size, n.Variant = h, m[4]
	return n, nil
}

// Options steer Import.
type Options struct {
	Python string  // the interpreter with torch ("" = DefaultPython)
	Scale  float64 // crop scale instead of the file name's (0 = the name's)
	Size   int     // input size instead of the name's (0 = the name's)
}

// ErrNoTorch marks a converter run without PyTorch.
var ErrNoTorch = errors.New("PyTorch is missing")

// Convert reads a published weight file with the converter: its tensors, "module." removed.
func Convert(pth, python string) ([]safetensors.Tensor, error) {
	if python == "" {
		python = DefaultPython
	}
	if _, err := os.Stat(pth); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(python); err != nil {
		return nil, fmt.Errorf("%w: reading %s needs %s with PyTorch (the Debian package python3-torch): %v", ErrNoTorch, pth, python, err)
	}
	dir, err := os.MkdirTemp("", "fas-silentface-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script, out := filepath.Join(dir, "convert.py"), filepath.Join(dir, "weights.safetensors")
	if err := os.WriteFile(script, converter, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(python, script, pth, out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return nil, fmt.Errorf("%w: %s", ErrNoTorch, msg)
		}
		return nil, fmt.Errorf("converting %s with %s: %v: %s", pth, python, err, msg)
	}
	f, err := safetensors.Read(out)
	if err != nil {
		return nil, fmt.Errorf("converting %s: the converter's output: %w", pth, err)
	}
	return f.Tensors, nil
}

// Import converts one published weight file into an exported model at out (atomic) and
// returns its spec. The variant comes from the tensors and must agree with the file name;
// every tensor name and shape is checked against the network.
func Import(pth, out string, o Options) (export.Spec, error) {
	n, nameErr := ParseName(pth)
	if o.Scale > 0 {
		n.Scale = o.Scale
	}
	if o.Size > 0 {
		n.Size = o.Size
	}
	if nameErr != nil && (o.Size == 0 || (o.Scale == 0 && !strings.HasPrefix(filepath.Base(pth), "org"))) {
		return export.Spec{}, nameErr
	}
	ts, err := Convert(pth, o.Python)
	if err != nil {
		return export.Spec{}, err
	}
	variant, err := method.InferMiniFASVariant(ts)
	if err != nil {
		return export.Spec{}, fmt.Errorf("%s: %w", pth, err)
	}
	if n.Variant != "" && n.Variant != variant {
		return export.Spec{}, fmt.Errorf("%s: the file name says %s but the weights are a %s", pth, n.Variant, variant)
	}
	m, err := shim.NewModel(shim.Config{Method: "minifasnet", Size: n.Size, Threads: 1,
		Settings: shim.Settings{{Key: "variant", Value: variant}}})
	if err != nil {
		return export.Spec{}, err
	}
	defer m.Close()
	if err := m.Import(ts); err != nil {
		return export.Spec{}, fmt.Errorf("%s is not a %s of input %dx%d: %w", pth, variant, n.Size, n.Size, err)
	}
	sum, err := fileSHA256(pth)
	if err != nil {
		return export.Spec{}, err
	}
	spec := export.Spec{Input: export.InputBGR255, Crop: export.CropScale, Scale: n.Scale,
		Decision: export.DecisionArgmax, ClassNames: ClassNames, RealClass: 1, Family: "minifasnet",
		License: License, Source: filepath.Base(pth), SourceSHA: sum, PreprocessFrom: "silentface"}
	if n.Scale == 0 {
		spec.Crop = export.CropNone
	}
	if err := export.Write(m, out, spec); err != nil {
		return export.Spec{}, err
	}
	_, spec, err = export.Read(out)
	return spec, err
}

// ImportEnsemble imports every file into dir (created when missing) as <name>.safetensors
// and writes the manifest dir/ensemble.json listing them in order.
func ImportEnsemble(pths []string, dir string, o Options) ([]export.Spec, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var specs []export.Spec
	man := export.Manifest{Format: export.EnsembleFormat, Family: "minifasnet", Combine: export.CombineSum}
	for _, p := range pths {
		name := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) + ".safetensors"
		s, err := Import(p, filepath.Join(dir, name), o)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
		man.Members = append(man.Members, name)
	}
	return specs, export.WriteManifest(filepath.Join(dir, export.ManifestName), man)
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}
