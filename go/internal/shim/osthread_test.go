package shim

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
)

// Every call runs on the one OS thread, also from many goroutines and from inside a call; a
// panic comes back to the caller; the thread lives until its last owner releases it, and
// calls after that run on the caller's thread.
func TestOSThreadRunsEveryCallOnOneThread(t *testing.T) {
	th := newOSThread()
	var first int
	th.run(func() { first = syscall.Gettid() })
	var wg sync.WaitGroup
	tids := make([]int, 16)
	for i := range tids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.Gosched()
			th.run(func() { tids[i] = syscall.Gettid() })
		}()
	}
	wg.Wait()
	for i, tid := range tids {
		if tid != first {
			t.Fatalf("call %d ran on thread %d, the first on %d", i, tid, first)
		}
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want the panic of the call", r)
			}
		}()
		th.run(func() { panic("boom") })
	}()
	th.run(func() {}) // the thread survives a panicking call
	var inner int
	th.run(func() { th.run(func() { inner = syscall.Gettid() }) })
	if inner != first {
		t.Fatalf("a call inside a call ran on thread %d, not %d", inner, first)
	}
	a, b := &threadRef{t: th}, &threadRef{t: th.retain()}
	a.drop()
	a.drop() // once per owner
	var shared int
	th.run(func() { shared = syscall.Gettid() })
	if shared != first {
		t.Fatalf("with an owner left the call ran on thread %d, not %d", shared, first)
	}
	b.drop()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var after int
	th.run(func() { after = syscall.Gettid() })
	if after != syscall.Gettid() {
		t.Fatalf("after stop the call ran on thread %d, not the caller's %d", after, syscall.Gettid())
	}
}
