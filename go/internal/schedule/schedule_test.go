package schedule

import (
	"math"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func mustNew(t *testing.T, s Spec, spe int) *Schedule {
	t.Helper()
	sc, err := New(s, spe)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func check(t *testing.T, sc *Schedule, want map[int]float64) {
	t.Helper()
	for step, w := range want {
		if got := sc.LR(step); !near(got, w) {
			t.Errorf("LR(%d) = %.17g, want %.17g", step, got, w)
		}
	}
}

func TestStepLR(t *testing.T) {
	// 100 steps per epoch, x0.1 every 10 epochs: epochs 0-9 at 1e-4, 10-19 at 1e-5, ...
	sc := mustNew(t, Spec{Name: "StepLR", BaseLR: 1e-4, DecayT: 10, DecayRate: 0.1}, 100)
	check(t, sc, map[int]float64{0: 1e-4, 999: 1e-4, 1000: 1e-5, 1999: 1e-5, 2000: 1e-6, 4999: 1e-8})
	// A rate that is not a power of ten, and an epoch length that does not divide evenly.
	sc = mustNew(t, Spec{Name: "StepLR", BaseLR: 0.3, DecayT: 3, DecayRate: 0.5}, 7)
	check(t, sc, map[int]float64{20: 0.3, 21: 0.15, 41: 0.15, 42: 0.075})
}

func TestCosine(t *testing.T) {
	// lr = min + (base-min)(1+cos(pi e/E))/2 with base 1, min 0.1, E = 10, 4 steps per epoch.
	sc := mustNew(t, Spec{Name: "Cosine", BaseLR: 1, MinLR: 0.1, Epochs: 10}, 4)
	check(t, sc, map[int]float64{
		0:  1,
		10: 0.1 + 0.45*(1+math.Sqrt2/2), // epoch 2.5: cos(pi/4)
		20: 0.55,                        // epoch 5: cos(pi/2) = 0
		30: 0.1 + 0.45*(1-math.Sqrt2/2), // epoch 7.5
		40: 0.1,
		99: 0.1, // past the end it stays at min_lr
	})
}

func TestWarmup(t *testing.T) {
	// Half an epoch of 4 steps = 2 warmup steps: factors 1/2, 2/2, then the main schedule.
	sc := mustNew(t, Spec{Name: "StepLR", BaseLR: 1e-3, DecayT: 1, DecayRate: 0.1, WarmupEpochs: 0.5}, 4)
	check(t, sc, map[int]float64{0: 5e-4, 1: 1e-3, 2: 1e-3, 3: 1e-3, 4: 1e-4})
	if sc.WarmupSteps() != 2 {
		t.Errorf("WarmupSteps = %d, want 2", sc.WarmupSteps())
	}
	// Warmup composes with the cosine: 10 steps of warmup over 1 epoch of 10 steps.
	sc = mustNew(t, Spec{Name: "Cosine", BaseLR: 2, MinLR: 0, Epochs: 2, WarmupEpochs: 1}, 10)
	check(t, sc, map[int]float64{
		0:  2 * 0.1 * (1 + math.Cos(0)) / 2,
		4:  2 * 0.5 * (1 + math.Cos(math.Pi*0.4/2)) / 2,
		9:  2 * 1.0 * (1 + math.Cos(math.Pi*0.9/2)) / 2,
		10: 2 * (1 + math.Cos(math.Pi*1.0/2)) / 2,
	})
	// Any positive warmup lasts at least one step; None keeps the base lr.
	sc = mustNew(t, Spec{Name: "None", BaseLR: 0.1, WarmupEpochs: 0.01}, 3)
	check(t, sc, map[int]float64{0: 0.1, 1: 0.1, 1000: 0.1})
	if sc.WarmupSteps() != 1 {
		t.Errorf("WarmupSteps = %d, want 1", sc.WarmupSteps())
	}
}

func TestBadSpecs(t *testing.T) {
	cases := []struct {
		s    Spec
		spe  int
		want string
	}{
		{Spec{Name: "StepLR", BaseLR: 1, DecayT: 1, DecayRate: 0.1}, 0, "steps per epoch"},
		{Spec{Name: "StepLR", BaseLR: 0, DecayT: 1, DecayRate: 0.1}, 1, "base lr"},
		{Spec{Name: "StepLR", BaseLR: 1, DecayT: 0, DecayRate: 0.1}, 1, "decay_t"},
		{Spec{Name: "Cosine", BaseLR: 1, MinLR: 2, Epochs: 3}, 1, "min_lr"},
		{Spec{Name: "Linear", BaseLR: 1}, 1, "unknown schedule"},
		{Spec{Name: "None", BaseLR: 1, WarmupEpochs: math.NaN()}, 1, "warmup_epochs"},
	}
	for _, tc := range cases {
		if _, err := New(tc.s, tc.spe); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v, %d) = %v, want an error about %s", tc.s, tc.spe, err, tc.want)
		}
	}
}

func TestFromConfig(t *testing.T) {
	c := config.Default()
	c.Scheduler.Name = "Cosine"
	c.Scheduler.Params.MinLR = 1e-6
	c.Train.Epochs = 4
	sc, err := FromConfig(c, 5)
	if err != nil {
		t.Fatal(err)
	}
	// Epoch 2 of 4 is the cosine's midpoint: (lr + min_lr)/2.
	check(t, sc, map[int]float64{0: 1e-4, 10: (1e-4 + 1e-6) / 2, 20: 1e-6})
}
