package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/report"
	"github.com/fasgo/fasgo/go/internal/train"
)

func init() { register("", trainCommand) }

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train a model from a config; Ctrl-C/SIGTERM checkpoint and stop, --resume continues",
		Description: "Runs epochs of domain-balanced training steps of the config's method, validates on the\n" +
			"held-out source lists every epoch, keeps the best checkpoint, then evaluates it on the unseen\n" +
			"domain. Everything lands in runs/<name>/ (config, versions, logs, metrics, TensorBoard,\n" +
			"checkpoints, eval/). One process per run directory (a lock).\n\n" +
			"--resume continues run.name from its latest checkpoint with the configuration the run stored\n" +
			"(runs/<name>/config.yaml); --config is then optional. A --config, --set or FAS_ variable that\n" +
			"changes the experiment (any key outside run.*) is refused unless each such key is named with\n" +
			"--allow-change KEY; allowed changes are recorded in the run's log.\n" +
			"--restart deletes what run.name's directory holds (a run that died before its first\n" +
			"checkpoint, say) and starts over.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML config file (optional with --resume)"},
			&cli.GenericFlag{Name: "set", Value: &setFlag{},
				Usage: "override a key with a YAML value, e.g. --set train.epochs=3 (repeatable)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue run.name from its latest checkpoint (give --set run.name=NAME)"},
			&cli.StringSliceFlag{Name: "allow-change", Usage: "with --resume: accept a change of this key (repeatable)"},
			&cli.BoolFlag{Name: "restart", Usage: "delete run.name's directory contents and start the run afresh"},
			&cli.BoolFlag{Name: "embed", Usage: "also draw the t-SNE picture of the features in the final evaluation"},
			&cli.BoolFlag{Name: "quiet", Usage: "no console log (the JSON log file is still written)"},
			threadsFlag(),
			&cli.IntFlag{Name: "nproc", Usage: "start this many rank processes on this node (distributed training)"},
			&cli.IntFlag{Name: "nnodes", Value: 1, Usage: "with --nproc: nodes of the run"},
			&cli.IntFlag{Name: "node-rank", Usage: "with --nproc: this node's index, 0..nnodes-1"},
			&cli.StringFlag{Name: "master-addr", Value: "127.0.0.1", Usage: "with --nproc: the address of node 0 (rank 0 serves the store there)"},
			&cli.IntFlag{Name: "master-port", Usage: "with --nproc: the store's port (default: a free one; required with several nodes)"},
		},
		Action: runTrain,
	}
}

