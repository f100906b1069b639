package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/synth"
)

// gapCommand is `fas synth gap`: the benchmark's domain gap, measured by a linear probe.
func gapCommand(d synth.Options) *cli.Command {
	// The probe's default draw: smaller than the benchmark's, enough subjects for stable AUCs.
	d.Subjects, d.Frames, d.Size, d.Seed = 25, 2, 48, 11
	return &cli.Command{
		Name:  "gap",
		Usage: "measure the domain gap of the synthetic benchmark with a linear probe (renders in memory)",
		Description: "For every leave-one-domain-out protocol, a logistic regression on 15 colour and frequency\n" +
			"statistics is trained on the target domain's own train subjects (the oracle) and on the\n" +
			"other domains' train subjects (the sources); both are scored (AUC, attack = positive) on\n" +
			"the target's held-out val and test subjects. A benchmark that tests generalisation has\n" +
			"the source probe clearly below the oracle. Prints a Markdown table; --json writes the report.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "json", Usage: "also write the report as JSON to this file"},
		}, synthOptionFlags(d)...),
		Action: runGap,
	}
}

func runGap(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("synth gap: unexpected arguments %q", c.Args().Slice())
	}
	o := synthOptions(c)
	log, closeLog, err := logging.New(logging.Options{})
	if err != nil {
		return err
	}
	defer closeLog()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	videos := o.Domains * o.Subjects * 2 * o.VideosPerSubject
	prog := runinfo.NewProgress(videos, log, runinfo.WithDescription("probe videos"), runinfo.WithLogEvery(max(1, videos/10)))
	done := 0
	rep, err := synth.Gap(ctx, o, func(n, _ int) {
		for ; done < n; done++ {
			prog.Step(o.Frames, nil)
		}
	})
	if err != nil {
		return err
	}
	prog.Done()
	if f := c.String("json"); f != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := safetensors.WriteFileAtomic(f, append(b, '\n')); err != nil {
			return fmt.Errorf("synth gap: writing %s: %w", f, err)
		}
	}
	writeGapTable(c.App.Writer, rep)
	return nil
}

// writeGapTable prints the report as the Markdown table of the README.
func writeGapTable(w io.Writer, r *synth.GapReport) {
	o := r.Options
	fmt.Fprintf(w, "Linear probe (%d features, L2 %g), AUC on the target's held-out subjects; "+
		"%d domains x %d subjects, %d+%d videos x %d frames, S = %d, seed %d.\n\n",
		r.Features, r.L2, o.Domains, o.Subjects, o.VideosPerSubject, o.VideosPerSubject, o.Frames, o.Size, o.Seed)
	fmt.Fprintln(w, "| target | oracle (own train subjects) | sources (other domains) | gap | sources on their own held-out |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, x := range r.Rows {
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.3f | %.3f |\n", x.Target, x.Oracle, x.Source, x.Gap, x.SourceIn)
	}
	fmt.Fprintf(w, "| mean | %.3f | %.3f | %.3f | |\n", r.MeanOracle, r.MeanSource, r.MeanGap)
}
