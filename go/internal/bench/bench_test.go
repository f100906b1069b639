package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		v    []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 2, 100}, 2},
		{[]float64{-1, 1}, 0},
	}
	for _, c := range cases {
		in := slices.Clone(c.v)
		if got := Median(c.v); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.v, got, c.want)
		}
		if !slices.Equal(in, c.v) {
			t.Errorf("Median reordered its input %v", in)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median of nothing is not NaN")
	}
}

func TestRatio(t *testing.T) {
	if r := Ratio(3.1, 2.4); math.Abs(r-1.2916666) > 1e-6 {
		t.Errorf("Ratio(3.1, 2.4) = %v", r)
	}
	for _, b := range []float64{0, -1, math.NaN()} {
		if !math.IsNaN(Ratio(1, b)) {
			t.Errorf("Ratio(1, %v) is a number", b)
		}
	}
}

func TestOrderAlternates(t *testing.T) {
	want := []int{0, 1, 1, 0, 0, 1, 1, 0, 0, 1}
	if got := Order(5); !slices.Equal(got, want) {
		t.Errorf("Order(5) = %v, want %v", got, want)
	}
	if len(Order(0)) != 0 {
		t.Error("Order(0) is not empty")
	}
}

// Run follows Order, keeps each side's rates in run order, and reports their medians.
func TestRunMeasuresInOrder(t *testing.T) {
	var calls []string
	rateA := []float64{10, 30, 20}
	rateB := []float64{4, 5, 100}
	var ia, ib int
	c := Comparison{Label: "meta step S=64 B=2", Unit: "img/s", Setup: func() (Side, Side, func(), error) {
		a := Side{"fasgo", func() (float64, error) { calls = append(calls, "A"); ia++; return rateA[ia-1], nil }}
		b := Side{"pytorch", func() (float64, error) { calls = append(calls, "B"); ib++; return rateB[ib-1], nil }}
		return a, b, func() { calls = append(calls, "done") }, nil
	}}
	var seen int
	r := Run(c, 3, func(string, int, float64) { seen++ })
	if got := strings.Join(calls, ""); got != "ABBAABdone" {
		t.Errorf("call order %s, want ABBAABdone", got)
	}
	if seen != 6 || !slices.Equal(r.RatesA, rateA) || !slices.Equal(r.RatesB, rateB) {
		t.Errorf("rates %v %v, %d progress calls", r.RatesA, r.RatesB, seen)
	}
	if r.MedianA() != 20 || r.MedianB() != 5 || r.Ratio() != 4 {
		t.Errorf("medians %v %v ratio %v", r.MedianA(), r.MedianB(), r.Ratio())
	}
	want := "meta step S=64 B=2: fasgo 20.0 img/s, pytorch 5.00 img/s, ratio 4.00 (median of 3 alternating runs; ranges 10.0-30.0, 4.00-100)"
	if r.Line() != want {
		t.Errorf("line %q\nwant %q", r.Line(), want)
	}
}

func TestRunSkipAndFailure(t *testing.T) {
	skip := Comparison{Label: "adanorm fused vs composite", Setup: func() (Side, Side, func(), error) {
		return Side{}, Side{}, nil, fmt.Errorf("the shim has no setting adanorm: %w", ErrSkip)
	}}
	r := Run(skip, 3, nil)
	if r.Line() != "adanorm fused vs composite: skipped (the shim has no setting adanorm)" {
		t.Errorf("skip line %q", r.Line())
	}
	boom := errors.New("boom")
	fail := Comparison{Label: "x", Setup: func() (Side, Side, func(), error) {
		ok := Side{"a", func() (float64, error) { return 1, nil }}
		bad := Side{"b", func() (float64, error) { return 0, boom }}
		return ok, bad, nil, nil
	}}
	r = Run(fail, 3, nil)
	if !errors.Is(r.Err, boom) || !strings.Contains(r.Line(), "FAILED: b, run 1: boom") {
		t.Errorf("failure: %v / %q", r.Err, r.Line())
	}
}

func TestParseRate(t *testing.T) {
	out := []byte("some warning\n{\"side\": \"pytorch\", \"images_per_s\": 2.5, \"iters\": 3}\n\n")
	if v, err := ParseRate(out); err != nil || v != 2.5 {
		t.Errorf("ParseRate = %v, %v", v, err)
	}
	for _, bad := range []string{"", "not json", `{"iters": 3}`, `{"images_per_s": 0}`, `{"images_per_s": -1}`} {
		if _, err := ParseRate([]byte(bad)); err == nil {
			t.Errorf("ParseRate(%q) accepted", bad)
		}
	}
}
