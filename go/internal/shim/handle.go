package shim

import (
	"fmt"
	"sync"
)

// handle owns one native object (P is a pointer to an opaque C type). Calls hold the read
// lock for their whole duration, so close (the write lock) waits for calls in flight and
// later calls see ErrClosed instead of a freed pointer. A call must never nest another use
// of the same handle (a pending close would deadlock it).
type handle[P any] struct {
	mu   sync.RWMutex
	p    P
	live bool
	free func(P)
}

func newHandle[P any](p P, free func(P)) *handle[P] {
	return &handle[P]{p: p, live: true, free: free}
}

// use runs fn with the live pointer, or returns ErrClosed (wrapped with op).
func (h *handle[P]) use(op string, fn func(p P) error) error {
	if h == nil {
		return fmt.Errorf("%s: nil handle: %w", op, ErrClosed)
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.live {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return fn(h.p)
}

// close frees the object once, after the calls in flight have returned. Idempotent.
func (h *handle[P]) close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.live {
		h.live = false
		h.free(h.p)
	}
}
