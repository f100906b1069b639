package shim

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

func small(t testing.TB, gate string) *Model {
	t.Helper()
	m, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, gate), Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func anrlSettings(width float64, gate string) Settings {
	s := Settings{{"width", strconv.FormatFloat(width, 'g', -1, 64)}}
	if gate != "" {
		s = append(s, Setting{"gate", gate})
	}
	return s
}

// Output is ANRL's forward as float32 slices.
type Output struct {
	Logits, Depth, Features []float32
}

// fwd runs every output of an ANRL forward.
func fwd(m *Model, x []float32, n, s int, train bool) (*Output, error) {
	ts, err := m.Forward(x, n, s, train)
	if err != nil {
		return nil, err
	}
	if len(ts) != 3 || ts[0].Name != "logits" || ts[1].Name != "depth" || ts[2].Name != "features" {
		return nil, fmt.Errorf("forward returned %d outputs", len(ts))
	}
	o := &Output{}
	for i, dst := range []*[]float32{&o.Logits, &o.Depth, &o.Features} {
		if *dst, err = ts[i].Float32(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func randInput(n, s int, seed int64) []float32 {
	r := rand.New(rand.NewSource(seed))
	x := make([]float32, n*6*s*s)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestVersion(t *testing.T) {
	v, err := Version()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-c", "import torch; print(torch.__version__)").Output()
	if err != nil {
		t.Fatalf("/usr/bin/python3 with torch is needed (run `make deps`): %v", err)
	}
	// Debian's python3-torch reports e.g. 1.13.0a0 for the libtorch 1.13.0 we link.
	if py := strings.TrimSpace(string(out)); !strings.HasPrefix(py, v.Torch) || v.Torch == "" {
		t.Errorf("shim reports libtorch %q, python torch is %q", v.Torch, py)
	}
	if v.Shim == "" || v.Threads < 1 || v.CUDADevices < 0 || (v.CUDAAvailable && v.CUDADevices == 0) {
		t.Errorf("implausible version info %+v", v)
	}
}

func TestSetNumThreads(t *testing.T) {
	v0, _ := Version()
	defer SetNumThreads(v0.Threads)
	if err := SetNumThreads(1); err != nil {
		t.Fatal(err)
	}
	if v, _ := Version(); v.Threads != 1 {
		t.Errorf("threads = %d after SetNumThreads(1)", v.Threads)
	}
	for _, n := range []int{0, -3} {
		if err := SetNumThreads(n); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetNumThreads(%d) = %v, want an invalid-argument error", n, err)
		}
	}
}

// Importing the package changes no process-wide state: in a fresh process whose OpenMP
// default is 1 thread, libtorch still runs 1 thread after the import (an init() that set the
// count would show here).
func TestImportKeepsThreadCount(t *testing.T) {
	if os.Getenv("FAS_SHIM_CHILD") == "threads" {
		v, err := Version()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("threads=%d\n", v.Threads)
		return
	}
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cores to tell the default from every core")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestImportKeepsThreadCount$")
	cmd.Env = append(os.Environ(), "FAS_SHIM_CHILD=threads", "OMP_NUM_THREADS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "threads=1\n") {
		t.Errorf("after importing the package libtorch runs: %s (want threads=1)", out)
	}
}

// Whichever goroutine calls, a model's calls run on its own OS thread (the one its trainers
// share) at its thread count, also when two models of different counts alternate.
func TestModelCallsRunOnTheModelsThread(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 cores to tell two thread counts apart")
	}
	two, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, ""), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer two.Close()
	one, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, ""), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if one.Info().Threads != 1 || two.Info().Threads != 2 {
		t.Fatalf("info threads %d, %d", one.Info().Threads, two.Info().Threads)
	}
	cfg := DefaultTrainConfig()
	cfg.Settings = Settings{{"num_domains", "3"}}
	tr, err := NewTrainer(two, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x := randInput(2, 32, 9)
	// where reports the OS thread and intra-op count a call runs with.
	where := func(m *Model) (tid, threads int) {
		m.run(func() {
			v, _ := Version()
			tid, threads = syscall.Gettid(), v.Threads
		})
		return
	}
	tidTwo, _ := where(two)
	tidOne, _ := where(one)
	if tidOne == tidTwo {
		t.Fatalf("both models run on thread %d", tidOne)
	}
	var trainerTid int
	tr.run(func() { trainerTid = syscall.Gettid() })
	if trainerTid != tidTwo {
		t.Errorf("the trainer runs on thread %d, its model on %d", trainerTid, tidTwo)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range []struct {
				m         *Model
				tid, want int
			}{{two, tidTwo, 2}, {one, tidOne, 1}, {two, tidTwo, 2}} {
				if _, err := fwd(c.m, x, 2, 32, false); err != nil {
					t.Error(err)
				}
				if tid, n := where(c.m); tid != c.tid || n != c.want {
					t.Errorf("a call of the %d-thread model ran on thread %d with %d intra-op threads, want %d with %d",
						c.want, tid, n, c.tid, c.want)
				}
			}
		}()
	}
	wg.Wait()
}

