package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/synth"
)

func init() { register("", synthCommand) }

func synthCommand() *cli.Command {
	d := synth.DefaultOptions()
	return &cli.Command{
		Name:  "synth",
		Usage: "generate the synthetic multi-domain FAS benchmark (LMDB, lists, leave-one-domain-out configs)",
		Description: "Writes DIR/data.lmdb, DIR/lists/<domain>_<split>_<live|attack>.txt and\n" +
			"DIR/configs/lodo_<domain>.yaml (train on the other domains, test on <domain>), the layout\n" +
			"fas pack writes for real data. The same options and seed give byte-identical data.\n" +
			"--preview FILE.png writes a contact sheet (one row per domain: live, depth, each attack).",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "data set directory to create (must not exist, be empty, or with --force hold an earlier synth output)"},
			&cli.StringFlag{Name: "preview", Usage: "write a contact sheet PNG of every domain's live faces, depth and attacks"},
			&cli.BoolFlag{Name: "force", Usage: "replace --out if it holds an earlier fas synth output"},
		}, synthOptionFlags(d)...),
		Subcommands: []*cli.Command{gapCommand(d)},
		Action:      runSynth,
	}
}

// synthOptionFlags are the flags that size a benchmark (fas synth and fas synth gap).
func synthOptionFlags(d synth.Options) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "domains", Value: d.Domains, Usage: "capture domains (>= 3)"},
		&cli.IntFlag{Name: "subjects", Value: d.Subjects, Usage: "subjects per domain, split 60/20/20 into train/val/test"},
		&cli.IntFlag{Name: "videos-per-subject", Value: d.VideosPerSubject, Usage: "live videos per subject (and as many attack videos)"},
		&cli.IntFlag{Name: "frames", Value: d.Frames, Usage: "frames per video"},
		&cli.IntFlag{Name: "size", Value: d.Size, Usage: "image side S in pixels (depth maps too)"},
		&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "random seed"},
		&cli.IntFlag{Name: "workers", Usage: "render goroutines (0 = all cores); does not change the output"},
	}
}

func synthOptions(c *cli.Context) synth.Options {
	return synth.Options{
		Domains: c.Int("domains"), Subjects: c.Int("subjects"), VideosPerSubject: c.Int("videos-per-subject"),
		Frames: c.Int("frames"), Size: c.Int("size"), Seed: c.Uint64("seed"), Workers: c.Int("workers"),
	}
}

func runSynth(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("synth: unexpected arguments %q (use --out DIR)", c.Args().Slice())
	}
	out, preview := c.String("out"), c.String("preview")
	if out == "" && preview == "" {
		return fmt.Errorf("synth: nothing to do: give --out DIR, --preview FILE.png, or both")
	}
	o := synthOptions(c)
	log, closeLog, err := logging.New(logging.Options{})
	if err != nil {
		return err
	}
	defer closeLog()
	if preview != "" {
		png, err := synth.Preview(o)
		if err != nil {
			return err
		}
		if err := safetensors.WriteFileAtomic(preview, png); err != nil {
			return fmt.Errorf("synth: writing preview %s: %w", preview, err)
		}
		log.Info("wrote preview", zap.String("file", preview))
	}
	if out == "" {
		return nil
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return writeSynth(ctx, out, o, c.Bool("force"), log)
}

// writeSynth generates the data set with a progress report.
func writeSynth(ctx context.Context, out string, o synth.Options, force bool, log *zap.Logger) error {
	videos := o.Domains * o.Subjects * 2 * o.VideosPerSubject
	prog := runinfo.NewProgress(videos, log, runinfo.WithDescription("synth videos"),
		runinfo.WithLogEvery(max(1, videos/10)))
	done := 0
	start := time.Now()
	sum, err := synth.Write(ctx, out, o, force, func(n, _ int) {
		for ; done < n; done++ {
			prog.Step(o.Frames, nil)
		}
	})
	if err != nil {
		return err
	}
	prog.Done()
	log.Info("wrote synthetic benchmark", zap.String("dir", out), zap.Int("images", sum.Images),
		zap.Int("depth_maps", sum.Depths), zap.Int("domains", o.Domains),
		zap.Duration("elapsed", time.Since(start).Round(time.Millisecond)), zap.String("sha256", sum.SHA256))
	return nil
}
