package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() { register("", exportCommand) }

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:  "export",
		Usage: "write the deployable model: weights plus what a service needs to run them (liveness package, fas serve)",
		Description: "--checkpoint takes a run directory (its best checkpoint), a checkpoint directory or a weights\n" +
			"file. The model records the method and its settings, the input size, normalisation and crop rule\n" +
			"(from the training config), the decision threshold and where it came from, the fasgo version, the\n" +
			"git commit and a digest of the training config.\n\n" +
			"The threshold is the EER threshold of the SOURCE-domain validation lists (dataset.val), the\n" +
			"realistic protocol's; the test lists are never used. It is taken from the run's eval/val report\n" +
			"when that report is of these very weights (eval/checkpoint.json says so), otherwise the validation\n" +
			"lists of the config (the run's own, or --config) are scored now. --threshold gives one by hand;\n" +
			"--uncalibrated exports without one (callers must then give theirs).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "checkpoint", Aliases: []string{"k"}, Required: true, Usage: "run dir, checkpoint dir or weights file"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "the exported model file to write (.safetensors)"},
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "training config (default: the run's stored config)"},
			&cli.GenericFlag{Name: "set", Value: &setFlag{}, Usage: "override a key of the config (repeatable)"},
			&cli.Float64Flag{Name: "threshold", Usage: "decision threshold given by hand (attack when score >= it)"},
			&cli.StringFlag{Name: "threshold-from", Usage: "with --threshold: what it was calibrated on, in words"},
			&cli.BoolFlag{Name: "uncalibrated", Usage: "export without a threshold"},
			&cli.BoolFlag{Name: "rescore", Usage: "score the validation lists even when the run's eval/val report fits"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress output"},
			threadsFlag(),
		},
		Action: runExport,
	}
}

// exportSource is what a --checkpoint argument names.
type exportSource struct {
	weights string // the weights (or training-state) file
	run     string // the run directory it belongs to, "" when none
}

func resolveExport(p string) (exportSource, error) {
	w, err := resolveWeights(p)
	if err != nil {
		return exportSource{}, err
	}
	abs, err := filepath.Abs(w)
	if err != nil {
		return exportSource{}, err
	}
	src := exportSource{weights: w}
	// runs/NAME/ckpt/step-N/model.safetensors: the run is three levels up.
	if d := filepath.Dir(filepath.Dir(filepath.Dir(abs))); filepath.Base(filepath.Dir(filepath.Dir(abs))) == "ckpt" && exists(filepath.Join(d, "config.yaml")) {
		src.run = d
	}
	return src, nil
}