func runTrain(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if c.Bool("resume") && c.Bool("restart") {
		return errors.New("--resume and --restart exclude each other")
	}
	if c.IsSet("nproc") {
		return launchRanks(c)
	}
	var cfg *config.Config
	var changes []config.Change
	var err error
	if c.Bool("resume") {
		cfg, changes, err = resumeConfig(c)
	} else {
		if c.String("config") == "" {
			return errors.New("--config is required (unless --resume)")
		}
		cfg, err = config.Load(c.String("config"), cliSets(c), os.Environ())
	}
	if err != nil {
		return err
	}
	if err := cfg.CheckPaths(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := train.Options{Resume: c.Bool("resume"), Restart: c.Bool("restart"), Args: os.Args,
		Quiet: c.Bool("quiet"), Embed: c.Bool("embed"), Changes: changes}
	env, err := rankFromEnv()
	if err != nil {
		return err
	}
	if env != nil && env.world > 1 {
		if o.Group, err = joinGroup(cfg, env); err != nil {
			return err
		}
		defer o.Group.Close()
	}
	res, err := train.Run(ctx, cfg, o)
	if err != nil {
		return err
	}
	out := c.App.Writer
	if res.Interrupted {
		if env == nil || env.rank == 0 {
			fmt.Fprintf(out, "stopped after step %d; checkpoint written. Continue with:\n  %s\n", res.Steps, continueCommand(res.RunDir, env))
		}
		return nil
	}
	if res.Eval == nil {
		return nil
	}
	fmt.Fprintf(out, "\nrun: %s (best epoch %d by %s = %.4f)\n\n%s\n", res.RunDir, res.Best.Epoch,
		res.Best.Metric, res.Best.Value, report.Markdown(res.Eval.Test))
	if len(res.Calibrated) > 0 {
		fmt.Fprintf(out, "calibrated on the validation lists and stored with the best checkpoint: %s\n\n", res.Calibrated)
	}
	if t := eval.PartsMarkdown(res.Eval); t != "" {
		fmt.Fprintf(out, "%s\n", t)
	}
	return nil
}

// continueCommand resumes the run in dir exactly as it was configured (its stored config),
// with the same ranks.
func continueCommand(dir string, env *rankEnv) string {
	ranks := ""
	if env != nil && env.world > 1 {
		ranks = fmt.Sprintf("--nproc %d ", env.localWorld)
		if nodes := env.world / env.localWorld; nodes > 1 {
			ranks += fmt.Sprintf("--nnodes %d --node-rank N --master-addr %s --master-port %d ", nodes, env.masterAddr, env.masterPort)
		}
	}
	return fmt.Sprintf("fas train %s--resume --set run.dir=%s --set run.name=%s", ranks, shellQuote(filepath.Dir(dir)), shellQuote(filepath.Base(dir)))
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cliSets are the --set flags, with --threads as run.threads.
func cliSets(c *cli.Context) []string {
	var sets []string
	if f, ok := c.Generic("set").(*setFlag); ok {
		sets = append(sets, f.values...)
	}
	if c.IsSet("threads") {
		sets = append(sets, fmt.Sprintf("run.threads=%d", c.Int("threads")))
	}
	return sets
}

// resumeConfig is the configuration a resumed run continues with: the run's stored config,
// or --config, with --set and FAS_ variables over it; any change to the experiment against
// the stored config must be allowed key by key.
func resumeConfig(c *cli.Context) (*config.Config, []config.Change, error) {
	sets := cliSets(c)
	locate := c.String("config")
	dir, name, err := runLocation(locate, sets)
	if err != nil {
		return nil, nil, err
	}
	stored, err := storedConfig(filepath.Join(dir, name))
	if err != nil {
		return nil, nil, err
	}
	was, err := config.Load(stored, nil, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("--resume: the run's stored config: %w", err)
	}
	if locate == "" {
		locate = stored
	}
	now, err := config.Load(locate, sets, os.Environ())
	if err != nil {
		return nil, nil, err
	}
	changes := config.ExperimentChanges(was, now)
	allowed := c.StringSlice("allow-change")
	var refused []string
	for _, ch := range changes {
		if !slices.Contains(allowed, ch.Key) && !slices.ContainsFunc(allowed, func(a string) bool { return strings.HasPrefix(ch.Key, a+".") || strings.HasPrefix(ch.Key, a+"[") }) {
			refused = append(refused, "  "+ch.String())
		}
	}
	if len(refused) > 0 {
		return nil, nil, fmt.Errorf("--resume would change the experiment of run %s:\n%s\nresume without them (the run's config is used when --config is absent), or accept each with --allow-change KEY",
			name, strings.Join(refused, "\n"))
	}
	return now, changes, nil
}

// storedConfig is the configuration a run last ran with: the newest config.resume-*.yaml
// (written by each resume), else config.yaml.
func storedConfig(run string) (string, error) {
	resumed, _ := filepath.Glob(filepath.Join(run, "config.resume-*.yaml"))
	if len(resumed) > 0 {
		slices.Sort(resumed) // the names hold a sortable timestamp
		return resumed[len(resumed)-1], nil
	}
	p := filepath.Join(run, "config.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("--resume: run %s has no stored config (%v); is run.dir/run.name right?", run, err)
	}
	return p, nil
}

// runLocation finds run.dir and run.name before a config is validated: from --set, then
// the FAS_ environment, then the --config file, then the defaults.
func runLocation(path string, sets []string) (dir, name string, err error) {
	def := config.Default()
	dir, name = def.Run.Dir, def.Run.Name
	if path != "" {
		cfg, err := config.Load(path, sets, os.Environ())
		if err != nil {
			return "", "", err
		}
		dir, name = cfg.Run.Dir, cfg.Run.Name
	} else {
		for _, kv := range append(envSets(), sets...) {
			k, v, _ := strings.Cut(kv, "=")
			switch strings.TrimSpace(k) {
			case "run.dir":
				dir = v
			case "run.name":
				name = v
			}
		}
	}
	if name == "" {
		return "", "", errors.New("--resume needs the run's name: --set run.name=NAME")
	}
	return dir, name, nil
}

// envSets are FAS_RUN__DIR and FAS_RUN__NAME as key=value.
func envSets() []string {
	var out []string
	for env, key := range map[string]string{config.EnvName("run.dir"): "run.dir", config.EnvName("run.name"): "run.name"} {
		if v, ok := os.LookupEnv(env); ok {
			out = append(out, key+"="+v)
		}
	}
	return out
}
