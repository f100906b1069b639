package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/fasgo/fasgo/go/internal/bench"
	"github.com/fasgo/fasgo/go/internal/shim"
)

const domains = 3 // K of the meta step: 2 meta-train + 1 meta-test, as the spec's benchmarks

// adanormKey is the model setting that chooses the AdaNorm implementation.
const adanormKey = "adanorm_impl"

func (o *options) script(name string) string { return filepath.Join(o.root, "bench", name) }

// pyNet is the PyTorch side of a network comparison.
func (o *options) pyNet(mode string, s, batch int) bench.Side {
	return bench.Python("pytorch", o.python, o.script("anrl_bench.py"), mode, "--size", fmt.Sprint(s),
		"--batch", fmt.Sprint(batch), "--domains", fmt.Sprint(domains), "--width", fmt.Sprint(o.width),
		"--threads", fmt.Sprint(o.threads), "--min-time", fmt.Sprint(o.minTime))
}

// timed runs f once to warm up, then until minTime seconds have passed (at least once), and
// returns images per second, as the Python scripts do.
func timed(minTime float64, perCall int, f func() error) (float64, error) {
	if err := f(); err != nil {
		return 0, err
	}
	t0, calls := time.Now(), 0
	for {
		if err := f(); err != nil {
			return 0, err
		}
		calls++
		if dt := time.Since(t0).Seconds(); dt >= minTime {
			return float64(calls*perCall) / dt, nil
		}
	}
}

// noSetup is the Setup of a comparison whose two sides are processes.
func noSetup(a, b bench.Side) func() (bench.Side, bench.Side, func(), error) {
	return func() (bench.Side, bench.Side, func(), error) { return a, b, func() {}, nil }
}

func stepComparison(o *options, s, per int) bench.Comparison {
	return bench.Comparison{Label: fmt.Sprintf("meta step S=%d B=%d", s, per), Unit: "img/s",
		Setup: noSetup(o.fasSide("fasgo", kindStep, s, per), o.pyNet("step", s, per))}
}

func forwardComparison(o *options, s, n int) bench.Comparison {
	return bench.Comparison{Label: fmt.Sprintf("forward S=%d N=%d", s, n), Unit: "img/s",
		Setup: noSetup(o.fasSide("fasgo", kindForward, s, n), o.pyNet("forward", s, n))}
}

// adanormComparison times the whole meta step with the fused AdaNorm op against the
// composition of ATen ops, both in fasgo.
func adanormComparison(o *options, s, per int) bench.Comparison {
	side := func(impl string) bench.Side {
		return o.fasSide(impl, kindStep, s, per, shim.Setting{Key: adanormKey, Value: impl})
	}
	return bench.Comparison{Label: fmt.Sprintf("adanorm meta step S=%d B=%d", s, per), Unit: "img/s",
		Setup: noSetup(side("fused"), side("composite"))}
}

// adanormOpComparison times forward + backward of one AdaNorm + ReLU block (train mode) at
// the first block's shape of a meta-step domain batch, fused against the composition of
// ATen ops, each side a run of build/fas_profile (the shim's developer tool).
func adanormOpComparison(o *options, s, per int) bench.Comparison {
	n, c := 2*per, int(math.Round(128*o.width))
	return bench.Comparison{Label: fmt.Sprintf("adanorm op fwd+bwd N=%d C=%d S=%d", n, c, s), Unit: "img/s",
		Setup: func() (bench.Side, bench.Side, func(), error) {
			prof := filepath.Join(o.root, "build", "fas_profile")
			if _, err := os.Stat(prof); err != nil {
				return bench.Side{}, bench.Side{}, nil, fmt.Errorf("no %s (make build builds it): %w", prof, bench.ErrSkip)
			}
			side := func(impl string) bench.Side {
				return bench.Command(impl, prof, "adanorm", "--impl", impl, "--size", fmt.Sprint(s), "--channels",
					fmt.Sprint(c), "--batch", fmt.Sprint(n), "--threads", fmt.Sprint(o.threads), "--min-time",
					fmt.Sprint(o.minTime))
			}
			return side("fused"), side("composite"), func() {}, nil
		}}
}
