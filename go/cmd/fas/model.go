package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() {
	register("model", modelSummaryCommand(), modelInitCommand(), modelForwardCommand())
}

// netFlags describe a network to build.
func netFlags(sizeRequired bool) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "method", Value: "anrl", Usage: "network family (anrl)"},
		&cli.IntFlag{Name: "size", Value: 256, Required: sizeRequired,
			Usage: "input size S: a multiple of 8, at least 32 (the classifier max-pools F = S/8 twice)"},
		&cli.Float64Flag{Name: "width", Value: 1, Usage: "channel-width multiplier (1 = the paper's network)"},
		&cli.StringFlag{Name: "gate", Value: "1layer", Usage: "AdaNorm gate: 1layer (paper), 2layer or clamp"},
	}
}

func netConfig(c *cli.Context) shim.Config {
	return shim.Config{Method: c.String("method"), Size: c.Int("size"), Width: c.Float64("width"),
		Gate: c.String("gate"), Device: c.String("device"), Seed: c.Uint64("seed")}
}

func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", c.Command.FullName(), c.Args().Slice())
	}
	return setupThreads(c)
}

func modelSummaryCommand() *cli.Command {
	return &cli.Command{
		Name:  "summary",
		Usage: "print the parameters of each module of a network",
		Flags: append(netFlags(false), threadsFlag()),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			m, err := shim.NewModel(netConfig(c))
			if err != nil {
				return fmt.Errorf("model summary: %w", err)
			}
			defer m.Close()
			return printSummary(c, m)
		},
	}
}

// summaryGroup names the module a state entry belongs to: FeatExtractor.inc, .down1..3,
// Classifier, DepthEstmator.
func summaryGroup(name string) string {
	parts := strings.SplitN(name, ".", 3)
	if parts[0] == "FeatExtractor" && len(parts) > 2 {
		return parts[0] + "." + parts[1]
	}
	return parts[0]
}

func printSummary(c *cli.Context, m *shim.Model) error {
	st, err := m.State()
	if err != nil {
		return err
	}
	type row struct {
		params, tensors, buffers int64
	}
	rows := map[string]*row{}
	var order []string
	for _, t := range st {
		g := summaryGroup(t.Name)
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
	info := m.Info()
	fmt.Fprintf(c.App.Writer, "%s network: size %d, width %g, gate %s, features %d x %d x %d\n\n",
		info.Method, info.Size, info.Width, info.Gate, info.FeatureChannels, info.FeatureSize(), info.FeatureSize())
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
			&cli.Uint64Flag{Name: "seed", Required: true, Usage: "initialisation seed"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "weights file to write (.safetensors)"},
			threadsFlag()),
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			m, err := shim.NewModel(netConfig(c))
			if err != nil {
				return fmt.Errorf("model init: %w", err)
			}
			defer m.Close()
			if err := model.Save(m, c.String("out"), map[string]string{"seed": c.String("seed")}); err != nil {
				return fmt.Errorf("model init: %w", err)
			}
			i := m.Info()
			_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %s size %d width %g gate %s, %d parameters in %d tensors (%d with buffers)\n",
				c.String("out"), i.Method, i.Size, i.Width, i.Gate, i.NumParams, i.NumParamTensors, i.NumTensors)
			return err
		},
	}
}

func modelForwardCommand() *cli.Command {
	return &cli.Command{
		Name:  "forward",
		Usage: "run a network on the tensor \"input\" of a safetensors file",
		Description: "Reads input (N x 6 x S x S, F32 or F64) and writes logits (N x 2), depth (N x F x F)\n" +
			"and features (N x C x F x F), F = S/8, as F32. Size, width and gate come from the weights'\n" +
			"metadata and shapes; for a file without a recorded size, S is the input's.\n" +
			"--train normalises with batch statistics (N >= 2); the weights file is never written.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "weights", Required: true, Usage: "weights file (.safetensors)"},
			&cli.StringFlag{Name: "input", Required: true, Usage: "file holding the tensor \"input\""},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output file (.safetensors)"},
			&cli.BoolFlag{Name: "train", Usage: "training-mode forward (batch statistics)"},
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
	x, n, s, err := readInput(c.String("input"))
	if err != nil {
		return fmt.Errorf("model forward: %w", err)
	}
	m, meta, err := model.Load(c.String("weights"), model.Options{Size: s, Device: c.String("device")})
	if err != nil {
		return fmt.Errorf("model forward: %w", err)
	}
	defer m.Close()
	out, err := m.Run(x, n, s, c.Bool("train"))
	if err != nil {
		return fmt.Errorf("model forward: %s: %w", c.String("input"), err)
	}
	f, ch := int64(s/8), int64(m.Info().FeatureChannels)
	mode := map[bool]string{false: "eval", true: "train"}[c.Bool("train")]
	ts := []safetensors.Tensor{
		safetensors.FromFloat32("logits", []int64{int64(n), 2}, out.Logits),
		safetensors.FromFloat32("depth", []int64{int64(n), f, f}, out.Depth),
		safetensors.FromFloat32("features", []int64{int64(n), ch, f, f}, out.Features),
	}
	md := map[string]string{"mode": mode, "method": meta.Method, "gate": meta.Gate,
		"size": fmt.Sprint(meta.Size), "width": fmt.Sprint(meta.Width)}
	if err := safetensors.Write(c.String("out"), ts, md); err != nil {
		return fmt.Errorf("model forward: %w", err)
	}
	_, err = fmt.Fprintf(c.App.Writer, "wrote %s: %s forward of %d images at S=%d\n", c.String("out"), mode, n, s)
	return err
}

// readInput reads the tensor "input" (N x 6 x S x S, F32 or F64).
func readInput(path string) ([]float32, int, int, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, 0, 0, err
	}
	t, ok := f.Get("input")
	if !ok {
		names := f.Names()
		sort.Strings(names)
		return nil, 0, 0, fmt.Errorf("%s: no tensor named \"input\" (has %q)", path, names)
	}
	sh := t.Shape
	if len(sh) != 4 || sh[0] < 1 || sh[1] != 6 || sh[2] != sh[3] || sh[2] < 32 || sh[2]%8 != 0 || sh[2] > 1<<16 {
		return nil, 0, 0, fmt.Errorf("%s: input has shape %v, want N x 6 x S x S with S a multiple of 8, at least 32", path, sh)
	}
	if t.DType != safetensors.F32 && t.DType != safetensors.F64 {
		return nil, 0, 0, fmt.Errorf("%s: input is %s, want F32 or F64", path, t.DType)
	}
	x, err := t.Float32()
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return x, int(sh[0]), int(sh[2]), nil
}
