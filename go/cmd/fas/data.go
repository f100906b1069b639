package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/safetensors"
)

func init() {
	register("", packCommand)
	register("data", checkCommand, dumpCommand)
}

var depthRuleFlag = &cli.StringSliceFlag{Name: "depth-rule", Usage: "image key -> depth key substitution `FROM=TO` (repeatable; the first match applies once), or the preset tface (TFace's rule)"}

func packCommand() *cli.Command {
	return &cli.Command{
		Name:  "pack",
		Usage: "build an LMDB of images (and depth maps) from list files or a directory tree",
		Description: "Keys are the list paths (files under --root) or, with --dir, the paths relative to DIR.\n" +
			"Every source is decoded before it is written and every record is read back and decoded.\n" +
			"A source file that is missing or does not decode is left out and the rest is packed; the\n" +
			"command then fails naming every such file. Re-running resumes: keys already present with\n" +
			"identical, decodable bytes are skipped. A database this command created and left empty\n" +
			"(nothing could be packed) is removed again.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Required: true, Usage: "LMDB directory to create or resume (e.g. DIR/data.lmdb)"},
			&cli.StringSliceFlag{Name: "list", Usage: "list `FILE` whose entries to pack (repeatable)"},
			&cli.StringFlag{Name: "root", Value: ".", Usage: "directory the list paths are relative to"},
			depthRuleFlag,
			&cli.StringFlag{Name: "dir", Usage: "pack every .jpg/.jpeg/.png under `DIR` instead of lists"},
			&cli.Float64Flag{Name: "map-size", Value: 64, Usage: "LMDB map size in `GiB` (address space; the file grows as written)"},
			&cli.IntFlag{Name: "batch-mb", Value: 64, Usage: "MiB of images per write transaction"},
		},
		Action: runPack,
	}
}

func runPack(c *cli.Context) error {
	log, closeLog, err := logging.New(logging.Options{})
	if err != nil {
		return err
	}
	defer closeLog()
	mapGiB, batchMB := c.Float64("map-size"), c.Int("batch-mb")
	if !(mapGiB > 0) || mapGiB > 1<<20 {
		return fmt.Errorf("pack: --map-size %g: want a size in GiB > 0", mapGiB)
	}
	if batchMB < 1 {
		return fmt.Errorf("pack: --batch-mb %d: want at least 1", batchMB)
	}
	items, err := packItems(c)
	if err != nil {
		return err
	}
	out := c.String("out")
	fresh, err := newPaths(out)
	if err != nil {
		return fmt.Errorf("pack: --out %s: %w", out, err)
	}
	db, err := lmdb.Open(out, lmdb.Options{MapSize: int64(mapGiB * (1 << 30))})
	if err != nil {
		removeFresh(log, fresh)
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	st, err := dataset.Pack(ctx, db, items, dataset.PackOptions{
		BatchBytes: batchMB << 20, Progress: progress(log, "packing", len(items)),
	})
	log.Info("pack", zap.String("lmdb", out), zap.Int("items", len(items)), zap.Int("written", st.Written),
		zap.Int("already_present", st.Present), zap.Int("replaced", st.Replaced), zap.Int("bad", st.Bad),
		zap.Duration("took", time.Since(start)))
	n, lerr := db.Len()
	db.Close()
	if err != nil && lerr == nil && n == 0 {
		removeFresh(log, fresh)
	}
	return packError(err, c, mapGiB)
}

// packError puts a failed pack in the command's terms.
func packError(err error, c *cli.Context, mapGiB float64) error {
	var bad *dataset.BadSourcesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, lmdb.ErrMapFull):
		return fmt.Errorf("pack: %w\nthe images need more than --map-size %g GiB: re-run with a larger --map-size "+
			"(records already stored are kept and skipped)", err, mapGiB)
	case errors.As(err, &bad):
		hint := "fix or drop them and re-run: the files already packed are skipped"
		if bad.AllMissing() {
			if c.String("dir") != "" {
				hint = "no file was found"
			} else {
				hint = fmt.Sprintf("no listed file was found under --root %s: is it the directory the list paths are relative to?", c.String("root"))
			}
		}
		return fmt.Errorf("pack: %w\n%s", err, hint)
	}
	return fmt.Errorf("pack: %w", err)
}

