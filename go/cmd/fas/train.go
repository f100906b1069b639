package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/report"
	"github.com/fasgo/fasgo/go/internal/train"
)

func init() { register("", trainCommand()) }

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train a model from a config; Ctrl-C/SIGTERM checkpoint and stop, --resume continues",
		Description: "Runs epochs of domain-balanced meta-learning steps, validates on the held-out source\n" +
			"lists every epoch, keeps the best checkpoint, then evaluates it on the unseen domain.\n" +
			"Everything lands in runs/<name>/ (config, versions, logs, metrics, TensorBoard, checkpoints, eval/).",
		Flags: append(configFlags(),
			&cli.BoolFlag{Name: "resume", Usage: "continue run.name from its latest checkpoint (give --set run.name=NAME)"},
			&cli.BoolFlag{Name: "embed", Usage: "also draw the t-SNE picture of the features in the final evaluation"},
			&cli.BoolFlag{Name: "quiet", Usage: "no console log (the JSON log file is still written)"},
		),
		Action: runTrain,
	}
}

func runTrain(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	if c.Bool("resume") && cfg.Run.Name == "" {
		return fmt.Errorf("--resume needs the run's name: --set run.name=NAME")
	}
	if err := cfg.CheckPaths(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train.Run(ctx, cfg, train.Options{Resume: c.Bool("resume"), Args: os.Args,
		Quiet: c.Bool("quiet"), Embed: c.Bool("embed")})
	if err != nil {
		return err
	}
	out := c.App.Writer
	if res.Interrupted {
		fmt.Fprintf(out, "stopped after step %d; checkpoint written. Continue with:\n  fas train --config %s --set run.name=%s --resume\n",
			res.Steps, c.String("config"), filepath.Base(res.RunDir))
		return nil
	}
	fmt.Fprintf(out, "\nrun: %s (best epoch %d by %s = %.4f)\n\n%s\n", res.RunDir, res.Best.Epoch,
		res.Best.Metric, res.Best.Value, report.Markdown(res.Eval.Test))
	return nil
}
