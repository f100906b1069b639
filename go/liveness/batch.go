package liveness

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fasgo/fasgo/go/internal/shim"
)

// request is one prepared input waiting for the network.
type request struct {
	ctx   context.Context
	x     []float32 // 6×S×S, owned by the owner goroutine once queued
	state atomic.Int32
	done  chan struct{} // closed when score or err is set
	score float64
	probs [][]float64 // an ensemble's: per member, its class probabilities
	err   error
}

const (
	queued int32 = iota
	taken
	cancelled
)

// take claims a queued request for a batch; false when its caller gave up.
func (r *request) take() bool { return r.state.CompareAndSwap(queued, taken) }

// cancel withdraws a request that was not taken yet.
func (r *request) cancel() bool { return r.state.CompareAndSwap(queued, cancelled) }

func (r *request) finish(score float64, err error) {
	r.score, r.err = score, err
	close(r.done)
}

// enqueue hands r to the owner, or fails at once when the detector is closed or the queue full.
func (d *Detector) enqueue(r *request) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	if err := r.ctx.Err(); err != nil {
		return err
	}
	select {
	case d.queue <- r:
		return nil
	default:
		return fmt.Errorf("%w (%d inputs waiting)", ErrOverloaded, cap(d.queue))
	}
}

// owner is the one goroutine that calls the network: it collects up to maxBatch queued
// inputs, waiting at most maxWait after the first, and scores them in one call.
func (d *Detector) owner() {
	defer close(d.ownerDone)
	s := d.spec.Size
	per := d.per
	x := make([]float32, d.o.maxBatch*per)
	out := make([]float64, d.o.maxBatch)
	batch := make([]*request, 0, d.o.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	add := func(r *request) {
		if r.take() {
			batch = append(batch, r)
		} else { // cancelled while queued
			d.putInput(r.x)
		}
	}
	for {
		batch = batch[:0]
		select {
		case <-d.closing:
			d.drain(nil)
			return
		default:
		}
		select {
		case r := <-d.queue:
			add(r)
		case <-d.closing:
			d.drain(nil)
			return
		}
		// Whatever is queued already, then wait for more until the batch is full or maxWait.
		waiting := false
	collect:
		for len(batch) < d.o.maxBatch {
			select {
			case r := <-d.queue:
				add(r)
				continue
			default:
			}
			if d.o.maxWait == 0 {
				break
			}
			if !waiting {
				timer.Reset(d.o.maxWait)
				waiting = true
			}
			select {
			case r := <-d.queue:
				add(r)
			case <-timer.C:
				waiting = false
				break collect
			case <-d.closing:
				d.drain(batch)
				return
			}
		}
		if waiting {
			timer.Stop() // (Go >= 1.23: no stale tick can be received after Stop)
		}
		select { // inputs not yet in the network when Close came count as queued
		case <-d.closing:
			d.drain(batch)
			return
		default:
		}
		if len(batch) == 0 {
			continue
		}
		n := len(batch)
		for i, r := range batch {
			copy(x[i*per:(i+1)*per], r.x)
			d.putInput(r.x)
			r.x = nil
		}
		if d.o.beforeBatch != nil {
			d.o.beforeBatch(n)
		}
		start := time.Now()
		var err error
		var probs [][][]float64
		if d.ens != nil {
			probs, err = d.ens.run(x[:n*per], n, !d.o.fastKernels)
		} else {
			err = d.model.ScoreWith(x[:n*per], n, s, shim.ScoreOptions{BatchInvariant: !d.o.fastKernels}, out[:n])
		}
		if d.o.batchObserver != nil {
			d.o.batchObserver(BatchInfo{Size: n, Duration: time.Since(start), Err: err})
		}
		for i, r := range batch {
			if err != nil {
				r.finish(0, fmt.Errorf("liveness: scoring a batch of %d: %w", n, err))
			} else {
				if probs != nil {
					r.probs = probs[i]
				}
				r.finish(out[i], nil)
			}
		}
	}
}

// drain fails the collected batch and everything still queued with ErrClosed.
func (d *Detector) drain(batch []*request) {
	for _, r := range batch {
		d.putInput(r.x)
		r.finish(0, ErrClosed)
	}
	for {
		select {
		case r := <-d.queue:
			d.putInput(r.x)
			if r.take() {
				r.finish(0, ErrClosed)
			}
		default:
			return
		}
	}
}
