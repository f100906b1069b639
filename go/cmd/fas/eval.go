package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/report"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/train"
)

func init() { register("", evalCommand()) }

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "score the val and test lists of a config with a model and write the FAS report",
		Description: "--checkpoint takes a weights file, a checkpoint directory, or a run directory (its best\n" +
			"checkpoint). Writes metrics.json, metrics.md, scores.csv and the ROC, DET and histogram\n" +
			"plots to --out (and val/ for the source-domain validation lists).",
		Flags: append(configFlags(),
			&cli.StringFlag{Name: "checkpoint", Aliases: []string{"k"}, Required: true, Usage: "weights file, checkpoint dir or run dir"},
			&cli.StringFlag{Name: "out", Usage: "report directory (default: ./eval)"},
			&cli.BoolFlag{Name: "embed", Usage: "also write embed.png, a t-SNE of the pooled features by domain and class"},
			&cli.BoolFlag{Name: "frame-level", Usage: "metrics on frames instead of video means"},
		),
		Action: runEval,
	}
}

func runEval(c *cli.Context) error {
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
	m, meta, err := model.Load(weights, model.Options{Size: cfg.Transform.ImageSize, Device: cfg.Run.Device})
	if err != nil {
		return err
	}
	defer m.Close()
	if meta.Size != 0 && meta.Size != cfg.Transform.ImageSize {
		return fmt.Errorf("%s was trained at size %d but transform.image_size is %d", weights, meta.Size, cfg.Transform.ImageSize)
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
	res, err := eval.Run(c.Context, m, data, eval.Options{OutDir: out, FrameLevel: c.Bool("frame-level"),
		Embed: c.Bool("embed"), Seed: uint64(cfg.Seed),
		Score: eval.ScoreOptions{BatchSize: cfg.Test.BatchSize}})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%s\nreport: %s\n", report.Markdown(res.Test), out)
	return nil
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
