package shim

import (
	"errors"
	"math"
	"testing"
)

// TestScoreBatchInvariant: with BatchInvariant every input of a batch scores bit for bit as it
// does alone, in every position and batch size, for every gate, at several widths and sizes,
// with one or two threads; without it the fast kernels may differ (which is why the option
// exists), but only in the last bits.
func TestScoreBatchInvariant(t *testing.T) {
	cases := []struct {
		size    int
		width   float64
		gate    string
		threads int
	}{
		{32, 0.25, "1layer", 1}, {32, 0.25, "2layer", 2}, {32, 0.25, "clamp", 2}, {64, 0.5, "1layer", 2}, {40, 0.3, "1layer", 1},
	}
	for _, c := range cases {
		m, err := NewModel(Config{Method: "anrl", Size: c.size, Seed: 3, Threads: c.threads, Settings: anrlSettings(c.width, c.gate)})
		if err != nil {
			t.Fatal(err)
		}
		const n = 7
		per := 6 * c.size * c.size
		x := randInput(n, c.size, 11)
		for i := range x[:per] { // one input far from the others' statistics
			x[i] *= 5
		}
		alone := make([]float64, n)
		for i := 0; i < n; i++ {
			if err := m.ScoreWith(x[i*per:(i+1)*per], 1, c.size, ScoreOptions{BatchInvariant: true}, alone[i:i+1]); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range []int{n, 4, 2} {
			got := make([]float64, b)
			for start := 0; start+b <= n; start += b {
				if err := m.ScoreWith(x[start*per:(start+b)*per], b, c.size, ScoreOptions{BatchInvariant: true}, got); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if math.Float64bits(got[i]) != math.Float64bits(alone[start+i]) {
						t.Errorf("%+v: input %d in a batch of %d scores %.17g, alone %.17g", c, start+i, b, got[i], alone[start+i])
					}
				}
			}
		}
		// The thread count does not change them either.
		other, err := NewModel(Config{Method: "anrl", Size: c.size, Seed: 3, Threads: 3 - c.threads, Settings: anrlSettings(c.width, c.gate)})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float64, n)
		if err := other.ScoreWith(x, n, c.size, ScoreOptions{BatchInvariant: true}, got); err != nil {
			t.Fatal(err)
		}
		other.Close()
		for i := range got {
			if math.Float64bits(got[i]) != math.Float64bits(alone[i]) {
				t.Errorf("%+v: input %d with %d threads scores %.17g, with %d %.17g", c, i, 3-c.threads, got[i], c.threads, alone[i])
			}
		}
		fast := make([]float64, n)
		if err := m.Score(x, n, c.size, 0, fast); err != nil {
			t.Fatal(err)
		}
		for i := range fast {
			if d := math.Abs(fast[i] - alone[i]); d > 1e-5 {
				t.Errorf("%+v: input %d: fast kernels %.17g, invariant %.17g", c, i, fast[i], alone[i])
			}
		}
		m.Close()
	}
}

func TestScoreWithErrors(t *testing.T) {
	m := small(t, "1layer")
	x := randInput(2, 32, 1)
	if err := m.ScoreWith(x, 2, 32, ScoreOptions{BatchInvariant: true}, make([]float64, 1)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("1 slot for 2 inputs: %v", err)
	}
	x[5] = float32(math.NaN())
	if err := m.ScoreWith(x, 2, 32, ScoreOptions{BatchInvariant: true}, make([]float64, 2)); !errors.Is(err, ErrNonFinite) {
		t.Errorf("NaN input: %v", err)
	}
	m.Close()
	if err := m.ScoreWith(x, 2, 32, ScoreOptions{}, make([]float64, 2)); !errors.Is(err, ErrClosed) {
		t.Errorf("closed model: %v", err)
	}
}
