package runinfo

import (
	"bytes"
	"math"
	"path/filepath"
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

// Log lines show numbers rounded for people: 4 significant digits, img_per_s to a tenth.
func TestProgressRoundsForPeople(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	p := NewProgress(2, zap.New(core), WithLogEvery(1), WithOutput(&bytes.Buffer{}, false), WithClock(tick(3*time.Second)))
	p.Step(20, map[string]float64{"loss": 0.693147180559945, "lr": 0.000123456789, "big": 123456.789, "nan": math.NaN()})
	p.Step(20, map[string]float64{"loss": -2.718281828})
	p.Done()
	e := logs.All()
	f := e[0].ContextMap()
	// 20 images in 3 s.
	if f["loss"] != 0.6931 || f["lr"] != 0.0001235 || f["big"] != 123500.0 || !math.IsNaN(f["nan"].(float64)) || f["img_per_s"] != 6.7 {
		t.Errorf("first line %v", f)
	}
	if f := e[1].ContextMap(); f["loss"] != -2.718 {
		t.Errorf("second line %v", f)
	}
	// 40 images in 9 s.
	if f := e[2].ContextMap(); f["img_per_s"] != 4.4 {
		t.Errorf("summary %v", f)
	}
}

// Stop ends a failed epoch without the "done" line; Done or Stop after either logs nothing.
func TestProgressStop(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		core, logs := observer.New(zap.InfoLevel)
		var out bytes.Buffer
		p := NewProgress(10, zap.New(core), WithDescription("epoch 1/2"), WithLogEvery(5), WithOutput(&out, terminal),
			WithClock(tick(time.Second)))
		for range 3 {
			p.Step(1, nil)
		}
		p.Stop()
		p.Done()
		p.Stop()
		for _, e := range logs.All() {
			if strings.HasSuffix(e.Message, "done") {
				t.Errorf("terminal %v: a stopped report logged %q", terminal, e.Message)
			}
		}
		if terminal && strings.Contains(out.String(), "10/10") {
			t.Errorf("the stopped bar was filled: %q", out.String())
		}
	}
	core, logs := observer.New(zap.InfoLevel)
	p := NewProgress(1, zap.New(core), WithOutput(&bytes.Buffer{}, false))
	p.Step(1, nil)
	p.Done()
	p.Stop()
	p.Done()
	if n := len(logs.FilterMessage("progress done").All()); n != 1 {
		t.Errorf("%d done lines, want 1", n)
	}
}

// Run.Progress logs every train.print_interval steps (or Options.PrintInterval) to the
// console and log.jsonl on rank 0.
func TestRunProgress(t *testing.T) {
	for _, c := range []struct {
		set   string
		opt   int
		lines int
	}{{"train.print_interval=3", 0, 3}, {"train.print_interval=3", 5, 2}} {
		var console bytes.Buffer
		cfg := testConfig(t, c.set)
		r, err := Create(Options{Config: cfg, Now: start, Console: &console, PrintInterval: c.opt})
		if err != nil {
			t.Fatal(err)
		}
		p := r.Progress(9, "epoch 1/1")
		for range 9 {
			p.Step(2, map[string]float64{"loss": 0.123456})
		}
		p.Done()
		r.Close()
		// Lines at multiples of the interval and at the last step, then the summary.
		n := 0
		for _, l := range readJSONL(t, filepath.Join(r.Dir, "log.jsonl")) {
			if l["msg"] == "epoch 1/1" {
				n++
				if l["loss"] != 0.1235 {
					t.Errorf("logged loss %v", l["loss"])
				}
			}
		}
		if n != c.lines {
			t.Errorf("%s, PrintInterval %d: %d progress lines, want %d", c.set, c.opt, n, c.lines)
		}
		if got := strings.Count(console.String(), "epoch 1/1"); got != c.lines+1 {
			t.Errorf("console has %d progress lines, want %d:\n%s", got, c.lines+1, console.String())
		}
	}
}
