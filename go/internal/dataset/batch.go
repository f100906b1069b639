package dataset

import (
	"context"
	"fmt"
	"math/rand/v2"
)

// TrainBatch is one meta-learning step's input, laid out as the shim's training step takes
// it: per domain k, B live then B attack samples.
type TrainBatch struct {
	K, B, S, F  int
	Epoch, Step int
	Images      []float32 // K×2B×6×S×S
	Depth       []float32 // K×2B×F×F
	Labels      []int64   // K×2B
	Entries     []*Entry  // K×2B, the list entries the samples came from

	plan    *TrainPlan
	augment bool
}

func newTrainBatch(p *TrainPlan, s int, augment bool) *TrainBatch {
	n, f := p.K()*2*p.B, s/8
	return &TrainBatch{K: p.K(), B: p.B, S: s, F: f, plan: p, augment: augment,
		Images: make([]float32, n*6*s*s), Depth: make([]float32, n*f*f),
		Labels: make([]int64, n), Entries: make([]*Entry, n)}
}

func (b *TrainBatch) count() int { return len(b.Labels) }

func (b *TrainBatch) fill(w *worker, i int) error {
	var aug Aug
	if b.augment {
		w.pcg.Seed(b.plan.Seed, mix(uint64(b.Epoch), uint64(b.plan.Rank), uint64(b.Step), uint64(i)))
		aug = w.proc.t.DrawAug(w.rng)
	}
	img, dep := 6*b.S*b.S, b.F*b.F
	return w.proc.Sample(w.db, b.Entries[i], aug, b.Images[i*img:(i+1)*img], b.Depth[i*dep:(i+1)*dep])
}

// TrainLoader produces the training batches of a TrainPlan, epoch after epoch, reusing
// its batch buffers and per-worker scratch.
type TrainLoader struct {
	plan    *TrainPlan
	workers []*worker
	free    chan batch
	opt     LoaderOptions
	augment bool
}

// NewTrainLoader prepares Workers processors and Prefetch+1 batch buffers.
func NewTrainLoader(db Store, plan *TrainPlan, t Transform, opt LoaderOptions) (*TrainLoader, error) {
	opt = opt.norm()
	ws, err := newWorkers(db, t, opt.Workers)
	if err != nil {
		return nil, err
	}
	l := &TrainLoader{plan: plan, workers: ws, free: make(chan batch, opt.Prefetch+1), opt: opt, augment: true}
	for i := 0; i < opt.Prefetch+1; i++ {
		l.free <- newTrainBatch(plan, t.Size, true)
	}
	return l, nil
}

func newWorkers(db Store, t Transform, n int) ([]*worker, error) {
	var ws []*worker
	for i := 0; i < n; i++ {
		proc, err := NewProcessor(t)
		if err != nil {
			return nil, err
		}
		pcg := rand.NewPCG(0, 0)
		ws = append(ws, &worker{proc: proc, pcg: pcg, rng: rand.New(pcg), db: db})
	}
	return ws, nil
}

// TrainIter iterates one epoch. Next's batch stays valid until the following Next or Close.
type TrainIter struct{ p *pipe }

// Epoch starts epoch e (its permutation and augmentation draws depend only on the plan's
// seed, e, the rank and the sample's place). Close the iterator before starting another.
func (l *TrainLoader) Epoch(ctx context.Context, e int) *TrainIter {
	plan := l.plan
	produce := func(bb batch, s int) (int, bool) {
		if s >= plan.Steps() {
			return 0, false
		}
		b := bb.(*TrainBatch)
		b.Epoch, b.Step = e, s
		for k := 0; k < plan.K(); k++ {
			for j := 0; j < 2*plan.B; j++ {
				i := k*2*plan.B + j
				b.Entries[i] = plan.Entry(e, s, k, j)
				b.Labels[i] = int64(b.Entries[i].Label)
			}
		}
		return b.count(), true
	}
	return &TrainIter{startPipe(ctx, l.workers, l.free, l.opt.Prefetch, l.opt.BadData, produce)}
}

// Next returns the next batch, or io.EOF after the epoch's last step. Under the skip
// policy a batch with a failed sample is dropped (and counted), so an epoch can have
// fewer batches than Steps on that rank.
func (it *TrainIter) Next() (*TrainBatch, error) {
	pd, err := it.p.next(func(*pending) bool { return false })
	if err != nil {
		return nil, err
	}
	return pd.b.(*TrainBatch), nil
}

// Stats reports what the skip policy dropped so far in this epoch.
func (it *TrainIter) Stats() Stats { return it.p.stats }

// Close stops the workers and waits for them; it is safe to call more than once.
func (it *TrainIter) Close() { it.p.close() }

