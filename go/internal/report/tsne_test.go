package report

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

// gaussianClusters draws k clusters of m points in dim dimensions: centres sep apart on the
// coordinate axes, unit-variance noise.
func gaussianClusters(rng *rand.Rand, k, m, dim int, sep float64) ([][]float64, []int) {
	var x [][]float64
	var labels []int
	for c := 0; c < k; c++ {
		for i := 0; i < m; i++ {
			row := make([]float64, dim)
			for d := range row {
				row[d] = rng.NormFloat64()
			}
			row[c] += sep
			x = append(x, row)
			labels = append(labels, c)
		}
	}
	return x, labels
}

// knnAccuracy is the leave-one-out k-nearest-neighbour majority-vote accuracy in 2-D.
func knnAccuracy(y [][2]float64, labels []int, k int) float64 {
	correct := 0
	for i := range y {
		idx := make([]int, 0, len(y)-1)
		for j := range y {
			if j != i {
				idx = append(idx, j)
			}
		}
		d := func(j int) float64 { return math.Hypot(y[i][0]-y[j][0], y[i][1]-y[j][1]) }
		sort.Slice(idx, func(a, b int) bool { return d(idx[a]) < d(idx[b]) })
		votes := map[int]int{}
		best, bestN := -1, 0
		for _, j := range idx[:k] {
			votes[labels[j]]++
			if votes[labels[j]] > bestN {
				best, bestN = labels[j], votes[labels[j]]
			}
		}
		if best == labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(y))
}

// separation is the smallest distance between cluster centroids over the largest RMS
// radius of a cluster.
func separation(y [][2]float64, labels []int, k int) float64 {
	cent := make([][2]float64, k)
	n := make([]float64, k)
	for i, p := range y {
		cent[labels[i]][0] += p[0]
		cent[labels[i]][1] += p[1]
		n[labels[i]]++
	}
	for c := range cent {
		cent[c][0] /= n[c]
		cent[c][1] /= n[c]
	}
	rad := make([]float64, k)
	for i, p := range y {
		c := cent[labels[i]]
		rad[labels[i]] += ((p[0]-c[0])*(p[0]-c[0]) + (p[1]-c[1])*(p[1]-c[1])) / n[labels[i]]
	}
	minD, maxR := math.Inf(1), 0.0
	for a := 0; a < k; a++ {
		maxR = math.Max(maxR, math.Sqrt(rad[a]))
		for b := a + 1; b < k; b++ {
			minD = math.Min(minD, math.Hypot(cent[a][0]-cent[b][0], cent[a][1]-cent[b][1]))
		}
	}
	return minD / maxR
}

