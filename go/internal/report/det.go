package report

import (
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/fasgo/fasgo/go/internal/metrics"
)

// DETPlot draws the detection error trade-off: APCER (attacks accepted) against BPCER (live
// rejected), both on normal-deviate (probit) scales, where score distributions that are
// Gaussian give straight lines. Rates of 0 are drawn at the lower edge.
func DETPlot(res *metrics.Report, scores []metrics.VideoScore) ([]byte, error) {
	roc, err := fullROC(scores)
	if err != nil {
		return nil, err
	}
	lo := math.Min(1e-2, math.Max(1e-5, 0.5/float64(max(res.Live, res.Attacks))))
	const hi = 0.95
	clamp := func(x float64) float64 { return math.Min(hi, math.Max(lo, x)) }
	p := newPlot(fmt.Sprintf("DET (%s level): EER %.2f %%", res.Level, 100*res.EER),
		"BPCER = live rejected (probit scale; 0 drawn at the edge)", "APCER = attacks accepted (probit scale)")
	curve := make(plotter.XYs, len(roc.FPR))
	for i := range roc.FPR {
		curve[i] = plotter.XY{X: clamp(roc.FPR[i]), Y: clamp(1 - roc.TPR[i])}
	}
	diag := plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}}
	if err := addLine(p, diag, "APCER = BPCER", colGuide, []vg.Length{vg.Points(2), vg.Points(3)}); err != nil {
		return nil, err
	}
	if err := addLine(p, curve, "DET", colAttack, nil); err != nil {
		return nil, err
	}
	for _, op := range operatingPoints(res) {
		if err := addPoint(p, op, clamp(op.bpcer), clamp(op.apcer)); err != nil {
			return nil, err
		}
	}
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Scale = probitScale{}
		ax.Min, ax.Max = lo, hi
		ax.Tick.Marker = plot.TickerFunc(probitTicks)
	}
	return render(p)
}

// probitScale maps a probability to its standard normal quantile.
type probitScale struct{}

func (probitScale) Normalize(min, max, x float64) float64 {
	return (probit(x) - probit(min)) / (probit(max) - probit(min))
}

func probit(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// probitTicks labels the usual DET grid values that fall in [min, max].
func probitTicks(min, max float64) []plot.Tick {
	grid := []float64{1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95}
	var ts []plot.Tick
	for _, g := range grid {
		if g >= min*(1-1e-9) && g <= max*(1+1e-9) {
			ts = append(ts, plot.Tick{Value: g, Label: percent(g)})
		}
	}
	return ts
}

// logPercentTicks puts labelled ticks at decades and unlabelled ones between them.
func logPercentTicks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for d := math.Floor(math.Log10(min)); d <= math.Ceil(math.Log10(max)); d++ {
		dec := math.Pow(10, d)
		for k := 1.0; k < 10; k++ {
			v := k * dec
			if v < min*(1-1e-9) || v > max*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if k == 1 {
				t.Label = percent(v)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// percentTicks labels a [0, 1] axis in percent every 10 %.
type percentTicks struct{}

func (percentTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for k := 0; k <= 10; k++ {
		v := float64(k) / 10
		if v >= min && v <= max {
			ts = append(ts, plot.Tick{Value: v, Label: percent(v)})
		}
	}
	return ts
}

func percent(v float64) string {
	return strconv.FormatFloat(100*v, 'g', 3, 64) + "%"
}
