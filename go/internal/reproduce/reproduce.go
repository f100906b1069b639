// Package reproduce runs a method's published table: every protocol × seed (× ANRL batch
// grouping) trained and evaluated exactly as `fas train` does, then the paper-style table of
// HTER and AUC, mean ± std over seeds, next to the published numbers, as Markdown and JSON
// (README, "Reproducing the papers' tables"). A finished run is read back, not trained again;
// a run directory made with another config is refused.
package reproduce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/report"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/synth"
	"github.com/fasgo/fasgo/go/internal/train"
)

// Synth is the Data value that runs the synthetic benchmark.
const Synth = "synth"

// Options say what to reproduce and where the results go.
type Options struct {
	Method    string   // anrl | fghv
	Data      string   // a data set directory (the layout fas pack writes), or Synth
	Configs   string   // directory of the protocol configs (configs/<method>); unused with Synth
	Published string   // the published-numbers file (configs/published.yaml); "" = none
	Protocols []string // protocol names; nil = every protocol
	Seeds     int      // seeds per protocol: the config's seed, seed+1, ...
	Groupings []string // anrl.batch_grouping values to run; nil = domain
	Out       string   // results directory: runs/, results.md, results.json (and synth/)
	Sets      []string // --set overrides applied to every run (after the protocol config)
	Env       []string // the environment config.Load reads FAS_ variables from
	Synth     synth.Options
	// Train runs one job to its end (training and the final evaluation into the run
	// directory); nil trains in this process, as `fas train` does.
	Train func(ctx context.Context, j Job) error
	Log   *zap.Logger
	Quiet bool // no console log from the runs (their log files are still written)
}

// Job is one protocol × grouping × seed run.
type Job struct {
	Protocol, Grouping string
	Seed               int64
	Config             string         // the protocol config file
	Sets               []string       // the overrides that make this run from it
	Dir                string         // the run directory
	Resume, Restart    bool           // continue from the run's checkpoint / start its directory afresh
	Cfg                *config.Config // the resolved configuration
}

// Run trains and evaluates every job that has no finished result yet, then writes
// results.md and results.json to o.Out and returns the table.
func Run(ctx context.Context, o Options) (*Table, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	protocols, err := o.protocols(ctx)
	if err != nil {
		return nil, err
	}
	var pub *Published
	if o.Published != "" && o.Data != Synth {
		if pub, err = LoadPublished(o.Published, o.Method); err != nil {
			return nil, err
		}
	}
	t := &Table{Method: o.Method, Data: o.Data, Out: o.Out}
	if pub != nil {
		t.PublishedSource = pub.Source
	}
	for _, p := range protocols {
		for _, g := range o.Groupings {
			row := Row{Protocol: p.name, Grouping: g}
			if pub != nil {
				if s, ok := pub.Protocols[p.name]; ok {
					row.Published = &s
				}
			}
			jobs, err := o.jobs(p, g)
			if err != nil {
				return nil, err
			}
			for _, j := range jobs {
				r, err := o.runJob(ctx, j)
				if err != nil {
					return nil, err
				}
				row.Runs = append(row.Runs, r)
			}
			row.summarize()
			t.Rows = append(t.Rows, row)
		}
	}
	return t, t.write(o.Out)
}

func (o *Options) check() error {
	if o.Method != "anrl" && o.Method != "fghv" {
		return fmt.Errorf("reproduce: --method %q: want anrl or fghv", o.Method)
	}
	if o.Data == "" || o.Out == "" {
		return errors.New("reproduce: --data and --out are required")
	}
	if o.Seeds < 1 || o.Seeds > 100 {
		return fmt.Errorf("reproduce: --seeds %d must be in 1..100", o.Seeds)
	}
	if len(o.Groupings) == 0 {
		o.Groupings = []string{"domain"}
	}
	for _, g := range o.Groupings {
		if g != "domain" && g != "tface" {
			return fmt.Errorf("reproduce: batch grouping %q: want domain, tface or both", g)
		}
		if g == "tface" && o.Method != "anrl" {
			return fmt.Errorf("reproduce: the tface batch grouping is ANRL's (anrl.batch_grouping); %s has none", o.Method)
		}
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return fmt.Errorf("reproduce: --out: %w", err)
	}
	o.Out = out
	if o.Data != Synth {
		if o.Data, err = filepath.Abs(o.Data); err != nil {
			return fmt.Errorf("reproduce: --data: %w", err)
		}
		if st, err := os.Stat(o.Data); err != nil || !st.IsDir() {
			return fmt.Errorf("reproduce: --data %s is not a directory (want the directory fas pack writes, or synth)", o.Data)
		}
	}
	return nil
}

// protocol is one protocol's name and config file.
type protocol struct{ name, config string }

