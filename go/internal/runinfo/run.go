// Package runinfo creates and fills the directory of one training run:
//
//	runs/<name>/config.yaml          the resolved configuration
//	runs/<name>/versions.json        versions, git commit, host, seed, start time, command line
//	runs/<name>/log.jsonl            the zap log as JSON lines
//	runs/<name>/metrics/steps.jsonl  one line per logged training step
//	runs/<name>/metrics/epochs.jsonl one line per epoch (validation metrics)
//	runs/<name>/tb/events.out.tfevents.<ts>.<host>  TensorBoard scalars
//	runs/<name>/ckpt/step-NNNNNNNNN/ checkpoints (see BeginCheckpoint)
//
// It also has the epoch progress reporter the training loop uses.
package runinfo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/runinfo/tfevents"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"go.uber.org/zap"
)

// Options for Create.
type Options struct {
	Config *config.Config // the resolved, validated configuration
	Native Native         // versions of the native core, from the shim
	Args   []string       // the command line (os.Args)
	Now    time.Time      // start time; zero = time.Now()
	Resume bool           // reopen an existing run directory and append to its logs
	Quiet  bool           // no console log (tests)
	Debug  bool           // log debug messages
}

// Run is an open run directory.
type Run struct {
	Name   string
	Dir    string
	Log    *zap.Logger      // console (unless Quiet) and log.jsonl
	Steps  *JSONL           // metrics/steps.jsonl
	Epochs *JSONL           // metrics/epochs.jsonl
	TB     *tfevents.Writer // tb/events.out.tfevents.*

	closeLog func()
}

const stampLayout = "20060102-150405"

// Create makes runs/<name>/ (run.dir and run.name of the config; an empty name becomes
// <method>-<protocol>-<YYYYMMDD-HHMMSS>, with -2, -3, ... if taken) and opens its files.
// An explicitly named directory that exists is an error unless o.Resume.
func Create(o Options) (*Run, error) {
	if o.Config == nil {
		return nil, errors.New("runinfo: no config")
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	dir, name, err := runDir(o)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"metrics", "tb", "ckpt"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("runinfo: %w", err)
		}
	}
	r := &Run{Name: name, Dir: dir}
	if err := r.writeInfo(o); err != nil {
		return nil, err
	}
	if err := r.open(o); err != nil {
		r.Close()
		return nil, err
	}
	r.Log.Info("run directory", zap.String("dir", dir), zap.Bool("resume", o.Resume))
	return r, nil
}

// runDir picks and creates the directory.
func runDir(o Options) (dir, name string, err error) {
	c := o.Config
	if err := os.MkdirAll(c.Run.Dir, 0o755); err != nil {
		return "", "", fmt.Errorf("runinfo: run.dir: %w", err)
	}
	if c.Run.Name != "" {
		dir = filepath.Join(c.Run.Dir, c.Run.Name)
		if o.Resume {
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return "", "", fmt.Errorf("runinfo: resume: no run directory %s", dir)
			}
			return dir, c.Run.Name, nil
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			if errors.Is(err, os.ErrExist) {
				return "", "", fmt.Errorf("runinfo: run directory %s exists (choose another run.name, or resume)", dir)
			}
			return "", "", fmt.Errorf("runinfo: %w", err)
		}
		return dir, c.Run.Name, nil
	}
	if o.Resume {
		return "", "", errors.New("runinfo: resume needs run.name")
	}
	base := fmt.Sprintf("%s-%s-%s", c.Method, c.Run.Protocol, o.Now.Format(stampLayout))
	for i := 1; i < 1000; i++ {
		name = base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		dir = filepath.Join(c.Run.Dir, name)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, name, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("runinfo: %w", err)
		}
	}
	return "", "", fmt.Errorf("runinfo: no free run directory name for %s", base)
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
		JSONFile: filepath.Join(r.Dir, "log.jsonl"), Quiet: o.Quiet, Debug: o.Debug,
	})
	if err != nil {
		return fmt.Errorf("runinfo: log: %w", err)
	}
	if r.Steps, err = OpenJSONL(filepath.Join(r.Dir, "metrics", "steps.jsonl")); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	if r.Epochs, err = OpenJSONL(filepath.Join(r.Dir, "metrics", "epochs.jsonl")); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	if r.TB, err = tfevents.Create(filepath.Join(r.Dir, "tb"), host, nil); err != nil {
		return fmt.Errorf("runinfo: %w", err)
	}
	return nil
}

// CkptDir is the run's checkpoint directory.
func (r *Run) CkptDir() string { return filepath.Join(r.Dir, "ckpt") }

// StepMetrics records a training step: a line {"step", "epoch", values...} in steps.jsonl
// and each value as a TensorBoard scalar tagged with its name at step.
func (r *Run) StepMetrics(step int64, epoch float64, values map[string]float64) error {
	return r.metrics(r.Steps, map[string]any{"step": step, "epoch": epoch}, step, values)
}

// EpochMetrics records the end of an epoch (validation metrics, averages): a line
// {"epoch", "step", values...} in epochs.jsonl and the values in TensorBoard at step, the
// global step, so that they line up with the step curves.
func (r *Run) EpochMetrics(epoch int, step int64, values map[string]float64) error {
	return r.metrics(r.Epochs, map[string]any{"epoch": epoch, "step": step}, step, values)
}

func (r *Run) metrics(j *JSONL, rec map[string]any, step int64, values map[string]float64) error {
	for k, v := range values {
		if _, reserved := rec[k]; reserved || k == "time" {
			return fmt.Errorf("runinfo: metric name %q is reserved", k)
		}
		rec[k] = v
	}
	if err := j.Write(rec); err != nil {
		return err
	}
	if len(values) == 0 {
		return nil
	}
	return r.TB.Scalars(step, values)
}

// Close flushes and closes every file of the run and returns the errors it met.
func (r *Run) Close() error {
	var errs []error
	if r.TB != nil {
		errs = append(errs, r.TB.Close())
	}
	if r.Steps != nil {
		errs = append(errs, r.Steps.Close())
	}
	if r.Epochs != nil {
		errs = append(errs, r.Epochs.Close())
	}
	if r.closeLog != nil {
		r.closeLog()
	}
	return errors.Join(errs...)
}
