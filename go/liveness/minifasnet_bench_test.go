package liveness_test

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/silentface"
	"github.com/fasgo/fasgo/go/liveness"
)

// BenchmarkMiniFASNetEnsemble: images/s of the two-member Silent-Face ensemble through the
// public package, on decoded images with a fixed face box (the face finder is not what is
// compared), batch 1 (Score) and 16 (ScoreBatch). bench/minifasnet.sh runs it against the
// authors' PyTorch pipeline (bench/minifasnet.py) with the same box and threads.
// FASGO_BENCH_THREADS sets the network's threads (default 1). Besides images/s (wall clock)
// it reports the process's CPU time per image, which a busy machine disturbs less. The "dlib" case adds JPEG
// decoding and fasgo's face finder (batch 1) for a service's whole cost; "fast-batch=16"
// the batch-blocked kernels (WithFastKernels) instead of batch-invariant scoring.
func BenchmarkMiniFASNetEnsemble(b *testing.B) {
	data := pyref.SilentFace(b)
	dir := b.TempDir()
	if _, err := silentface.ImportEnsemble([]string{filepath.Join(data, pyref.SilentFaceV2),
		filepath.Join(data, pyref.SilentFaceV1SE)}, dir, silentface.Options{}); err != nil {
		b.Fatal(err)
	}
	threads := 1
	if v := os.Getenv("FASGO_BENCH_THREADS"); v != "" {
		threads, _ = strconv.Atoi(v)
	}
	raw, err := os.ReadFile(filepath.Join(data, "image_T1.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	img, err := imgproc.DecodeOriented(raw)
	if err != nil {
		b.Fatal(err)
	}
	box := &fakeFinder{faces: []liveness.Face{{Box: image.Rect(134, 154, 314, 334), Score: 1}}} // fasgo's box of T1
	for _, c := range []struct {
		n    int
		fast bool
	}{{1, false}, {16, false}, {16, true}} {
		n, name := c.n, fmt.Sprintf("batch=%d", c.n)
		opts := []liveness.Option{liveness.WithThreads(threads), liveness.WithMaxBatch(n), liveness.WithMaxWait(0),
			liveness.WithFaceFinder(box)}
		if c.fast {
			name, opts = "fast-batch=16", append(opts, liveness.WithFastKernels())
		}
		b.Run(name, func(b *testing.B) {
			d, err := liveness.Open(dir, opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			imgs := make([]image.Image, n)
			for i := range imgs {
				imgs[i] = img
			}
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := d.ScoreBatch(context.Background(), imgs); err != nil {
					b.Fatal(err)
				}
			}
			report(b, b.N*n, cpuTime()-cpu)
		})
	}
	b.Run("dlib", func(b *testing.B) {
		d, err := liveness.Open(dir, liveness.WithThreads(threads), liveness.WithMaxBatch(1), liveness.WithMaxWait(0))
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		b.ResetTimer()
		cpu := cpuTime()
		for i := 0; i < b.N; i++ {
			if _, err := d.ScoreBytes(context.Background(), raw); err != nil {
				b.Fatal(err)
			}
		}
		report(b, b.N, cpuTime()-cpu)
	})
}

func report(b *testing.B, images int, cpu time.Duration) {
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
	b.ReportMetric(cpu.Seconds()*1000/float64(images), "cpu-ms/image")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
