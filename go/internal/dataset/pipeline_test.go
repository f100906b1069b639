package dataset

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

func readF32(t *testing.T, p string, n int) []float32 {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, n)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return v
}

// TestSampleMatchesReferencePipeline runs entries through Processor.Sample and through an
// independent Python implementation of the reference's steps (cv2, torch, python-lmdb)
// reading the same database.
func TestSampleMatchesReferencePipeline(t *testing.T) {
	fx := newFixture(t, []int{4, 1}, []int{3, 1})
	const s = 64
	tr := fx.transform(s)
	tr.CropFace = true
	type tcase struct {
		e   *Entry
		aug Aug
	}
	var cases []tcase
	augs := []Aug{{}, {Flip: true}, {Jitter: true, Shift: imgproc.HSVShift{Hue: 11.3, Sat: -25.2, Val: 14.9}},
		{Flip: true, Jitter: true, Shift: imgproc.HSVShift{Hue: -17.5, Sat: 8.8, Val: -3.1}}}
	i := 0
	for _, d := range fx.domains {
		for _, l := range [][]Entry{d.Live, d.Attack} {
			for j := range l {
				cases = append(cases, tcase{&l[j], augs[i%len(augs)]})
				i++
			}
		}
	}
	type pyCase struct {
		Key       string       `json:"key"`
		Label     int          `json:"label"`
		DepthKey  string       `json:"depth_key"`
		Landmarks *[10]float64 `json:"landmarks"`
		Margin    float64      `json:"margin"`
		Size      int          `json:"size"`
		Flip      bool         `json:"flip"`
		Shift     *[3]float64  `json:"shift"`
		OutImage  string       `json:"out_image"`
		OutDepth  string       `json:"out_depth"`
	}
	var pcs []pyCase
	tmp := t.TempDir()
	for n, c := range cases {
		dk, _ := tr.DepthRule.DepthKey(c.e.Path)
		pc := pyCase{Key: c.e.Path, Label: c.e.Label, DepthKey: dk, Landmarks: c.e.Landmarks, Margin: tr.Margin, Size: s, Flip: c.aug.Flip,
			OutImage: filepath.Join(tmp, "img"+string(rune('a'+n))), OutDepth: filepath.Join(tmp, "dep"+string(rune('a'+n)))}
		if c.aug.Jitter {
			pc.Shift = &[3]float64{c.aug.Shift.Hue, c.aug.Shift.Sat, c.aug.Shift.Val}
		}
		pcs = append(pcs, pc)
	}
	js, _ := json.Marshal(pcs)
	if _, err := pyref.Try(t, js, "data_sample_golden.py", filepath.Join(fx.dir, "data.lmdb")); err != nil {
		t.Fatalf("%v\n(needs python3-opencv, python3-torch, python3-lmdb: run `make deps`)", err)
	}
	proc, err := NewProcessor(tr)
	if err != nil {
		t.Fatal(err)
	}
	img, dep := make([]float32, 6*s*s), make([]float32, s*s/64)
	for n, c := range cases {
		if err := proc.Sample(fx.db, c.e, c.aug, img, dep); err != nil {
			t.Fatal(err)
		}
		wantImg, wantDep := readF32(t, pcs[n].OutImage, len(img)), readF32(t, pcs[n].OutDepth, len(dep))
		worst := 0.0
		for i := range img {
			worst = math.Max(worst, math.Abs(float64(img[i]-wantImg[i])))
		}
		// One 8-bit level is 1/127.5 after normalisation.
		if worst > 1.0/127.5+1e-6 {
			t.Errorf("%s %+v: image differs from the reference pipeline by %.4f (> one level)", c.e.Path, c.aug, worst)
		}
		for i := range dep {
			if math.Abs(float64(dep[i]-wantDep[i])) > 1e-5 {
				t.Fatalf("%s %+v: depth[%d] = %v, reference %v", c.e.Path, c.aug, i, dep[i], wantDep[i])
			}
		}
		if c.e.Label == Attack {
			for _, v := range dep {
				if v != 0 {
					t.Fatalf("%s: attack depth not zero", c.e.Path)
				}
			}
		}
	}
}

