package eval

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Scores are the frame scores of one pass over an evaluation set.
type Scores struct {
	Frames   []metrics.FrameScore
	Domains  []string    // domain of each frame
	Features [][]float64 // pooled C-dim feature of each frame, when asked for
	// Outputs holds, for every output ScoreOptions.Outputs asked for, its value for each
	// frame (in frame order).
	Outputs map[string][]float64
	Stats   dataset.Stats
}

// ScoreOptions steer Score.
type ScoreOptions struct {
	BatchSize int  // frames per forward
	Features  bool // also keep each frame's globally pooled feature (for the embedding)
	Loader    dataset.LoaderOptions
	Seed      uint64           // seeds a stochastic score (batch i uses Seed + i)
	Progress  func(frames int) // called after each scored batch; nil = silent
	// Outputs are forward outputs with one value per frame to record beside the score (a
	// method's score parts); the forward of batch i runs with the score's seed Seed + i, so
	// the values are the parts the score combined.
	Outputs []string
	// Group, when it has several ranks, splits the frames between them (frame i on rank
	// i mod world) and gathers every rank's scores (and features and outputs), so that every
	// rank returns the scores of the whole set, in set order.
	Group Gatherer
}

// Gatherer collects values from every rank (shim.Group).
type Gatherer interface {
	Rank() int
	World() int
	GatherVar(v []float64) ([][]float64, error)
}

// Score runs the model in eval mode over every frame of set: the method's attack score of
// each frame (ANRL: the softmax probability of class 1), and with o.Features its
// embedding feature (the method's Feature output, averaged per channel).
func Score(ctx context.Context, m *shim.Model, db dataset.Store, set *dataset.EvalSet,
	t dataset.Transform, o ScoreOptions) (*Scores, error) {
	if o.Group == nil || o.Group.World() <= 1 {
		s, _, err := scoreSet(ctx, m, db, set, t, o)
		return s, err
	}
	s, idx, err := scoreSet(ctx, m, db, set.Shard(o.Group.Rank(), o.Group.World()), t, o)
	if err != nil {
		return nil, err
	}
	for i := range idx { // shard position -> set position
		idx[i] = o.Group.Rank() + idx[i]*o.Group.World()
	}
	return gather(o.Group, set, s, idx, o.Outputs)
}

// scoreSet scores every frame of set in this process; idx holds each frame's position in set.
func scoreSet(ctx context.Context, m *shim.Model, db dataset.Store, set *dataset.EvalSet,
	t dataset.Transform, o ScoreOptions) (*Scores, []int, error) {
	if o.BatchSize < 1 {
		return nil, nil, fmt.Errorf("evaluation batch size %d must be positive", o.BatchSize)
	}
	me, err := method.Get(m.Info().Method)
	if err != nil {
		return nil, nil, err
	}
	loader, err := dataset.NewEvalLoader(db, set, t, o.BatchSize, o.Loader)
	if err != nil {
		return nil, nil, err
	}
	it := loader.Iter(ctx)
	defer it.Close()
	s := &Scores{Outputs: map[string][]float64{}}
	var idx []int
	prog := o.Progress
	if prog == nil {
		prog = func(int) {}
	}
	scores := make([]float64, o.BatchSize)
	for batch := uint64(0); ; batch++ {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		x := b.Images[:b.N*6*b.S*b.S]
		if err := m.Score(x, b.N, b.S, o.Seed+batch, scores[:b.N]); err != nil {
			return nil, nil, fmt.Errorf("scoring %s: %w", b.Paths[0], err)
		}
		var feats []float32
		channels := 0
		var names []string
		if o.Features {
			names = append(names, me.Feature())
		}
		names = append(names, o.Outputs...)
		if len(names) > 0 {
			out, err := m.ForwardSeed(x, b.N, b.S, false, o.Seed+batch, names...)
			if err != nil {
				return nil, nil, fmt.Errorf("outputs %v of %s: %w", names, b.Paths[0], err)
			}
			if o.Features {
				if feats, err = out[0].Float32(); err != nil || len(out[0].Shape) < 2 {
					return nil, nil, fmt.Errorf("features of %s: output %s %v: %v", b.Paths[0], me.Feature(), out[0].Shape, err)
				}
				channels = int(out[0].Shape[1])
				out = out[1:]
			}
			for i, name := range o.Outputs {
				v, err := out[i].Float32()
				if err != nil || len(v) != b.N {
					return nil, nil, fmt.Errorf("output %s of %s: shape %v, want one value per frame (%d): %v", name, b.Paths[0], out[i].Shape, b.N, err)
				}
				for _, x := range v {
					s.Outputs[name] = append(s.Outputs[name], float64(x))
				}
			}
		}
		for i := 0; i < b.N; i++ {
			s.Frames = append(s.Frames, metrics.FrameScore{
				Video:      b.VideoIDs[i],
				Label:      int(b.Labels[i]),
				Score:      scores[i],
				AttackType: b.AttackTypes[i],
				Where:      b.Paths[i],
			})
			s.Domains = append(s.Domains, b.Domains[i])
			idx = append(idx, b.Index[i])
			if o.Features {
				per := len(feats) / b.N
				s.Features = append(s.Features, pool(feats[i*per:(i+1)*per], channels))
			}
		}
		prog(b.N)
	}
	s.Stats = it.Stats()
	return s, idx, nil
}

