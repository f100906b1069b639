package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/report"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/train"
)

func init() { register("", evalCommand) }

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "score the val and test lists of a config with a model and write the FAS report",
		Description: "--checkpoint takes a weights file, a training-state file (state.safetensors), a checkpoint\n" +
			"directory, or a run directory (its best checkpoint). The network must be the one the config\n" +
			"describes (method, input size, model settings such as width and gate): a mismatch is an error.\n" +
			"Writes metrics.json, metrics.md, scores.csv and the ROC, DET and histogram plots to --out (and\n" +
			"val/ for the source-domain validation lists); the eval section of the config picks the\n" +
			"protocols, TPR@FPR targets and video- or frame-level metrics.",
		Flags: append(configFlags(),
			&cli.StringFlag{Name: "checkpoint", Aliases: []string{"k"}, Required: true, Usage: "weights file, training-state file, checkpoint dir or run dir"},
			&cli.StringFlag{Name: "out", Usage: "report directory (default: ./eval)"},
			&cli.BoolFlag{Name: "embed", Usage: "also write embed.png, a t-SNE of the pooled features by domain and class"},
			&cli.BoolFlag{Name: "frame-level", Usage: "metrics on frames instead of video means (as eval.video_level: false)"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress output"},
			threadsFlag(),
		),
		Action: runEval,
	}
}

func runEval(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if err := cfg.CheckPaths(); err != nil {
		return err
	}
	weights, err := resolveWeights(c.String("checkpoint"))
	if err != nil {
		return err
	}
	m, meta, err := model.Load(weights, model.Options{Size: cfg.Transform.ImageSize, Device: cfg.Run.Device, Threads: cfg.Run.Threads})
	if err != nil {
		return err
	}
	defer m.Close()
	if err := checkWeights(weights, meta, cfg); err != nil {
		return err
	}
	data, err := eval.OpenData(cfg)
	if err != nil {
		return err
	}
	defer data.Close()
	out := c.String("out")
	if out == "" {
		out = "eval"
	}
	o := eval.OptionsFromConfig(cfg)
	o.OutDir, o.Embed = out, c.Bool("embed")
	o.FrameLevel = o.FrameLevel || c.Bool("frame-level")
	o.Score = eval.ScoreOptions{BatchSize: cfg.Test.BatchSize, Seed: uint64(cfg.Seed)}
	if !c.Bool("quiet") {
		o.Score.Progress = evalProgress(c, len(data.Val.Entries)+len(data.Test.Entries))
	}
	res, err := eval.Run(c.Context, m, data, o)
	if err != nil {
		return err
	}
	prov, err := eval.NewProvenance(m, weights, 0)
	if err == nil {
		err = eval.WriteProvenance(out, prov)
	}
	if err != nil {
		return fmt.Errorf("report %s: %w", out, err)
	}
	fmt.Fprintf(c.App.Writer, "%s\n", report.Markdown(res.Test))
	if t := eval.PartsMarkdown(res); t != "" {
		fmt.Fprintf(c.App.Writer, "%s\n", t)
	}
	fmt.Fprintf(c.App.Writer, "report: %s\n", out)
	return nil
}

// checkWeights refuses weights of another network than the config's: method, input size and
// every model setting the config determines.
func checkWeights(path string, meta model.Meta, cfg *config.Config) error {
	methodName, size := cfg.Method, cfg.Transform.ImageSize
	var bad []string
	if meta.Method != methodName {
		bad = append(bad, fmt.Sprintf("method: %s, the config says %s", meta.Method, methodName))
	} else {
		me, err := method.Get(methodName)
		if err != nil {
			return err
		}
		bad = append(bad, method.Mismatch(meta.Settings, me.ModelSettings(cfg))...)
	}
	if meta.Size != size {
		bad = append(bad, fmt.Sprintf("input size: %d, the config's transform.image_size is %d", meta.Size, size))
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s holds another network than the config describes:\n  %s\n(give the config it was trained with, or fix model.width, the method section or transform.image_size)",
			path, strings.Join(bad, "\n  "))
	}
	return nil
}

// evalProgress reports scored frames on stderr (a log line every 10 % of them).
func evalProgress(c *cli.Context, total int) func(int) {
	done, next := 0, 0
	return func(n int) {
		done += n
		if done >= next || done == total {
			fmt.Fprintf(c.App.ErrWriter, "scored %d/%d frames\n", done, total)
			next = done + max(1, total/10)
		}
	}
}

// resolveWeights finds the weights file a --checkpoint argument names.
func resolveWeights(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("--checkpoint: %w", err)
	}
	if !st.IsDir() {
		return p, nil
	}
	if f := filepath.Join(p, train.WeightsFile); exists(f) {
		return f, nil
	}
	for _, dir := range []string{filepath.Join(p, "ckpt"), p} {
		if _, ck, ok, err := runinfo.ReadBest(dir); err == nil && ok {
			return filepath.Join(ck.Dir, train.WeightsFile), nil
		}
	}
	return "", fmt.Errorf("--checkpoint %s: no %s and no best checkpoint there", p, train.WeightsFile)
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
