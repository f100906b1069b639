package shim

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// groups joins world ranks in this process (one goroutine each, as c10d allows).
func groups(t testing.TB, world int, timeout time.Duration) []*Group {
	t.Helper()
	port := freePort(t)
	gs := make([]*Group, world)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := range gs {
		wg.Add(1)
		go func(r int) {
			defer wg.Done()
			gs[r], errs[r] = NewGroup(GroupConfig{Rank: r, World: world, MasterPort: port, Hostname: "127.0.0.1", Timeout: timeout})
		}(r)
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	t.Cleanup(func() {
		for _, g := range gs {
			g.Close()
		}
	})
	return gs
}

// each runs fn on every rank concurrently and returns the errors.
func each(gs []*Group, fn func(r int, g *Group) error) []error {
	errs := make([]error, len(gs))
	var wg sync.WaitGroup
	for r, g := range gs {
		wg.Add(1)
		go func(r int, g *Group) {
			defer wg.Done()
			errs[r] = fn(r, g)
		}(r, g)
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

func TestGroupCollectives(t *testing.T) {
	gs := groups(t, 2, 30*time.Second)
	if gs[0].Backend() != "gloo" {
		t.Errorf("backend %q on a CPU build", gs[0].Backend())
	}
	sums := make([][]float64, 2)
	gathered := make([][][]float64, 2)
	noErrors(t, each(gs, func(r int, g *Group) error {
		sums[r] = []float64{float64(r + 1), 10 * float64(r+1)}
		if err := g.AllReduceSum(sums[r]); err != nil {
			return err
		}
		var err error
		gathered[r], err = g.GatherVar(make([]float64, r+1)) // rank 0 sends 1 value, rank 1 two
		if err != nil {
			return err
		}
		return g.Barrier()
	}))
	for r := range gs {
		if !reflect.DeepEqual(sums[r], []float64{3, 30}) {
			t.Errorf("rank %d: allreduce gives %v, want [3 30]", r, sums[r])
		}
		if len(gathered[r]) != 2 || len(gathered[r][0]) != 1 || len(gathered[r][1]) != 2 {
			t.Errorf("rank %d: gathered %v", r, gathered[r])
		}
	}
}

// Two ranks training on different batches hold bit-identical parameters after every step
// (same start from rank 0's broadcast, averaged gradients), and per-rank buffers differ.
func TestGroupTrainingKeepsRanksIdentical(t *testing.T) {
	gs := groups(t, 2, 60*time.Second)
	trainers := make([]*Trainer, 2)
	for r := range trainers {
		_, trainers[r] = newTrainer(t, uint64(100+r), anrlTraining(3)) // different initial weights
	}
	noErrors(t, each(gs, func(r int, g *Group) error { return trainers[r].SetGroup(g, false) }))
	for step := 0; step < 3; step++ {
		noErrors(t, each(gs, func(r int, g *Group) error {
			b := synthBatch(rand.New(rand.NewSource(int64(10*step+r))), 3, 2, 32) // each rank its own shard
			_, err := trainers[r].Step(b.views(), 1e-3)
			return err
		}))
		a, b := stateBytes(t, trainers[0]), stateBytes(t, trainers[1])
		for name, v := range a {
			param := strings.HasPrefix(name, "model.") && !strings.Contains(name, "running_") && !strings.Contains(name, "num_batches")
			if param && string(v) != string(b[name]) {
				t.Fatalf("step %d: %s differs between the ranks", step+1, name)
			}
		}
		if string(a["model.FeatExtractor.inc.BN.running_mean"]) == string(b["model.FeatExtractor.inc.BN.running_mean"]) {
			t.Errorf("step %d: per-rank BN statistics are identical although the batches differ", step+1)
		}
	}
	// The per-rank state of both ranks, on both ranks.
	states := make([][]StateTensor, 2)
	noErrors(t, each(gs, func(r int, g *Group) error {
		var err error
		states[r], err = trainers[r].GatherRankState()
		return err
	}))
	names := map[string]bool{}
	for _, s := range states[1] {
		names[s.Name] = true
	}
	for _, want := range []string{"rank0/centers.real", "rank1/centers.real", "rank1/rng.cpu", "rank0/model.FeatExtractor.inc.BN.running_var"} {
		if !names[want] {
			t.Errorf("gathered rank state lacks %s", want)
		}
	}
}

// With the state averaged too, the ranks also share BN statistics and centers.
func TestGroupAveragedState(t *testing.T) {
	gs := groups(t, 2, 60*time.Second)
	trainers := make([]*Trainer, 2)
	for r := range trainers {
		_, trainers[r] = newTrainer(t, 7, anrlTraining(3))
	}
	noErrors(t, each(gs, func(r int, g *Group) error { return trainers[r].SetGroup(g, true) }))
	noErrors(t, each(gs, func(r int, g *Group) error {
		_, err := trainers[r].Step(synthBatch(rand.New(rand.NewSource(int64(r))), 3, 2, 32).views(), 1e-3)
		return err
	}))
	a, b := stateBytes(t, trainers[0]), stateBytes(t, trainers[1])
	for _, name := range []string{"model.FeatExtractor.inc.BN.running_mean", "centers.real"} {
		if string(a[name]) != string(b[name]) {
			t.Errorf("%s differs between the ranks with averaged state", name)
		}
	}
}

// A rank that leaves makes the other's next collective fail within the timeout, naming it.
func TestGroupDeadPeer(t *testing.T) {
	gs := groups(t, 2, 3*time.Second)
	gs[1].Close()
	start := time.Now()
	err := gs[0].AllReduceSum([]float64{1})
	if err == nil || !errors.Is(err, ErrTorch) || !strings.Contains(err.Error(), "rank 0 of 2") {
		t.Fatalf("allreduce with a dead peer: %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("the failure took %v", el)
	}
}

func TestGroupConfigErrors(t *testing.T) {
	for _, c := range []GroupConfig{{Rank: 2, World: 2, MasterPort: 1234}, {Rank: 0, World: 0, MasterPort: 1234},
		{Rank: 0, World: 1, MasterPort: 70000}, {Rank: 0, World: 1, MasterPort: 1234, Backend: "mpi"}} {
		if g, err := NewGroup(c); err == nil || !errors.Is(err, ErrInvalidArgument) {
			g.Close()
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// Step time of one rank alone and of two ranks (one process each would be the same; here two
// goroutines), each rank on one thread with its own batch, and the share of the gradient
// allreduce: `make bench` reports images/s per rank and the allreduce's ms per step.
func BenchmarkStepRanks(b *testing.B) {
	const per = 5
	for _, world := range []int{1, 2} {
		b.Run(fmt.Sprintf("ranks=%d", world), func(b *testing.B) {
			gs := make([]*Group, world)
			if world > 1 {
				gs = groups(b, world, time.Minute)
			}
			trainers := make([]*Trainer, world)
			for r := range trainers {
				m, err := NewModel(Config{Method: "anrl", Size: 32, Threads: 1, Settings: Settings{{Key: "width", Value: "0.25"}}, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				if trainers[r], err = NewTrainer(m, anrlTraining(3)); err != nil {
					b.Fatal(err)
				}
				defer trainers[r].Close()
			}
			if world > 1 {
				each(gs, func(r int, g *Group) error { return trainers[r].SetGroup(g, false) })
			}
			batches := make([]*Batch, world)
			for r := range batches {
				batches[r] = synthBatch(rand.New(rand.NewSource(int64(r))), 3, per, 32)
			}
			step := func() {
				var wg sync.WaitGroup
				for r := range trainers {
					wg.Add(1)
					go func(r int) {
						defer wg.Done()
						if _, err := trainers[r].Step(batches[r].views(), 1e-4); err != nil {
							b.Error(err)
						}
					}(r)
				}
				wg.Wait()
			}
			step() // warm-up
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N*3*2*per)/sec, "images/s/rank")
			if world > 1 { // the gradient allreduce alone, on parameter-sized buffers
				st, _ := trainers[0].State()
				n := 0
				for _, x := range st {
					if x.IsParam {
						n += int(x.Numel())
					}
				}
				start := time.Now()
				const reps = 5
				for i := 0; i < reps; i++ {
					each(gs, func(r int, g *Group) error { return g.AllReduceSum(make([]float64, n/2)) }) // F64: n/2 = the bytes of n F32
				}
				b.ReportMetric(time.Since(start).Seconds()/reps*1000, "allreduce-ms/step")
			}
		})
	}
}

// Two ranks with batch B each take the same step as one process with batch 2B on the same
// samples, in a per-sample configuration (plain step, BatchNorm frozen, no center losses,
// whose batch means and EMA centers are per rank): the updated weights agree to 1e-5
// of the largest weight change (float rounding of the sums in another order).
func TestTwoRanksEqualOneWithTheirUnion(t *testing.T) {
	cfg := anrlTraining(3, Setting{"meta", "false"}, Setting{"freeze_bn", "true"},
		Setting{"w_domain", "0"}, Setting{"w_discri", "0"})
	cfg.Optimizer, cfg.Seed = "sgd", 1
	whole := synthBatch(rand.New(rand.NewSource(3)), 3, 4, 32) // B = 4 per domain and class
	half := func(b *Batch, r int) *Batch {                     // rank r: samples [2r, 2r+2) of each class
		h := &Batch{NumDomains: 3, PerClass: 2, Size: 32}
		per := 6 * 32 * 32
		for d := 0; d < 3; d++ {
			for _, cls := range []int{0, 4} {
				for i := 2 * r; i < 2*r+2; i++ {
					j := d*8 + cls + i
					h.Images = append(h.Images, b.Images[j*per:(j+1)*per]...)
					h.Depth = append(h.Depth, b.Depth[j*16:(j+1)*16]...)
					h.Labels = append(h.Labels, b.Labels[j])
				}
			}
		}
		return h
	}
	_, one := newTrainer(t, 9, cfg)
	if _, err := one.Step(whole.views(), 0.05); err != nil {
		t.Fatal(err)
	}
	gs := groups(t, 2, time.Minute)
	trainers := make([]*Trainer, 2)
	for r := range trainers {
		_, trainers[r] = newTrainer(t, 9, cfg)
	}
	noErrors(t, each(gs, func(r int, g *Group) error { return trainers[r].SetGroup(g, false) }))
	noErrors(t, each(gs, func(r int, g *Group) error {
		_, err := trainers[r].Step(half(whole, r).views(), 0.05)
		return err
	}))
	a, _ := one.State()
	b, _ := trainers[0].State()
	worst, moved := 0.0, 0.0
	before, _ := newTrainer(t, 9, cfg)
	b0, _ := before.State()
	for i := range a {
		if !a[i].IsParam {
			continue
		}
		x, _ := a[i].Float32()
		y, _ := b[i].Float32()
		z, _ := b0[i].Float32()
		for k := range x {
			worst = math.Max(worst, math.Abs(float64(x[k]-y[k])))
			moved = math.Max(moved, math.Abs(float64(x[k]-z[k])))
		}
	}
	t.Logf("max difference %.3g; the step moved weights by up to %.3g", worst, moved)
	if worst > 1e-5*moved || moved < 1e-4 {
		t.Errorf("2 ranks x B vs 1 x 2B: max difference %.3g (tolerance 1e-5 of the largest change %.3g)", worst, moved)
	}
}