// newPaths lists what opening a new LMDB at dir will create, for removeFresh: the database
// files, then the directories of dir that do not exist yet, deepest first. It is empty when
// dir already holds a database, which is never removed.
func newPaths(dir string) ([]string, error) {
	var fresh []string
	for _, f := range []string{"data.mdb", "lock.mdb"} {
		p := filepath.Join(dir, f)
		_, err := os.Lstat(p)
		switch {
		case err == nil && f == "data.mdb":
			return nil, nil
		case errors.Is(err, fs.ErrNotExist):
			fresh = append(fresh, p)
		case err != nil && !errors.Is(err, syscall.ENOTDIR):
			return nil, err
		}
	}
	for d := filepath.Clean(dir); ; {
		if _, err := os.Lstat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		fresh = append(fresh, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return fresh, nil
}

// removeFresh removes what this run created of an empty database, in order; a directory
// that holds anything else stays (os.Remove refuses it).
func removeFresh(log *zap.Logger, fresh []string) {
	for _, p := range fresh {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("pack: could not remove the empty database it created", zap.String("path", p), zap.Error(err))
			return
		}
	}
	if len(fresh) > 0 {
		log.Info("pack: nothing was packed; removed the empty database", zap.String("lmdb", filepath.Dir(fresh[0])))
	}
}

func packItems(c *cli.Context) ([]dataset.PackItem, error) {
	lists, dir := c.StringSlice("list"), c.String("dir")
	if (len(lists) == 0) == (dir == "") {
		return nil, errors.New("pack: give either --list FILE... (with --root) or --dir DIR")
	}
	if dir != "" {
		items, err := dataset.ItemsFromTree(dir)
		if err == nil && len(items) == 0 {
			err = fmt.Errorf("no .jpg, .jpeg or .png file under --dir %s", dir)
		}
		if err != nil {
			return nil, fmt.Errorf("pack: %w", err)
		}
		return items, nil
	}
	rule, err := dataset.ParseDepthRule(c.StringSlice("depth-rule"))
	if err != nil {
		return nil, fmt.Errorf("pack: --depth-rule: %w", err)
	}
	var all [][]dataset.Entry
	var errs []error
	n := 0
	for _, f := range lists {
		es, err := dataset.ReadList(f)
		errs = append(errs, err)
		all = append(all, es)
		n += len(es)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("pack: the lists %s hold no entries", strings.Join(lists, ", "))
	}
	items, err := dataset.ItemsFromLists(c.String("root"), all, rule)
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	return items, nil
}

// progress shows a bar on a terminal, otherwise a log line every 10 seconds.
func progress(log *zap.Logger, what string, total int) func(done, total int) {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		bar := progressbar.NewOptions(total, progressbar.OptionSetDescription(what), progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		return func(done, _ int) { bar.Set(done) }
	}
	last := time.Now()
	return func(done, total int) {
		if time.Since(last) >= 10*time.Second || done == total {
			last = time.Now()
			log.Info(what, zap.Int("done", done), zap.Int("total", total))
		}
	}
}

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "scan an LMDB against its list files; report missing or corrupt records (list, line, key)",
		Description: "Reads and decodes every listed image and, for live entries when depth rules are given,\n" +
			"its depth map. Exits non-zero when anything is missing or corrupt.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lmdb", Usage: "LMDB directory"},
			&cli.StringSliceFlag{Name: "list", Usage: "list `FILE` to check (repeatable)"},
			depthRuleFlag,
			&cli.StringFlag{Name: "config", Usage: "take the LMDB, every list (train, val, test) and the depth rules from a config"},
			&cli.StringSliceFlag{Name: "set", Usage: "override a config key, `KEY=VALUE` (with --config)"},
			&cli.IntFlag{Name: "workers", Usage: "decode goroutines (0 = all cores)"},
		},
		Action: runCheck,
	}
}

