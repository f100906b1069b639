package shim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// Batch is an ANRL training batch as the tests build it (package method builds the real ones).
type Batch struct {
	NumDomains, PerClass, Size int
	Images, Depth              []float32
	Labels                     []int64
	DomainOrder                []int
}

func (b *Batch) views() []View {
	k, n, s, f := int64(b.NumDomains), int64(2*b.PerClass), int64(b.Size), int64(b.Size/8)
	v := []View{F32("images", []int64{k, n, 6, s, s}, b.Images), F32("depth", []int64{k, n, f, f}, b.Depth),
		I64("labels", []int64{k, n}, b.Labels)}
	if b.DomainOrder != nil {
		o := make([]int64, len(b.DomainOrder))
		for i, d := range b.DomainOrder {
			o[i] = int64(d)
		}
		v = append(v, I64("domain_order", []int64{int64(len(o))}, o))
	}
	return v
}

// anrlTraining is the default trainer for k ANRL domains, with extra settings.
func anrlTraining(k int, extra ...Setting) TrainConfig {
	c := DefaultTrainConfig()
	c.Settings = append(Settings{{"num_domains", strconv.Itoa(k)}}, extra...)
	return c
}

// synthBatch draws a separable multi-domain task: live faces are smooth horizontal stripes
// with a pseudo-depth blob, attacks a fine checkerboard with zero depth; every domain shifts
// brightness and contrast, and every sample gets noise.
func synthBatch(r *rand.Rand, k, b, s int) *Batch {
	f := s / 8
	n := k * 2 * b
	bt := &Batch{NumDomains: k, PerClass: b, Size: s, Images: make([]float32, n*6*s*s),
		Depth: make([]float32, n*f*f), Labels: make([]int64, n)}
	for d := 0; d < k; d++ {
		shift, gain := 0.3*float64(d)-0.3, 0.6+0.2*float64(d)
		for i := 0; i < 2*b; i++ {
			idx := d*2*b + i
			live := i < b
			if !live {
				bt.Labels[idx] = 1
			}
			phase := r.Float64() * 2 * math.Pi
			img := bt.Images[idx*6*s*s : (idx+1)*6*s*s]
			for c := 0; c < 6; c++ {
				for y := 0; y < s; y++ {
					for x := 0; x < s; x++ {
						var v float64
						if live {
							v = math.Sin(float64(y)*0.4 + phase + float64(c))
						} else if (x+y)%2 == 0 {
							v = 0.8
						} else {
							v = -0.8
						}
						img[(c*s+y)*s+x] = float32(gain*v + shift + 0.2*r.NormFloat64())
					}
				}
			}
			if live {
				dep := bt.Depth[idx*f*f : (idx+1)*f*f]
				for y := 0; y < f; y++ {
					for x := 0; x < f; x++ {
						dy, dx := float64(y)-float64(f-1)/2, float64(x)-float64(f-1)/2
						dep[y*f+x] = float32(math.Exp(-(dx*dx + dy*dy) / float64(f)))
					}
				}
			}
		}
	}
	return bt
}

// newTrainer builds a trainer on a network of input size 32 and width 0.1 (tests of
// bookkeeping) or 0.25 (tests of learning).
func newTrainer(t testing.TB, modelSeed uint64, cfg TrainConfig, width ...float64) (*Model, *Trainer) {
	t.Helper()
	w := 0.1
	if len(width) > 0 {
		w = width[0]
	}
	m, err := NewModel(Config{Method: "anrl", Size: 32, Settings: Settings{{"width", fmt.Sprint(w)}}, Seed: modelSeed})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m, cfg)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close(); m.Close() })
	return m, tr
}

// run takes n steps on batches drawn from a generator seeded with dataSeed, skipping the
// first skip batches (so that a resumed run sees what the uninterrupted one saw).
func run(t testing.TB, tr *Trainer, dataSeed int64, skip, n int) []StepResult {
	t.Helper()
	r := rand.New(rand.NewSource(dataSeed))
	var out []StepResult
	for i := 0; i < skip+n; i++ {
		b := synthBatch(r, 3, 2, 32)
		if i < skip {
			continue
		}
		if i == 3 {
			if err := tr.EpochBegin(2); err != nil { // an epoch boundary
				t.Fatal(err)
			}
		}
		s, err := tr.Step(b.views(), 1e-3)
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		out = append(out, s)
	}
	return out
}

