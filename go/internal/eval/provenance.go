package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// ProvenanceFile names, inside a report directory, the weights the report is of.
const ProvenanceFile = "checkpoint.json"

// Provenance says which weights a report directory evaluated: `fas export` reuses the
// validation report's threshold only for the weights it was computed with.
type Provenance struct {
	Weights      string `json:"weights"`       // the weights file evaluated
	ModelVersion string `json:"model_version"` // export.Digest of its tensors
	Step         int64  `json:"step,omitempty"`
}

// NewProvenance describes the weights of m, loaded from path.
func NewProvenance(m *shim.Model, path string, step int64) (Provenance, error) {
	ts, err := m.Export()
	if err != nil {
		return Provenance{}, err
	}
	return Provenance{Weights: path, ModelVersion: export.Digest(ts), Step: step}, nil
}

// WriteProvenance writes dir/checkpoint.json atomically.
func WriteProvenance(dir string, p Provenance) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return safetensors.WriteFileAtomic(filepath.Join(dir, ProvenanceFile), append(b, '\n'))
}

// ReadProvenance reads dir/checkpoint.json; ok is false when there is none.
func ReadProvenance(dir string) (p Provenance, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ProvenanceFile))
	if errors.Is(err, os.ErrNotExist) {
		return Provenance{}, false, nil
	}
	if err != nil {
		return Provenance{}, false, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return Provenance{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, ProvenanceFile), err)
	}
	return p, true, nil
}
