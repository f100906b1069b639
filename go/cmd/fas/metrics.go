package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/report"
)

func init() { register("", metricsCommand) }

func metricsCommand() *cli.Command {
	return &cli.Command{
		Name:  "metrics",
		Usage: "compute AUC, EER, APCER, BPCER, ACER/HTER, TPR@FPR from a scores CSV and print JSON",
		Description: "Reads rows video_id,label,score[,attack_type] (label 0 = live, 1 = attack; score = attack\n" +
			"probability; header optional). Frames with the same video_id are averaged unless --frame-level.\n" +
			"Reports the paper protocol (threshold = EER threshold of these scores) and, with\n" +
			"--threshold-from, the realistic protocol (threshold = EER threshold of held-out source scores).\n" +
			"A sample is predicted attack when score >= threshold.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "scores", Usage: "CSV of test scores: video_id,label,score[,attack_type]", Required: true},
			&cli.StringFlag{Name: "threshold-from", Usage: "CSV of held-out source-domain scores; its EER threshold is the realistic threshold"},
			&cli.BoolFlag{Name: "frame-level", Usage: "evaluate every row on its own instead of averaging frames per video"},
			&cli.StringFlag{Name: "report", Usage: "also write metrics.json, metrics.md, scores.csv and PNG plots into this directory"},
		},
		Action: runMetrics,
	}
}

func runMetrics(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("metrics: unexpected arguments %q (use --scores FILE)", c.Args().Slice())
	}
	res, units, err := metrics.EvaluateCSV(c.String("scores"), c.String("threshold-from"), c.Bool("frame-level"))
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if dir := c.String("report"); dir != "" {
		if err := report.Write(dir, res, units); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	js, err := report.JSON(res)
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(js)
	return err
}