func stateBytes(t testing.TB, tr *Trainer) map[string][]byte {
	t.Helper()
	st, err := tr.State()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, x := range st {
		out[x.Name] = x.Data
	}
	return out
}

func TestTrainerSameSeedSameRun(t *testing.T) {
	cfg := anrlTraining(3)
	cfg.Seed = 3
	_, a := newTrainer(t, 7, cfg)
	_, b := newTrainer(t, 7, cfg)
	sa, sb := run(t, a, 1, 0, 20), run(t, b, 1, 0, 20)
	if !reflect.DeepEqual(sa, sb) {
		t.Fatalf("same seeds, different figures:\n%+v\n%+v", sa[len(sa)-1], sb[len(sb)-1])
	}
	if !reflect.DeepEqual(stateBytes(t, a), stateBytes(t, b)) {
		t.Fatal("same seeds, different final state")
	}
	orders := map[string]bool{}
	for i, s := range sa {
		if s.Step != int64(i+1) {
			t.Errorf("step %d reports step %d", i+1, s.Step)
		}
		orders[fmt.Sprint(s.Ints["domain_order"])] = true
	}
	if len(orders) < 3 {
		t.Errorf("20 steps drew only %d distinct domain orders: %v", len(orders), orders)
	}
	cfg.Seed = 4
	_, c := newTrainer(t, 7, cfg)
	if sc := run(t, c, 1, 0, 3); reflect.DeepEqual(sc[0].Ints["domain_order"], sa[0].Ints["domain_order"]) &&
		reflect.DeepEqual(sc[1].Ints["domain_order"], sa[1].Ints["domain_order"]) && reflect.DeepEqual(sc[2].Ints["domain_order"], sa[2].Ints["domain_order"]) {
		t.Errorf("RNG seeds 3 and 4 drew the same three orders %v %v %v", sc[0].Ints["domain_order"], sc[1].Ints["domain_order"], sc[2].Ints["domain_order"])
	}
}

// A run stopped after 5 steps and resumed from its checkpoint continues bit for bit.
func TestTrainerResumeBitForBit(t *testing.T) {
	for _, opt := range []string{"adam", "sgd"} {
		t.Run(opt, func(t *testing.T) {
			cfg := anrlTraining(3)
			cfg.Optimizer, cfg.Seed, cfg.WeightDecay = opt, 11, 1e-3
			if opt == "sgd" {
				cfg.Momentum, cfg.Nesterov = 0.9, true
			} else {
				cfg.DecoupledWeightDecay = true
			}
			_, full := newTrainer(t, 5, cfg)
			want := run(t, full, 2, 0, 10)

			m1, first := newTrainer(t, 5, cfg)
			got := run(t, first, 2, 0, 5)
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			if err := first.SaveCheckpoint(path, m1.Info(), map[string]string{"epoch": "0"}); err != nil {
				t.Fatal(err)
			}
			first.Close()

			cfg2 := cfg
			cfg2.Seed = 999 // the RNG state comes from the checkpoint
			_, resumed := newTrainer(t, 77, cfg2)
			meta, err := resumed.LoadCheckpoint(path)
			if err != nil {
				t.Fatal(err)
			}
			if meta["epoch"] != "0" || meta["format"] != CheckpointFormat {
				t.Errorf("checkpoint metadata %v", meta)
			}
			got = append(got, run(t, resumed, 2, 5, 5)...)
			if !reflect.DeepEqual(got, want) {
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("step %d differs after resume:\n got %+v\nwant %+v", i+1, got[i], want[i])
					}
				}
			}
			sw, sg := stateBytes(t, full), stateBytes(t, resumed)
			for name, w := range sw {
				if !bytes.Equal(w, sg[name]) {
					t.Errorf("%s differs after resume", name)
				}
			}
			if len(sw) != len(sg) {
				t.Errorf("%d state tensors after resume, %d uninterrupted", len(sg), len(sw))
			}
		})
	}
}

