package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/prep"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() { register("", prepCommand) }

func prepCommand() *cli.Command {
	return &cli.Command{
		Name:  "prep",
		Usage: "prepare OULU-NPU, CASIA-FASD, Replay-Attack or MSU-MFSD for training: face crops, depth maps, LMDB, lists",
		Description: "Walks the data set as its owners distribute it (--src) and applies its official protocol;\n" +
			"ffmpeg decodes the sampled frames (rotation metadata applied), the face is found (dlib) and\n" +
			"cropped with the training rule (dataset.margin), resized to --size and stored in\n" +
			"OUT/data.lmdb with a depth map for live frames; OUT/lists/<domain>_<split>_{live,attack}.txt\n" +
			"are the lists `fas train` reads (attack=TYPE on attack lines), <domain>_<split>_noface.txt the\n" +
			"sampled frames without a face, OUT/prep/<domain>/manifest.json the settings and per-split\n" +
			"summary. Re-running resumes (finished videos are skipped); missing or unreadable videos are\n" +
			"named at the end and make the command fail after everything else is written.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dataset", Required: true, Usage: "data set: " + strings.Join(prep.Names(), ", ")},
			&cli.StringFlag{Name: "src", Required: true, Usage: "the data set's root `DIR`, as distributed"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output `DIR` (shared by the data sets: data.lmdb, lists/, prep/)"},
			&cli.StringFlag{Name: "domain", Usage: "domain name in keys and list names (default: the --dataset name)"},
			&cli.StringFlag{Name: "protocol", Usage: "OULU-NPU protocol 1, 2, 3-K or 4-K (K = 1..6); default: every video of each folder"},
			&cli.StringFlag{Name: "train-sample", Value: prep.DefaultTrainSampling.String(), Usage: "training frames: all, every:S or ssdg:K"},
			&cli.StringFlag{Name: "val-sample", Value: prep.DefaultTestSampling.String(), Usage: "validation frames (ssdg:2 = frames 6 and 6+N/2, SSDG/FLIP)"},
			&cli.StringFlag{Name: "test-sample", Value: prep.DefaultTestSampling.String(), Usage: "test frames (ssdg:2 = frames 6 and 6+N/2, SSDG/FLIP)"},
			&cli.IntFlag{Name: "size", Value: 256, Usage: "stored crop side in pixels"},
			&cli.Float64Flag{Name: "margin", Value: config.Default().Dataset.Margin, Usage: "crop margin, as dataset.margin"},
			&cli.StringFlag{Name: "depth-dir", Usage: "precomputed depth maps `DIR`/<split>/<video id>/<frame:04d>.png (full frames, e.g. PRNet); default: an approximate surface from the landmarks"},
			&cli.IntFlag{Name: "val-subjects", DefaultText: "per data set", Usage: fmt.Sprintf("CASIA-FASD, MSU-MFSD: move the training videos of the K highest-numbered subjects to val (casia %d, msu %d, others 0; 0: no val)",
				prep.DefaultValSubjects["casia"], prep.DefaultValSubjects["msu"])},
			&cli.BoolFlag{Name: "all-list", Usage: "also write <domain>_all_{live,attack}.txt: the train and test videos (not val) with the test sampling, as SSDG evaluates a target domain"},
			&cli.IntFlag{Name: "workers", Usage: "videos in parallel (0 = all cores)"},
			&cli.StringFlag{Name: "landmarks", Usage: "dlib 68-point shape predictor `FILE` (default: libdlib-data's)"},
			&cli.IntFlag{Name: "upsample", Usage: "face search: double the frame this many times first, 0..2"},
			&cli.IntFlag{Name: "max-side", Usage: fmt.Sprintf("face search on a copy scaled down to this longer side (0: %d, -1: never)", shim.DefaultMaxSide)},
			&cli.Float64Flag{Name: "map-size", Value: 64, Usage: "LMDB map size in `GiB`"},
		},
		Action: runPrep,
	}
}

func runPrep(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	log, closeLog, err := logging.New(logging.Options{})
	if err != nil {
		return err
	}
	defer closeLog()
	o, err := prepOptions(c)
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	if o.FFmpeg, err = prep.FindFFmpeg(); err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	if o.Finder, err = shim.NewFaceFinder(c.String("landmarks")); err != nil {
		return fmt.Errorf("prep: face finder: %w", err)
	}
	defer o.Finder.Close()
	if !o.Finder.HasLandmarks() {
		return errors.New("prep: no landmark model: install the Debian package libdlib-data or give --landmarks FILE")
	}
	o.Settings.Finder = shim.FaceBackend() + "; landmarks " + o.Finder.LandmarkModel()
	o.Log = log
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var bar func(done, total int)
	o.Progress = func(done, total int) {
		if bar == nil {
			bar = progress(log, "prep "+o.Domain, total)
		}
		bar(done, total)
	}
	m, err := prep.Run(ctx, o)
	if m != nil {
		printPrepSummary(c, m)
		log.Info("prep", zap.String("dataset", o.Dataset), zap.String("out", o.Out), zap.Duration("took", time.Since(start)))
	}
	if errors.Is(err, lmdb.ErrMapFull) {
		return fmt.Errorf("prep: %w\nthe data set needs more than --map-size %g GiB: re-run with a larger --map-size "+
			"(finished videos are kept and skipped)", err, c.Float64("map-size"))
	}
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	return nil
}

