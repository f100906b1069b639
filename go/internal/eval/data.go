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

// Transform maps the config's transform and dataset keys onto the pipeline's.
func Transform(cfg *config.Config) (dataset.Transform, error) {
	t := dataset.DefaultTransform()
	t.Size = cfg.Transform.ImageSize
	for i := 0; i < 3 && i < len(cfg.Transform.Mean); i++ {
		t.Mean[i] = cfg.Transform.Mean[i]
	}
	for i := 0; i < 3 && i < len(cfg.Transform.Std); i++ {
		t.Std[i] = cfg.Transform.Std[i]
	}
	t.FlipP = cfg.Transform.FlipP
	t.HSVJitterP = cfg.Transform.HSVJitterP
	t.CropFace = cfg.Dataset.CropFaceFrom5Points
	t.Margin = cfg.Dataset.Margin
	t.DepthRule = nil
	for _, r := range cfg.Dataset.DepthRule {
		t.DepthRule = append(t.DepthRule, dataset.Replace{From: r.From, To: r.To})
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("transform: %w", err)
	}
	return t, nil
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
