package report

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// TSNEOptions configures TSNE. Zero fields take the defaults of scikit-learn's exact t-SNE.
type TSNEOptions struct {
	Perplexity        float64 // effective number of neighbours; default 30, must be < number of points
	Iterations        int     // gradient steps in all; default 1000
	EarlyExaggeration float64 // P multiplier in the first ExaggerationIters steps; default 12
	ExaggerationIters int     // default 250
	LearningRate      float64 // default max(n / EarlyExaggeration / 4, 50) (scikit-learn's "auto")
	Seed              uint64  // the same seed gives the same embedding
	Workers           int     // goroutines for the O(n²) loops; default GOMAXPROCS
}

// MaxTSNEPoints bounds exact t-SNE, which needs O(n²) memory and time per step.
const MaxTSNEPoints = 5000

func (o TSNEOptions) withDefaults(n int) TSNEOptions {
	if o.Perplexity == 0 {
		o.Perplexity = 30
	}
	if o.Iterations == 0 {
		o.Iterations = 1000
	}
	if o.EarlyExaggeration == 0 {
		o.EarlyExaggeration = 12
	}
	if o.ExaggerationIters == 0 {
		o.ExaggerationIters = 250
	}
	if o.LearningRate == 0 {
		o.LearningRate = math.Max(float64(n)/o.EarlyExaggeration/4, 50)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// TSNE embeds the rows of x in 2-D with exact t-SNE (van der Maaten & Hinton 2008, as in
// scikit-learn's method="exact"): Gaussian affinities whose bandwidths are found by binary
// search to match the perplexity, symmetrised; a Student-t (one degree of freedom) kernel in
// the embedding; gradient descent on KL(P‖Q) with momentum 0.5 then 0.8, per-coordinate
// gains, and early exaggeration. The start is N(0, 1e-4²) drawn from Seed, and all sums run
// in a fixed order, so the result depends on the seed only.
func TSNE(x [][]float64, o TSNEOptions) ([][2]float64, error) {
	n := len(x)
	if err := checkTSNEInput(x, o.Perplexity); err != nil {
		return nil, err
	}
	o = o.withDefaults(n)
	if o.Perplexity >= float64(n) {
		return nil, fmt.Errorf("t-SNE: perplexity %g must be less than the number of points (%d)", o.Perplexity, n)
	}
	p := jointP(sqDistances(x), o.Perplexity)
	return descend(p, n, o), nil
}

func checkTSNEInput(x [][]float64, perplexity float64) error {
	n := len(x)
	if n < 2 {
		return fmt.Errorf("t-SNE: need at least 2 points, have %d", n)
	}
	if n > MaxTSNEPoints {
		return fmt.Errorf("t-SNE: %d points; exact t-SNE is O(n²), subsample to at most %d", n, MaxTSNEPoints)
	}
	if perplexity < 0 || math.IsNaN(perplexity) {
		return fmt.Errorf("t-SNE: perplexity %g must be positive", perplexity)
	}
	d := len(x[0])
	if d == 0 {
		return errors.New("t-SNE: points have no coordinates")
	}
	for i, row := range x {
		if len(row) != d {
			return fmt.Errorf("t-SNE: point %d has %d coordinates, point 0 has %d", i, len(row), d)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("t-SNE: point %d coordinate %d is %v", i, j, v)
			}
		}
	}
	return nil
}

// sqDistances returns the n×n squared Euclidean distances, row-major.
func sqDistances(x [][]float64) []float64 {
	n := len(x)
	d := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			var s float64
			for k := range x[i] {
				t := x[i][k] - x[j][k]
				s += t * t
			}
			d[i*n+j], d[j*n+i] = s, s
		}
	}
	return d
}

// conditionalP finds, for every row i, the Gaussian precision beta_i whose conditional
// distribution p(j|i) has entropy log(perplexity) (within 1e-5 nats, at most 100 steps of
// scikit-learn's doubling/bisection search). Distances are shifted by the row minimum
// before exp, which leaves p(j|i) unchanged and avoids underflow. Row-major, p(i|i) = 0.
func conditionalP(d []float64, n int, perplexity float64) []float64 {
	want := math.Log(perplexity)
	p := make([]float64, n*n)
	for i := 0; i < n; i++ {
		row, pr := d[i*n:(i+1)*n], p[i*n:(i+1)*n]
		dmin := math.Inf(1)
		for j, v := range row {
			if j != i {
				dmin = math.Min(dmin, v)
			}
		}
		beta, lo, hi := 1.0, math.Inf(-1), math.Inf(1)
		for step := 0; step < 100; step++ {
			var sum, sumDP float64
			for j, v := range row {
				if j == i {
					pr[j] = 0
					continue
				}
				pr[j] = math.Exp(-(v - dmin) * beta)
				sum += pr[j]
			}
			for j, v := range row {
				pr[j] /= sum
				sumDP += (v - dmin) * pr[j]
			}
			diff := math.Log(sum) + beta*sumDP - want
			if math.Abs(diff) <= 1e-5 {
				break
			}
			if diff > 0 { // too flat: sharpen
				lo = beta
				if math.IsInf(hi, 1) {
					beta *= 2
				} else {
					beta = (beta + hi) / 2
				}
			} else {
				hi = beta
				if math.IsInf(lo, -1) {
					beta /= 2
				} else {
					beta = (beta + lo) / 2
				}
			}
		}
	}
	return p
}

