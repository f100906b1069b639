package liveness_test

import (
	"context"
	"errors"
	"image"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/liveness"
)

// gate blocks the owner goroutine before its network calls until released.
type gate struct {
	entered chan int      // receives the size of every batch about to run
	release chan struct{} // one value lets one batch run
}

func newGate() *gate { return &gate{entered: make(chan int, 100), release: make(chan struct{}, 100)} }

func (g *gate) hook(n int) {
	g.entered <- n
	<-g.release
}

type outcome struct {
	res liveness.Result
	err error
}

func scoreAsync(d *liveness.Detector, ctx context.Context, img image.Image) chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		r, err := d.Score(ctx, img)
		ch <- outcome{r, err}
	}()
	return ch
}

// waitQueued waits until n inputs wait in the queue.
func waitQueued(t *testing.T, d *liveness.Detector, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.QueueLen() != n {
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d inputs, want %d", d.QueueLen(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func testDetector(t *testing.T, g *gate, opts ...liveness.Option) (*liveness.Detector, image.Image, float64) {
	t.Helper()
	path := liveness.WriteTestModel(t, t.TempDir(), liveness.TestModel{Seed: 12, Threshold: liveness.Float64(0.5)})
	img := liveness.FaceImage(40, 40, 3)
	ref := open(t, path, liveness.WithFaceCrops())
	want, err := ref.Score(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]liveness.Option{liveness.WithFaceCrops(), liveness.WithMaxBatch(1), liveness.WithBeforeBatch(g.hook)}, opts...)
	d, err := liveness.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(g.release) // never leave the owner blocked
		d.Close()
	})
	return d, img, want.AttackScore
}

