package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/fasgo/fasgo/go/internal/bench"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// sideCmd is the hidden subcommand that measures one fasgo side of a network comparison in
// a process of its own, as each Python run is: every run, on both sides, then starts from a
// fresh process (thread placement, heap, libtorch's caches, the VM's mode at start-up), so
// the medians compare like with like. It prints the JSON line bench.Command reads.
const sideCmd = "side"

// A side's kinds: the meta step of a trainer, or the inference forward (Model.Score).
const (
	kindStep    = "step"
	kindForward = "forward"
)

// fasSide is the fasgo side of a network comparison: a run of this program's side
// subcommand with the bench's width, threads, time and -set settings, plus extra ones.
func (o *options) fasSide(name, kind string, s, batch int, extra ...shim.Setting) bench.Side {
	args := []string{sideCmd, "-kind", kind, "-size", fmt.Sprint(s), "-batch", fmt.Sprint(batch),
		"-threads", fmt.Sprint(o.threads), "-width", fmt.Sprint(o.width), "-min-time", fmt.Sprint(o.minTime)}
	for _, kv := range append(append(shim.Settings{}, o.settings...), extra...) {
		args = append(args, "-set", kv.Key+"="+kv.Value)
	}
	return bench.Command(name, o.self, args...)
}

// sideMain runs the side subcommand and returns the exit status.
func sideMain(args []string) int {
	rate, err := measureSide(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fasbench side:", err)
		return 1
	}
	line, _ := json.Marshal(map[string]float64{"images_per_s": rate})
	fmt.Println(string(line))
	return 0
}

func measureSide(args []string) (float64, error) {
	fs := flag.NewFlagSet("fasbench side", flag.ContinueOnError)
	o := &options{}
	kind := fs.String("kind", "", "step | forward")
	s := fs.Int("size", 0, "input size S")
	batch := fs.Int("batch", 0, "step: B live + B attack per domain; forward: images per call")
	fs.IntVar(&o.threads, "threads", 2, "intra-op threads")
	fs.Float64Var(&o.width, "width", 1, "ANRL width multiplier")
	fs.Float64Var(&o.minTime, "min-time", 3, "seconds measured after one warm-up")
	fs.Var(settingsFlag{&o.settings}, "set", "model setting key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 0, err
	}
	if *s < 8 || *batch < 1 || o.threads < 1 || !(o.width > 0) || o.minTime < 0 {
		return 0, fmt.Errorf("bad sizes: -size %d -batch %d -threads %d -width %g -min-time %g",
			*s, *batch, o.threads, o.width, o.minTime)
	}
	switch *kind {
	case kindStep:
		st, err := newStepper(o, *s, *batch)
		if err != nil {
			return 0, err
		}
		defer st.close()
		return timed(o.minTime, st.n, func() error { _, err := st.tr.Step(st.views, 1e-4); return err })
	case kindForward:
		return measureForward(o, *s, *batch)
	}
	return 0, fmt.Errorf("-kind %q: want %s or %s", *kind, kindStep, kindForward)
}

func measureForward(o *options, s, n int) (float64, error) {
	m, err := o.model(s)
	if err != nil {
		return 0, err
	}
	defer m.Close()
	r := rand.New(rand.NewPCG(2, 2))
	x, scores := make([]float32, n*6*s*s), make([]float64, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return timed(o.minTime, n, func() error { return m.Score(x, n, s, 0, scores) })
}

// model builds the fasgo ANRL with the width and the -set settings (which win; the last of
// a repeated key wins).
func (o *options) model(s int) (*shim.Model, error) {
	set := shim.Settings{{Key: "width", Value: fmt.Sprint(o.width)}}
	for _, kv := range o.settings {
		set = withSetting(set, kv)
	}
	return shim.NewModel(shim.Config{Method: "anrl", Size: s, Threads: o.threads, Seed: 1, Settings: set})
}

func withSetting(set shim.Settings, kv shim.Setting) shim.Settings {
	out := shim.Settings{}
	for _, x := range set {
		if x.Key != kv.Key {
			out = append(out, x)
		}
	}
	return append(out, kv)
}

// stepper is one fasgo model + trainer with a fixed random batch.
type stepper struct {
	m     *shim.Model
	tr    *shim.Trainer
	views []shim.View
	n     int // images per step
}

func newStepper(o *options, s, per int) (*stepper, error) {
	m, err := o.model(s)
	if err != nil {
		return nil, err
	}
	cfg := shim.DefaultTrainConfig()
	cfg.Settings = shim.Settings{{Key: "num_domains", Value: fmt.Sprint(domains)}}
	tr, err := shim.NewTrainer(m, cfg)
	if err != nil {
		m.Close()
		return nil, err
	}
	k, n, f := domains, 2*per, s/8
	r := rand.New(rand.NewPCG(1, 1))
	images, depth, labels := make([]float32, k*n*6*s*s), make([]float32, k*n*f*f), make([]int64, k*n)
	for i := range images {
		images[i] = float32(r.NormFloat64())
	}
	for i := range depth {
		depth[i] = r.Float32()
	}
	for i := range labels {
		labels[i] = int64(i % n / per) // per domain: B live, then B attack
	}
	views := []shim.View{shim.F32("images", []int64{int64(k), int64(n), 6, int64(s), int64(s)}, images),
		shim.F32("depth", []int64{int64(k), int64(n), int64(f), int64(f)}, depth),
		shim.I64("labels", []int64{int64(k), int64(n)}, labels)}
	return &stepper{m, tr, views, k * n}, nil
}

func (st *stepper) close() { st.tr.Close(); st.m.Close() }
