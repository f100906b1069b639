// Package runinfo is the recorder of a training run: every side effect of a run (its
// directory, logs, metrics, TensorBoard scalars, checkpoints, the best-checkpoint mark, the
// evaluation report's place and the progress reporter) goes through one *Run.
//
//	runs/<name>/run.lock             held (flock) by the process writing the run; pid and start
//	runs/<name>/config.yaml          the resolved configuration
//	runs/<name>/versions.json        versions, git commit, host, seed, start time, command line
//	runs/<name>/log.jsonl            the zap log as JSON lines
//	runs/<name>/metrics/steps.jsonl  one line per logged training step
//	runs/<name>/metrics/epochs.jsonl one line per epoch (validation metrics)
//	runs/<name>/tb/events.out.tfevents.<ts>.<host>  TensorBoard scalars
//	runs/<name>/ckpt/step-NNNNNNNNN/ checkpoints (see BeginCheckpoint), ckpt/best.json
//	runs/<name>/eval/                the final evaluation report
//
// A run of several processes (Options.Rank, Options.World) shares one directory, named in
// advance. Only rank 0 writes: on every other rank the recorder creates nothing, its writing
// methods do nothing and return nil, its progress reporter is silent and its logger shows
// warnings and errors on the console only. Reading methods (LatestCheckpoint, Best) work on
// every rank, so that all of them can resume from the same checkpoint.
package runinfo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/runinfo/tfevents"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Options for Create.
type Options struct {
	Config *config.Config // the resolved, validated configuration
	Native Native         // versions of the native core, from the shim
	Args   []string       // the command line (os.Args)
	Now    time.Time      // start time; zero = time.Now()
	// Name is the run directory's name; it overrides config run.name. With both empty the
	// name is <method>-<protocol>-<YYYYMMDD-HHMMSS>, which a run of World > 1 processes
	// cannot use: they must agree on the name in advance.
	Name string
	// Resume reopens the named run directory, which must hold a checkpoint, and appends to
	// its logs and metrics.
	Resume bool
	// Restart deletes the contents of the named run directory, if it exists (a run
	// directory only, never a foreign one), and starts afresh in it.
	Restart bool
	Rank    int // this process's rank; only rank 0 writes
	World   int // number of processes of the run; 0 = 1
	// PrintInterval is the steps between progress log lines when the console is not a
	// terminal; 0 = config train.print_interval, or 10.
	PrintInterval int
	Quiet         bool      // no console log and no progress bar (tests)
	Debug         bool      // log debug messages
	Console       io.Writer // console log and progress bar sink; nil = stderr
}

// Run is an open run directory.
type Run struct {
	Name  string
	Dir   string // the run directory; only rank 0 writes to it
	Rank  int
	World int
	Log   *zap.Logger // rank 0: console (unless Quiet) and log.jsonl; others: warnings on the console

	steps  *JSONL           // metrics/steps.jsonl; nil on rank != 0
	epochs *JSONL           // metrics/epochs.jsonl; nil on rank != 0
	tb     *tfevents.Writer // tb/events.out.tfevents.*; nil on rank != 0

	lock       *runLock
	recovered  []string // repairs of ckpt/ made while claiming the directory
	closeLog   func()
	console    io.Writer // nil = stderr
	quiet      bool
	printEvery int
}

const stampLayout = "20060102-150405"