func TestTrainLoaderBatches(t *testing.T) {
	fx := newFixture(t, []int{6, 4, 5}, []int{5, 6, 4})
	plan, err := NewTrainPlan(fx.domains, 2, 0, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr := fx.transform(32)
	l, err := NewTrainLoader(fx.db, plan, tr, LoaderOptions{Workers: 3, Prefetch: 2})
	if err != nil {
		t.Fatal(err)
	}
	proc, _ := NewProcessor(tr)
	img, dep := make([]float32, 6*32*32), make([]float32, 16)
	for epoch := 0; epoch < 2; epoch++ {
		it := l.Epoch(context.Background(), epoch)
		n := 0
		for {
			b, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.K != 3 || b.B != 2 || len(b.Images) != 3*4*6*32*32 || len(b.Depth) != 3*4*16 || b.Step != n || b.Epoch != epoch {
				t.Fatalf("batch geometry %d %d %d %d step %d epoch %d", b.K, b.B, len(b.Images), len(b.Depth), b.Step, b.Epoch)
			}
			for i, e := range b.Entries {
				if e != plan.Entry(epoch, n, i/4, i%4) || b.Labels[i] != int64(e.Label) {
					t.Fatalf("slot %d holds %s, plan says %s", i, e.Path, plan.Entry(epoch, n, i/4, i%4).Path)
				}
				// The worker's output equals a direct Sample with the same draw.
				aug := replayAug(tr, plan, epoch, n, i)
				if err := proc.Sample(fx.db, e, aug, img, dep); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(img, b.Images[i*6*32*32:(i+1)*6*32*32]) || !slices.Equal(dep, b.Depth[i*16:(i+1)*16]) {
					t.Fatalf("epoch %d step %d slot %d: batch content differs from Sample", epoch, n, i)
				}
			}
			n++
		}
		it.Close()
		if n != plan.Steps() {
			t.Fatalf("epoch %d: %d batches, want %d", epoch, n, plan.Steps())
		}
	}
}

// replayAug redraws the augmentation the loader used for a slot.
func replayAug(tr Transform, plan *TrainPlan, epoch, step, i int) Aug {
	ws, _ := newWorkers(nil, tr, 1)
	w := ws[0]
	w.pcg.Seed(plan.Seed, mix(uint64(epoch), uint64(plan.Rank), uint64(step), uint64(i)))
	return tr.DrawAug(w.rng)
}

// breakRecords corrupts one image and deletes... (LMDB has no delete in our API: we write
// the bad records into a second database built from the fixture's keys).
func corruptFixture(t *testing.T) (*fixture, *Entry, *Entry) {
	fx := newFixture(t, []int{6, 6}, []int{6, 6})
	bad := &fx.domains[0].Live[2]
	if err := fx.db.PutMany([]lmdb.KV{{Key: bad.Path, Value: []byte("\x89PNG\r\n\x1a\ngarbage")}}); err != nil {
		t.Fatal(err)
	}
	missing := &fx.domains[1].Attack[1]
	missing.Path = "dom1/attack/video00/not_there.png"
	return fx, bad, missing
}

func TestBadDataFailPolicy(t *testing.T) {
	fx, bad, _ := corruptFixture(t)
	var set EvalSet
	set.AddDomain("dom0", fx.domains[0].Live)
	l, _ := NewEvalLoader(fx.db, &set, fx.transform(32), 4, LoaderOptions{Workers: 2})
	it := l.Iter(context.Background())
	defer it.Close()
	var err error
	for err == nil {
		_, err = it.Next()
	}
	if !errors.Is(err, ErrBadSample) || !strings.Contains(err.Error(), bad.List+":4:") || !strings.Contains(err.Error(), bad.Path) {
		t.Fatalf("error %v does not name list, line 4 and key %s", err, bad.Path)
	}
	if _, err2 := it.Next(); err2 == nil || err2 == io.EOF {
		t.Fatalf("Next after a failure = %v, want the failure again", err2)
	}
}

func TestBadDataSkipPolicy(t *testing.T) {
	fx, bad, missing := corruptFixture(t)
	var set EvalSet
	set.AddDomain("dom0", fx.domains[0].Live)
	set.AddDomain("dom1", fx.domains[1].Attack)
	l, _ := NewEvalLoader(fx.db, &set, fx.transform(32), 5, LoaderOptions{Workers: 2, BadData: Skip})
	it := l.Iter(context.Background())
	var got []string
	for {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Paths...)
		for i := range b.Paths {
			if b.VideoIDs[i] != filepath.Dir(b.Paths[i]) {
				t.Fatalf("video id %q for %q", b.VideoIDs[i], b.Paths[i])
			}
		}
	}
	st := it.Stats()
	it.Close()
	if len(got) != 10 || st.Skipped != 2 || len(st.Errors) != 2 {
		t.Fatalf("%d frames, %d skipped, errors %v; want 10 frames and 2 skipped", len(got), st.Skipped, st.Errors)
	}
	for _, p := range got {
		if p == bad.Path || p == missing.Path {
			t.Fatalf("bad frame %s was returned", p)
		}
	}
	if !strings.Contains(strings.Join(st.Errors, "\n"), missing.Path) {
		t.Errorf("skip log %v does not name the missing key", st.Errors)
	}

	// Training: a batch containing a bad sample is dropped whole, never patched.
	plan, _ := NewTrainPlan(fx.domains, 1, 0, 1, 1)
	tl, _ := NewTrainLoader(fx.db, plan, fx.transform(32), LoaderOptions{Workers: 2, BadData: Skip})
	ti := tl.Epoch(context.Background(), 0)
	n := 0
	for {
		b, err := ti.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range b.Entries {
			if e.Path == bad.Path || e.Path == missing.Path {
				t.Fatalf("training batch holds bad sample %s", e.Path)
			}
		}
		n++
	}
	ts := ti.Stats()
	ti.Close()
	if ts.DroppedBatches == 0 || n+ts.DroppedBatches != plan.Steps() || ts.Skipped < ts.DroppedBatches {
		t.Fatalf("%d batches + %d dropped != %d steps (skipped %d)", n, ts.DroppedBatches, plan.Steps(), ts.Skipped)
	}
}