// EvalBatch is up to N frames for scoring.
type EvalBatch struct {
	N, S        int
	Images      []float32 // N×6×S×S
	Labels      []int64   // N
	VideoIDs    []string  // N, parent directory of each frame
	Paths       []string  // N
	AttackTypes []string  // N, "" when the list has no attack= tag
	Domains     []string  // N
	Index       []int     // N, the position of each frame in the EvalSet

	set   *EvalSet
	first int // index in set of slot 0
	cap   int
}

func (b *EvalBatch) count() int { return b.N }

func (b *EvalBatch) fill(w *worker, i int) error {
	img := 6 * b.S * b.S
	return w.proc.Sample(w.db, &b.set.Entries[b.first+i], Aug{}, b.Images[i*img:(i+1)*img], nil)
}

// EvalLoader produces evaluation batches over an EvalSet (no augmentation).
type EvalLoader struct {
	set     *EvalSet
	workers []*worker
	free    chan batch
	opt     LoaderOptions
	n, s    int
}

// NewEvalLoader prepares batches of up to n frames.
func NewEvalLoader(db Store, set *EvalSet, t Transform, n int, opt LoaderOptions) (*EvalLoader, error) {
	if n <= 0 {
		return nil, fmt.Errorf("dataset: eval batch size %d", n)
	}
	opt = opt.norm()
	ws, err := newWorkers(db, t, opt.Workers)
	if err != nil {
		return nil, err
	}
	l := &EvalLoader{set: set, workers: ws, free: make(chan batch, opt.Prefetch+1), opt: opt, n: n, s: t.Size}
	for i := 0; i < opt.Prefetch+1; i++ {
		l.free <- &EvalBatch{S: t.Size, set: set, cap: n, Images: make([]float32, n*6*t.Size*t.Size),
			Labels: make([]int64, n), VideoIDs: make([]string, n), Paths: make([]string, n),
			AttackTypes: make([]string, n), Domains: make([]string, n), Index: make([]int, n)}
	}
	return l, nil
}

// EvalIter iterates the set once.
type EvalIter struct{ p *pipe }

// Iter starts a pass over every frame.
func (l *EvalLoader) Iter(ctx context.Context) *EvalIter {
	produce := func(bb batch, n int) (int, bool) {
		b := bb.(*EvalBatch)
		b.first = n * l.n
		if b.first >= len(l.set.Entries) {
			return 0, false
		}
		b.N = min(l.n, len(l.set.Entries)-b.first)
		b.reslice(b.N)
		for i := 0; i < b.N; i++ {
			e := &l.set.Entries[b.first+i]
			b.Labels[i], b.VideoIDs[i], b.Paths[i], b.AttackTypes[i] = int64(e.Label), e.VideoID(), e.Path, e.Attack
			b.Domains[i], b.Index[i] = l.set.Domain[b.first+i], b.first+i
		}
		return b.N, true
	}
	return &EvalIter{startPipe(ctx, l.workers, l.free, l.opt.Prefetch, l.opt.BadData, produce)}
}

func (b *EvalBatch) reslice(n int) {
	img := 6 * b.S * b.S
	b.Images = b.Images[:n*img]
	b.Labels, b.VideoIDs, b.Paths = b.Labels[:n], b.VideoIDs[:n], b.Paths[:n]
	b.AttackTypes, b.Domains, b.Index = b.AttackTypes[:n], b.Domains[:n], b.Index[:n]
}

// compact removes the failed frames (skip policy), keeping order.
func (b *EvalBatch) compact(failed []bool) {
	img, k := 6*b.S*b.S, 0
	for i := 0; i < b.N; i++ {
		if failed[i] {
			continue
		}
		if k != i {
			copy(b.Images[k*img:(k+1)*img], b.Images[i*img:(i+1)*img])
			b.Labels[k], b.VideoIDs[k], b.Paths[k] = b.Labels[i], b.VideoIDs[i], b.Paths[i]
			b.AttackTypes[k], b.Domains[k], b.Index[k] = b.AttackTypes[i], b.Domains[i], b.Index[i]
		}
		k++
	}
	b.N = k
	b.reslice(k)
}

// Next returns the next batch (frames in set order, failed frames left out under the skip
// policy), or io.EOF. The batch stays valid until the following Next or Close.
func (it *EvalIter) Next() (*EvalBatch, error) {
	for {
		pd, err := it.p.next(func(pd *pending) bool {
			pd.b.(*EvalBatch).compact(pd.failed)
			return true
		})
		if err != nil {
			return nil, err
		}
		if b := pd.b.(*EvalBatch); b.N > 0 {
			return b, nil
		}
	}
}

// Stats reports the frames skipped so far.
func (it *EvalIter) Stats() Stats { return it.p.stats }

// Close stops the workers and waits for them.
func (it *EvalIter) Close() { it.p.close() }
