package synth

import (
	"bytes"
	"fmt"
	"image"
	"testing"
)

func TestScratchFeatureAUC(t *testing.T) {
	o := Options{Domains: 4, Subjects: 20, VideosPerSubject: 2, Frames: 2, Size: 48, Seed: 11}
	_, sink, _ := generate(t, o)
	sets := make([]featSet, o.Domains)
	kinds := make([][]string, o.Domains)
	for _, v := range plan(o) {
		label := 0.0
		if v.kind != Live {
			label = 1
		}
		ext := "png"
		if domainAt(v.dom, o.Seed).jpegQ > 0 {
			ext = "jpg"
		}
		for f := 0; f < o.Frames; f++ {
			img, _, _ := image.Decode(bytes.NewReader(sink.m[fmt.Sprintf("%s/%02d.%s", v.dir(), f, ext)]))
			sets[v.dom].x = append(sets[v.dom].x, imageFeatures(img))
			sets[v.dom].y = append(sets[v.dom].y, label)
			kinds[v.dom] = append(kinds[v.dom], v.kind)
		}
	}
	names := []string{"mR", "mG", "mB", "sR", "sG", "sB", "mSat", "sSat", "lap", "mid", "chromaHF", "hfCB", "p5", "p95", "colorful"}
	for j := range names {
		line := fmt.Sprintf("%-9s", names[j])
		for d := 0; d < o.Domains; d++ {
			for _, k := range []string{Print, Replay, Mask} {
				var sc, y []float64
				for i, r := range sets[d].x {
					if kinds[d][i] == Live || kinds[d][i] == k {
						sc = append(sc, r[j])
						y = append(y, sets[d].y[i])
					}
				}
				line += fmt.Sprintf(" %.2f", auc(sc, y))
			}
			line += " |"
		}
		// live means per domain
		for d := 0; d < o.Domains; d++ {
			m, n := 0.0, 0.0
			for i, r := range sets[d].x {
				if sets[d].y[i] == 0 {
					m += r[j]
					n++
				}
			}
			line += fmt.Sprintf(" %.3f", m/n)
		}
		t.Log(line)
	}
}