func prepOptions(c *cli.Context) (prep.Options, error) {
	var o prep.Options
	o.Dataset, o.Protocol, o.Size, o.Margin = c.String("dataset"), c.String("protocol"), c.Int("size"), c.Float64("margin")
	if _, ok := prep.Walkers[o.Dataset]; !ok {
		return o, fmt.Errorf("--dataset %q: want one of %s", o.Dataset, strings.Join(prep.Names(), ", "))
	}
	if o.Protocol != "" && o.Dataset != "oulu" {
		return o, fmt.Errorf("--protocol: only OULU-NPU has protocols to choose")
	}
	o.Domain = c.String("domain")
	if o.Domain == "" {
		o.Domain = o.Dataset
	}
	if o.Domain != filepath.Base(o.Domain) || strings.ContainsAny(o.Domain, "/ ") || o.Domain == "." || o.Domain == ".." {
		return o, fmt.Errorf("--domain %q: want one name without / or spaces", o.Domain)
	}
	if o.Size < 32 || !(o.Margin >= 0) {
		return o, fmt.Errorf("--size %d, --margin %v: want a size >= 32 and a margin >= 0", o.Size, o.Margin)
	}
	o.Sampling = map[string]prep.Sampling{}
	for split, flag := range map[string]string{prep.Train: "train-sample", prep.Val: "val-sample", prep.Test: "test-sample"} {
		s, err := prep.ParseSampling(c.String(flag))
		if err != nil {
			return o, fmt.Errorf("--%s: %w", flag, err)
		}
		o.Sampling[split] = s
	}
	var err error
	if o.Src, err = filepath.Abs(c.String("src")); err != nil {
		return o, err
	}
	o.Out = c.String("out")
	o.Depth = "approx"
	if d := c.String("depth-dir"); d != "" {
		if o.DepthDir, err = filepath.Abs(d); err != nil {
			return o, err
		}
		if st, err := os.Stat(o.DepthDir); err != nil || !st.IsDir() {
			return o, fmt.Errorf("--depth-dir %s: not a directory", d)
		}
		o.Depth = "dir:" + o.DepthDir
	}
	o.ValSubj, o.AllList = prep.DefaultValSubjects[o.Dataset], c.Bool("all-list")
	if c.IsSet("val-subjects") {
		o.ValSubj = c.Int("val-subjects")
	}
	if o.Workers = c.Int("workers"); o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if u := c.Int("upsample"); u < 0 || u > 2 {
		return o, fmt.Errorf("--upsample %d: want 0, 1 or 2", u)
	}
	o.Find = shim.FindOptions{Upsample: c.Int("upsample"), MaxSide: c.Int("max-side")}
	gib := c.Float64("map-size")
	if !(gib > 0) || gib > 1<<20 {
		return o, fmt.Errorf("--map-size %g: want a size in GiB > 0", gib)
	}
	o.MapSize = int64(gib * (1 << 30))
	return o, nil
}

// printPrepSummary writes the per-split table.
func printPrepSummary(c *cli.Context, m *prep.Manifest) {
	w := c.App.Writer
	fmt.Fprintf(w, "%-6s %7s %7s %8s %14s %14s %8s %10s\n", "split", "videos", "read", "frames", "no-face frames", "no-face videos", "missing", "unreadable")
	var splits []string
	for s := range m.Splits {
		splits = append(splits, s)
	}
	sort.Slice(splits, func(i, j int) bool { return splitOrder(splits[i]) < splitOrder(splits[j]) })
	for _, s := range splits {
		x := m.Splits[s]
		fmt.Fprintf(w, "%-6s %7d %7d %8d %14d %14d %8d %10d\n", s, x.Videos, x.Done, x.Frames, x.NoFaceFrames, x.NoFaceVideos, x.Missing, x.Unreadable)
	}
	fmt.Fprintf(w, "depth rule for the config: %s\nlists: %s\n", m.DepthKey, strings.Join(m.Lists, " "))
}

func splitOrder(s string) int { return strings.Index("train val   test", s) }