func runCheck(c *cli.Context) error {
	log, closeLog, err := logging.New(logging.Options{})
	if err != nil {
		return err
	}
	defer closeLog()
	dbPath, lists, rule, err := checkInputs(c)
	if err != nil {
		return err
	}
	var entries []dataset.Entry
	for _, f := range lists {
		es, err := dataset.ReadList(f)
		if err != nil {
			return err
		}
		entries = append(entries, es...)
	}
	db, err := lmdb.Open(dbPath, lmdb.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	if len(rule) == 0 {
		log.Warn("no depth rule: checking images only, not depth maps")
	}
	ps, st, err := dataset.Check(c.Context, db, entries, rule, c.Int("workers"))
	if err != nil {
		return err
	}
	for _, p := range ps {
		fmt.Fprintln(c.App.Writer, p.String())
	}
	log.Info("check", zap.String("lmdb", dbPath), zap.Int("entries", st.Entries), zap.Int("images", st.Images),
		zap.Int("depth_maps", st.DepthMaps), zap.Int("problems", len(ps)))
	if len(ps) > 0 {
		return fmt.Errorf("data check: %d missing or corrupt records in %s", len(ps), dbPath)
	}
	return nil
}

func checkInputs(c *cli.Context) (string, []string, dataset.DepthRule, error) {
	if cf := c.String("config"); cf != "" {
		if c.IsSet("lmdb") || c.IsSet("list") || c.IsSet("depth-rule") {
			return "", nil, nil, errors.New("data check: --config replaces --lmdb, --list and --depth-rule")
		}
		cfg, err := config.Load(cf, c.StringSlice("set"), os.Environ())
		if err != nil {
			return "", nil, nil, err
		}
		var lists []string
		for _, split := range [][]config.DomainList{cfg.Dataset.Train, cfg.Dataset.Val, cfg.Dataset.Test} {
			for _, d := range split {
				lists = append(lists, cfg.DataPath(d.Live), cfg.DataPath(d.Attack))
			}
		}
		return cfg.DataPath(cfg.Dataset.LMDB), lists, eval.DepthRule(cfg), nil
	}
	if c.String("lmdb") == "" || len(c.StringSlice("list")) == 0 {
		return "", nil, nil, errors.New("data check: give --lmdb DB and --list FILE... (or --config C)")
	}
	rule, err := dataset.ParseDepthRule(c.StringSlice("depth-rule"))
	return c.String("lmdb"), c.StringSlice("list"), rule, err
}

func dumpCommand() *cli.Command {
	return &cli.Command{
		Name:  "dump",
		Usage: "write the exact tensors the model receives for one list entry (image 6×S×S, depth F×F, label)",
		Description: "Either --lmdb DB --list FILE --size S (explicit), or --config C --split train|val|test.\n" +
			"--index counts entries (comment and blank lines excluded) from 0; with --config the split's lists\n" +
			"are concatenated in config order, each domain's live list then its attack list.\n" +
			"Augmentation (flip, HSV jitter) is drawn from (--seed, --index); training-split dumps augment\n" +
			"unless --no-augment, val/test and explicit dumps without --seed do not.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lmdb", Usage: "LMDB directory"},
			&cli.StringFlag{Name: "list", Usage: "list `FILE`"},
			noDefault(&cli.IntFlag{Name: "index", Required: true, Usage: "entry index (0-based)"}),
			&cli.IntFlag{Name: "size", Value: 256, Usage: "image side S: a multiple of 8, at least 32 (depth is S/8)"},
			&cli.BoolFlag{Name: "no-augment", Usage: "no flip and no HSV jitter"},
			noDefault(&cli.Uint64Flag{Name: "seed",
				Usage: "augmentation seed (explicit mode: augmentation is on only when given; with --config: default the config's seed)"}),
			depthRuleFlag,
			&cli.BoolFlag{Name: "crop-face", Usage: "crop around the 5-point landmarks (explicit mode)"},
			&cli.Float64Flag{Name: "margin", Value: 2, Usage: "crop margin with --crop-face"},
			&cli.StringFlag{Name: "config", Usage: "take LMDB, lists and transform from a config"},
			&cli.StringFlag{Name: "split", Usage: "with --config: train, val or test"},
			&cli.StringSliceFlag{Name: "set", Usage: "override a config key, `KEY=VALUE` (with --config)"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output `X.safetensors`"},
		},
		Action: runDump,
	}
}

// dumpJob is what runDump resolved from its flags.
type dumpJob struct {
	db      string
	entries []dataset.Entry
	t       dataset.Transform
	augment bool
	seed    uint64
}

