package synth

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"math"
	"runtime"
	"sort"
)

// The linear probe measures the benchmark's domain gap: a logistic regression on colour and
// frequency statistics (the kind of hand-crafted detector early FAS work used), trained on
// some domains' train subjects and scored (AUC) on a domain's held-out subjects. For each
// leave-one-domain-out protocol it compares the oracle (trained on the target domain's own
// train subjects) with the probe trained on the source domains: on a benchmark that tests
// generalisation the second is clearly worse.

// imageFeatures are colour and frequency statistics of one image.
func imageFeatures(img image.Image) []float64 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := float64(w * h)
	r, g, bl, lum, sat := make([]float64, w*h), make([]float64, w*h), make([]float64, w*h), make([]float64, w*h), make([]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			cr, cg, cb, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := y*w + x
			r[i], g[i], bl[i] = float64(cr)/65535, float64(cg)/65535, float64(cb)/65535
			lum[i] = 0.299*r[i] + 0.587*g[i] + 0.114*bl[i]
			mx := math.Max(r[i], math.Max(g[i], bl[i]))
			mn := math.Min(r[i], math.Min(g[i], bl[i]))
			if mx > 0 {
				sat[i] = (mx - mn) / mx
			}
		}
	}
	meanStd := func(v []float64) (float64, float64) {
		m, s := 0.0, 0.0
		for _, x := range v {
			m += x
		}
		m /= n
		for _, x := range v {
			s += (x - m) * (x - m)
		}
		return m, math.Sqrt(s / n)
	}
	// lap is the mean absolute 4-neighbour Laplacian, inside mask (centre or border).
	lap := func(v []float64, centre int) float64 {
		s, c := 0.0, 0.0
		for y := 1; y < h-1; y++ {
			for x := 1; x < w-1; x++ {
				in := x > w/4 && x < 3*w/4 && y > h/4 && y < 3*h/4
				if centre == 1 && !in || centre == 2 && in {
					continue
				}
				i := y*w + x
				s += math.Abs(4*v[i] - v[i-1] - v[i+1] - v[i-w] - v[i+w])
				c++
			}
		}
		return s / c
	}
	blur := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				s, c := 0.0, 0.0
				for dy := -2; dy <= 2; dy++ {
					for dx := -2; dx <= 2; dx++ {
						if xx, yy := x+dx, y+dy; xx >= 0 && xx < w && yy >= 0 && yy < h {
							s += v[yy*w+xx]
							c++
						}
					}
				}
				o[y*w+x] = s / c
			}
		}
		return o
	}
	rg, yb := make([]float64, w*h), make([]float64, w*h)
	for i := range rg {
		rg[i] = r[i] - g[i]
		yb[i] = (r[i]+g[i])/2 - bl[i]
	}
	bl5 := blur(lum)
	mid := 0.0
	for i := range lum {
		mid += math.Abs(lum[i] - bl5[i])
	}
	sorted := append([]float64(nil), lum...)
	sort.Float64s(sorted)
	mr, sr := meanStd(r)
	mg, sg := meanStd(g)
	mb, sb := meanStd(bl)
	ms, ss := meanStd(sat)
	mrg, srg := meanStd(rg)
	myb, syb := meanStd(yb)
	hfC, hfB := lap(lum, 1), lap(lum, 2)
	return []float64{
		mr, mg, mb, sr, sg, sb, ms, ss,
		math.Log(lap(lum, 0) + 1e-4), math.Log(mid/n + 1e-4),
		math.Log(lap(rg, 0) + lap(yb, 0) + 1e-4), math.Log((hfC + 1e-4) / (hfB + 1e-4)),
		sorted[len(sorted)/20], sorted[len(sorted)*19/20],
		math.Hypot(srg, syb) + 0.3*math.Hypot(mrg, myb),
	}
}

// logReg is an L2-regularised logistic regression on standardised features.
type logReg struct{ mean, std, w []float64 }

// probeL2 is the ridge penalty of the probe: it minimises
// mean(log-loss) + probeL2/2 * |w|^2 (the intercept unpenalised).
const probeL2 = 0.01

// trainLogReg fits the regression by Newton's method (the objective is strictly convex),
// to convergence: the same minimum any exact solver finds.
func trainLogReg(x [][]float64, y []float64, l2 float64) *logReg {
	d, n := len(x[0]), float64(len(x))
	m := &logReg{mean: make([]float64, d), std: make([]float64, d), w: make([]float64, d+1)}
	for j := 0; j < d; j++ {
		for _, r := range x {
			m.mean[j] += r[j]
		}
		m.mean[j] /= n
		for _, r := range x {
			m.std[j] += (r[j] - m.mean[j]) * (r[j] - m.mean[j])
		}
		m.std[j] = math.Sqrt(m.std[j] / n)
		if m.std[j] == 0 {
			m.std[j] = 1 // a constant feature: its weight stays 0
		}
	}
	z := make([]float64, d+1)
	for it := 0; it < 100; it++ {
		grad := make([]float64, d+1)
		hess := make([][]float64, d+1)
		for j := range hess {
			hess[j] = make([]float64, d+1)
		}
		for i, r := range x {
			m.standardise(r, z)
			p := m.prob(r)
			for a := range z {
				grad[a] += (p - y[i]) * z[a] / n
				for b := range z {
					hess[a][b] += p * (1 - p) * z[a] * z[b] / n
				}
			}
		}
		for a := 0; a < d; a++ {
			grad[a] += l2 * m.w[a]
			hess[a][a] += l2
		}
		step := solve(hess, grad)
		size := 0.0
		for a := range step {
			m.w[a] -= step[a]
			size = math.Max(size, math.Abs(step[a]))
		}
		if size < 1e-12 {
			break
		}
	}
	return m
}

