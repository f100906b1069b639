package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/launch"
	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/reproduce"
	"github.com/fasgo/fasgo/go/internal/synth"
)

func init() { register("", reproduceCommand) }

func reproduceCommand() *cli.Command {
	d := synth.DefaultOptions()
	return &cli.Command{
		Name:  "reproduce",
		Usage: "train and evaluate every protocol × seed of a method and write the paper-style table",
		Description: "Runs configs/<method>/<protocol>.yaml for every protocol (O&C&I->M, O&M&I->C, O&C&M->I,\n" +
			"I&C&M->O) on --data (the directory fas pack writes) and --seeds seeds (the config's seed, +1, ...),\n" +
			"each as `fas train` runs it, into OUT/runs/<method>-<protocol>-<grouping>-seed<N>/. Then writes\n" +
			"OUT/results.md and OUT/results.json: HTER (paper threshold: the test set's own EER; realistic:\n" +
			"the source validation EER) and AUC, mean ± std over seeds, next to the published numbers of\n" +
			"--published, each run linked. Finished runs are read back, unfinished ones resumed; a run\n" +
			"directory made with another config is refused. --grouping both runs ANRL under its own batch\n" +
			"grouping and under the released code's (anrl.batch_grouping: tface). --data synth generates\n" +
			"the synthetic benchmark into OUT/synth once and runs its leave-one-domain-out configs.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "method", Required: true, Usage: "anrl or fghv"},
			&cli.StringFlag{Name: "data", Required: true, Usage: "data set directory (fas pack layout), or synth"},
			&cli.StringFlag{Name: "protocols", Value: "all", Usage: "comma-separated protocol names, e.g. OCI2M,ICM2O (synth: lodo_dom3)"},
			&cli.IntFlag{Name: "seeds", Value: 3, Usage: "seeds per protocol"},
			&cli.StringFlag{Name: "grouping", Value: "domain", Usage: "anrl batch grouping: domain, tface or both"},
			&cli.StringFlag{Name: "out", Usage: "results directory (default: reproduce-<method>[-synth])"},
			&cli.StringFlag{Name: "configs", Usage: "protocol config directory (default: configs/<method>)"},
			&cli.StringFlag{Name: "published", Value: filepath.Join("configs", "published.yaml"), Usage: "published numbers (empty: none)"},
			&cli.GenericFlag{Name: "set", Value: &setFlag{}, Usage: "override a key of every run, e.g. --set train.epochs=3 (repeatable)"},
			&cli.IntFlag{Name: "nproc", Usage: "train each run with this many rank processes (the fas train --nproc launcher)"},
			&cli.IntFlag{Name: "synth-subjects", Value: d.Subjects, Usage: "--data synth: subjects per domain"},
			&cli.IntFlag{Name: "synth-frames", Value: d.Frames, Usage: "--data synth: frames per video"},
			&cli.IntFlag{Name: "synth-size", Value: d.Size, Usage: "--data synth: image side in pixels"},
			&cli.BoolFlag{Name: "quiet", Usage: "no console log from the runs (their log files are still written)"},
			threadsFlag(),
		},
		Action: runReproduce,
	}
}

func runReproduce(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	o, err := reproduceOptions(c)
	if err != nil {
		return err
	}
	log, closeLog, err := logging.New(logging.Options{})
	if err != nil {
		return err
	}
	defer closeLog()
	o.Log = log
	if n := c.Int("nproc"); n > 0 {
		o.Train = launchJob(c, n)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := reproduce.Run(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "\n%s\nwrote %s and %s\n", t.Markdown(), filepath.Join(o.Out, reproduce.TableMarkdown),
		filepath.Join(o.Out, reproduce.TableJSON))
	return nil
}

func reproduceOptions(c *cli.Context) (reproduce.Options, error) {
	m := c.String("method")
	o := reproduce.Options{Method: m, Data: c.String("data"), Configs: c.String("configs"),
		Published: c.String("published"), Seeds: c.Int("seeds"), Out: c.String("out"), Sets: cliSets(c),
		Env: os.Environ(), Quiet: c.Bool("quiet")}
	if p := c.String("protocols"); p != "all" {
		o.Protocols = strings.Split(p, ",")
	}
	switch g := c.String("grouping"); g {
	case "both":
		o.Groupings = []string{"domain", "tface"}
	default:
		o.Groupings = []string{g}
	}
	if o.Configs == "" {
		o.Configs = filepath.Join("configs", m)
	}
	if o.Out == "" {
		o.Out = "reproduce-" + m
		if o.Data == reproduce.Synth {
			o.Out += "-synth"
		}
	}
	o.Synth = synth.DefaultOptions()
	o.Synth.Subjects, o.Synth.Frames, o.Synth.Size = c.Int("synth-subjects"), c.Int("synth-frames"), c.Int("synth-size")
	if c.Int("nproc") < 0 {
		return o, fmt.Errorf("--nproc %d must be >= 1", c.Int("nproc"))
	}
	return o, nil
}

// launchJob trains a job with n rank processes of `fas train`, through the launcher that
// `fas train --nproc` uses.
func launchJob(c *cli.Context, n int) func(context.Context, reproduce.Job) error {
	return func(ctx context.Context, j reproduce.Job) error {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--nproc: finding this program: %w", err)
		}
		args := []string{exe, "train", "--config", j.Config}
		for _, s := range j.Sets {
			args = append(args, "--set", s)
		}
		switch {
		case j.Resume:
			args = append(args, "--resume")
		case j.Restart:
			args = append(args, "--restart")
		}
		if c.Bool("quiet") {
			args = append(args, "--quiet")
		}
		o := launch.Options{NProc: n, Command: args, Stdout: c.App.Writer, Stderr: c.App.ErrWriter}
		if c.IsSet("threads") {
			o.Threads = c.Int("threads")
		}
		return launch.Run(ctx, o)
	}
}
