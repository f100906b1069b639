package report

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/fasgo/fasgo/go/internal/metrics"
)

// PlanePoint is one unit in a decision plane: its two coordinates, its class and whether it
// comes from the target (test) domain or the source (validation) domains.
type PlanePoint struct {
	X, Y   float64
	Label  int
	Target bool
}

// PlaneOptions title and label a decision plane.
type PlaneOptions struct {
	Title, XLabel, YLabel string
}

// PlanePlot writes a PNG scatter of a method's decision plane (FGHV: the spread of the
// correlations against ΔKL): colour = class (live blue, attack vermillion), marker = set
// (circle source, triangle target).
func PlanePlot(path string, o PlaneOptions, pts []PlanePoint) error {
	b, err := planePNG(o, pts)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFile(path, b)
}

func planePNG(o PlaneOptions, pts []PlanePoint) ([]byte, error) {
	if len(pts) == 0 {
		return nil, fmt.Errorf("no points to plot")
	}
	var groups [2][2]plotter.XYs // [target][label]
	counts := [2][2]int{}
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i, p := range pts {
		if p.Label != metrics.LabelLive && p.Label != metrics.LabelAttack {
			return nil, fmt.Errorf("point %d: label %d is neither 0 (live) nor 1 (attack)", i, p.Label)
		}
		if math.IsNaN(p.X) || math.IsInf(p.X, 0) || math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
			return nil, fmt.Errorf("point %d: (%v, %v) is not finite", i, p.X, p.Y)
		}
		t := 0
		if p.Target {
			t = 1
		}
		groups[t][p.Label] = append(groups[t][p.Label], plotter.XY{X: p.X, Y: p.Y})
		x0, x1, y0, y1 = math.Min(x0, p.X), math.Max(x1, p.X), math.Min(y0, p.Y), math.Max(y1, p.Y)
		counts[t][p.Label]++
	}
	p := newPlot(o.Title, o.XLabel, o.YLabel)
	shapes := [2]draw.GlyphDrawer{draw.CircleGlyph{}, draw.PyramidGlyph{}}
	sets := [2]string{"source (val)", "target (test)"}
	classes := [2]struct {
		name string
		col  color.RGBA
	}{{"live", colLive}, {"attack", colAttack}}
	for t := 0; t < 2; t++ {
		for l := 0; l < 2; l++ {
			xys := groups[t][l]
			if len(xys) == 0 {
				continue
			}
			c := classes[l].col
			s, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			alpha := uint8(110)
			if t == 1 {
				alpha = 200
			}
			s.GlyphStyle = draw.GlyphStyle{Color: color.NRGBA{R: c.R, G: c.G, B: c.B, A: alpha}, Radius: vg.Points(3), Shape: shapes[t]}
			p.Add(s)
			p.Legend.Add(fmt.Sprintf("%s, %s (%d)", classes[l].name, sets[t], counts[t][l]), legendGlyph(c, shapes[t]))
		}
	}
	// A margin of 4 % of the range (or of the value, for a single one) keeps edge points whole.
	pad := func(lo, hi float64) (float64, float64) {
		m := 0.04 * (hi - lo)
		if m == 0 {
			m = 0.04*math.Abs(lo) + 1e-9
		}
		return lo - m, hi + m
	}
	p.X.Min, p.X.Max = pad(x0, x1)
	p.Y.Min, p.Y.Max = pad(y0, y1)
	return render(p)
}