// A call whose context is cancelled while it waits in the queue returns at once with the
// context's error; its input is skipped, the others are scored.
func TestCancelWhileQueued(t *testing.T) {
	g := newGate()
	d, img, want := testDetector(t, g)
	ctx := context.Background()
	first := scoreAsync(d, ctx, img)
	if n := <-g.entered; n != 1 {
		t.Fatalf("first batch of %d", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	victim := scoreAsync(d, cctx, img)
	waitQueued(t, d, 1)
	third := scoreAsync(d, ctx, img)
	waitQueued(t, d, 2)
	cancel()
	select {
	case o := <-victim:
		if !errors.Is(o.err, context.Canceled) {
			t.Fatalf("cancelled call: %v", o.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled call did not return while the owner was busy")
	}
	g.release <- struct{}{} // first batch
	for _, ch := range []chan outcome{first, third} {
		if n := len(g.entered); n > 1 {
			t.Fatalf("%d batches waiting", n)
		}
		select {
		case o := <-ch:
			if o.err != nil || !same(o.res.AttackScore, want) {
				t.Fatalf("%v %v", o.res.AttackScore, o.err)
			}
		case n := <-g.entered: // third's batch; the cancelled input was skipped
			if n != 1 {
				t.Fatalf("batch of %d", n)
			}
			g.release <- struct{}{}
			o := <-ch
			if o.err != nil || !same(o.res.AttackScore, want) {
				t.Fatalf("%v %v", o.res.AttackScore, o.err)
			}
		}
	}
	select {
	case n := <-g.entered:
		t.Fatalf("the cancelled input reached the network (batch of %d)", n)
	case <-time.After(50 * time.Millisecond):
	}
	// A context cancelled before the call: refused without queueing.
	done, stop := context.WithCancel(ctx)
	stop()
	if _, err := d.Score(done, img); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before the call: %v", err)
	}
}

// Close with one batch in flight and calls queued: the queued calls fail with ErrClosed at
// once, Close waits for the batch in flight, whose caller gets its score; later calls fail.
func TestCloseWithQueuedAndInFlight(t *testing.T) {
	g := newGate()
	d, img, want := testDetector(t, g)
	ctx := context.Background()
	inflight := scoreAsync(d, ctx, img)
	<-g.entered
	var queued []chan outcome
	for i := 0; i < 3; i++ {
		queued = append(queued, scoreAsync(d, ctx, img))
		waitQueued(t, d, i+1)
	}
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	for i, ch := range queued {
		select {
		case o := <-ch:
			if !errors.Is(o.err, liveness.ErrClosed) {
				t.Errorf("queued call %d: %v", i, o.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("queued call %d was not failed by Close", i)
		}
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a batch was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := d.Score(ctx, img); !errors.Is(err, liveness.ErrClosed) {
		t.Errorf("call during Close: %v", err)
	}
	g.release <- struct{}{}
	o := <-inflight
	if o.err != nil || !same(o.res.AttackScore, want) {
		t.Errorf("the batch in flight: %v %v", o.res.AttackScore, o.err)
	}
	<-closed
	if _, err := d.ScoreBytes(ctx, liveness.EncodePNG(t, img)); !errors.Is(err, liveness.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A full queue fails new calls at once with ErrOverloaded; the queued ones are served.
func TestOverload(t *testing.T) {
	g := newGate()
	d, img, want := testDetector(t, g, liveness.WithQueueSize(2))
	ctx := context.Background()
	calls := []chan outcome{scoreAsync(d, ctx, img)}
	<-g.entered
	for i := 0; i < 2; i++ {
		calls = append(calls, scoreAsync(d, ctx, img))
		waitQueued(t, d, i+1)
	}
	if _, err := d.Score(ctx, img); !errors.Is(err, liveness.ErrOverloaded) {
		t.Fatalf("full queue: %v", err)
	}
	rs, err := d.ScoreBatch(ctx, []image.Image{img})
	if !errors.Is(err, liveness.ErrOverloaded) || rs != nil {
		t.Fatalf("full queue, batch form: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range calls {
			g.release <- struct{}{}
		}
	}()
	for _, ch := range calls {
		o := <-ch
		if o.err != nil || !same(o.res.AttackScore, want) {
			t.Errorf("%v %v", o.res.AttackScore, o.err)
		}
	}
	wg.Wait()
}

// A batch call that fails part-way (queue full) withdraws what it had queued; a batch larger
// than the whole queue is refused before anything is prepared.
func TestBatchFailureWithdraws(t *testing.T) {
	g := newGate()
	d, img, want := testDetector(t, g, liveness.WithQueueSize(3))
	ctx := context.Background()
	if _, err := d.ScoreBatch(ctx, []image.Image{img, img, img, img}); !errors.Is(err, liveness.ErrOverloaded) ||
		!strings.Contains(err.Error(), "exceed the queue of 3") {
		t.Fatalf("4 images for a queue of 3: %v", err)
	}
	first := scoreAsync(d, ctx, img)
	<-g.entered
	queued := scoreAsync(d, ctx, img)
	waitQueued(t, d, 1)
	if _, err := d.ScoreBatch(ctx, []image.Image{img, img, img}); !errors.Is(err, liveness.ErrOverloaded) {
		t.Fatalf("3 images into 2 free slots: %v", err)
	}
	g.release <- struct{}{}
	if o := <-first; o.err != nil {
		t.Fatal(o.err)
	}
	if n := <-g.entered; n != 1 { // the queued call; the two withdrawn inputs are skipped
		t.Fatalf("batch of %d after the withdrawal", n)
	}
	g.release <- struct{}{}
	if o := <-queued; o.err != nil || !same(o.res.AttackScore, want) {
		t.Fatalf("%v %v", o.res.AttackScore, o.err)
	}
	select {
	case n := <-g.entered:
		t.Fatalf("a withdrawn input reached the network (batch of %d)", n)
	case <-time.After(100 * time.Millisecond):
	}
	if d.QueueLen() != 0 {
		t.Errorf("queue holds %d", d.QueueLen())
	}
}
