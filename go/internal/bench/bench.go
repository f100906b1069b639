// Package bench runs side-by-side speed comparisons for `make bench`: two sides measured
// alternately (A B, B A, A B, ...) so that a drift in machine load hits both alike, several
// runs each, reported as the medians and their ratio on one line.
package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Side is one side of a comparison. Run measures once and returns a rate (higher is faster).
type Side struct {
	Name string
	Run  func() (float64, error)
}

// ErrSkip marks a comparison that cannot run here (a setting this build does not know);
// Setup wraps it with the reason, and the line says "skipped".
var ErrSkip = errors.New("skipped")

// Comparison is one line of the report. Setup prepares both sides (models, data) and
// returns a cleanup; it runs only when the comparison is selected.
type Comparison struct {
	Label string // "meta step S=64 B=2"
	Unit  string // "img/s"
	Setup func() (a, b Side, done func(), err error)
}

// Result is a finished comparison.
type Result struct {
	Label, Unit    string
	NameA, NameB   string
	RatesA, RatesB []float64 // in run order
	Skipped        string    // non-empty: why it did not run
	Err            error
}

// MedianA, MedianB and Ratio are the reported figures: the medians and MedianA / MedianB.
func (r Result) MedianA() float64 { return Median(r.RatesA) }
func (r Result) MedianB() float64 { return Median(r.RatesB) }
func (r Result) Ratio() float64   { return Ratio(r.MedianA(), r.MedianB()) }

// Median of v (the mean of the middle two for an even count); NaN for none.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Ratio is a / b: how many times faster A is; NaN when b is not positive.
func Ratio(a, b float64) float64 {
	if !(b > 0) {
		return math.NaN()
	}
	return a / b
}

// Order is the sequence of sides (0 = A, 1 = B) for runs alternating runs of each: run i
// measures A then B when i is even, B then A when odd (ABBA), so neither side is always first.
func Order(runs int) []int {
	o := make([]int, 0, 2*runs)
	for i := 0; i < runs; i++ {
		if i%2 == 0 {
			o = append(o, 0, 1)
		} else {
			o = append(o, 1, 0)
		}
	}
	return o
}

// Run sets the comparison up and measures both sides runs times in Order. progress, when
// not nil, is told of each measurement.
func Run(c Comparison, runs int, progress func(side string, run int, rate float64)) Result {
	r := Result{Label: c.Label, Unit: c.Unit}
	a, b, done, err := c.Setup()
	if errors.Is(err, ErrSkip) {
		r.Skipped = err.Error()
		return r
	}
	if err != nil {
		r.Err = fmt.Errorf("setup: %w", err)
		return r
	}
	if done != nil {
		defer done()
	}
	r.NameA, r.NameB = a.Name, b.Name
	sides := [2]Side{a, b}
	rates := [2]*[]float64{&r.RatesA, &r.RatesB}
	for i, s := range Order(runs) {
		v, err := sides[s].Run()
		if err != nil {
			r.Err = fmt.Errorf("%s, run %d: %w", sides[s].Name, i/2+1, err)
			return r
		}
		*rates[s] = append(*rates[s], v)
		if progress != nil {
			progress(sides[s].Name, i/2+1, v)
		}
	}
	return r
}

// Line is the one-line report: "meta step S=64 B=2: fasgo 3.1 img/s, pytorch 2.4 img/s,
// ratio 1.29 (median of 5 alternating runs; ranges 2.8-3.3, 2.1-2.6)", or the reason it was
// skipped or failed.
func (r Result) Line() string {
	switch {
	case r.Skipped != "":
		return fmt.Sprintf("%s: skipped (%s)", r.Label, strings.TrimSuffix(r.Skipped, ": "+ErrSkip.Error()))
	case r.Err != nil:
		return fmt.Sprintf("%s: FAILED: %v", r.Label, r.Err)
	}
	return fmt.Sprintf("%s: %s %s %s, %s %s %s, ratio %.2f (median of %d alternating runs; ranges %s, %s)", r.Label,
		r.NameA, num(r.MedianA()), r.Unit, r.NameB, num(r.MedianB()), r.Unit, r.Ratio(), len(r.RatesA),
		span(r.RatesA), span(r.RatesB))
}

// span is "lo-hi" of v: how noisy the runs were.
func span(v []float64) string {
	return num(slices.Min(v)) + "-" + num(slices.Max(v))
}

// num prints three significant digits without an exponent for the usual magnitudes.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