func TestTrainerStateNames(t *testing.T) {
	for _, c := range []struct {
		opt      string
		momentum float64
		moments  []string
	}{{"adam", 0, []string{".exp_avg", ".exp_avg_sq"}}, {"sgd", 0.9, []string{".momentum_buffer"}}, {"sgd", 0, nil}} {
		cfg := anrlTraining(4)
		cfg.Optimizer, cfg.Momentum = c.opt, c.momentum
		m, tr := newTrainer(t, 1, cfg)
		st, err := tr.State()
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]StateTensor{}
		for _, x := range st {
			names[x.Name] = x
		}
		ms, _ := m.State()
		for _, x := range ms {
			if y, ok := names["model."+x.Name]; !ok || y.IsParam != x.IsParam || !bytes.Equal(y.Data, x.Data) {
				t.Errorf("%s %g: model.%s missing or different", c.opt, c.momentum, x.Name)
			}
			for _, suf := range c.moments {
				if x.IsParam {
					if _, ok := names["optim."+x.Name+suf]; !ok {
						t.Errorf("%s %g: optim.%s%s missing", c.opt, c.momentum, x.Name, suf)
					}
				}
			}
		}
		C := int64(3 * 13) // 3 * round(128 * 0.1)
		for _, n := range []string{"centers.real", "centers.fake"} {
			x, ok := names[n]
			if !ok || !reflect.DeepEqual(x.Shape, []int64{4, C}) {
				t.Fatalf("%s: %+v, want shape [4 %d]", n, x.Shape, C)
			}
			v, _ := x.Float64()
			for _, e := range v {
				if e != 1 {
					t.Fatalf("%s starts with %g, want all ones", n, e)
				}
			}
		}
		if x, ok := names["state.step"]; !ok || x.DType != safetensors.I64 {
			t.Errorf("state.step missing or not I64")
		}
		if x, ok := names["rng.cpu"]; !ok || x.DType != safetensors.U8 || len(x.Data) == 0 {
			t.Errorf("rng.cpu missing or not U8")
		}
		want := len(ms) + 4
		for _, x := range ms {
			if x.IsParam {
				want += len(c.moments)
			}
		}
		if len(st) != want {
			t.Errorf("%s %g: %d state tensors, want %d", c.opt, c.momentum, len(st), want)
		}
	}
}

// On a separable synthetic task the meta-test loss (the unseen-domain side of every step)
// falls well below where it starts.
func TestTrainerLearnsSeparableTask(t *testing.T) {
	cfg := anrlTraining(3)
	cfg.Seed = 1
	_, tr := newTrainer(t, 2, cfg, 0.25)
	r := rand.New(rand.NewSource(8))
	const steps, window = 24, 4
	var first, last, acc float64
	for i := 0; i < steps; i++ {
		s, err := tr.Step(synthBatch(r, 3, 2, 32).views(), 2e-3)
		if err != nil {
			t.Fatal(err)
		}
		loss, _ := s.Value("meta_test/loss")
		a, _ := s.Value("meta_test/acc")
		if i < window {
			first += loss / window
		}
		if i >= steps-window {
			last += loss / window
			acc += a / window
		}
	}
	t.Logf("meta-test loss %.4f -> %.4f, accuracy %.3f", first, last, acc)
	if !(last < 0.3*first) || acc < 0.9 {
		t.Errorf("meta-test loss %.4f -> %.4f (want below 30%% of the start), accuracy %.3f (want >= 0.9)", first, last, acc)
	}
}

