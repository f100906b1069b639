package eval

import (
	"testing"
)

func TestPoolAveragesEachChannel(t *testing.T) {
	// Two channels of 2x2: means 2.5 and -1.
	x := []float32{1, 2, 3, 4, -1, -1, -2, 0}
	got := pool(x, 2)
	if len(got) != 2 || got[0] != 2.5 || got[1] != -1 {
		t.Fatalf("pool = %v, want [2.5 -1]", got)
	}
}
