package shim

import (
	"runtime"
	"sync"
)

// osThread runs functions one at a time on one OS thread of its own, locked for its
// lifetime. A trainer runs every call there: libtorch keeps per-thread state that a step
// rebuilds when it lands on another thread (OpenMP's thread team; ideep's caches of oneDNN
// primitives, JIT-compiled per shape), and Go runs successive calls on whichever thread is
// free. Measured: the S = 32 meta step ran at 12.8-13.7 img/s on one thread against
// 7.4-10.3 when calls hopped (README, Speed).
type osThread struct {
	mu     sync.Mutex
	calls  chan func()
	closed bool
}

func newOSThread() *osThread {
	t := &osThread{calls: make(chan func())}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		for f := range t.calls {
			f()
		}
	}()
	return t
}

// run calls f on the thread and returns when it has returned (a panic in f is raised again
// here). After stop, f runs on the caller.
func (t *osThread) run(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		f()
		return
	}
	var caught any
	done := make(chan struct{})
	t.calls <- func() {
		defer close(done)
		defer func() { caught = recover() }()
		f()
	}
	<-done
	if caught != nil {
		panic(caught)
	}
}

// stop ends the thread after the call in flight. Idempotent.
func (t *osThread) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed {
		t.closed = true
		close(t.calls)
	}
}