// jointP symmetrises the conditional affinities: p_ij = (p(j|i) + p(i|j)) / 2n, floored at
// machine epsilon as scikit-learn does.
func jointP(d []float64, perplexity float64) []float64 {
	n := int(math.Sqrt(float64(len(d))))
	c := conditionalP(d, n, perplexity)
	p := make([]float64, n*n)
	var sum float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			p[i*n+j] = c[i*n+j] + c[j*n+i]
			sum += p[i*n+j]
		}
	}
	for i := range p {
		p[i] = math.Max(p[i]/sum, 0x1p-52)
	}
	for i := 0; i < n; i++ {
		p[i*n+i] = 0 // the diagonal is never used; keep it out of sums
	}
	return p
}

// descend runs the t-SNE gradient descent on joint affinities p.
func descend(p []float64, n int, o TSNEOptions) [][2]float64 {
	rng := rand.New(rand.NewPCG(o.Seed, 0x74534e45))
	y := make([]float64, 2*n)
	for i := range y {
		y[i] = 1e-4 * rng.NormFloat64()
	}
	update := make([]float64, 2*n)
	gains := make([]float64, 2*n)
	for i := range gains {
		gains[i] = 1
	}
	g := newGradient(n, o.Workers)
	for it := 0; it < o.Iterations; it++ {
		exag, momentum := 1.0, 0.8
		if it < o.ExaggerationIters {
			exag, momentum = o.EarlyExaggeration, 0.5
		}
		grad := g.compute(p, y, exag)
		var norm float64
		for k := range y {
			if update[k]*grad[k] < 0 {
				gains[k] += 0.2
			} else {
				gains[k] = math.Max(gains[k]*0.8, 0.01)
			}
			update[k] = momentum*update[k] - o.LearningRate*gains[k]*grad[k]
			y[k] += update[k]
			norm += grad[k] * grad[k]
		}
		if it >= o.ExaggerationIters && math.Sqrt(norm) < 1e-7 {
			break // converged (scikit-learn's min_grad_norm)
		}
	}
	out := make([][2]float64, n)
	for i := range out {
		out[i] = [2]float64{y[2*i], y[2*i+1]}
	}
	return out
}

// gradient holds the buffers of the exact KL gradient.
type gradient struct {
	n, workers int
	num        []float64 // (1 + |y_i - y_j|²)⁻¹, row-major
	rowSum     []float64
	grad       []float64
}

func newGradient(n, workers int) *gradient {
	return &gradient{n: n, workers: workers, num: make([]float64, n*n), rowSum: make([]float64, n), grad: make([]float64, 2*n)}
}

// compute returns dKL/dy for affinities exag·p: 4 Σ_j (exag·p_ij − q_ij)(1+|y_i−y_j|²)⁻¹(y_i − y_j).
func (g *gradient) compute(p, y []float64, exag float64) []float64 {
	n := g.n
	g.parallel(func(i int) {
		var s float64
		yi0, yi1 := y[2*i], y[2*i+1]
		for j := 0; j < n; j++ {
			if j == i {
				g.num[i*n+j] = 0
				continue
			}
			d0, d1 := yi0-y[2*j], yi1-y[2*j+1]
			v := 1 / (1 + d0*d0 + d1*d1)
			g.num[i*n+j] = v
			s += v
		}
		g.rowSum[i] = s
	})
	var z float64
	for _, s := range g.rowSum { // in row order: deterministic
		z += s
	}
	g.parallel(func(i int) {
		var g0, g1 float64
		yi0, yi1 := y[2*i], y[2*i+1]
		for j := 0; j < n; j++ {
			v := g.num[i*n+j]
			m := (exag*p[i*n+j] - v/z) * v
			g0 += m * (yi0 - y[2*j])
			g1 += m * (yi1 - y[2*j+1])
		}
		g.grad[2*i], g.grad[2*i+1] = 4*g0, 4*g1
	})
	return g.grad
}

// parallel runs f(i) for every row, rows split into contiguous blocks per worker.
func (g *gradient) parallel(f func(i int)) {
	w := min(g.workers, g.n)
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		lo, hi := k*g.n/w, (k+1)*g.n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				f(i)
			}
		}()
	}
	wg.Wait()
}
