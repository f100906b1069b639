package synth

import (
	"context"
	"testing"
)

// BenchmarkRenderVideo renders 4-frame videos at S = 64 (every kind and domain in turn)
// on one goroutine; images/s is per core.
func BenchmarkRenderVideo(b *testing.B) {
	o := DefaultOptions()
	vs := plan(o)
	doms := make([]domain, o.Domains)
	for d := range doms {
		doms[d] = domainAt(d, o.Seed)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := vs[(i*37)%len(vs)]
		if _, err := renderVideo(o.Seed, &doms[v.dom], v, o.Frames, o.Size); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*o.Frames)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkGenerateDefault generates the default benchmark (4 domains x 40 subjects x 4
// videos x 4 frames at S = 64) in memory with all cores.
func BenchmarkGenerateDefault(b *testing.B) {
	o := DefaultOptions()
	images := 0
	for i := 0; i < b.N; i++ {
		sum, err := Generate(context.Background(), b.TempDir(), o, &memSink{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		images += sum.Images
	}
	b.ReportMetric(float64(images)/b.Elapsed().Seconds(), "images/s")
}
