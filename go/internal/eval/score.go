package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/fasgo/fasgo/go/internal/dataset"
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
}

// Score runs the model in eval mode over every frame of set. The attack score of a frame is
// the softmax probability of class 1.
func Score(ctx context.Context, m *shim.Model, db dataset.Store, set *dataset.EvalSet,
	t dataset.Transform, o ScoreOptions) (*Scores, error) {
	if o.BatchSize < 1 {
		return nil, fmt.Errorf("evaluation batch size %d must be positive", o.BatchSize)
	}
	loader, err := dataset.NewEvalLoader(db, set, t, o.BatchSize, o.Loader)
	if err != nil {
		return nil, err
	}
	it := loader.Iter(ctx)
	defer it.Close()
	s := &Scores{}
	channels := m.Info().FeatureChannels
	var out shim.Output
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		f := b.S / 8
		out.Logits = grow(out.Logits, b.N*2)
		out.Depth = grow(out.Depth, b.N*f*f)
		out.Features = nil
		if o.Features {
			out.Features = grow(out.Features, b.N*channels*f*f)
		}
		if err := m.Forward(b.Images[:b.N*6*b.S*b.S], b.N, b.S, false, &out); err != nil {
			return nil, fmt.Errorf("scoring %s: %w", b.Paths[0], err)
		}
		for i := 0; i < b.N; i++ {
			s.Frames = append(s.Frames, metrics.FrameScore{
				Video:      b.VideoIDs[i],
				Label:      int(b.Labels[i]),
				Score:      attackProb(out.Logits[2*i], out.Logits[2*i+1]),
				AttackType: b.AttackTypes[i],
				Where:      b.Paths[i],
			})
			s.Domains = append(s.Domains, b.Domains[i])
			if o.Features {
				s.Features = append(s.Features, pool(out.Features[i*channels*f*f:(i+1)*channels*f*f], channels))
			}
		}
	}
	s.Stats = it.Stats()
	return s, nil
}

// attackProb is softmax([l0, l1])[1], computed stably.
func attackProb(l0, l1 float32) float64 {
	return 1 / (1 + math.Exp(float64(l0)-float64(l1)))
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

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}