func TestModelInfo(t *testing.T) {
	m, err := NewModel(Config{Method: "anrl", Size: 256, Settings: anrlSettings(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	i := m.Info()
	// 4,390,909 parameters in 106 tensors: the count of the reference network, which
	// TestStateMatchesPython checks name by name against an independent PyTorch model.
	if i.NumParams != 4390909 || i.NumParamTensors != 106 || i.NumTensors != 154 {
		t.Errorf("params %d in %d tensors (%d with buffers), want 4390909 in 106 (154)", i.NumParams, i.NumParamTensors, i.NumTensors)
	}
	if i.Method != "anrl" || i.Device != "cpu" || i.Size != 256 || i.DType != safetensors.F32 ||
		i.Settings.String() != "width=1 gate=1layer adanorm_impl=fused" || fmt.Sprint(i.Outputs) != "[logits depth features]" ||
		i.Threads != DefaultThreads() {
		t.Errorf("info %+v", i)
	}
}

func TestNewModelErrors(t *testing.T) {
	ok := Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, "")}
	cases := map[string]func(c *Config){
		"size not a multiple of 8": func(c *Config) { c.Size = 36 },
		"size below 32":            func(c *Config) { c.Size = 24 },
		"negative size":            func(c *Config) { c.Size = -8 },
		"zero width":               func(c *Config) { c.Settings = anrlSettings(0, "") },
		"NaN width":                func(c *Config) { c.Settings = anrlSettings(math.NaN(), "") },
		"unknown gate":             func(c *Config) { c.Settings = anrlSettings(1, "3layer") },
		"unknown setting":          func(c *Config) { c.Settings = Settings{{"wdith", "1"}} },
		"negative threads":         func(c *Config) { c.Threads = -2 },
		"unknown method":           func(c *Config) { c.Method = "fghv2" },
		"empty method":             func(c *Config) { c.Method = "" },
		"integer dtype":            func(c *Config) { c.DType = safetensors.I64 },
		"unknown dtype":            func(c *Config) { c.DType = "F8" },
		"unknown device":           func(c *Config) { c.Device = "tpu" },
		"absent cuda device":       func(c *Config) { c.Device = "cuda:97" },
		"bad cuda index":           func(c *Config) { c.Device = "cuda:x" },
	}
	for name, mut := range cases {
		c := ok
		mut(&c)
		m, err := NewModel(c)
		if err == nil {
			m.Close()
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v is not an invalid-argument error", name, err)
		}
	}
}

func TestForwardShapesAndDeterminism(t *testing.T) {
	for _, gate := range []string{"1layer", "2layer", "clamp"} {
		m := small(t, gate)
		x := randInput(3, 40, 1)
		a, err := fwd(m, x, 3, 40, false)
		if err != nil {
			t.Fatal(gate, err)
		}
		c := 3 * 32 // 3 * round(128 * 0.25)
		if len(a.Logits) != 6 || len(a.Depth) != 3*25 || len(a.Features) != 3*c*25 {
			t.Fatalf("%s: output lengths %d %d %d", gate, len(a.Logits), len(a.Depth), len(a.Features))
		}
		b, err := fwd(m, x, 3, 40, false)
		if err != nil {
			t.Fatal(err)
		}
		if !equal(a.Logits, b.Logits) || !equal(a.Depth, b.Depth) || !equal(a.Features, b.Features) {
			t.Errorf("%s: two eval forwards differ", gate)
		}
		// Asking for some outputs, in any order, returns those.
		part, err := m.Forward(x, 3, 40, false, "depth", "logits")
		if err != nil || len(part) != 2 || part[0].Name != "depth" || part[1].Name != "logits" {
			t.Fatalf("%s: depth+logits forward: %v %v", gate, part, err)
		}
		if l, _ := part[1].Float32(); !equal(l, a.Logits) {
			t.Errorf("%s: logits of a partial forward differ", gate)
		}
		// The score is softmax(logits)[1], computed in double.
		scores := make([]float64, 3)
		if err := m.Score(x, 3, 40, 0, scores); err != nil {
			t.Fatal(err)
		}
		for i, s := range scores {
			if want := 1 / (1 + math.Exp(float64(a.Logits[2*i])-float64(a.Logits[2*i+1]))); math.Abs(s-want) > 1e-15 {
				t.Errorf("%s: score %d = %v, softmax gives %v", gate, i, s, want)
			}
		}
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestForwardErrors(t *testing.T) {
	m := small(t, "1layer")
	x := randInput(2, 32, 2)
	nan := append([]float32(nil), x...)
	nan[77] = float32(math.NaN())
	inf := append([]float32(nil), x...)
	inf[5] = float32(math.Inf(-1))
	cases := []struct {
		name string
		err  error
		call func() error
	}{
		{"short input", ErrInvalidArgument, func() error { _, err := fwd(m, x[:len(x)-1], 2, 32, false); return err }},
		{"S not a multiple of 8", ErrInvalidArgument, func() error { _, err := fwd(m, randInput(1, 36, 1), 1, 36, false); return err }},
		{"S below 32", ErrInvalidArgument, func() error { _, err := fwd(m, randInput(1, 24, 1), 1, 24, false); return err }},
		{"zero batch", ErrInvalidArgument, func() error { _, err := fwd(m, nil, 0, 32, false); return err }},
		{"N=1 in train mode", ErrInvalidArgument, func() error { _, err := fwd(m, x[:len(x)/2], 1, 32, true); return err }},
		{"NaN input", ErrNonFinite, func() error { _, err := fwd(m, nan, 2, 32, false); return err }},
		{"Inf input", ErrNonFinite, func() error { _, err := fwd(m, inf, 2, 32, true); return err }},
		{"unknown output", ErrInvalidArgument, func() error { _, err := m.Forward(x, 2, 32, false, "logit"); return err }},
		{"score slots", ErrInvalidArgument, func() error { return m.Score(x, 2, 32, 0, make([]float64, 3)) }},
		{"NaN scored", ErrNonFinite, func() error { return m.Score(nan, 2, 32, 0, make([]float64, 2)) }},
	}
	for _, c := range cases {
		if err := c.call(); !errors.Is(err, c.err) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.err)
		}
	}
	// A training-mode forward on the NaN batch must not have touched the running statistics.
	before, _ := m.Export()
	fwd(m, nan, 2, 32, true)
	after, _ := m.Export()
	for i := range before {
		if string(before[i].Data) != string(after[i].Data) {
			t.Errorf("%s changed by a rejected forward", before[i].Name)
		}
	}
}

func TestClosedAndNilHandles(t *testing.T) {
	m, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, "")})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := m.Export()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	var nilModel *Model
	for name, mm := range map[string]*Model{"closed": m, "nil": nilModel} {
		if _, err := fwd(mm, randInput(2, 32, 1), 2, 32, false); !errors.Is(err, ErrClosed) {
			t.Errorf("%s model forward: %v", name, err)
		}
		if _, err := mm.Export(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s model export: %v", name, err)
		}
		if err := mm.Import(st); !errors.Is(err, ErrClosed) {
			t.Errorf("%s model import: %v", name, err)
		}
		if err := mm.Close(); err != nil {
			t.Errorf("%s model close: %v", name, err)
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	a := small(t, "2layer")
	b, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, "2layer"), Seed: 99})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	x := randInput(2, 32, 3)
	ya, _ := fwd(a, x, 2, 32, false)
	yb, _ := fwd(b, x, 2, 32, false)
	if equal(ya.Logits, yb.Logits) {
		t.Fatal("different seeds gave identical outputs")
	}
	st, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	var params int64
	for _, s := range st {
		if s.IsParam {
			params += s.Numel()
		}
		if strings.HasSuffix(s.Name, "num_batches_tracked") && (s.DType != safetensors.I64 || len(s.Shape) != 0) {
			t.Errorf("%s: %s %v, want a 0-d I64", s.Name, s.DType, s.Shape)
		}
	}
	if params != a.Info().NumParams || int64(len(st)) != a.Info().NumTensors {
		t.Errorf("state has %d params in %d tensors, info says %d in %d", params, len(st), a.Info().NumParams, a.Info().NumTensors)
	}
	ts, _ := a.Export()
	if err := b.Import(ts); err != nil {
		t.Fatal(err)
	}
	yb, _ = fwd(b, x, 2, 32, false)
	if !equal(ya.Logits, yb.Logits) || !equal(ya.Depth, yb.Depth) || !equal(ya.Features, yb.Features) {
		t.Error("imported model gives other outputs")
	}
}