func TestLoaderCancelAndNoLeaks(t *testing.T) {
	fx := newFixture(t, []int{9, 9}, []int{9, 9})
	plan, _ := NewTrainPlan(fx.domains, 2, 0, 1, 1)
	l, _ := NewTrainLoader(fx.db, plan, fx.transform(32), LoaderOptions{Workers: 4, Prefetch: 1})
	before := runtime.NumGoroutine()
	for epoch := 0; epoch < 3; epoch++ {
		ctx, cancel := context.WithCancel(context.Background())
		it := l.Epoch(ctx, epoch)
		if _, err := it.Next(); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := it.Next(); !errors.Is(err, context.Canceled) {
			// A batch may already be complete; the one after must see the cancellation.
			if _, err = it.Next(); !errors.Is(err, context.Canceled) {
				t.Fatalf("Next after cancel = %v", err)
			}
		}
		it.Close()
		it.Close()
	}
	// Every buffer came back: a full epoch still runs (it would block otherwise).
	it := l.Epoch(context.Background(), 9)
	n := 0
	for ; ; n++ {
		if _, err := it.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	it.Close()
	if n != plan.Steps() {
		t.Fatalf("%d batches after cancelled epochs, want %d", n, plan.Steps())
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Fatalf("%d goroutines after Close, %d before", g, before)
	}
}