func runExport(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if c.IsSet("threshold") && c.Bool("uncalibrated") {
		return fmt.Errorf("export: --threshold and --uncalibrated exclude each other")
	}
	if c.IsSet("threshold-from") && !c.IsSet("threshold") {
		return fmt.Errorf("export: --threshold-from describes a --threshold; give both")
	}
	threads, err := cliThreads(c)
	if err != nil {
		return err
	}
	src, err := resolveExport(c.String("checkpoint"))
	if err != nil {
		return err
	}
	// The training config: --config, else the run's stored one.
	var cfg *config.Config
	cfgPath := c.String("config")
	if cfgPath == "" && src.run != "" {
		if cfgPath, err = storedConfig(src.run); err != nil {
			return err
		}
	}
	if cfgPath != "" {
		if cfg, err = config.Load(cfgPath, cliSets(c), os.Environ()); err != nil {
			return err
		}
		cfg.Run.Threads = threads
	} else if len(cliSets(c)) > 0 {
		return fmt.Errorf("export: --set needs a config (--config, or a checkpoint inside a run directory)")
	}
	o := model.Options{Threads: threads}
	if cfg != nil {
		o.Size = cfg.Transform.ImageSize
	}
	m, meta, err := model.Load(src.weights, o)
	if err != nil {
		return err
	}
	defer m.Close()
	spec := export.Spec{Input: export.InputRGBHSV, Source: src.weights, Step: meta.Extra["step"], Epoch: meta.Extra["epoch"],
		ExporterCommit: gitCommit()}
	w := c.App.ErrWriter
	if cfg != nil {
		if err := checkWeights(src.weights, meta, cfg); err != nil {
			return err
		}
		t, err := eval.Transform(cfg)
		if err != nil {
			return err
		}
		spec.Mean, spec.Std, spec.Crop, spec.PreprocessFrom = t.Mean, t.Std, export.CropNone, "config "+cfgPath
		if t.CropFace {
			spec.Crop, spec.Margin = export.Crop5Points, t.Margin
		}
		y, err := cfg.YAML()
		if err != nil {
			return err
		}
		sum := sha256.Sum256(y)
		spec.ConfigSHA256 = hex.EncodeToString(sum[:])
	} else {
		def := config.Default()
		copy(spec.Mean[:], def.Transform.Mean)
		copy(spec.Std[:], def.Transform.Std)
		spec.Crop, spec.PreprocessFrom = export.CropNone, "defaults (no training config was given)"
		fmt.Fprintf(w, "note: no training config: the model records the default normalisation (mean %v, std %v) and no face crop; give --config if it was trained otherwise\n",
			def.Transform.Mean, def.Transform.Std)
	}
	spec.GitCommit, spec.GitCommitFrom = gitCommit(), "the fas binary that exported it"
	if src.run != "" {
		if g, ok := runCommit(src.run); ok {
			spec.GitCommit, spec.GitCommitFrom = g, filepath.Join(src.run, "versions.json")
		}
	}

	switch {
	case c.IsSet("threshold"):
		v := c.Float64("threshold")
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("export: --threshold %v is not a finite number", v)
		}
		from := c.String("threshold-from")
		if from == "" {
			from = "given to fas export (--threshold)"
		}
		spec.Threshold = &export.Threshold{Value: v, From: from}
		if cfg != nil {
			spec.Threshold.Protocol = protocolOf(cfg, cfgPath)
		}
	case c.Bool("uncalibrated"):
	default:
		if spec.Threshold, err = calibrate(c, m, src, cfg, cfgPath); err != nil {
			return err
		}
	}
	if err := export.Write(m, c.String("out"), spec); err != nil {
		return err
	}
	out := c.App.Writer
	fmt.Fprintf(out, "exported %s -> %s\n", src.weights, c.String("out"))
	if t := spec.Threshold; t != nil {
		fmt.Fprintf(out, "threshold %s (%s", strconv.FormatFloat(t.Value, 'g', -1, 64), t.From)
		if t.Protocol != "" {
			fmt.Fprintf(out, ", protocol %s", t.Protocol)
		}
		fmt.Fprintln(out, ")")
	} else {
		fmt.Fprintln(out, "no calibrated threshold: callers must give one (liveness.WithThreshold, fas serve --threshold)")
	}
	return nil
}

// calibrate fixes the realistic threshold: the EER threshold of the source-domain validation
// lists, from the run's eval/val report when it is of these weights, else by scoring them.
func calibrate(c *cli.Context, m *shim.Model, src exportSource, cfg *config.Config, cfgPath string) (*export.Threshold, error) {
	w := c.App.ErrWriter
	if src.run != "" && !c.Bool("rescore") && c.String("config") == "" {
		t, why, err := fromEvalReport(m, src.run)
		if err != nil {
			return nil, err
		}
		if t != nil {
			t.Protocol = protocolOf(cfg, cfgPath)
			fmt.Fprintf(w, "threshold from %s (the run's evaluation of these weights)\n", filepath.Join(src.run, "eval", "val"))
			return t, nil
		}
		fmt.Fprintf(w, "the run's eval/val report does not fit (%s): scoring the validation lists\n", why)
	}
	if cfg == nil {
		return nil, fmt.Errorf("export: %s: cannot calibrate a threshold without the training config: give --config (its source validation lists dataset.val are scored), --threshold X, or --uncalibrated", src.weights)
	}
	if err := cfg.CheckPaths(); err != nil {
		return nil, fmt.Errorf("export: calibration needs the validation data: %w", err)
	}
	data, err := eval.OpenData(cfg)
	if err != nil {
		return nil, err
	}
	defer data.Close()
	o := eval.OptionsFromConfig(cfg)
	o.Score = eval.ScoreOptions{BatchSize: cfg.Val.BatchSize, Seed: uint64(cfg.Seed)}
	if !c.Bool("quiet") {
		o.Score.Progress = evalProgress(c, len(data.Val.Entries))
	}
	val, err := eval.Validate(c.Context, m, data, o)
	if err != nil {
		return nil, err
	}
	th, err := metrics.EERThreshold(val.Units, "source-domain validation lists")
	if err != nil {
		return nil, fmt.Errorf("export: threshold: %w", err)
	}
	return &export.Threshold{Value: th.Value, From: valFrom(cfg), Protocol: protocolOf(cfg, cfgPath),
		Level: o.Level(), EER: th.EER, Live: th.Live, Attacks: th.Attacks}, nil
}

