package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fasgo/fasgo/go/internal/metrics"
)

// Colours from the Okabe-Ito palette (distinguishable with colour-blindness).
var (
	colLive      = color.RGBA{0, 114, 178, 255}   // blue
	colAttack    = color.RGBA{213, 94, 0, 255}    // vermillion
	colPaper     = color.RGBA{0, 0, 0, 255}       // black
	colRealistic = color.RGBA{0, 158, 115, 255}   // bluish green
	colGuide     = color.RGBA{150, 150, 150, 255} // grey
)

const plotW, plotH = 7 * vg.Inch, 5 * vg.Inch

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.Add(plotter.NewGrid())
	return p
}

// render draws p as a PNG with its legend in a band below the plot, where it can hide no
// data.
func render(p *plot.Plot) ([]byte, error) {
	lg := p.Legend
	p.Legend = plot.NewLegend() // p.Draw draws an empty legend as nothing
	pad := vg.Points(6)
	band := lg.Rectangle(draw.Canvas{}).Size().Y
	if band > 0 {
		band += 2 * pad
	}
	img := vgimg.NewWith(vgimg.UseWH(plotW, plotH+band), vgimg.UseDPI(96))
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, 0, band, 0))
	if band > 0 {
		lg.Top, lg.Left = true, true
		lg.XOffs, lg.YOffs = 0, 0
		lg.Draw(draw.Crop(dc, vg.Points(60), 0, pad, -plotH-pad))
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// operatingPoint is one protocol's threshold as (BPCER, APCER) with its legend label.
type operatingPoint struct {
	label        string
	bpcer, apcer float64
	threshold    float64
	col          color.Color
	dashes       []vg.Length
	shape        draw.GlyphDrawer
}

func operatingPoints(res *metrics.Report) []operatingPoint {
	ops := []operatingPoint{{
		label: fmt.Sprintf("paper: thr %.4g (EER of this set)", res.Paper.Threshold),
		bpcer: res.Paper.BPCER, apcer: res.Paper.APCER, threshold: res.Paper.Threshold,
		col: colPaper, dashes: []vg.Length{vg.Points(5), vg.Points(3)}, shape: draw.BoxGlyph{},
	}}
	if r := res.Realistic; r != nil {
		ops = append(ops, operatingPoint{
			label: fmt.Sprintf("realistic: thr %.4g (%s)", r.Threshold, r.ThresholdFrom),
			bpcer: r.BPCER, apcer: r.APCER, threshold: r.Threshold,
			col: colRealistic, dashes: []vg.Length{vg.Points(2), vg.Points(2)}, shape: draw.PyramidGlyph{},
		})
	}
	return ops
}

func addPoint(p *plot.Plot, op operatingPoint, x, y float64) error {
	s, err := plotter.NewScatter(plotter.XYs{{X: x, Y: y}})
	if err != nil {
		return err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: op.col, Radius: vg.Points(4.5), Shape: op.shape}
	p.Add(s)
	p.Legend.Add(op.label, s)
	return nil
}

func fullROC(scores []metrics.VideoScore) (metrics.ROC, error) {
	labels := make([]int, len(scores))
	s := make([]float64, len(scores))
	for i, v := range scores {
		labels[i], s[i] = v.Label, v.Score
	}
	return metrics.RocCurve(labels, s, false)
}

// ROCPlot draws the ROC with the FPR (live rejected) on a log scale; FPR = 0 is drawn at
// the left edge. Both protocols' operating points are marked.
func ROCPlot(res *metrics.Report, scores []metrics.VideoScore) ([]byte, error) {
	roc, err := fullROC(scores)
	if err != nil {
		return nil, err
	}
	floor := math.Min(1e-3, 0.5/float64(res.Live))
	p := newPlot(fmt.Sprintf("ROC (%s level): AUC %.2f %%, EER %.2f %%", res.Level, 100*res.AUC, 100*res.EER),
		"FPR = live rejected (BPCER), log scale; FPR 0 drawn at left edge",
		"TPR = attacks detected (1 - APCER)")
	curve := make(plotter.XYs, len(roc.FPR))
	for i := range roc.FPR {
		curve[i] = plotter.XY{X: math.Max(roc.FPR[i], floor), Y: roc.TPR[i]}
	}
	chance := make(plotter.XYs, 0, 60)
	for x := floor; x <= 1; x *= 1.2 {
		chance = append(chance, plotter.XY{X: x, Y: x})
	}
	chance = append(chance, plotter.XY{X: 1, Y: 1})
	if err := addLine(p, chance, "chance", colGuide, []vg.Length{vg.Points(2), vg.Points(3)}); err != nil {
		return nil, err
	}
	if err := addLine(p, curve, "ROC", colAttack, nil); err != nil {
		return nil, err
	}
	for _, op := range operatingPoints(res) {
		if err := addPoint(p, op, math.Max(op.bpcer, floor), 1-op.apcer); err != nil {
			return nil, err
		}
	}
	p.X.Scale = plot.LogScale{}
	p.X.Min, p.X.Max = floor, 1
	p.X.Tick.Marker = plot.TickerFunc(func(min, max float64) []plot.Tick { return logPercentTicks(min, max) })
	p.Y.Min, p.Y.Max = 0, 1.02
	p.Y.Tick.Marker = percentTicks{}
	return render(p)
}

func addLine(p *plot.Plot, xys plotter.XYs, label string, col color.Color, dashes []vg.Length) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.8), Dashes: dashes}
	p.Add(l)
	if label != "" {
		p.Legend.Add(label, l)
	}
	return nil
}

