package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/fasgo/fasgo/go/internal/bench"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// The pipeline's data: K domains of n frames (w×w JPEG, quality 90, 4:2:0, as camera
// frames), each listed as live (with a PNG depth map) and as attack; batches of K×2B.
const pipeDomains, pipePer = 2, 5

type pipeData struct {
	dir     string
	db      *lmdb.Env
	domains []dataset.Domain
	rule    dataset.DepthRule
	keys    string // JSON file of [image key, depth key or null, label] for bench/pipeline.py
}

func frame(r *rand.Rand, w int) (*image.NRGBA, *image.Gray) {
	img, dep := image.NewNRGBA(image.Rect(0, 0, w, w)), image.NewGray(image.Rect(0, 0, w, w))
	base := [3]int{r.IntN(256), r.IntN(256), r.IntN(256)}
	for y := 0; y < w; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(base[0] + x*3), uint8(base[1] + y*5), uint8(base[2] + r.IntN(40)), 255})
			dx, dy := x-w/2, y-w/2
			dep.SetGray(x, y, color.Gray{uint8(max(0, 255-(dx*dx+dy*dy)/8))})
		}
	}
	return img, dep
}

func newPipeData(n, w int) (*pipeData, error) {
	dir, err := os.MkdirTemp("", "fasbench-")
	if err != nil {
		return nil, err
	}
	p := &pipeData{dir: dir, rule: dataset.DepthRule{{From: "d/", To: "d_depth/"}}}
	if p.db, err = lmdb.Open(filepath.Join(dir, "data.lmdb"), lmdb.Options{}); err != nil {
		p.close()
		return nil, err
	}
	r := rand.New(rand.NewPCG(3, 3))
	var kvs []lmdb.KV
	var live, attack []dataset.Entry
	var keys [][3]any
	for i := 0; i < n; i++ {
		img, dep := frame(r, w)
		var jb, pb bytes.Buffer
		if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		if err := png.Encode(&pb, dep); err != nil {
			return nil, err
		}
		key := fmt.Sprintf("d/v%d/%d.jpg", i/10, i)
		kvs = append(kvs, lmdb.KV{Key: key, Value: jb.Bytes()}, lmdb.KV{Key: "d_depth/" + key[2:], Value: pb.Bytes()})
		live = append(live, dataset.Entry{Path: key, Label: dataset.Live, List: "bench", Line: i + 1})
		attack = append(attack, dataset.Entry{Path: key, Label: dataset.Attack, List: "bench", Line: i + 1})
	}
	if err := p.db.PutMany(kvs); err != nil {
		p.close()
		return nil, err
	}
	for k := 0; k < pipeDomains; k++ {
		p.domains = append(p.domains, dataset.Domain{Name: fmt.Sprint("d", k), Live: live, Attack: attack})
		for _, e := range live {
			keys = append(keys, [3]any{e.Path, "d_depth/" + e.Path[2:], dataset.Live})
		}
		for _, e := range attack {
			keys = append(keys, [3]any{e.Path, nil, dataset.Attack})
		}
	}
	js, _ := json.Marshal(keys)
	p.keys = filepath.Join(dir, "keys.json")
	if err := os.WriteFile(p.keys, js, 0o644); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *pipeData) close() {
	if p.db != nil {
		p.db.Close()
	}
	os.RemoveAll(p.dir)
}

// fasgoSide runs fasgo's training loader (LMDB, decode, crop rule, resize, HSV, flip and
// jitter with the default probabilities, depth, batching) with the given workers.
func (p *pipeData) fasgoSide(o *options, size int) bench.Side {
	return bench.Side{Name: "fasgo", Run: func() (float64, error) {
		tr := dataset.DefaultTransform()
		tr.Size, tr.DepthRule = size, p.rule
		plan, err := dataset.NewTrainPlan(p.domains, pipePer, 0, 1, 1)
		if err != nil {
			return 0, err
		}
		l, err := dataset.NewTrainLoader(p.db, plan, tr, dataset.LoaderOptions{Workers: o.workers})
		if err != nil {
			return 0, err
		}
		epoch := 0
		it := l.Epoch(context.Background(), epoch)
		defer func() { it.Close() }()
		next := func() (int, error) {
			b, err := it.Next()
			if err == io.EOF {
				it.Close()
				epoch++
				it = l.Epoch(context.Background(), epoch)
				b, err = it.Next()
			}
			if err != nil {
				return 0, err
			}
			return len(b.Labels), nil
		}
		if _, err := next(); err != nil { // warm-up: workers start, as the DataLoader's
			return 0, err
		}
		t0, images := time.Now(), 0
		for {
			n, err := next()
			if err != nil {
				return 0, err
			}
			images += n
			if dt := time.Since(t0).Seconds(); dt >= o.minTime {
				return float64(images) / dt, nil
			}
		}
	}}
}

func pipelineComparison(o *options) bench.Comparison {
	n, w, size := 40, 320, 256
	if o.quick {
		n, w, size = 10, 64, 32
	}
	return bench.Comparison{Label: fmt.Sprintf("data pipeline %dx%d JPEG -> S=%d, %d worker(s)", w, w, size, o.workers), Unit: "img/s",
		Setup: func() (bench.Side, bench.Side, func(), error) {
			p, err := newPipeData(n, w)
			if err != nil {
				return bench.Side{}, bench.Side{}, nil, err
			}
			py := bench.Python("python", o.python, o.script("pipeline.py"), "--lmdb", filepath.Join(p.dir, "data.lmdb"),
				"--keys", p.keys, "--size", fmt.Sprint(size), "--batch", fmt.Sprint(pipeDomains*2*pipePer),
				"--workers", fmt.Sprint(o.workers), "--min-time", fmt.Sprint(o.minTime))
			return p.fasgoSide(o, size), py, p.close, nil
		}}
}

// decodeComparison: the libjpeg decoder against the former path (image/jpeg, then the
// libjpeg-style colour conversion), one core, on one camera-like frame.
func decodeComparison(o *options) bench.Comparison {
	w := 512
	if o.quick {
		w = 64
	}
	return bench.Comparison{Label: fmt.Sprintf("jpeg decode %dx%d q90", w, w), Unit: "img/s",
		Setup: func() (bench.Side, bench.Side, func(), error) {
			img, _ := frame(rand.New(rand.NewPCG(4, 4)), w)
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
				return bench.Side{}, bench.Side{}, nil, err
			}
			b := buf.Bytes()
			var m imgproc.Image
			lib := bench.Side{Name: "libjpeg", Run: func() (float64, error) {
				return timed(o.minTime, 1, func() error { return imgproc.DecodeRGB(b, &m) })
			}}
			old := bench.Side{Name: "image/jpeg", Run: func() (float64, error) {
				return timed(o.minTime, 1, func() error {
					d, err := jpeg.Decode(bytes.NewReader(b))
					if err == nil {
						imgproc.FromImage(d, &m)
					}
					return err
				})
			}}
			return lib, old, nil, nil
		}}
}
