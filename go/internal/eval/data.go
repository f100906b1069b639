// Package eval scores lists of frames with a model and turns the scores into the FAS
// report: video-level metrics under both threshold protocols, plots, and the feature
// embedding. The training loop uses the same code for validation and the final test.
package eval

import (
	"fmt"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// Data is the opened data of a config: the LMDB, the transform and the lists.
type Data struct {
	DB        *lmdb.Env
	Transform dataset.Transform
	Policy    dataset.Policy
	Train     []dataset.Domain // source domains (training lists)
	Val       *dataset.EvalSet // held-out source-domain data
	Test      *dataset.EvalSet // the unseen target domain
}

// OpenData opens the LMDB read-only and reads every list the config names.
func OpenData(cfg *config.Config) (*Data, error) {
	ds := &cfg.Dataset
	t, err := Transform(cfg)
	if err != nil {
		return nil, err
	}
	policy, err := dataset.ParsePolicy(ds.BadData)
	if err != nil {
		return nil, fmt.Errorf("dataset.bad_data: %w", err)
	}
	d := &Data{Transform: t, Policy: policy, Val: &dataset.EvalSet{}, Test: &dataset.EvalSet{}}
	for _, dl := range ds.Train {
		live, attack, err := readPair(ds.Root, dl)
		if err != nil {
			return nil, err
		}
		d.Train = append(d.Train, dataset.Domain{Name: dl.Name, Live: live, Attack: attack})
	}
	for _, set := range []struct {
		lists []config.DomainList
		into  *dataset.EvalSet
	}{{ds.Val, d.Val}, {ds.Test, d.Test}} {
		for _, dl := range set.lists {
			live, attack, err := readPair(ds.Root, dl)
			if err != nil {
				return nil, err
			}
			set.into.AddDomain(dl.Name, live, attack)
		}
	}
	dbPath := resolve(ds.Root, ds.LMDB)
	db, err := lmdb.Open(dbPath, lmdb.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("dataset.lmdb %s: %w", dbPath, err)
	}
	d.DB = db
	return d, nil
}

// Close releases the LMDB.
func (d *Data) Close() error {
	if d.DB == nil {
		return nil
	}
	return d.DB.Close()
}

// Transform maps the config's transform and dataset keys onto the pipeline's: the one
// mapping that training, evaluation and `fas data` share.
func Transform(cfg *config.Config) (dataset.Transform, error) {
	t := dataset.DefaultTransform()
	ct := cfg.Transform
	if len(ct.Mean) != 3 || len(ct.Std) != 3 {
		return t, fmt.Errorf("transform: transform.mean and transform.std need 3 values, got %v and %v", ct.Mean, ct.Std)
	}
	t.Size, t.FlipP, t.HSVJitterP = ct.ImageSize, ct.FlipP, ct.HSVJitterP
	copy(t.Mean[:], ct.Mean)
	copy(t.Std[:], ct.Std)
	t.CropFace, t.Margin, t.DepthRule = cfg.Dataset.CropFaceFrom5Points, cfg.Dataset.Margin, DepthRule(cfg)
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("transform: %w", err)
	}
	return t, nil
}

// DepthRule is the config's dataset.depth_rule, presets expanded (Load validated their names).
func DepthRule(cfg *config.Config) dataset.DepthRule {
	var r dataset.DepthRule
	for _, d := range cfg.Dataset.DepthRule {
		if d.Preset != "" {
			p, _ := dataset.DepthPreset(d.Preset)
			r = append(r, p...)
			continue
		}
		r = append(r, dataset.Replace{From: d.From, To: d.To})
	}
	return r
}

func readPair(root string, dl config.DomainList) (live, attack []dataset.Entry, err error) {
	if live, err = dataset.ReadList(resolve(root, dl.Live)); err != nil {
		return nil, nil, fmt.Errorf("domain %s: %w", dl.Name, err)
	}
	if attack, err = dataset.ReadList(resolve(root, dl.Attack)); err != nil {
		return nil, nil, fmt.Errorf("domain %s: %w", dl.Name, err)
	}
	return live, attack, nil
}

func resolve(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}