func TestImportF64Converts(t *testing.T) {
	a := small(t, "clamp")
	ts, _ := a.Export()
	for i := range ts {
		if ts[i].DType != safetensors.F32 {
			continue
		}
		v, _ := ts[i].Float64()
		ts[i] = safetensors.FromFloat64(ts[i].Name, ts[i].Shape, v)
	}
	b, _ := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, "clamp"), Seed: 5})
	defer b.Close()
	if err := b.Import(ts); err != nil {
		t.Fatal(err)
	}
	x := randInput(2, 32, 4)
	ya, _ := fwd(a, x, 2, 32, false)
	yb, _ := fwd(b, x, 2, 32, false)
	if !equal(ya.Logits, yb.Logits) {
		t.Error("F64 state gave other outputs")
	}
}

func TestImportErrorsListEverything(t *testing.T) {
	m := small(t, "1layer")
	good, _ := m.Export()
	x := randInput(2, 32, 5)
	y0, _ := fwd(m, x, 2, 32, false)

	bad := append([]safetensors.Tensor(nil), good...)
	var kept []safetensors.Tensor
	for _, t := range bad {
		if t.Name == "Classifier.fc.bias" || t.Name == "DepthEstmator.conv_block1.BN.running_var" {
			continue // missing
		}
		kept = append(kept, t)
	}
	for i := range kept {
		switch kept[i].Name {
		case "FeatExtractor.inc.conv.weight": // mis-shaped
			kept[i] = safetensors.FromFloat32(kept[i].Name, []int64{16, 6, 3}, make([]float32, 16*18))
		case "Classifier.fc.weight": // wrong dtype
			v := make([]int64, kept[i].Numel())
			kept[i] = safetensors.FromInt64(kept[i].Name, kept[i].Shape, v)
		case "FeatExtractor.inc.BN.num_batches_tracked": // a float counter
			kept[i] = safetensors.FromFloat32(kept[i].Name, nil, []float32{3})
		}
	}
	kept = append(kept, safetensors.FromFloat32("FeatExtractor.extra.weight", []int64{2}, []float32{1, 2}))
	kept = append(kept, kept[3]) // duplicate
	err := m.Import(kept)
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("import of a broken state: %v", err)
	}
	for _, want := range []string{"2 missing", "Classifier.fc.bias", "DepthEstmator.conv_block1.BN.running_var",
		"1 unexpected", "FeatExtractor.extra.weight", "1 duplicate", kept[3].Name,
		"1 mis-shaped", "FeatExtractor.inc.conv.weight [16, 6, 3] (want [16, 6, 3, 3])",
		"2 wrong dtype", "Classifier.fc.weight I64 (want F32)", "FeatExtractor.inc.BN.num_batches_tracked F32 (want I64)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	y1, _ := fwd(m, x, 2, 32, false)
	if !equal(y0.Logits, y1.Logits) {
		t.Error("a failed import changed the model")
	}
	// Bytes that do not match the shape are caught before crossing into C.
	short := append([]safetensors.Tensor(nil), good...)
	short[0].Data = short[0].Data[:4]
	if err := m.Import(short); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("short data: %v", err)
	}
	u16 := append([]safetensors.Tensor(nil), good...)
	u16[0] = safetensors.Tensor{Name: u16[0].Name, DType: safetensors.F16, Shape: []int64{1}, Data: []byte{0, 0}}
	if err := m.Import(u16); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("F16 tensor: %v", err)
	}
}