func TestTSNESeparatesClusters(t *testing.T) {
	x, labels := gaussianClusters(rand.New(rand.NewPCG(7, 7)), 4, 40, 10, 8)
	y, err := TSNE(x, TSNEOptions{Perplexity: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	acc := knnAccuracy(y, labels, 5)
	sep := separation(y, labels, 4)
	t.Logf("5-NN accuracy in 2-D %.3f, centroid distance / cluster radius %.2f", acc, sep)
	if acc < 0.95 {
		t.Errorf("5-NN accuracy %.3f < 0.95", acc)
	}
	if sep < 2 {
		t.Errorf("clusters not separated: centroid distance / radius = %.2f < 2", sep)
	}
	// The same data through a random 2-D projection mixes the clusters: the test can fail.
	rng := rand.New(rand.NewPCG(3, 3))
	proj := make([][2]float64, len(x))
	w := [2][]float64{make([]float64, 10), make([]float64, 10)}
	for d := 0; d < 10; d++ {
		w[0][d], w[1][d] = rng.NormFloat64(), rng.NormFloat64()
	}
	w[0][0], w[0][1], w[1][0], w[1][1] = 0, 0, 0, 0 // a projection blind to clusters 0 and 1
	for i, row := range x {
		for d := range row {
			proj[i][0] += w[0][d] * row[d]
			proj[i][1] += w[1][d] * row[d]
		}
	}
	if a := knnAccuracy(proj, labels, 5); a >= 0.95 {
		t.Errorf("control embedding scored %.3f: the kNN criterion does not discriminate", a)
	}
}

func TestTSNEDeterministic(t *testing.T) {
	x, _ := gaussianClusters(rand.New(rand.NewPCG(1, 1)), 3, 15, 5, 6)
	o := TSNEOptions{Perplexity: 10, Iterations: 300, Seed: 42}
	a, err := TSNE(x, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Workers = 1 // a different split of the rows over goroutines gives the same bits
	b, _ := TSNE(x, o)
	o.Seed = 43
	c, _ := TSNE(x, o)
	same, differs := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differs = differs || a[i] != c[i]
	}
	if !same {
		t.Error("same seed, different embeddings")
	}
	if !differs {
		t.Error("different seeds, identical embeddings")
	}
}

// TestTSNEAffinities checks the perplexity calibration: every conditional row has entropy
// log(perplexity), and the joint P matches scikit-learn's _joint_probabilities.
func TestTSNEAffinities(t *testing.T) {
	x, _ := gaussianClusters(rand.New(rand.NewPCG(5, 5)), 3, 30, 6, 5)
	const perp = 15.0
	n := len(x)
	d := sqDistances(x)
	c := conditionalP(d, n, perp)
	for i := 0; i < n; i++ {
		var h float64
		for _, p := range c[i*n : (i+1)*n] {
			if p > 0 {
				h -= p * math.Log(p)
			}
		}
		if math.Abs(h-math.Log(perp)) > 1e-5 {
			t.Fatalf("row %d: entropy %.8f, want log(%g) = %.8f", i, h, perp, math.Log(perp))
		}
	}
	dir := t.TempDir()
	in, err := json.Marshal(map[string]any{"x": x, "perplexity": perp})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.json"), in, 0o644); err != nil {
		t.Fatal(err)
	}
	pyref.Run(t, nil, "metrics_tsne.py", filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json"))
	b, err := os.ReadFile(filepath.Join(dir, "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct{ P [][]float64 }
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	p := jointP(d, perp)
	var maxP, maxDiff float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i == j {
				continue
			}
			maxP = math.Max(maxP, want.P[i][j])
			maxDiff = math.Max(maxDiff, math.Abs(p[i*n+j]-want.P[i][j]))
		}
	}
	t.Logf("joint P: max |Go - sklearn| = %.3g (max P %.3g)", maxDiff, maxP)
	// Both searches stop within 1e-5 nats of the target entropy, sklearn on float32 distances.
	if maxDiff > 1e-6*maxP {
		t.Errorf("joint P differs from sklearn by %.3g (max P %.3g)", maxDiff, maxP)
	}
}

func TestTSNEErrors(t *testing.T) {
	good := [][]float64{{0, 0}, {1, 0}, {0, 1}, {1, 1}}
	cases := []struct {
		x    [][]float64
		o    TSNEOptions
		want string
	}{
		{nil, TSNEOptions{}, "at least 2 points"},
		{good, TSNEOptions{}, "perplexity 30 must be less than the number of points (4)"},
		{good, TSNEOptions{Perplexity: -1}, "must be positive"},
		{[][]float64{{0, 0}, {1}}, TSNEOptions{Perplexity: 1}, "point 1 has 1 coordinates"},
		{[][]float64{{0, 0}, {1, math.NaN()}}, TSNEOptions{Perplexity: 1}, "point 1 coordinate 1 is NaN"},
		{[][]float64{{}, {}}, TSNEOptions{Perplexity: 1}, "no coordinates"},
	}
	for _, c := range cases {
		_, err := TSNE(c.x, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TSNE(%v, %+v): error %v, want %q", c.x, c.o, err, c.want)
		}
	}
}

func BenchmarkTSNE500(b *testing.B) {
	x, _ := gaussianClusters(rand.New(rand.NewPCG(1, 1)), 5, 100, 32, 6)
	for i := 0; i < b.N; i++ {
		if _, err := TSNE(x, TSNEOptions{Iterations: 100, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
