package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Policy says what a data error (missing key, undecodable image, bad crop) does.
type Policy int

const (
	// Fail stops the iteration with the error (list, line, key).
	Fail Policy = iota
	// Skip drops the sample and counts it: an eval batch comes back without it; a
	// training batch, which must keep its B live + B attack layout, is dropped whole.
	Skip
)

// ParsePolicy reads "fail" or "skip".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "fail", "":
		return Fail, nil
	case "skip":
		return Skip, nil
	}
	return Fail, fmt.Errorf("bad_data %q: want fail or skip", s)
}

// LoaderOptions configures the worker pool.
type LoaderOptions struct {
	Workers  int    // decode goroutines; 0 = GOMAXPROCS
	Prefetch int    // batches prepared ahead of the consumer; 0 = 2
	BadData  Policy // what data errors do
}

func (o LoaderOptions) norm() LoaderOptions {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Prefetch <= 0 {
		o.Prefetch = 2
	}
	return o
}

// Stats counts what the skip policy dropped during one iteration (one epoch).
type Stats struct {
	Skipped        int      // samples that failed
	DroppedBatches int      // training batches dropped because one of their samples failed
	Errors         []string // the first MaxLoggedErrors failures, "list:line: key ...: why"
}

// MaxLoggedErrors bounds Stats.Errors.
const MaxLoggedErrors = 20

// worker owns one Processor and a reseedable generator for augmentation draws.
type worker struct {
	proc *Processor
	pcg  *rand.PCG
	rng  *rand.Rand
	db   Store
}

// batch is what the pipeline fills: a training or an evaluation batch.
type batch interface {
	fill(w *worker, i int) error
	count() int
}

// pending tracks one batch while workers fill it.
type pending struct {
	b         batch
	remaining atomic.Int32
	done      chan struct{}
	mu        sync.Mutex
	failed    []bool  // per sample
	errs      []error // per sample
}

// pipe runs a producer, a pool of workers and an ordered queue of batches.
type pipe struct {
	ctx    context.Context
	cancel context.CancelFunc
	ready  chan *pending
	free   chan batch
	wg     sync.WaitGroup
	policy Policy
	held   batch // the batch the consumer holds until its next call
	stats  Stats
	err    error
}

type job struct {
	p *pending
	i int
}

// startPipe launches the workers and the producer. produce(b, n) prepares buffer b as
// the n-th batch and returns its sample count, or false after the last batch.
func startPipe(ctx context.Context, workers []*worker, free chan batch, prefetch int, policy Policy,
	produce func(b batch, n int) (int, bool)) *pipe {
	ctx, cancel := context.WithCancel(ctx)
	p := &pipe{ctx: ctx, cancel: cancel, ready: make(chan *pending, prefetch), free: free, policy: policy}
	jobs := make(chan job, 64)
	for _, w := range workers {
		p.wg.Add(1)
		go p.work(w, jobs)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(jobs)
		defer close(p.ready)
		for n := 0; ; n++ {
			var b batch
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			size, ok := produce(b, n)
			if !ok {
				free <- b
				return
			}
			pd := &pending{b: b, done: make(chan struct{}), failed: make([]bool, size), errs: make([]error, size)}
			pd.remaining.Store(int32(size))
			select {
			case p.ready <- pd:
			case <-ctx.Done():
				free <- b
				return
			}
			for i := 0; i < size; i++ {
				select {
				case jobs <- job{pd, i}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return p
}

func (p *pipe) work(w *worker, jobs <-chan job) {
	defer p.wg.Done()
	for {
		select {
		case j, ok := <-jobs:
			if !ok {
				return
			}
			if err := j.p.b.fill(w, j.i); err != nil {
				j.p.failed[j.i], j.p.errs[j.i] = true, err
			}
			if j.p.remaining.Add(-1) == 0 {
				close(j.p.done)
			}
		case <-p.ctx.Done():
			return
		}
	}
}

// next returns the next completed batch in order, io.EOF at the end. Each sample's error
// goes through the policy; keep decides whether a batch with failures is still returned.
func (p *pipe) next(keep func(pd *pending) bool) (*pending, error) {
	if p.held != nil {
		p.free <- p.held
		p.held = nil
	}
	if p.err != nil {
		return nil, p.err
	}
	for {
		var pd *pending
		var ok bool
		select {
		case pd, ok = <-p.ready:
		case <-p.ctx.Done():
			return nil, p.fail(p.ctx.Err())
		}
		if !ok {
			if err := p.ctx.Err(); err != nil {
				return nil, p.fail(err)
			}
			p.err = io.EOF
			return nil, io.EOF
		}
		select {
		case <-pd.done:
		case <-p.ctx.Done():
			p.wg.Wait() // workers may still write into pd.b
			p.free <- pd.b
			return nil, p.fail(p.ctx.Err())
		}
		bad := 0
		for i, err := range pd.errs {
			if !pd.failed[i] {
				continue
			}
			if p.policy == Fail || !errors.Is(err, ErrBadSample) {
				p.free <- pd.b
				return nil, p.fail(err)
			}
			bad++
			p.stats.Skipped++
			if len(p.stats.Errors) < MaxLoggedErrors {
				p.stats.Errors = append(p.stats.Errors, err.Error())
			}
		}
		if bad == 0 || keep(pd) {
			p.held = pd.b
			return pd, nil
		}
		p.stats.DroppedBatches++
		p.free <- pd.b
	}
}

func (p *pipe) fail(err error) error {
	p.err = err
	p.cancel()
	return err
}

// close stops the goroutines, waits for them and returns every buffer to free.
func (p *pipe) close() {
	p.cancel()
	p.wg.Wait()
	for pd := range p.ready {
		p.free <- pd.b
	}
	if p.held != nil {
		p.free <- p.held
		p.held = nil
	}
}
