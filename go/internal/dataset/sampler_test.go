package dataset

import (
	"fmt"
	"testing"
)

func entries(prefix string, n, label int) []Entry {
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Path: fmt.Sprintf("%s/%d", prefix, i), Label: label, List: prefix, Line: i + 1}
	}
	return es
}

func testDomains(lens [][2]int) []Domain {
	var ds []Domain
	for k, l := range lens {
		n := fmt.Sprintf("d%d", k)
		ds = append(ds, Domain{Name: n, Live: entries(n+"/live", l[0], Live), Attack: entries(n+"/attack", l[1], Attack)})
	}
	return ds
}

func TestPlanBalanceAndSteps(t *testing.T) {
	ds := testDomains([][2]int{{50, 70}, {23, 90}, {41, 12}})
	const b, world = 4, 2
	p, err := NewTrainPlan(ds, b, 0, world, 7)
	if err != nil {
		t.Fatal(err)
	}
	// N_live = 50, N_attack = 90: min 50 / (4*2) = 6 steps.
	if p.Steps() != 6 {
		t.Fatalf("Steps = %d, want 6", p.Steps())
	}
	for s := 0; s < p.Steps(); s++ {
		for k := range ds {
			for j := 0; j < 2*b; j++ {
				e := p.Entry(0, s, k, j)
				wantLabel := Live
				if j >= b {
					wantLabel = Attack
				}
				if e.Label != wantLabel || e.List[:2] != ds[k].Name {
					t.Fatalf("step %d domain %d slot %d: %+v", s, k, j, e)
				}
			}
		}
	}
}

// TestPlanSharding: ranks see disjoint indices of each class in an epoch, all run the same
// number of steps, and the longest list's entries appear at most once per epoch.
func TestPlanSharding(t *testing.T) {
	ds := testDomains([][2]int{{60, 61}, {60, 20}})
	const b, world = 3, 3
	seen := map[string]int{}
	steps := -1
	for rank := 0; rank < world; rank++ {
		p, err := NewTrainPlan(ds, b, rank, world, 99)
		if err != nil {
			t.Fatal(err)
		}
		if steps >= 0 && p.Steps() != steps {
			t.Fatalf("rank %d runs %d steps, rank 0 runs %d", rank, p.Steps(), steps)
		}
		steps = p.Steps()
		for s := 0; s < p.Steps(); s++ {
			for j := 0; j < 2*b; j++ {
				seen[p.Entry(3, s, 0, j).Path]++
			}
		}
	}
	for path, n := range seen {
		if n != 1 {
			t.Fatalf("%s seen %d times across ranks in one epoch", path, n)
		}
	}
	if want := 2 * steps * b * world; len(seen) != want {
		t.Fatalf("%d distinct entries of domain 0, want %d", len(seen), want)
	}
}

func TestPlanWrapsShortListsAndReshuffles(t *testing.T) {
	ds := testDomains([][2]int{{40, 40}, {5, 3}})
	p, _ := NewTrainPlan(ds, 2, 0, 1, 5)
	short := map[string]bool{}
	for s := 0; s < p.Steps(); s++ {
		for j := 0; j < 4; j++ {
			short[p.Entry(0, s, 1, j).Path] = true
		}
	}
	if len(short) != 8 { // all 5 live and 3 attack entries of the short domain are used
		t.Fatalf("short domain: %d distinct entries used, want 8", len(short))
	}
	order := func(p *TrainPlan, e int) string {
		var s string
		for st := 0; st < p.Steps(); st++ {
			s += p.Entry(e, st, 0, 0).Path + ","
		}
		return s
	}
	q, _ := NewTrainPlan(ds, 2, 0, 1, 5)
	if order(p, 0) != order(q, 0) {
		t.Error("same seed and epoch gave different orders")
	}
	if order(p, 0) == order(p, 1) {
		t.Error("epochs 0 and 1 have the same order: no reshuffle")
	}
	r, _ := NewTrainPlan(ds, 2, 0, 1, 6)
	if order(p, 2) == order(r, 2) {
		t.Error("different seeds gave the same order")
	}
}

func TestPlanRejects(t *testing.T) {
	if _, err := NewTrainPlan(testDomains([][2]int{{3, 3}}), 2, 0, 2, 1); err == nil {
		t.Error("accepted lists shorter than B·world")
	}
	bad := testDomains([][2]int{{10, 10}})
	bad[0].Live[4].Label = Attack
	if _, err := NewTrainPlan(bad, 2, 0, 1, 1); err == nil {
		t.Error("accepted an attack entry in a live list")
	}
	if _, err := NewTrainPlan(testDomains([][2]int{{10, 10}}), 2, 2, 2, 1); err == nil {
		t.Error("accepted rank >= world")
	}
}

func TestEvalShard(t *testing.T) {
	var set EvalSet
	set.AddDomain("a", entries("a", 7, Live), entries("b", 4, Attack))
	seen := map[string]bool{}
	for r := 0; r < 3; r++ {
		for _, e := range set.Shard(r, 3).Entries {
			if seen[e.Path] {
				t.Fatalf("%s on two ranks", e.Path)
			}
			seen[e.Path] = true
		}
	}
	if len(seen) != 11 {
		t.Fatalf("%d frames over all ranks, want 11", len(seen))
	}
}
