package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() {
	register("model", modelSummaryCommand, modelInitCommand, modelForwardCommand)
}

// netFlags describe a network to build.
func netFlags(sizeRequired bool) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "method", Value: "anrl", Usage: "method (" + strings.Join(method.Names(), ", ") + ")"},
		&cli.IntFlag{Name: "size", Value: 256, Required: sizeRequired,
			Usage: "input size S: a multiple of 8, at least 32 (the classifier max-pools F = S/8 twice)"},
		&cli.Float64Flag{Name: "width", Value: 1, Usage: "channel-width multiplier of the backbone (1 = the paper's network)"},
		&cli.StringFlag{Name: "gate", Value: "1layer", Usage: "AdaNorm gate 1layer (paper), 2layer or clamp (anrl; fghv: given, it switches AdaNorm on)"},
		&cli.StringSliceFlag{Name: "setting", Usage: "a model setting of the method, KEY=VALUE (repeatable; replaces the default of KEY, e.g. fghv: hypotheses=8, adanorm=true)"},
	}
}

// netConfig is the network the flags describe, built through the method's own mapping of
// a config so that the CLI and training agree.
func netConfig(c *cli.Context) (shim.Config, error) {
	threads, err := cliThreads(c)
	if err != nil {
		return shim.Config{}, err
	}
	cfg := config.Default()
	cfg.Method, cfg.Transform.ImageSize, cfg.Model.Width, cfg.ANRL.Gate = c.String("method"), c.Int("size"), c.Float64("width"), c.String("gate")
	if c.IsSet("gate") {
		cfg.FGHV.Backbone.AdaNorm, cfg.FGHV.Backbone.Gate = true, c.String("gate")
	}
	mc, err := method.ModelConfig(cfg, threads)
	if err != nil {
		return shim.Config{}, err
	}
	mc.Seed = c.Uint64("seed")
	for _, kv := range c.StringSlice("setting") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return shim.Config{}, fmt.Errorf("--setting %q: want KEY=VALUE", kv)
		}
		replaced := false
		for i := range mc.Settings {
			if mc.Settings[i].Key == k {
				mc.Settings[i].Value, replaced = v, true
			}
		}
		if !replaced {
			mc.Settings = append(mc.Settings, shim.Setting{Key: k, Value: v})
		}
	}
	return mc, nil
}

func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", c.Command.FullName(), c.Args().Slice())
	}
	return nil
}

// newModel builds the network the flags describe.
func newModel(c *cli.Context, op string) (*shim.Model, error) {
	if err := noArgs(c); err != nil {
		return nil, err
	}
	mc, err := netConfig(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	m, err := shim.NewModel(mc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return m, nil
}

func modelSummaryCommand() *cli.Command {
	return &cli.Command{
		Name:  "summary",
		Usage: "print the parameters of each module of a network",
		Flags: append(netFlags(false), threadsFlag()),
		Action: func(c *cli.Context) error {
			m, err := newModel(c, "model summary")
			if err != nil {
				return err
			}
			defer m.Close()
			return printSummary(c, m)
		},
	}
}

func printSummary(c *cli.Context, m *shim.Model) error {
	st, err := m.State()
	if err != nil {
		return err
	}
	info := m.Info()
	me, err := method.Get(info.Method)
	if err != nil {
		return err
	}
	type row struct {
		params, tensors, buffers int64
	}
	rows := map[string]*row{}
	var order []string
	for _, t := range st {
		g := me.SummaryGroup(t.Name)
		if rows[g] == nil {
			rows[g] = &row{}
			order = append(order, g)
		}
		if t.IsParam {
			rows[g].params += t.Numel()
			rows[g].tensors++
		} else {
			rows[g].buffers++
		}
	}
	fmt.Fprintf(c.App.Writer, "%s network: size %d, %s, outputs %s\n\n",
		info.Method, info.Size, info.Settings, strings.Join(info.Outputs, ", "))
	w := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "module\tparameters\tparam tensors\tbuffers\t")
	var total row
	for _, g := range order {
		r := rows[g]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t\n", g, r.params, r.tensors, r.buffers)
		total.params += r.params
		total.tensors += r.tensors
		total.buffers += r.buffers
	}
	fmt.Fprintf(w, "total\t%d\t%d\t%d\t\n", total.params, total.tensors, total.buffers)
	if total.params != info.NumParams || total.tensors != info.NumParamTensors {
		return fmt.Errorf("model summary: state holds %d parameters in %d tensors, the shim reports %d in %d",
			total.params, total.tensors, info.NumParams, info.NumParamTensors)
	}
	return w.Flush()
}

func modelInitCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "initialise a network (the spec's seeded initialisation) and save it as safetensors",
		Flags: append(netFlags(true),
			noDefault(&cli.Uint64Flag{Name: "seed", Required: true, Usage: "initialisation seed"}),
			&cli.StringFlag{Name: "out", Required: true, Usage: "weights file to write (.safetensors)"},
			threadsFlag()),
		Action: func(c *cli.Context) error {
			m, err := newModel(c, "model init")
			if err != nil {
				return err
			}
			defer m.Close()
			if err := model.Save(m, c.String("out"), map[string]string{"seed": c.String("seed")}); err != nil {
				return fmt.Errorf("model init: %w", err)
			}
			i := m.Info()
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %s size %d %s, %d parameters in %d tensors (%d with buffers)\n",
				c.String("out"), i.Method, i.Size, i.Settings, i.NumParams, i.NumParamTensors, i.NumTensors)
			return err
		},
	}
}