// fromEvalReport recomputes the threshold from DIR/eval/val/scores.csv when DIR/eval was
// written for these weights, and checks it against the report's metrics.json. A nil result
// comes with the reason it does not apply.
func fromEvalReport(m *shim.Model, run string) (*export.Threshold, string, error) {
	evalDir := filepath.Join(run, "eval")
	prov, ok, err := eval.ReadProvenance(evalDir)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return nil, "no eval/" + eval.ProvenanceFile + " names the weights it evaluated", nil
	}
	mine, err := eval.NewProvenance(m, "", 0)
	if err != nil {
		return nil, "", err
	}
	if prov.ModelVersion != mine.ModelVersion {
		return nil, fmt.Sprintf("it evaluated %s (%s), not these weights (%s)", prov.Weights, prov.ModelVersion, mine.ModelVersion), nil
	}
	valDir := filepath.Join(evalDir, "val")
	var rep struct {
		Level        string   `json:"level"`
		EERThreshold *float64 `json:"eer_threshold"`
		Realistic    any      `json:"realistic"`
		Live         int      `json:"live"`
		Attacks      int      `json:"attacks"`
	}
	raw, err := os.ReadFile(filepath.Join(valDir, "metrics.json"))
	if err != nil {
		return nil, "", fmt.Errorf("export: %w", err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil || rep.EERThreshold == nil {
		return nil, "", fmt.Errorf("export: %s: not a report with eer_threshold (%v)", filepath.Join(valDir, "metrics.json"), err)
	}
	if rep.Realistic != nil { // a test report carries a realistic protocol; validation reports do not
		return nil, "", fmt.Errorf("export: %s is a test report (it has a realistic protocol); the threshold comes from validation lists only", valDir)
	}
	frames, err := metrics.ReadCSVFile(filepath.Join(valDir, "scores.csv"))
	if err != nil {
		return nil, "", fmt.Errorf("export: %w", err)
	}
	units, err := metrics.Frames(frames) // the rows are the report's units already
	if err != nil {
		return nil, "", err
	}
	th, err := metrics.EERThreshold(units, "source-domain validation lists")
	if err != nil {
		return nil, "", fmt.Errorf("export: %s: %w", valDir, err)
	}
	if math.Float64bits(th.Value) != math.Float64bits(*rep.EERThreshold) {
		return nil, "", fmt.Errorf("export: %s: scores.csv gives the EER threshold %v but metrics.json says %v; re-run with --rescore",
			valDir, th.Value, *rep.EERThreshold)
	}
	from := "EER of the source-domain validation lists (" + filepath.Join(valDir, "scores.csv") + ")"
	if cfg, err := storedCfg(run); err == nil {
		from = valFrom(cfg)
	}
	return &export.Threshold{Value: th.Value, From: from, Level: rep.Level, EER: th.EER, Live: th.Live,
		Attacks: th.Attacks, Recomputed: true}, "", nil
}

func storedCfg(run string) (*config.Config, error) {
	p, err := storedConfig(run)
	if err != nil {
		return nil, err
	}
	return config.Load(p, nil, nil)
}

// valFrom describes the validation lists of cfg.
func valFrom(cfg *config.Config) string {
	var names []string
	for _, d := range cfg.Dataset.Val {
		names = append(names, d.Name)
	}
	return "EER of the source-domain validation lists (dataset.val: " + strings.Join(names, ", ") + ")"
}

// protocolOf is the protocol label of a config: run.protocol, else the config file's name.
func protocolOf(cfg *config.Config, path string) string {
	if cfg != nil && cfg.Run.Protocol != "" {
		return cfg.Run.Protocol
	}
	if path == "" {
		return ""
	}
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// runCommit is the commit a run was trained from (versions.json), with "(modified)" when dirty.
func runCommit(run string) (string, bool) {
	raw, err := os.ReadFile(filepath.Join(run, "versions.json"))
	if err != nil {
		return "", false
	}
	var v runinfo.Versions
	if json.Unmarshal(raw, &v) != nil || v.Git.Commit == "" {
		return "", false
	}
	if v.Git.Dirty {
		return v.Git.Commit + " (modified)", true
	}
	return v.Git.Commit, true
}
