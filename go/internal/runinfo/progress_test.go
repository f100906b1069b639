package runinfo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// tick is a clock that advances by d on every call.
func tick(d time.Duration) func() time.Time {
	t := time.Unix(1000, 0)
	return func() time.Time {
		t = t.Add(d)
		return t
	}
}

func TestProgressLogLines(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	// Every call of the clock advances it by one second: Start reads it once, each Step
	// once, Done once.
	p := NewProgress(10, zap.New(core), WithDescription("epoch 1/3"), WithLogEvery(4),
		WithOutput(&bytes.Buffer{}, false), WithClock(tick(time.Second)))
	for i := range 10 {
		p.Step(20, map[string]float64{"loss": float64(10 - i), "lr": 1e-4})
	}
	rate := p.Done()
	entries := logs.All()
	// Lines at steps 4 and 8, the last step (10), and the summary.
	if len(entries) != 4 {
		t.Fatalf("%d log lines, want 4: %v", len(entries), entries)
	}
	f := entries[1].ContextMap()
	// After 8 steps, 8 s have passed: 160 images / 8 s = 20 img/s; 2 steps left at 1 s each.
	if entries[1].Message != "epoch 1/3" || f["step"] != int64(8) || f["total"] != int64(10) || f["loss"] != 3.0 ||
		f["img_per_s"] != 20.0 || f["eta"] != 2*time.Second {
		t.Errorf("line at step 8: %s %v", entries[1].Message, f)
	}
	if last := entries[2].ContextMap(); last["step"] != int64(10) || last["eta"] != time.Duration(0) {
		t.Errorf("last step line %v", last)
	}
	// Done reads the clock at 11 s: 200 images / 11 s.
	if s := entries[3]; s.Message != "epoch 1/3 done" || s.ContextMap()["steps"] != int64(10) || rate != 200.0/11 {
		t.Errorf("summary %s %v rate %v", s.Message, s.ContextMap(), rate)
	}
}

func TestProgressBarOnTerminal(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	var out bytes.Buffer
	p := NewProgress(3, zap.New(core), WithDescription("epoch 2/3"), WithOutput(&out, true), WithClock(tick(time.Second)))
	for range 3 {
		p.Step(10, map[string]float64{"loss": 0.5})
	}
	p.Done()
	s := out.String()
	for _, want := range []string{"epoch 2/3", "loss=0.5", "img/s", "3/3"} {
		if !strings.Contains(s, want) {
			t.Errorf("bar output lacks %q: %q", want, s)
		}
	}
	// On a terminal only the summary is logged.
	if n := len(logs.All()); n != 1 {
		t.Errorf("%d log lines with a bar, want 1 (the summary)", n)
	}
}