func TestTrainerRejectsBadInput(t *testing.T) {
	cfg := anrlTraining(3)
	_, tr := newTrainer(t, 1, cfg)
	good := func() *Batch { return synthBatch(rand.New(rand.NewSource(1)), 3, 2, 32) }
	before := stateBytes(t, tr)
	cases := []struct {
		name string
		mod  func(b *Batch)
		want error
		msg  string
	}{
		{"domain count", func(b *Batch) { *b = *synthBatch(rand.New(rand.NewSource(1)), 2, 2, 32) }, ErrInvalidArgument, "with K = 3"},
		{"empty batch", func(b *Batch) { b.PerClass, b.Images, b.Depth, b.Labels = 0, nil, nil, nil }, ErrInvalidArgument, "images are [0, 6, 32, 32]"},
		{"NaN image", func(b *Batch) { b.Images[5*6*32*32+17] = float32(math.NaN()) }, ErrNonFinite, "batch images holds 1"},
		{"Inf depth", func(b *Batch) { b.Depth[3] = float32(math.Inf(1)) }, ErrNonFinite, "batch depth holds 1"},
		{"short images", func(b *Batch) { b.Images = b.Images[:len(b.Images)-1] }, ErrInvalidArgument, `"images" has 73727 values`},
		{"wrong size", func(b *Batch) { *b = *synthBatch(rand.New(rand.NewSource(1)), 3, 2, 40) }, ErrInvalidArgument, "want 2B x 6 x 32 x 32"},
		{"label 2", func(b *Batch) { b.Labels[6] = 2 }, ErrInvalidArgument, "domain 1: label of sample 2 is 2"},
		{"swapped labels", func(b *Batch) { b.Labels[0], b.Labels[3] = 1, 0 }, ErrInvalidArgument, "domain 0: label of sample 0"},
		{"order not a permutation", func(b *Batch) { b.DomainOrder = []int{0, 0, 1} }, ErrInvalidArgument, "permutation"},
		{"order out of range", func(b *Batch) { b.DomainOrder = []int{0, 1, 3} }, ErrInvalidArgument, "permutation"},
	}
	for _, c := range cases {
		b := good()
		c.mod(b)
		_, err := tr.Step(b.views(), 1e-3)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %v mentioning %q", c.name, err, c.want, c.msg)
		}
	}
	if _, err := tr.Step(good().views(), math.NaN()); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NaN learning rate: %v", err)
	}
	if !reflect.DeepEqual(before, stateBytes(t, tr)) {
		t.Error("a rejected step changed the training state")
	}
	// A loss that overflows is reported and leaves the state alone.
	huge := good()
	for i := range huge.Depth {
		huge.Depth[i] = 3e38
	}
	if _, err := tr.Step(huge.views(), 1e-3); !errors.Is(err, ErrNonFinite) {
		t.Errorf("overflowing loss: err = %v, want ErrNonFinite", err)
	}
	if !reflect.DeepEqual(before, stateBytes(t, tr)) {
		t.Error("a step with a non-finite loss changed the training state")
	}
	if _, err := tr.Step(good().views(), 1e-3); err != nil {
		t.Errorf("a good step after the rejected ones: %v", err)
	}
}

func TestTrainerConfigErrors(t *testing.T) {
	m := small(t, "1layer")
	for _, c := range []struct {
		name string
		cfg  TrainConfig
		msg  string
	}{
		{"metasize = K", anrlTraining(3, Setting{"metasize", "3"}), "metasize 3"},
		{"one domain", anrlTraining(1), "num_domains 1"},
		{"no domains", DefaultTrainConfig(), "num_domains 0"},
		{"unknown setting", anrlTraining(3, Setting{"metasise", "1"}), "unknown setting metasise"},
		{"setting not a number", anrlTraining(3, Setting{"w_cls", "one"}), `w_cls = "one" is not a finite number`},
		{"optimizer", func() TrainConfig { c := anrlTraining(3); c.Optimizer = "lion"; return c }(), "lion"},
		{"nesterov without momentum", func() TrainConfig { c := anrlTraining(3); c.Optimizer, c.Nesterov = "sgd", true; return c }(), "nesterov"},
		{"NaN alpha", anrlTraining(3, Setting{"meta_step_size", "nan"}), "meta_step_size"},
		{"momentum > 1", anrlTraining(3, Setting{"center_momentum", "1.5"}), "center_momentum"},
		{"center reset", anrlTraining(3, Setting{"center_reset", "weekly"}), "center_reset"},
		{"beta2", func() TrainConfig { c := anrlTraining(3); c.Beta2 = 1; return c }(), "beta2"},
	} {
		tr, err := NewTrainer(m, c.cfg)
		if err == nil {
			tr.Close()
		}
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want an invalid-argument error mentioning %q", c.name, err, c.msg)
		}
	}
}