func TestTrainForwardUpdatesRunningStats(t *testing.T) {
	m := small(t, "1layer")
	x := randInput(4, 32, 6)
	before, _ := m.Export()
	train, err := fwd(m, x, 4, 32, true)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := m.Export()
	eval, _ := fwd(m, x, 4, 32, false)
	if equal(train.Logits, eval.Logits) {
		t.Error("train and eval forwards agree; batch statistics unused?")
	}
	for i := range before {
		n := before[i].Name
		changed := string(before[i].Data) != string(after[i].Data)
		switch {
		case strings.HasSuffix(n, "num_batches_tracked"):
			v0, _ := before[i].Int64()
			v1, _ := after[i].Int64()
			if v1[0] != v0[0]+1 {
				t.Errorf("%s: %d -> %d", n, v0[0], v1[0])
			}
		case strings.HasSuffix(n, "running_mean"), strings.HasSuffix(n, "running_var"):
			if !changed {
				t.Errorf("%s unchanged by a training-mode forward", n)
			}
		default:
			if changed {
				t.Errorf("parameter %s changed by a forward", n)
			}
		}
	}
}

// Eval-mode forwards from many goroutines while another goroutine closes the model: every
// call either succeeds with the right numbers or reports ErrClosed; nothing crashes.
func TestConcurrentForwardAndClose(t *testing.T) {
	m, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, ""), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	x := randInput(2, 32, 7)
	want, err := fwd(m, x, 2, 32, false)
	if err != nil {
		t.Fatal(err)
	}
	// The train-mode forward below moves the running statistics: eval outputs after it
	// are those of a twin that took the same step.
	twin, _ := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, ""), Seed: 3})
	defer twin.Close()
	fwd(twin, x, 2, 32, true)
	want2, err := fwd(twin, x, 2, 32, false)
	if err != nil || equal(want.Logits, want2.Logits) {
		t.Fatalf("twin: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, closed := 0, 0
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				y, err := fwd(m, x, 2, 32, false)
				mu.Lock()
				switch {
				case err == nil && (equal(y.Logits, want.Logits) || equal(y.Logits, want2.Logits)):
					ok++
				case errors.Is(err, ErrClosed):
					closed++
				default:
					t.Errorf("concurrent forward: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		fwd(m, x, 2, 32, true) // a train-mode forward serialises with the eval ones
		m.Close()
	}()
	wg.Wait()
	if ok+closed != 24 {
		t.Errorf("%d ok + %d closed != 24 calls", ok, closed)
	}
	if _, err := fwd(m, x, 2, 32, false); !errors.Is(err, ErrClosed) {
		t.Errorf("forward after close: %v", err)
	}
}

func TestInitStatistics(t *testing.T) {
	m, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(1, "clamp"), Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ts, _ := m.Export()
	for i := range ts {
		tt := &ts[i]
		n := tt.Name
		if tt.DType == safetensors.I64 {
			v, _ := tt.Int64()
			if v[0] != 0 {
				t.Errorf("%s = %d", n, v[0])
			}
			continue
		}
		v, _ := tt.Float64()
		switch {
		case len(tt.Shape) == 4 || n == "Classifier.fc.weight": // Kaiming normal, fan_in
			fanIn := float64(tt.Numel() / tt.Shape[0])
			mean, std := meanStd(v)
			want := math.Sqrt(2 / fanIn)
			if len(v) > 1000 && (math.Abs(std/want-1) > 0.1 || math.Abs(mean) > 4*want/math.Sqrt(float64(len(v)))) {
				t.Errorf("%s: mean %.4g std %.4g, want 0 and %.4g", n, mean, std, want)
			}
		case strings.HasSuffix(n, "conv.bias"):
			w, _ := findTensor(ts, strings.TrimSuffix(n, "bias")+"weight")
			bound := 1 / math.Sqrt(float64(w.Numel()/w.Shape[0]))
			if lo, hi := minMax(v); lo < -bound || hi > bound || (len(v) > 8 && hi-lo < bound) {
				t.Errorf("%s in [%g, %g], want U(-%g, %g)", n, lo, hi, bound, bound)
			}
		case strings.HasSuffix(n, "gate_weight"):
			if lo, hi := minMax(v); lo != 0.5 || hi != 0.5 {
				t.Errorf("%s in [%g, %g], want 0.5", n, lo, hi)
			}
		case strings.HasSuffix(n, "BN.weight"), strings.HasSuffix(n, "IN.weight"), strings.HasSuffix(n, "running_var"):
			if lo, hi := minMax(v); lo != 1 || hi != 1 {
				t.Errorf("%s in [%g, %g], want ones", n, lo, hi)
			}
		default: // norm biases, running means, the fc bias, the unused gate bias
			if lo, hi := minMax(v); lo != 0 || hi != 0 {
				t.Errorf("%s in [%g, %g], want zeros", n, lo, hi)
			}
		}
	}
	// The linear gate nets of the other variants: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
	for _, gate := range []string{"1layer", "2layer"} {
		m := small(t, gate)
		ts, _ := m.Export()
		seen := 0
		for i := range ts {
			if !strings.Contains(ts[i].Name, "AttentionNet") {
				continue
			}
			seen++
			v, _ := ts[i].Float64()
			fanIn := ts[i].Shape[len(ts[i].Shape)-1]
			if len(ts[i].Shape) == 1 { // a bias: its weight's fan_in
				w, _ := findTensor(ts, strings.TrimSuffix(ts[i].Name, "bias")+"weight")
				fanIn = w.Shape[1]
			}
			bound := 1 / math.Sqrt(float64(fanIn))
			if lo, hi := minMax(v); lo < -bound || hi > bound || (len(v) > 8 && hi-lo < bound) {
				t.Errorf("%s in [%g, %g], want U(-%g, %g)", ts[i].Name, lo, hi, bound, bound)
			}
		}
		if seen == 0 {
			t.Errorf("%s: no AttentionNet tensors", gate)
		}
	}
}

func findTensor(ts []safetensors.Tensor, name string) (*safetensors.Tensor, bool) {
	for i := range ts {
		if ts[i].Name == name {
			return &ts[i], true
		}
	}
	return nil, false
}

func meanStd(v []float64) (float64, float64) {
	var s, s2 float64
	for _, x := range v {
		s += x
	}
	mean := s / float64(len(v))
	for _, x := range v {
		s2 += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(s2 / float64(len(v)))
}

func minMax(v []float64) (float64, float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

func benchForward(b *testing.B, s int) {
	m, err := NewModel(Config{Method: "anrl", Size: s, Settings: anrlSettings(1, "")})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	const n = 8
	x := randInput(n, s, 1)
	scores := make([]float64, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Score(x, n, s, 0, scores); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkForwardS64(b *testing.B)  { benchForward(b, 64) }
func BenchmarkForwardS256(b *testing.B) { benchForward(b, 256) }

// A double-precision model with the same weights agrees with the float one.
func TestF64Model(t *testing.T) {
	a := small(t, "2layer")
	b, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, "2layer"), DType: safetensors.F64})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Info().DType != safetensors.F64 {
		t.Fatalf("dtype %s", b.Info().DType)
	}
	ts, _ := a.Export()
	if err := b.Import(ts); err != nil {
		t.Fatal(err)
	}
	st, _ := b.Export()
	if st[0].DType != safetensors.F64 {
		t.Errorf("F64 model exports %s", st[0].DType)
	}
	x := randInput(2, 32, 8)
	ya, _ := fwd(a, x, 2, 32, false)
	yb, err := fwd(b, x, 2, 32, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ya.Features {
		if d := math.Abs(float64(ya.Features[i] - yb.Features[i])); d > 1e-4*math.Max(1, math.Abs(float64(yb.Features[i]))) {
			t.Fatalf("feature %d: F32 %g vs F64 %g", i, ya.Features[i], yb.Features[i])
		}
	}
}

// On a machine with CUDA the network runs there and agrees with the CPU.
func TestCUDAForward(t *testing.T) {
	v, err := Version()
	if err != nil {
		t.Fatal(err)
	}
	if !v.CUDAAvailable {
		t.Skipf("no CUDA device visible to libtorch %s", v.Torch)
	}
	cpu := small(t, "1layer")
	gpu, err := NewModel(Config{Method: "anrl", Size: 32, Settings: anrlSettings(0.25, ""), Device: "cuda"})
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Close()
	ts, _ := cpu.Export()
	if err := gpu.Import(ts); err != nil {
		t.Fatal(err)
	}
	x := randInput(4, 32, 9)
	for _, train := range []bool{false, true} {
		yc, err := fwd(cpu, x, 4, 32, train)
		if err != nil {
			t.Fatal(err)
		}
		yg, err := fwd(gpu, x, 4, 32, train)
		if err != nil {
			t.Fatal(err)
		}
		for i := range yc.Logits {
			if math.Abs(float64(yc.Logits[i]-yg.Logits[i])) > 1e-3 {
				t.Errorf("train=%v logit %d: cpu %g cuda %g", train, i, yc.Logits[i], yg.Logits[i])
			}
		}
	}
}
