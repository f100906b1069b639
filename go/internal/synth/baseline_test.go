package synth

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"sort"
	"strings"
	"testing"
)

// The baseline is a logistic regression on colour and frequency statistics: the kind of
// hand-crafted detector early FAS work used. On a well-made benchmark it must beat chance
// inside a domain and lose accuracy on an unseen domain.

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

// logReg is a logistic regression on standardised features.
type logReg struct{ mean, std, w []float64 }

func trainLogReg(x [][]float64, y []float64) *logReg {
	d := len(x[0])
	m := &logReg{mean: make([]float64, d), std: make([]float64, d), w: make([]float64, d+1)}
	for j := 0; j < d; j++ {
		for _, r := range x {
			m.mean[j] += r[j]
		}
		m.mean[j] /= float64(len(x))
		for _, r := range x {
			m.std[j] += (r[j] - m.mean[j]) * (r[j] - m.mean[j])
		}
		m.std[j] = math.Sqrt(m.std[j]/float64(len(x))) + 1e-9
	}
	grad := make([]float64, d+1)
	for it := 0; it < 400; it++ {
		for j := range grad {
			grad[j] = 0
		}
		for i, r := range x {
			e := m.prob(r) - y[i]
			for j := 0; j < d; j++ {
				grad[j] += e * (r[j] - m.mean[j]) / m.std[j]
			}
			grad[d] += e
		}
		for j := range m.w {
			reg := 0.0
			if j < d {
				reg = 0.01 * m.w[j]
			}
			m.w[j] -= 0.5 * (grad[j]/float64(len(x)) + reg)
		}
	}
	return m
}

func (m *logReg) prob(r []float64) float64 {
	z := m.w[len(m.w)-1]
	for j := range m.mean {
		z += m.w[j] * (r[j] - m.mean[j]) / m.std[j]
	}
	return 1 / (1 + math.Exp(-z))
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

func TestAUC(t *testing.T) {
	// Against a hand count: pairs (attack, live) = (0.9,0.1) (0.9,0.5) (0.4,0.1) (0.4,0.5) (0.5,...).
	got := auc([]float64{0.9, 0.1, 0.4, 0.5, 0.5}, []float64{1, 0, 1, 0, 1})
	// attacks 0.9, 0.4, 0.5 vs lives 0.1, 0.5: wins 1+1, 1+0, 1+0.5 = 4.5 of 6.
	if math.Abs(got-4.5/6) > 1e-12 {
		t.Errorf("auc = %v, want 0.75", got)
	}
}

type featSet struct {
	x [][]float64
	y []float64
}

func TestBaselineLearnableButNotTrivial(t *testing.T) {
	o := Options{Domains: 4, Subjects: 25, VideosPerSubject: 2, Frames: 2, Size: 48, Seed: 11}
	_, sink, _ := generate(t, o)
	// Features per domain, train split vs held-out subjects (val + test).
	train := make([]featSet, o.Domains)
	held := make([]featSet, o.Domains)
	for _, v := range plan(o) {
		label := 0.0
		if v.kind != Live {
			label = 1
		}
		for f := 0; f < o.Frames; f++ {
			ext := "png"
			if domainAt(v.dom, o.Seed).jpegQ > 0 {
				ext = "jpg"
			}
			key := fmt.Sprintf("%s/%02d.%s", v.dir(), f, ext)
			b, ok := sink.m[key]
			if !ok {
				t.Fatalf("no key %s", key)
			}
			img, _, err := image.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			set := &held[v.dom]
			if splitOf(v.subject, o.Subjects) == "train" {
				set = &train[v.dom]
			}
			set.x = append(set.x, imageFeatures(img))
			set.y = append(set.y, label)
		}
	}
	score := func(m *logReg, s featSet) float64 {
		p := make([]float64, len(s.x))
		for i, r := range s.x {
			p[i] = m.prob(r)
		}
		return auc(p, s.y)
	}
	// Per target domain: trained on its own train split (the target seen), and on the
	// other domains' train splits (the target unseen); scored on its held-out subjects.
	var own, unseen float64
	var report []string
	for d := 0; d < o.Domains; d++ {
		var src featSet
		for s := 0; s < o.Domains; s++ {
			if s != d {
				src.x = append(src.x, train[s].x...)
				src.y = append(src.y, train[s].y...)
			}
		}
		a := score(trainLogReg(train[d].x, train[d].y), held[d])
		b := score(trainLogReg(src.x, src.y), held[d])
		own, unseen = own+a/float64(o.Domains), unseen+b/float64(o.Domains)
		report = append(report, fmt.Sprintf("%s: own domain %.3f, unseen %.3f", domainName(d), a, b))
	}
	t.Logf("baseline AUC on held-out subjects\n%s\nmean: own domain %.3f, unseen %.3f", strings.Join(report, "\n"), own, unseen)
	if own < 0.75 {
		t.Errorf("own-domain AUC %.3f: the attacks are not learnable from colour/frequency statistics", own)
	}
	if unseen > own-0.05 {
		t.Errorf("unseen-domain AUC %.3f is not clearly below the own-domain %.3f: the domains do not shift", unseen, own)
	}
	if unseen < 0.6 {
		t.Errorf("unseen-domain AUC %.3f: nothing transfers between domains", unseen)
	}
}