// HistPlot draws the distributions of live and attack scores (each as fractions of its
// class) with both protocols' thresholds as vertical lines.
func HistPlot(res *metrics.Report, scores []metrics.VideoScore) ([]byte, error) {
	lo, hi := 0.0, 1.0
	for _, v := range scores {
		lo, hi = math.Min(lo, v.Score), math.Max(hi, v.Score)
	}
	ops := operatingPoints(res)
	for _, op := range ops {
		lo, hi = math.Min(lo, op.threshold), math.Max(hi, op.threshold)
	}
	nbins := 40
	p := newPlot(fmt.Sprintf("Attack scores (%s level): %d live, %d attacks", res.Level, res.Live, res.Attacks),
		"attack score (predicted attack when score >= threshold)", "fraction of class")
	var ymax float64
	for _, class := range []struct {
		label int
		name  string
		col   color.RGBA
	}{{metrics.LabelLive, "live", colLive}, {metrics.LabelAttack, "attack", colAttack}} {
		h := classHistogram(scores, class.label, lo, hi, nbins)
		h.FillColor = color.NRGBA{R: class.col.R, G: class.col.G, B: class.col.B, A: 90}
		h.LineStyle = draw.LineStyle{Color: class.col, Width: vg.Points(1)}
		p.Add(h)
		p.Legend.Add(class.name, h)
		for _, b := range h.Bins {
			ymax = math.Max(ymax, b.Weight)
		}
	}
	for _, op := range ops {
		line := plotter.XYs{{X: op.threshold, Y: 0}, {X: op.threshold, Y: 1.05 * ymax}}
		if err := addLine(p, line, op.label, op.col, op.dashes); err != nil {
			return nil, err
		}
	}
	p.Y.Min, p.Y.Max = 0, 1.08*ymax
	return render(p)
}

func classHistogram(scores []metrics.VideoScore, label int, lo, hi float64, nbins int) *plotter.Histogram {
	w := (hi - lo) / float64(nbins)
	bins := make([]plotter.HistogramBin, nbins)
	for i := range bins {
		bins[i].Min, bins[i].Max = lo+float64(i)*w, lo+float64(i+1)*w
	}
	var n float64
	for _, v := range scores {
		if v.Label == label {
			n++
		}
	}
	for _, v := range scores {
		if v.Label != label {
			continue
		}
		i := int((v.Score - lo) / w)
		i = max(0, min(i, nbins-1))
		bins[i].Weight += 1 / n
	}
	return &plotter.Histogram{Bins: bins, Width: w}
}