func TestTrainerImportErrors(t *testing.T) {
	_, tr := newTrainer(t, 1, anrlTraining(3))
	st, err := tr.State()
	if err != nil {
		t.Fatal(err)
	}
	before := stateBytes(t, tr)
	var ts []safetensors.Tensor
	for _, x := range st {
		switch x.Name {
		case "centers.fake": // dropped
		case "centers.real":
			x.Shape = []int64{x.Shape[0] * x.Shape[1]}
			ts = append(ts, x.Tensor)
		default:
			ts = append(ts, x.Tensor)
		}
	}
	ts = append(ts, safetensors.FromInt64("state.bogus", []int64{1}, []int64{1}))
	err = tr.Import(ts)
	for _, want := range []string{"centers.fake: missing", "centers.real: shape", "state.bogus: not part", "3 problems"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("import error %v does not mention %q", err, want)
		}
	}
	if !reflect.DeepEqual(before, stateBytes(t, tr)) {
		t.Error("a failed import changed the state")
	}
	if _, err := tr.LoadCheckpoint(filepath.Join(t.TempDir(), "absent.safetensors")); err == nil {
		t.Error("loading a missing checkpoint succeeded")
	}
}

func TestTrainerOutlivesModelHandle(t *testing.T) {
	m := small(t, "clamp")
	tr, err := NewTrainer(m, anrlTraining(3))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	m.Close()
	b := synthBatch(rand.New(rand.NewSource(3)), 3, 2, 32)
	if _, err := tr.Step(b.views(), 1e-3); err != nil {
		t.Fatalf("step after the model handle was closed: %v", err)
	}
	tr.Close()
	if _, err := tr.Step(b.views(), 1e-3); !errors.Is(err, ErrClosed) {
		t.Errorf("step on a closed trainer: %v", err)
	}
}

func benchmarkStep(b *testing.B, s int, width float64) {
	m, err := NewModel(Config{Method: "anrl", Size: s, Settings: Settings{{"width", fmt.Sprint(width)}}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	tr, err := NewTrainer(m, anrlTraining(3))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	const per = 5 // the spec's B
	batch := synthBatch(rand.New(rand.NewSource(1)), 3, per, s)
	if _, err := tr.Step(batch.views(), 1e-4); err != nil { // warm-up
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tr.Step(batch.views(), 1e-4); err != nil {
			b.Fatal(err)
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "steps/s")
	b.ReportMetric(float64(b.N*3*2*per)/sec, "images/s")
}

func BenchmarkTrainStepS32W025(b *testing.B) { benchmarkStep(b, 32, 0.25) }
func BenchmarkTrainStepS64W025(b *testing.B) { benchmarkStep(b, 64, 0.25) }

// Steps, eval-mode forwards, state exports and a Close from several goroutines at once:
// every call either completes or reports ErrClosed.
func TestTrainerConcurrentUse(t *testing.T) {
	m, tr := newTrainer(t, 1, anrlTraining(3))
	b := synthBatch(rand.New(rand.NewSource(4)), 3, 2, 32)
	x := randInput(2, 32, 1)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				var err error
				switch g {
				case 0:
					_, err = tr.Step(b.views(), 1e-3)
				case 1:
					_, err = m.Forward(x, 2, 32, false)
				case 2:
					_, err = tr.State()
				}
				if err != nil && !errors.Is(err, ErrClosed) {
					errs <- err
				}
			}
		}(g)
	}
	tr.Close() // may land anywhere among the calls above
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := tr.Step(b.views(), 1e-3); !errors.Is(err, ErrClosed) {
		t.Errorf("step after Close: %v", err)
	}
}
