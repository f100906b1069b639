package shim

import (
	"runtime"
	"sync"
	"syscall"
)

// osThread runs functions one at a time on one OS thread of its own, locked for its
// lifetime. A model and the trainers built on it run every call there, for two reasons:
//   - libtorch keeps per-thread state that a call rebuilds when it lands on another thread
//     (ideep's caches of oneDNN primitives, JIT-compiled per shape), and Go runs successive
//     calls on whichever thread is free;
//   - with OpenMP, every OS thread that opens a parallel region keeps a team of workers of
//     its own, and libgomp stops spinning and puts workers to sleep at every barrier as soon
//     as its teams together have more threads than the machine has cores. A model built on
//     one thread and trained on another was such a case: its S = 32 meta step took 575-600 ms
//     against 460 ms when everything ran on one thread (README, Speed).
//
// Shared by reference count (retain, release); the thread ends with the last release.
type osThread struct {
	mu     sync.Mutex
	calls  chan func()
	tid    int // the thread's id, for calls made from the thread itself
	refs   int
	closed bool
}

func newOSThread() *osThread {
	t := &osThread{calls: make(chan func()), refs: 1}
	started := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		started <- syscall.Gettid()
		for f := range t.calls {
			f()
		}
	}()
	t.tid = <-started
	return t
}

// run calls f on the thread and returns when it has returned (a panic in f is raised again
// here). Called from the thread itself (a call inside a call), f runs at once. After the
// last release, f runs on the caller.
func (t *osThread) run(f func()) {
	if syscall.Gettid() == t.tid { // only the locked goroutine runs on that thread
		f()
		return
	}
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

// retain adds an owner.
func (t *osThread) retain() *osThread {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refs++
	return t
}

// release drops an owner; the last one ends the thread after the call in flight.
func (t *osThread) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refs--; t.refs == 0 && !t.closed {
		t.closed = true
		close(t.calls)
	}
}

// threadRef is one owner's hold on an osThread, dropped once however often drop is called.
type threadRef struct {
	t    *osThread
	once sync.Once
}

func (r *threadRef) drop() { r.once.Do(r.t.release) }
