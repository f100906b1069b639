package report

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/fasgo/fasgo/go/internal/metrics"
)

// domainColours is the Okabe-Ito palette followed by Tableau colours; domains beyond it
// reuse colours in order.
var domainColours = []color.RGBA{
	{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
	{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255}, {240, 228, 66, 255},
	{140, 86, 75, 255}, {127, 127, 127, 255},
}

// EmbedPlot writes a PNG scatter of 2-D points (e.g. from TSNE): colour = domain, marker =
// class (filled circle live, triangle attack), as the ANRL/FGHV papers show their features.
// points, domains and labels are parallel.
func EmbedPlot(path string, points [][2]float64, domains []string, labels []int) error {
	b, err := embedPNG(points, domains, labels)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFile(path, b)
}

func embedPNG(points [][2]float64, domains []string, labels []int) ([]byte, error) {
	if len(points) != len(domains) || len(points) != len(labels) {
		return nil, fmt.Errorf("%d points, %d domains, %d labels: must be equal", len(points), len(domains), len(labels))
	}
	if len(points) == 0 {
		return nil, fmt.Errorf("no points to plot")
	}
	var order []string // domains in order of first appearance
	groups := map[string]*[2]plotter.XYs{}
	for i, pt := range points {
		if labels[i] != metrics.LabelLive && labels[i] != metrics.LabelAttack {
			return nil, fmt.Errorf("point %d: label %d is neither 0 (live) nor 1 (attack)", i, labels[i])
		}
		g := groups[domains[i]]
		if g == nil {
			g = &[2]plotter.XYs{}
			groups[domains[i]] = g
			order = append(order, domains[i])
		}
		g[labels[i]] = append(g[labels[i]], plotter.XY{X: pt[0], Y: pt[1]})
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("t-SNE of features (%d points): colour = domain, marker = class", len(points))
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.Text, p.Y.Label.Text = "t-SNE 1", "t-SNE 2"
	shapes := [2]draw.GlyphDrawer{draw.CircleGlyph{}, draw.PyramidGlyph{}}
	for k, d := range order {
		c := domainColours[k%len(domainColours)]
		col := color.NRGBA{R: c.R, G: c.G, B: c.B, A: 190}
		for label, xys := range groups[d] {
			if len(xys) == 0 {
				continue
			}
			s, err := plotter.NewScatter(xys)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(3), Shape: shapes[label]}
			p.Add(s)
		}
		p.Legend.Add(d, legendGlyph(col, draw.BoxGlyph{}))
	}
	p.Legend.Add("live", legendGlyph(colGuide, shapes[0]))
	p.Legend.Add("attack", legendGlyph(colGuide, shapes[1]))
	return render(p)
}

type glyphThumb struct{ style draw.GlyphStyle }

func (g glyphThumb) Thumbnail(c *draw.Canvas) {
	c.DrawGlyphNoClip(g.style, c.Center())
}

func legendGlyph(col color.Color, shape draw.GlyphDrawer) plot.Thumbnailer {
	return glyphThumb{draw.GlyphStyle{Color: col, Radius: vg.Points(4), Shape: shape}}
}