// Create opens the run directory runs/<name>/ (run.dir of the config; the name from
// o.Name, config run.name or a timestamp, see Options) for this process.
//
// On rank 0 it takes the directory's lock for the life of the Run (a second process on the
// same directory fails with the pid holding it), then: a new name gets a new directory; an
// existing named directory is an error that says what it holds, unless o.Resume (it must
// hold a checkpoint) or o.Restart (its contents are deleted). It then writes config.yaml
// and versions.json (config.resume-<ts>.yaml and versions.resume-<ts>.json on resume) and
// opens the log and metrics files.
//
// On other ranks it creates nothing; with o.Resume it checks that the directory holds a
// checkpoint.
func Create(o Options) (*Run, error) {
	if o.Config == nil {
		return nil, errors.New("runinfo: no config")
	}
	if o.World == 0 {
		o.World = 1
	}
	if o.World < 1 || o.Rank < 0 || o.Rank >= o.World {
		return nil, fmt.Errorf("runinfo: rank %d of %d processes", o.Rank, o.World)
	}
	if o.Resume && o.Restart {
		return nil, errors.New("runinfo: resume and restart exclude each other")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	name := o.Name
	if name == "" {
		name = o.Config.Run.Name
	}
	if name != "" && !pathElement(name) {
		return nil, fmt.Errorf("runinfo: run name %q must be one directory name (no /, not . or ..)", name)
	}
	if name == "" {
		switch {
		case o.Resume:
			return nil, errors.New("runinfo: resume needs the run's name (run.name)")
		case o.Restart:
			return nil, errors.New("runinfo: restart needs the run's name (run.name)")
		case o.World > 1:
			return nil, fmt.Errorf("runinfo: a run of %d processes needs a fixed run name (run.name) so that every process opens the same directory", o.World)
		}
	}
	r := &Run{Name: name, Rank: o.Rank, World: o.World, console: o.Console, quiet: o.Quiet,
		printEvery: o.PrintInterval}
	if r.printEvery <= 0 {
		r.printEvery = o.Config.Train.PrintInterval
	}
	if r.printEvery <= 0 {
		r.printEvery = 10
	}
	if o.Rank != 0 {
		return r.openFollower(o)
	}
	recovered, err := r.claim(o)
	if err != nil {
		return nil, err
	}
	if err := r.writeInfo(o); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.open(o); err != nil {
		r.Close()
		return nil, err
	}
	fields := []zap.Field{zap.String("dir", r.Dir), zap.Bool("resume", o.Resume)}
	if o.Restart {
		fields = append(fields, zap.Bool("restart", true))
	}
	if o.World > 1 {
		fields = append(fields, zap.Int("world", o.World))
	}
	r.Log.Info("run directory", fields...)
	for _, msg := range recovered {
		r.Log.Warn("checkpoint directory", zap.String("repaired", msg))
	}
	return r, nil
}

func pathElement(s string) bool {
	return s != "." && s != ".." && !strings.ContainsAny(s, `/\`) && !strings.ContainsRune(s, 0)
}

// openFollower is Create on a rank other than 0: nothing is written.
func (r *Run) openFollower(o Options) (*Run, error) {
	r.Dir = filepath.Join(o.Config.Run.Dir, r.Name)
	if o.Resume {
		if err := checkResumable(r.Dir); err != nil {
			return nil, err
		}
	}
	log, closeLog, err := logging.New(logging.Options{Quiet: o.Quiet, Debug: o.Debug, Console: o.Console,
		ConsoleLevel: zapcore.WarnLevel})
	if err != nil {
		return nil, fmt.Errorf("runinfo: log: %w", err)
	}
	r.Log, r.closeLog = log.With(zap.Int("rank", o.Rank)), closeLog
	return r, nil
}

// claim picks, locks and prepares the run directory on rank 0, and returns what it repaired
// in ckpt/ (for the log).
func (r *Run) claim(o Options) ([]string, error) {
	parent := o.Config.Run.Dir
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("runinfo: run.dir: %w", err)
	}
	var err error
	if r.Name == "" {
		err = r.claimNew(parent, o.Config, o.Now)
	} else {
		err = r.claimNamed(filepath.Join(parent, r.Name), o)
	}
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"metrics", "tb", "ckpt"} {
		if err := os.MkdirAll(filepath.Join(r.Dir, sub), 0o755); err != nil {
			r.Close()
			return nil, fmt.Errorf("runinfo: %w", err)
		}
	}
	// No other process writes here now: leftovers of one that was killed can go.
	more, err := recoverCheckpoints(r.CkptDir())
	if err != nil {
		r.Close()
		return nil, err
	}
	return append(r.recovered, more...), nil
}

// claimNew makes a directory with an automatic name: <method>-<protocol>-<stamp>, with
// -2, -3, ... if taken.
// autoName is the automatic run name of a config started at now.
func autoName(c *config.Config, now time.Time) string {
	return fmt.Sprintf("%s-%s-%s", c.Method, c.Run.Protocol, now.Format(stampLayout))
}

// FreeName is the automatic name a run of c started at now gets (<method>-<protocol>-<time>,
// with -2, -3, ... when taken), for a launcher that must give every rank the same name.
func FreeName(c *config.Config, now time.Time) (string, error) {
	base := autoName(c, now)
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Stat(filepath.Join(c.Run.Dir, name)); errors.Is(err, os.ErrNotExist) {
			return name, nil
		}
	}
	return "", fmt.Errorf("runinfo: no free run directory name for %s", base)
}

func (r *Run) claimNew(parent string, c *config.Config, now time.Time) error {
	base := autoName(c, now)
	for i := 1; i < 1000; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		dir := filepath.Join(parent, name)
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("runinfo: %w", err)
		}
		r.Name, r.Dir = name, dir
		r.lock, err = lockRun(dir, now)
		return err
	}
	return fmt.Errorf("runinfo: no free run directory name for %s", base)
}

// claimNamed opens a named directory according to o.Resume and o.Restart.
func (r *Run) claimNamed(dir string, o Options) error {
	if o.Resume {
		if !isDir(dir) {
			return fmt.Errorf("runinfo: cannot resume: there is no run directory %s", dir)
		}
		l, err := lockRun(dir, o.Now)
		if err != nil {
			return err
		}
		// A checkpoint a killed process left between two renames counts.
		r.recovered, err = recoverCheckpoints(filepath.Join(dir, "ckpt"))
		if err == nil {
			err = checkResumable(dir)
		}
		if err != nil {
			l.release()
			return err
		}
		r.Dir, r.lock = dir, l
		return nil
	}
	err := os.Mkdir(dir, 0o755)
	if err == nil {
		r.Dir = dir
		r.lock, err = lockRun(dir, o.Now)
		return err
	}
	if !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("runinfo: %w", err)
	}
	if !isDir(dir) {
		return fmt.Errorf("runinfo: %s exists and is not a directory; choose another run name", dir)
	}
	if !o.Restart {
		if err := probeLock(dir); err != nil {
			return err
		}
		return existsError(dir)
	}
	if !looksLikeRun(dir) {
		return fmt.Errorf("runinfo: %s exists and is not a run directory (no config.yaml); not deleting it for a restart, choose another run name", dir)
	}
	l, err := lockRun(dir, o.Now)
	if err != nil {
		return err
	}
	if err := clearDir(dir); err != nil {
		l.release()
		return err
	}
	r.Dir, r.lock = dir, l
	return nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// looksLikeRun is whether dir is empty or holds a file a run directory has.
func looksLikeRun(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	if len(ents) == 0 {
		return true
	}
	for _, f := range []string{"config.yaml", "versions.json", "log.jsonl", lockName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// clearDir removes everything in dir but the lock file.
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("runinfo: restart: %w", err)
	}
	for _, e := range ents {
		if e.Name() == lockName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("runinfo: restart: %w", err)
		}
	}
	return nil
}

// writeInfo writes config.yaml and versions.json (on resume: config.resume-<ts>.yaml and
// versions.resume-<ts>.json, keeping the originals).
func (r *Run) writeInfo(o Options) error {
	cfg, ver := "config.yaml", "versions.json"
	if o.Resume {
		ts := o.Now.Format(stampLayout)
		cfg, ver = "config.resume-"+ts+".yaml", "versions.resume-"+ts+".json"
	}
	c := *o.Config
	c.Run.Name = r.Name // the file says which directory it belongs to
	y, err := c.YAML()
	if err != nil {
		return err
	}
	if err := safetensors.WriteFileAtomic(filepath.Join(r.Dir, cfg), y); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	v := collectVersions(o.Native, c.Seed, o.Now, o.Args)
	j, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("runinfo: versions: %w", err)
	}
	if err := safetensors.WriteFileAtomic(filepath.Join(r.Dir, ver), append(j, '\n')); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	return nil
}

func (r *Run) open(o Options) error {
	var err error
	r.Log, r.closeLog, err = logging.New(logging.Options{
		JSONFile: filepath.Join(r.Dir, "log.jsonl"), Quiet: o.Quiet, Debug: o.Debug, Console: o.Console,
	})
	if err != nil {
		return fmt.Errorf("runinfo: log: %w", err)
	}
	if r.steps, err = OpenJSONL(filepath.Join(r.Dir, "metrics", "steps.jsonl")); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	if r.epochs, err = OpenJSONL(filepath.Join(r.Dir, "metrics", "epochs.jsonl")); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	if r.tb, err = tfevents.Create(filepath.Join(r.Dir, "tb"), host, nil); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	return nil
}

// writes is whether this process writes the run directory (rank 0).
func (r *Run) writes() bool { return r.Rank == 0 }

// CkptDir is the run's checkpoint directory (for reading; checkpoints are written with
// Checkpoint).
func (r *Run) CkptDir() string { return filepath.Join(r.Dir, "ckpt") }

// EvalDir is where the final evaluation report goes, <dir>/eval; "" on rank != 0 (an
// evaluation with an empty OutDir writes nothing).
func (r *Run) EvalDir() string {
	if !r.writes() {
		return ""
	}
	return filepath.Join(r.Dir, "eval")
}

// StepMetrics records a training step: a line {"step", "epoch", values...} in steps.jsonl
// and each value as a TensorBoard scalar tagged with its name at step. No-op on rank != 0.
func (r *Run) StepMetrics(step int64, epoch float64, values map[string]float64) error {
	if !r.writes() {
		return nil
	}
	return r.metrics(r.steps, map[string]any{"step": step, "epoch": epoch}, step, values)
}

// EpochMetrics records the end of an epoch (validation metrics, averages): a line
// {"epoch", "step", values...} in epochs.jsonl and the values in TensorBoard at step, the
// global step, so that they line up with the step curves. No-op on rank != 0.
func (r *Run) EpochMetrics(epoch int, step int64, values map[string]float64) error {
	if !r.writes() {
		return nil
	}
	return r.metrics(r.epochs, map[string]any{"epoch": epoch, "step": step}, step, values)
}

func (r *Run) metrics(j *JSONL, rec map[string]any, step int64, values map[string]float64) error {
	for k, v := range values {
		if _, reserved := rec[k]; reserved || k == "time" {
			return fmt.Errorf("runinfo: metric name %q is reserved", k)
		}
		rec[k] = v
	}
	if j == nil || r.tb == nil {
		return errors.New("runinfo: the run is closed")
	}
	if err := j.Write(rec); err != nil {
		return err
	}
	if len(values) == 0 {
		return nil
	}
	return r.tb.Scalars(step, values)
}

// Fail records why the run failed: an error-level entry "run failed" with the error in
// log.jsonl, which the next Create of the directory quotes. Nil does nothing.
func (r *Run) Fail(err error) {
	if err == nil || r.Log == nil {
		return
	}
	r.Log.Error("run failed", zap.Error(err))
}

// Progress starts the progress reporter of total steps labelled desc (e.g. "epoch 3/50"):
// a bar on a terminal, otherwise a log line every PrintInterval steps. Silent on rank != 0
// and with Quiet (then its lines still reach log.jsonl).
func (r *Run) Progress(total int, desc string) *Progress {
	if !r.writes() {
		return NewProgress(total, zap.NewNop(), WithDescription(desc), WithOutput(io.Discard, false))
	}
	out, terminal := io.Writer(os.Stderr), term.IsTerminal(int(os.Stderr.Fd()))
	switch {
	case r.quiet:
		out, terminal = io.Discard, false
	case r.console != nil:
		out, terminal = r.console, false
		if f, ok := r.console.(*os.File); ok {
			terminal = term.IsTerminal(int(f.Fd()))
		}
	}
	return NewProgress(total, r.Log, WithDescription(desc), WithLogEvery(r.printEvery), WithOutput(out, terminal))
}

// Close flushes and closes every file of the run, releases the directory's lock and returns
// the errors it met. A second Close does nothing.
func (r *Run) Close() error {
	var errs []error
	if r.tb != nil {
		errs = append(errs, r.tb.Close())
		r.tb = nil
	}
	if r.steps != nil {
		errs = append(errs, r.steps.Close())
		r.steps = nil
	}
	if r.epochs != nil {
		errs = append(errs, r.epochs.Close())
		r.epochs = nil
	}
	if r.closeLog != nil {
		r.closeLog()
		r.closeLog = nil
	}
	if r.lock != nil {
		errs = append(errs, r.lock.release())
		r.lock = nil
	}
	return errors.Join(errs...)
}
