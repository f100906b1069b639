package reproduce

import (
	"bytes"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Published are the numbers a paper reports for one method: HTER and AUC in percent per
// protocol, and where they come from.
type Published struct {
	Source    string                    `yaml:"source" json:"source"`
	Protocols map[string]PublishedScore `yaml:"protocols" json:"protocols"`
}

// PublishedScore is one protocol's published HTER and AUC, in percent.
type PublishedScore struct {
	HTER float64 `yaml:"hter" json:"hter"`
	AUC  float64 `yaml:"auc" json:"auc"`
}

// LoadPublished reads the published-numbers file (configs/published.yaml: method ->
// Published) and returns the entry of method; a method the file does not list has none.
func LoadPublished(path, method string) (*Published, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("published numbers: %w", err)
	}
	var all map[string]Published
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&all); err != nil {
		return nil, fmt.Errorf("published numbers %s: %w", path, err)
	}
	p, ok := all[method]
	if !ok {
		return nil, nil
	}
	if p.Source == "" {
		return nil, fmt.Errorf("published numbers %s: %s has no source", path, method)
	}
	for name, s := range p.Protocols {
		if !(s.HTER >= 0 && s.HTER <= 100 && s.AUC >= 0 && s.AUC <= 100) {
			return nil, fmt.Errorf("published numbers %s: %s %s: HTER %v, AUC %v must be percentages in [0, 100]", path, method, name, s.HTER, s.AUC)
		}
	}
	return &p, nil
}
