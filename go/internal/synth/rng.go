package synth

import "math"

// rng is a small splitmix64 generator. The benchmark's bytes must not depend on the Go
// release, so it uses neither math/rand's methods nor its algorithms, only this code.
type rng struct{ s uint64 }

// mix64 is the splitmix64 finaliser: a bijective avalanche of all 64 bits.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// hashParts folds a sequence of integers into one well-mixed 64-bit value.
func hashParts(parts ...uint64) uint64 {
	h := uint64(0x6a09e667f3bcc909)
	for _, p := range parts {
		h = mix64(h ^ mix64(p+0x9e3779b97f4a7c15))
	}
	return h
}

// newRNG returns the generator of the stream named by parts, e.g. (seed, domain,
// subject, video, frame, purpose). Streams never share state, so the order in which
// samples are rendered (and so parallelism) cannot change any sample.
func newRNG(parts ...uint64) *rng { return &rng{s: hashParts(parts...)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * (1.0 / (1 << 53)) }

// uniform returns a uniform value in [lo, hi).
func (r *rng) uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.float() }

// in draws from a parameter range.
func (r *rng) in(g span) float64 { return r.uniform(g.lo, g.hi) }

// intn returns a uniform integer in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// chance is true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// sign returns -1 or +1.
func (r *rng) sign() float64 {
	if r.next()&1 == 0 {
		return -1
	}
	return 1
}

// normal returns a standard normal deviate (Box-Muller; one value per call keeps the
// stream position independent of earlier calls' parity).
func (r *rng) normal() float64 {
	u := 1 - r.float() // (0, 1]
	v := r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// pick returns an index drawn with the given non-negative weights.
func (r *rng) pick(w []float64) int {
	total := 0.0
	for _, x := range w {
		total += x
	}
	t := r.float() * total
	for i, x := range w {
		if t < x {
			return i
		}
		t -= x
	}
	return len(w) - 1
}

// span is a parameter range [lo, hi).
type span struct{ lo, hi float64 }

// approxNormal is a cheap, nearly normal deviate (the sum of four uniforms, scaled to
// unit variance) for per-pixel sensor noise.
func (r *rng) approxNormal() float64 {
	return (r.float() + r.float() + r.float() + r.float() - 2) * 1.7320508075688772
}
