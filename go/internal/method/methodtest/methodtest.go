// Package methodtest has test helpers for the methods' batches (tests only).
package methodtest

import (
	"math/rand"
	"testing"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// WriteBatch writes a K-domain batch (B live then B attack per domain) with per-domain
// shifts and live samples carrying a brighter pattern and a depth map.
func WriteBatch(t testing.TB, path string, k, b, s int, seed int64) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	n, f := 2*b, s/8
	img := make([]float32, k*n*6*s*s)
	dep := make([]float32, k*n*f*f)
	lab := make([]int64, k*n)
	for d := 0; d < k; d++ {
		for i := 0; i < n; i++ {
			idx := d*n + i
			live := i < b
			if !live {
				lab[idx] = 1
			}
			for j := idx * 6 * s * s; j < (idx+1)*6*s*s; j++ {
				v := 0.5*r.NormFloat64() + 0.25*float64(d)
				if live {
					v += 0.4
				}
				img[j] = float32(v)
			}
			if live {
				for j := idx * f * f; j < (idx+1)*f*f; j++ {
					dep[j] = float32(r.Float64())
				}
			}
		}
	}
	k64, n64, s64, f64 := int64(k), int64(n), int64(s), int64(f)
	err := safetensors.Write(path, []safetensors.Tensor{
		safetensors.FromFloat32("images", []int64{k64, n64, 6, s64, s64}, img),
		safetensors.FromFloat32("depth", []int64{k64, n64, f64, f64}, dep),
		safetensors.FromInt64("labels", []int64{k64, n64}, lab),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}