func modelForwardCommand() *cli.Command {
	return &cli.Command{
		Name:  "forward",
		Usage: "run a network on the tensor \"input\" of a safetensors file",
		Description: "Reads input (N x 6 x S x S, F32 or F64; minifasnet: N x 3 x S x S, B, G, R 0..255), given to the\n" +
			"network at the weights' precision, and writes every named output of the method in the weights' precision\n" +
			"(F32, or F64 for F64 weights) (anrl: logits N x 2, depth N x F x F, features N x C x F x F, F = S/8;\n" +
			"minifasnet: logits, probs N x 3; fghv: feature, depth,\n" +
			"corr_real, corr_attack, space_score, corr_spread, kl_before, kl_real, kl_attack, delta_kl,\n" +
			"fused_score, see docs/fghv.md) and the attack score \"score\" (N, F64); --seed seeds the\n" +
			"stochastic outputs and the score alike. The method and its settings come from the weights' metadata and shapes\n" +
			"(a training-state file works too); for a file without a recorded size, S is the input's.\n" +
			"--train normalises with batch statistics (N >= 2); the weights file is never written.\n" +
			"Make an input from a data set with `fas data dump` (its file holds the tensor \"input\").",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "weights", Required: true, Usage: "weights file (.safetensors)"},
			&cli.StringFlag{Name: "input", Required: true, Usage: "file holding the tensor \"input\""},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output file (.safetensors)"},
			&cli.BoolFlag{Name: "train", Usage: "training-mode forward (batch statistics)"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "seed of a stochastic method's draws (fghv's latents), for the outputs and the score"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu, cuda or cuda:N"},
			threadsFlag(),
		},
		Action: runForward,
	}
}

func runForward(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	threads, err := cliThreads(c)
	if err != nil {
		return err
	}
	x, n, s, err := readInput(c.String("input"))
	if err != nil {
		return fmt.Errorf("model forward: %w", err)
	}
	m, meta, err := model.Load(c.String("weights"), model.Options{Size: s, Device: c.String("device"), Threads: threads})
	if err != nil {
		return fmt.Errorf("model forward: %w", err)
	}
	defer m.Close()
	ts, err := m.ForwardView(x, c.Bool("train"), c.Uint64("seed"))
	if err != nil {
		return fmt.Errorf("model forward: %s: %w", c.String("input"), err)
	}
	mode := map[bool]string{false: "eval", true: "train"}[c.Bool("train")]
	if !c.Bool("train") { // a train-mode forward changed the statistics the score would use
		scores := make([]float64, n)
		if err := m.ScoreView(x, shim.ScoreOptions{Seed: c.Uint64("seed")}, scores); err != nil {
			return fmt.Errorf("model forward: %s: %w", c.String("input"), err)
		}
		ts = append(ts, safetensors.FromFloat64("score", []int64{int64(n)}, scores))
	}
	md := map[string]string{"mode": mode, "method": meta.Method, "size": fmt.Sprint(meta.Size)}
	for _, kv := range m.Info().Settings {
		md[kv.Key] = kv.Value
	}
	if err := safetensors.Write(c.String("out"), ts, md); err != nil {
		return fmt.Errorf("model forward: %w", err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %s forward of %d images at S=%d\n", c.String("out"), mode, n, s)
	return err
}

// readInput reads the tensor "input" (N x 6 x S x S, or N x 3 x S x S for minifasnet; F32 or
// F64), or the "image" (6 x S x S) that `fas data dump` writes, as a batch of one, as a view in
// the file's own dtype (the shim converts it to the model's, so an F64 model gets F64 input
// unrounded).
func readInput(path string) (shim.View, int, int, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return shim.View{}, 0, 0, err
	}
	t, ok := f.Get("input")
	if !ok {
		img, isDump := f.Get("image")
		if !isDump {
			names := f.Names()
			sort.Strings(names)
			return shim.View{}, 0, 0, fmt.Errorf("%s: no tensor named \"input\" (N x 6 x S x S) or \"image\" (6 x S x S, from fas data dump); it has %q", path, names)
		}
		one := *img
		one.Shape = append([]int64{1}, img.Shape...)
		t = &one
	}
	sh := t.Shape
	if len(sh) != 4 || sh[0] < 1 || (sh[1] != 6 && sh[1] != 3) || sh[2] != sh[3] || sh[2] < 32 || sh[2]%8 != 0 || sh[2] > 1<<16 {
		return shim.View{}, 0, 0, fmt.Errorf("%s: input has shape %v, want N x 6 x S x S (minifasnet: N x 3 x S x S) with S a multiple of 8, at least 32", path, sh)
	}
	if t.DType != safetensors.F32 && t.DType != safetensors.F64 {
		return shim.View{}, 0, 0, fmt.Errorf("%s: input is %s, want F32 or F64", path, t.DType)
	}
	t.Name = "input"
	x, err := shim.FromFile(t)
	if err != nil {
		return shim.View{}, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return x, int(sh[0]), int(sh[2]), nil
}