func runDump(c *cli.Context) error {
	j, err := dumpInputs(c)
	if err != nil {
		return err
	}
	i := c.Int("index")
	if i < 0 || i >= len(j.entries) {
		return fmt.Errorf("data dump: --index %d outside the %d entries", i, len(j.entries))
	}
	e := &j.entries[i]
	var aug dataset.Aug
	if j.augment {
		aug = j.t.AugFor(j.seed, i)
	}
	proc, err := dataset.NewProcessor(j.t)
	if err != nil {
		return err
	}
	db, err := lmdb.Open(j.db, lmdb.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	s, f := int64(j.t.Size), int64(j.t.DepthSize())
	img, dep := make([]float32, 6*s*s), make([]float32, f*f)
	if err := proc.Sample(db, e, aug, img, dep); err != nil {
		return err
	}
	meta := map[string]string{
		"key": e.Path, "list": e.List, "line": strconv.Itoa(e.Line), "video_id": e.VideoID(), "attack": e.Attack,
		"size": strconv.Itoa(j.t.Size), "augment": strconv.FormatBool(j.augment), "seed": strconv.FormatUint(j.seed, 10),
		"flip": strconv.FormatBool(aug.Flip), "jitter": strconv.FormatBool(aug.Jitter),
		"hue_shift": fmtF(aug.Shift.Hue), "sat_shift": fmtF(aug.Shift.Sat), "val_shift": fmtF(aug.Shift.Val),
	}
	return safetensors.Write(c.String("out"), []safetensors.Tensor{
		safetensors.FromFloat32("image", []int64{6, s, s}, img),
		safetensors.FromFloat32("depth", []int64{f, f}, dep),
		safetensors.FromInt64("label", []int64{}, []int64{int64(e.Label)}),
	}, meta)
}

// checkImageSize refuses an image side the network cannot take, with the rule of
// transform.image_size.
func checkImageSize(what string, s int) error {
	if s < 32 || s%8 != 0 {
		return fmt.Errorf("%s %d: the image size must be a multiple of 8 and at least 32, as transform.image_size "+
			"(the depth map is S/8 and the classifier max-pools it twice)", what, s)
	}
	return nil
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func dumpInputs(c *cli.Context) (*dumpJob, error) {
	if cf := c.String("config"); cf != "" {
		return dumpFromConfig(c, cf)
	}
	if c.String("lmdb") == "" || c.String("list") == "" {
		return nil, errors.New("data dump: give --lmdb DB --list FILE (or --config C --split S)")
	}
	if c.IsSet("split") {
		return nil, errors.New("data dump: --split needs --config")
	}
	if err := checkImageSize("data dump: --size", c.Int("size")); err != nil {
		return nil, err
	}
	es, err := dataset.ReadList(c.String("list"))
	if err != nil {
		return nil, err
	}
	rule, err := dataset.ParseDepthRule(c.StringSlice("depth-rule"))
	if err != nil {
		return nil, err
	}
	t := dataset.DefaultTransform()
	t.Size, t.DepthRule, t.CropFace, t.Margin = c.Int("size"), rule, c.Bool("crop-face"), c.Float64("margin")
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &dumpJob{db: c.String("lmdb"), entries: es, t: t, augment: c.IsSet("seed") && !c.Bool("no-augment"), seed: c.Uint64("seed")}, nil
}

func dumpFromConfig(c *cli.Context, cf string) (*dumpJob, error) {
	for _, f := range []string{"lmdb", "list", "size", "depth-rule", "crop-face", "margin"} {
		if c.IsSet(f) {
			return nil, fmt.Errorf("data dump: --%s conflicts with --config (use --set)", f)
		}
	}
	cfg, err := config.Load(cf, c.StringSlice("set"), os.Environ())
	if err != nil {
		return nil, err
	}
	splits := map[string][]config.DomainList{"train": cfg.Dataset.Train, "val": cfg.Dataset.Val, "test": cfg.Dataset.Test}
	lists, ok := splits[c.String("split")]
	if !ok {
		return nil, fmt.Errorf("data dump: --split %q: want train, val or test", c.String("split"))
	}
	var es []dataset.Entry
	for _, d := range lists {
		for _, f := range []string{d.Live, d.Attack} {
			l, err := dataset.ReadList(cfg.DataPath(f))
			if err != nil {
				return nil, err
			}
			es = append(es, l...)
		}
	}
	t, err := eval.Transform(cfg)
	if err != nil {
		return nil, err
	}
	seed := uint64(cfg.Seed)
	if c.IsSet("seed") {
		seed = c.Uint64("seed")
	}
	augment := c.String("split") == "train" && !c.Bool("no-augment")
	return &dumpJob{db: cfg.DataPath(cfg.Dataset.LMDB), entries: es, t: t, augment: augment, seed: seed}, nil
}
