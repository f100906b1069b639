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
	Stats    dataset.Stats
}

// ScoreOptions steer Score.
type ScoreOptions struct {
	BatchSize int  // frames per forward
	Features  bool // also keep each frame's globally pooled feature (for the embedding)
	Loader    dataset.LoaderOptions
	Seed      uint64           // seeds a stochastic score (batch i uses Seed + i)
	Progress  func(frames int) // called after each scored batch; nil = silent
	// Group, when it has several ranks, splits the frames between them (frame i on rank
	// i mod world) and gathers every rank's scores, so that every rank returns the scores
	// of the whole set, in set order.
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
	return gather(o.Group, set, s, idx)
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
	s := &Scores{}
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
		if o.Features {
			out, err := m.Forward(x, b.N, b.S, false, me.Feature())
			if err != nil {
				return nil, nil, fmt.Errorf("features of %s: %w", b.Paths[0], err)
			}
			if feats, err = out[0].Float32(); err != nil || len(out[0].Shape) < 2 {
				return nil, nil, fmt.Errorf("features of %s: output %s %v: %v", b.Paths[0], me.Feature(), out[0].Shape, err)
			}
			channels = int(out[0].Shape[1])
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
// position, score and (with features) its feature travel as numbers; the rest of a frame's
// record comes from set itself.
func gather(g Gatherer, set *dataset.EvalSet, mine *Scores, idx []int) (*Scores, error) {
	pos, score := make([]float64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		pos[i], score[i] = float64(j), mine.Frames[i].Score
	}
	var feats []float64
	for _, f := range mine.Features {
		feats = append(feats, f...)
	}
	var all [3][][]float64
	for k, v := range [][]float64{pos, score, feats} {
		var err error
		if all[k], err = g.GatherVar(v); err != nil {
			return nil, fmt.Errorf("gathering the scores: %w", err)
		}
	}
	skipped, err := g.GatherVar([]float64{float64(mine.Stats.Skipped)})
	if err != nil {
		return nil, fmt.Errorf("gathering the scores: %w", err)
	}
	score1 := make([]float64, len(set.Entries))
	seen := make([]bool, len(set.Entries))
	feat1 := make([][]float64, len(set.Entries))
	for r := range all[0] {
		c := 0
		if n := len(all[0][r]); n > 0 {
			c = len(all[2][r]) / n
		}
		for i, p := range all[0][r] {
			j := int(p)
			score1[j], seen[j] = all[1][r][i], true
			if c > 0 {
				feat1[j] = all[2][r][i*c : (i+1)*c]
			}
		}
	}
	out := &Scores{Stats: mine.Stats}
	out.Stats.Skipped = 0
	for _, s := range skipped {
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
