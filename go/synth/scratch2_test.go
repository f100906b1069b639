package synth

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"testing"
)

func TestScratchFeatureAUC(t *testing.T) {
	o := Options{Domains: 4, Subjects: 25, VideosPerSubject: 2, Frames: 2, Size: 48, Seed: 11}
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

func TestScratchOne(t *testing.T) {
	d := domainAt(1, 1)
	var tiles [][]byte
	for _, res := range []int{48, 192} {
		dd := d
		dd.res = res
		fs, err := renderVideo(1, &dd, video{dom: 1, subject: 3, index: 1, kind: Replay}, 1, 192)
		if err != nil {
			t.Fatal(err)
		}
		tiles = append(tiles, fs[0].img)
	}
	sheet := image.NewRGBA(image.Rect(0, 0, 2*192, 192))
	for i, b := range tiles {
		img, _, _ := image.Decode(bytes.NewReader(b))
		blitZoom(sheet, img, i*192, 0, 1)
	}
	var buf bytes.Buffer
	png.Encode(&buf, sheet)
	os.WriteFile("/tmp/synth_one.png", buf.Bytes(), 0o644)
}

func TestScratchHiRes(t *testing.T) {
	const R = 160
	sheet := image.NewRGBA(image.Rect(0, 0, 5*R, 4*R))
	for d := 0; d < 4; d++ {
		dom := domainAt(d, 1)
		dom.res = R
		dom.jpegQ = 0
		vs := []video{{d, 0, 0, Live, 0}, {d, 1, 1, Print, 0}, {d, 2, 1, Replay, 0}, {d, 3, 1, Mask, 1}, {d, 4, 1, Mask, 2}}
		for i, v := range vs {
			fs, err := renderVideo(3, &dom, v, 1, R)
			if err != nil {
				t.Fatal(err)
			}
			img, _, _ := image.Decode(bytes.NewReader(fs[0].img))
			blitZoom(sheet, img, i*R, d*R, 1)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, sheet)
	os.WriteFile("/tmp/synth_hires.png", buf.Bytes(), 0o644)
}

func TestScratchFrames(t *testing.T) {
	const R = 128
	sheet := image.NewRGBA(image.Rect(0, 0, 6*R, 2*R))
	dom := domainAt(0, 1)
	dom.res = R
	dom.jpegQ = 0
	for row, v := range []video{{0, 5, 0, Live, 0}, {0, 6, 0, Live, 0}} {
		fs, err := renderVideo(3, &dom, v, 6, R)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range fs {
			img, _, _ := image.Decode(bytes.NewReader(f.img))
			blitZoom(sheet, img, i*R, row*R, 1)
		}
	}
	var buf bytes.Buffer
	png.Encode(&buf, sheet)
	os.WriteFile("/tmp/synth_frames.png", buf.Bytes(), 0o644)
}