// standardise writes (r - mean) / std and a trailing 1 (the intercept) into z.
func (m *logReg) standardise(r, z []float64) {
	for j := range m.mean {
		z[j] = (r[j] - m.mean[j]) / m.std[j]
	}
	z[len(m.mean)] = 1
}

func (m *logReg) prob(r []float64) float64 {
	s := m.w[len(m.w)-1]
	for j := range m.mean {
		s += m.w[j] * (r[j] - m.mean[j]) / m.std[j]
	}
	return 1 / (1 + math.Exp(-s))
}

// solve returns A^-1 b by Gaussian elimination with partial pivoting (A is symmetric
// positive definite here, so it never meets a zero pivot).
func solve(a [][]float64, b []float64) []float64 {
	n := len(b)
	m := make([][]float64, n)
	for i := range a {
		m[i] = append(append([]float64(nil), a[i]...), b[i])
	}
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	return x
}

// auc is the probability that a random attack (y = 1) scores above a random live face,
// counting ties as half.
func auc(scores, y []float64) float64 {
	var pos, neg []float64
	for i, s := range scores {
		if y[i] == 1 {
			pos = append(pos, s)
		} else {
			neg = append(neg, s)
		}
	}
	win := 0.0
	for _, p := range pos {
		for _, q := range neg {
			switch {
			case p > q:
				win++
			case p == q:
				win += 0.5
			}
		}
	}
	return win / float64(len(pos)*len(neg))
}

// featSet is the probe's features and labels (1 = attack) of some frames.
type featSet struct {
	x [][]float64
	y []float64
}

func (s *featSet) add(o featSet) {
	s.x = append(s.x, o.x...)
	s.y = append(s.y, o.y...)
}

// score is the AUC of m on s.
func (m *logReg) score(s featSet) float64 {
	p := make([]float64, len(s.x))
	for i, r := range s.x {
		p[i] = m.prob(r)
	}
	return auc(p, s.y)
}

// GapRow is the probe on one leave-one-domain-out protocol; every AUC is on the target
// domain's held-out (val and test) subjects unless named otherwise.
type GapRow struct {
	Target   string  `json:"target"`
	Oracle   float64 `json:"oracle_auc"`       // trained on the target's own train subjects
	Source   float64 `json:"source_auc"`       // trained on the other domains' train subjects
	SourceIn float64 `json:"source_in_domain"` // that model on the sources' held-out subjects
	Gap      float64 `json:"gap"`              // Oracle - Source
}

// GapReport is the probe over every protocol of one benchmark.
type GapReport struct {
	Options    Options  `json:"options"`
	Features   int      `json:"features"`
	L2         float64  `json:"l2"`
	Rows       []GapRow `json:"protocols"`
	MeanOracle float64  `json:"mean_oracle_auc"`
	MeanSource float64  `json:"mean_source_auc"`
	MeanGap    float64  `json:"mean_gap"`
}

// Gap renders the benchmark of o in memory and runs the probe on each of its
// leave-one-domain-out protocols. progress (may be nil) counts rendered videos.
func Gap(ctx context.Context, o Options, progress func(done, total int)) (*GapReport, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	train, held, err := probeFeatures(ctx, o, progress)
	if err != nil {
		return nil, err
	}
	return gapReport(o, train, held), nil
}

// gapReport fits and scores the probe per protocol on per-domain features.
func gapReport(o Options, train, held []featSet) *GapReport {
	rep := &GapReport{Options: o, Features: len(train[0].x[0]), L2: probeL2}
	for t := range train {
		var src, srcHeld featSet
		for s := range train {
			if s != t {
				src.add(train[s])
				srcHeld.add(held[s])
			}
		}
		sm := trainLogReg(src.x, src.y, probeL2)
		r := GapRow{Target: domainName(t), Oracle: trainLogReg(train[t].x, train[t].y, probeL2).score(held[t]),
			Source: sm.score(held[t]), SourceIn: sm.score(srcHeld)}
		r.Gap = r.Oracle - r.Source
		rep.Rows = append(rep.Rows, r)
		k := float64(len(train))
		rep.MeanOracle += r.Oracle / k
		rep.MeanSource += r.Source / k
		rep.MeanGap += r.Gap / k
	}
	return rep
}

// probeFeatures renders every frame and returns the features of each domain's train
// subjects and of its held-out (val and test) subjects.
func probeFeatures(ctx context.Context, o Options, progress func(done, total int)) (train, held []featSet, err error) {
	workers := o.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	vs := plan(o)
	doms := make([]domain, o.Domains)
	for d := range doms {
		doms[d] = domainAt(d, o.Seed)
	}
	train, held = make([]featSet, o.Domains), make([]featSet, o.Domains)
	for lo := 0; lo < len(vs); lo += chunkVideos {
		part := vs[lo:min(lo+chunkVideos, len(vs))]
		frames, err := renderParallel(ctx, o, doms, part, workers, func(n int) {
			if progress != nil {
				progress(lo+n, len(vs))
			}
		})
		if err != nil {
			return nil, nil, err
		}
		for i, v := range part {
			set := &held[v.dom]
			if splitOf(v.subject, o.Subjects) == "train" {
				set = &train[v.dom]
			}
			for _, f := range frames[i] {
				img, _, err := image.Decode(bytes.NewReader(f.img))
				if err != nil {
					return nil, nil, fmt.Errorf("synth: decoding %s: %w", f.key, err)
				}
				label := 1.0
				if v.kind == Live {
					label = 0
				}
				set.x = append(set.x, imageFeatures(img))
				set.y = append(set.y, label)
			}
		}
	}
	return train, held, nil
}