// gather assembles the scores of the whole set from every rank's share: each frame's
// position, score, feature and outputs travel as numbers; the rest of a frame's record comes
// from set itself.
func gather(g Gatherer, set *dataset.EvalSet, mine *Scores, idx []int, outputs []string) (*Scores, error) {
	pos, score := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		pos[i], score[i] = float64(j), mine.Frames[i].Score
	}
	var feats []float64
	for _, f := range mine.Features {
		feats = append(feats, f...)
	}
	parts := [][]float64{pos, score, feats, {float64(mine.Stats.Skipped)}}
	for _, name := range outputs {
		parts = append(parts, mine.Outputs[name])
	}
	all := make([][][]float64, len(parts))
	for k, v := range parts {
		var err error
		if all[k], err = g.GatherVar(v); err != nil {
			return nil, fmt.Errorf("gathering the scores: %w", err)
		}
	}
	n := len(set.Entries)
	score1, seen, feat1 := make([]float64, n), make([]bool, n), make([][]float64, n)
	out1 := make([][]float64, len(outputs))
	for k := range out1 {
		out1[k] = make([]float64, n)
	}
	for r := range all[0] {
		c := 0
		if m := len(all[0][r]); m > 0 {
			c = len(all[2][r]) / m
		}
		for i, p := range all[0][r] {
			j := int(p)
			score1[j], seen[j] = all[1][r][i], true
			if c > 0 {
				feat1[j] = all[2][r][i*c : (i+1)*c]
			}
			for k := range outputs {
				out1[k][j] = all[4+k][r][i]
			}
		}
	}
	out := &Scores{Stats: mine.Stats, Outputs: map[string][]float64{}}
	out.Stats.Skipped = 0
	for _, s := range all[3] {
		out.Stats.Skipped += int(s[0])
	}
	for j, e := range set.Entries {
		if !seen[j] {
			continue // skipped by its rank's bad-data policy
		}
		out.Frames = append(out.Frames, metrics.FrameScore{Video: e.VideoID(), Label: e.Label, Score: score1[j],
			AttackType: e.Attack, Where: e.Path})
		out.Domains = append(out.Domains, set.Domain[j])
		if feat1[j] != nil {
			out.Features = append(out.Features, feat1[j])
		}
		for k, name := range outputs {
			out.Outputs[name] = append(out.Outputs[name], out1[k][j])
		}
	}
	return out, nil
}

// pool averages each channel of a C×F×F feature.
func pool(x []float32, c int) []float64 {
	hw := len(x) / c
	out := make([]float64, c)
	for ch := 0; ch < c; ch++ {
		var sum float64
		for _, v := range x[ch*hw : (ch+1)*hw] {
			sum += float64(v)
		}
		out[ch] = sum / float64(hw)
	}
	return out
}
