package eval

import (
	"math"
	"testing"
)

func TestAttackProbIsSoftmaxClass1(t *testing.T) {
	for _, c := range [][2]float32{{0, 0}, {1, -2}, {-3.5, 4}, {10, 10.5}} {
		e0, e1 := math.Exp(float64(c[0])), math.Exp(float64(c[1]))
		want := e1 / (e0 + e1)
		if got := attackProb(c[0], c[1]); math.Abs(got-want) > 1e-12 {
			t.Errorf("attackProb(%v, %v) = %v, softmax gives %v", c[0], c[1], got, want)
		}
	}
	// Extreme logits saturate instead of producing NaN.
	if p := attackProb(-1000, 1000); p != 1 {
		t.Errorf("attackProb(-1000, 1000) = %v, want 1", p)
	}
	if p := attackProb(1000, -1000); p != 0 {
		t.Errorf("attackProb(1000, -1000) = %v, want 0", p)
	}
}

func TestPoolAveragesEachChannel(t *testing.T) {
	// Two channels of 2x2: means 2.5 and -1.
	x := []float32{1, 2, 3, 4, -1, -1, -2, 0}
	got := pool(x, 2)
	if len(got) != 2 || got[0] != 2.5 || got[1] != -1 {
		t.Fatalf("pool = %v, want [2.5 -1]", got)
	}
}
