package dataset

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// benchDB packs n JPEG frames of w×h (quality 90, 4:2:0) with PNG depth maps.
func benchDB(b *testing.B, n, w, h int) (*lmdb.Env, []Domain, DepthRule) {
	db, err := lmdb.Open(filepath.Join(b.TempDir(), "db"), lmdb.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	r := newRand()
	rule := DepthRule{{From: "d/", To: "d_depth/"}}
	var kvs []lmdb.KV
	var live, attack []Entry
	for i := 0; i < n; i++ {
		img, dep := face(r, w, h)
		var buf bytes.Buffer
		jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
		key := fmt.Sprintf("d/v%d/%d.jpg", i/10, i)
		kvs = append(kvs, lmdb.KV{Key: key, Value: buf.Bytes()}, lmdb.KV{Key: "d_depth/" + key[2:], Value: pngBytes(b, dep)})
		live = append(live, Entry{Path: key, Label: Live, List: "bench", Line: i + 1})
		attack = append(attack, Entry{Path: key, Label: Attack, List: "bench", Line: i + 1})
	}
	if err := db.PutMany(kvs); err != nil {
		b.Fatal(err)
	}
	return db, []Domain{{Name: "a", Live: live, Attack: attack}, {Name: "b", Live: live, Attack: attack}}, rule
}

// BenchmarkSample: one core decoding and transforming live samples (image + depth) at
// S = 256 from LMDB, with flip and jitter on every sample (the worst case).
func BenchmarkSample(b *testing.B) {
	db, ds, rule := benchDB(b, 32, 320, 320)
	tr := DefaultTransform()
	tr.DepthRule = rule
	proc, err := NewProcessor(tr)
	if err != nil {
		b.Fatal(err)
	}
	img, dep := make([]float32, 6*256*256), make([]float32, 32*32)
	aug := Aug{Flip: true, Jitter: true}
	aug.Shift.Hue, aug.Shift.Sat, aug.Shift.Val = 10, -5, 3
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		if err := proc.Sample(db, &ds[0].Live[i%32], aug, img, dep); err != nil {
			b.Fatal(err)
		}
	}
	// Per CPU-second of this process (GC included): meaningful on a shared machine too.
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "images/cpu-s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// cpuSeconds is the user+system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkTrainLoader: whole batches (K = 2, B = 5) through the worker pool.
func BenchmarkTrainLoader(b *testing.B) {
	db, ds, rule := benchDB(b, 40, 320, 320)
	tr := DefaultTransform()
	tr.DepthRule = rule
	plan, err := NewTrainPlan(ds, 5, 0, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	l, err := NewTrainLoader(db, plan, tr, LoaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuSeconds()
	images, epoch := 0, 0
	it := l.Epoch(context.Background(), epoch)
	for i := 0; i < b.N; i++ {
		bt, err := it.Next()
		if err == io.EOF {
			it.Close()
			epoch++
			it = l.Epoch(context.Background(), epoch)
			bt, err = it.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		images += len(bt.Labels)
	}
	it.Close()
	b.ReportMetric(float64(images)/(cpuSeconds()-cpu0), "images/cpu-s")
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}