// paperOrder is the column order of the published leave-one-domain-out tables.
var paperOrder = []string{"OCI2M", "OMI2C", "OCM2I", "ICM2O"}

// protocols lists the protocol configs (generating the synthetic benchmark first with
// Synth) and keeps the ones asked for, in the papers' order.
func (o *Options) protocols(ctx context.Context) ([]protocol, error) {
	var dir, pattern string
	if o.Data == Synth {
		data, err := o.synthData(ctx)
		if err != nil {
			return nil, err
		}
		dir, pattern = filepath.Join(data, "configs"), "lodo_*.yaml"
	} else {
		dir, pattern = o.Configs, "*.yaml"
	}
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, err
	}
	var all []protocol
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if name != "synth" { // configs/<method>/synth.yaml documents the benchmark, --data synth runs it
			all = append(all, protocol{name, f})
		}
	}
	rank := func(n string) int {
		if i := slices.Index(paperOrder, n); i >= 0 {
			return i
		}
		return len(paperOrder)
	}
	slices.SortStableFunc(all, func(a, b protocol) int {
		if d := rank(a.name) - rank(b.name); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	if len(all) == 0 {
		return nil, fmt.Errorf("reproduce: no protocol configs %s in %s", pattern, dir)
	}
	if len(o.Protocols) == 0 || (len(o.Protocols) == 1 && o.Protocols[0] == "all") {
		return all, nil
	}
	var out []protocol
	for _, want := range o.Protocols {
		i := slices.IndexFunc(all, func(p protocol) bool { return p.name == want })
		if i < 0 {
			var names []string
			for _, p := range all {
				names = append(names, p.name)
			}
			return nil, fmt.Errorf("reproduce: no protocol %q (have: %s)", want, strings.Join(names, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// synthData is the synthetic benchmark under Out/synth, generated on first use; an
// existing one made with other options is refused.
func (o *Options) synthData(ctx context.Context) (string, error) {
	dir := filepath.Join(o.Out, "synth")
	b, err := os.ReadFile(filepath.Join(dir, synth.ManifestName))
	if err == nil {
		var sum synth.Summary
		if err := json.Unmarshal(b, &sum); err != nil {
			return "", fmt.Errorf("reproduce: %s: %w", dir, err)
		}
		want := o.Synth
		want.Workers = sum.Options.Workers
		if sum.Options != want {
			return "", fmt.Errorf("reproduce: %s holds a synthetic benchmark made with %+v, not %+v: use another --out", dir, sum.Options, want)
		}
		o.Log.Info("synthetic benchmark cached", zap.String("dir", dir))
		return dir, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reproduce: %w", err)
	}
	o.Log.Info("generating the synthetic benchmark", zap.String("dir", dir))
	if _, err := synth.Write(ctx, dir, o.Synth, false, nil); err != nil {
		return "", err
	}
	return dir, nil
}

// jobs are the seeds of one protocol and grouping, each with its resolved config.
func (o *Options) jobs(p protocol, grouping string) ([]Job, error) {
	var base []string
	if o.Data == Synth {
		sec, err := o.synthSection()
		if err != nil {
			return nil, err
		}
		base = append(base, "method="+o.Method) // the generated configs are ANRL's
		base = append(base, sec...)
	} else {
		base = append(base, "dataset.root="+o.Data) // string keys take --set text as it is
	}
	base = append(base, o.Sets...)
	first, err := config.Load(p.config, base, o.Env)
	if err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", p.name, err)
	}
	if first.Method != o.Method {
		return nil, fmt.Errorf("reproduce: %s is a %s config, not %s", p.config, first.Method, o.Method)
	}
	var out []Job
	for i := range o.Seeds {
		seed := first.Seed + int64(i)
		name := fmt.Sprintf("%s-%s-%s-seed%d", o.Method, p.name, grouping, seed)
		sets := append(slices.Clone(base), fmt.Sprintf("seed=%d", seed),
			"run.dir="+filepath.Join(o.Out, "runs"), "run.name="+name)
		if o.Method == "anrl" {
			sets = append(sets, "anrl.batch_grouping="+grouping)
		}
		cfg, err := config.Load(p.config, sets, o.Env)
		if err != nil {
			return nil, fmt.Errorf("reproduce: %s: %w", name, err)
		}
		if err := cfg.CheckPaths(); err != nil {
			return nil, fmt.Errorf("reproduce: %s: %w", name, err)
		}
		out = append(out, Job{Protocol: p.name, Grouping: grouping, Seed: seed, Config: p.config, Sets: sets,
			Dir: filepath.Join(o.Out, "runs", name), Cfg: cfg})
	}
	return out, nil
}

// synthSection is, for a method other than ANRL (whose section the generated configs hold),
// its section of configs/<method>/synth.yaml as one --set: the method's CPU-sized settings
// for the synthetic benchmark (fghv: smaller latents, fewer latent steps).
func (o *Options) synthSection() ([]string, error) {
	if o.Method == "anrl" {
		return nil, nil
	}
	p := filepath.Join(o.Configs, "synth.yaml")
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reproduce: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", p, err)
	}
	sec, ok := doc[o.Method]
	if !ok {
		return nil, nil
	}
	js, err := json.Marshal(sec) // JSON is YAML: one --set value for the whole section
	if err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", p, err)
	}
	return []string{o.Method + "=" + string(js)}, nil
}

// runJob reads back a finished run or trains it (resuming an unfinished one), and returns
// its result.
func (o *Options) runJob(ctx context.Context, j Job) (RunResult, error) {
	log := o.Log.With(zap.String("run", filepath.Base(j.Dir)))
	finished, err := inspect(&j)
	if err != nil {
		return RunResult{}, err
	}
	if finished {
		log.Info("finished earlier with the same config; not trained again")
	} else {
		log.Info("training", zap.Bool("resume", j.Resume), zap.Bool("restart", j.Restart))
		if o.Train != nil {
			err = o.Train(ctx, j)
		} else {
			_, err = train.Run(ctx, j.Cfg, train.Options{Resume: j.Resume, Restart: j.Restart, Quiet: o.Quiet,
				Args: append([]string{"fas", "reproduce"}, j.Sets...)})
		}
		if err != nil {
			return RunResult{}, fmt.Errorf("reproduce: run %s: %w", j.Dir, err)
		}
		if !isFinished(j.Dir) {
			return RunResult{}, fmt.Errorf("reproduce: run %s stopped before its final evaluation", j.Dir)
		}
	}
	r, err := readResult(j)
	if err != nil {
		return RunResult{}, err
	}
	r.Dir, _ = filepath.Rel(o.Out, j.Dir)
	log.Info("result", zap.Float64("hter_paper", r.HTERPaper), zap.Float64("auc", r.AUC))
	return r, nil
}

// inspect decides what an existing run directory needs: nothing (finished with this
// config), a resume (unfinished, with a checkpoint) or a restart (unfinished, none). A
// directory whose stored config differs from the job's in any experiment key is refused.
func inspect(j *Job) (finished bool, err error) {
	stored, err := storedConfig(j.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // a new run
	}
	if err != nil {
		return false, fmt.Errorf("reproduce: %s: %w", j.Dir, err)
	}
	was, err := config.Load(stored, nil, nil)
	if err != nil {
		return false, fmt.Errorf("reproduce: %s: %w", stored, err)
	}
	if ch := config.ExperimentChanges(was, j.Cfg); len(ch) > 0 {
		var lines []string
		for _, c := range ch {
			lines = append(lines, "  "+c.String())
		}
		return false, fmt.Errorf("reproduce: run %s was made with another config:\n%s\nnot reusing it: give another --out, or delete the run directory to train it again",
			j.Dir, strings.Join(lines, "\n"))
	}
	if isFinished(j.Dir) {
		return true, nil
	}
	_, ok, err := runinfo.LatestCheckpoint(filepath.Join(j.Dir, "ckpt"))
	if err != nil {
		return false, fmt.Errorf("reproduce: %s: %w", j.Dir, err)
	}
	j.Resume, j.Restart = ok, !ok
	return false, nil
}

// storedConfig is the configuration a run last ran with (the newest resume's, else its
// first).
func storedConfig(dir string) (string, error) {
	resumed, _ := filepath.Glob(filepath.Join(dir, "config.resume-*.yaml"))
	if len(resumed) > 0 {
		slices.Sort(resumed)
		return resumed[len(resumed)-1], nil
	}
	p := filepath.Join(dir, "config.yaml")
	_, err := os.Stat(p)
	return p, err
}

// isFinished: the final evaluation wrote its report and, last, the checkpoint it is of.
func isFinished(dir string) bool {
	for _, f := range []string{report.MetricsJSON, eval.ProvenanceFile} {
		if _, err := os.Stat(filepath.Join(dir, "eval", f)); err != nil {
			return false
		}
	}
	return true
}

// readResult reads a finished run's test report (eval/metrics.json).
func readResult(j Job) (RunResult, error) {
	p := filepath.Join(j.Dir, "eval", report.MetricsJSON)
	b, err := os.ReadFile(p)
	if err != nil {
		return RunResult{}, fmt.Errorf("reproduce: %w", err)
	}
	var rep metrics.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return RunResult{}, fmt.Errorf("reproduce: %s: %w", p, err)
	}
	r := RunResult{Seed: j.Seed, HTERPaper: 100 * rep.Paper.HTER, AUC: 100 * rep.AUC}
	if rep.Realistic != nil {
		v := 100 * rep.Realistic.HTER
		r.HTERRealistic = &v
	}
	return r, nil
}
