// Package train runs training from a config, for any registered method: epochs of
// domain-balanced steps through the shim, the learning-rate schedule, validation and model
// selection every epoch, checkpoints that survive interruption, and the final evaluation of
// the best model on the unseen domain. Every file it writes goes through the run's recorder
// (package runinfo), which writes nothing on a rank other than 0.
package train

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/schedule"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Options steer a training run.
type Options struct {
	Resume  bool     // continue the named run from its latest checkpoint
	Restart bool     // delete what the named run directory holds and start afresh
	Args    []string // the command line, recorded in the run directory
	Quiet   bool     // no console log (tests)
	Embed   bool     // also draw the t-SNE picture in the final evaluation
	// Name fixes the run directory's name from outside (overrides run.name), so that the
	// processes of one run agree on it.
	Name        string
	Rank, World int // this process's rank and the number of processes (0 and 1 by default)
	// Group, when set, is the process group of a run of several ranks (its rank and world
	// size win over Rank and World): gradients are averaged through it, metrics averaged,
	// evaluation split and gathered, checkpoints written by rank 0 after every rank's step.
	Group *shim.Group
	// Changes are the experiment changes a resume was explicitly allowed to make; they are
	// recorded in the run's log.
	Changes []config.Change
	// AfterStep, when set, is called after every optimizer step with the global step count
	// (tests use it to stop a run at an exact step).
	AfterStep func(step int64)
}

// Result describes a finished (or interrupted) run.
type Result struct {
	RunDir      string
	Steps       int64 // optimizer steps taken, resumed ones included
	Interrupted bool  // stopped by the context (a signal) after a checkpoint
	Best        runinfo.Best
	Eval        *eval.Result // nil when interrupted
	// Calibrated are the model settings fitted on the validation lists after training and
	// stored with the best checkpoint (method.Calibrator; FGHV: lambda); nil when none.
	Calibrated shim.Settings
}

// job holds what one run needs; its methods are the phases of the loop.
type job struct {
	cfg       *config.Config
	opts      Options
	method    method.Method
	run       *runinfo.Run
	log       *zap.Logger
	data      *eval.Data
	model     *shim.Model
	trainer   *shim.Trainer
	plan      *dataset.TrainPlan
	loader    *dataset.TrainLoader
	sched     *schedule.Schedule
	criterion func(*metrics.Report) float64
	higher    bool
	evalOpt   eval.Options

	group   *shim.Group // nil in one process
	stopped bool        // every rank agreed to stop (a signal reached one of them)

	step     int64 // global optimizer steps done
	epoch    int   // current epoch, 1-based
	epochPos int   // steps done within the current epoch
	best     runinfo.Best
	hasBest  bool
	fitted   calibration
}

// Run trains the model a config describes. Cancelling ctx (SIGINT/SIGTERM in the CLI)
// finishes the step in flight, writes a checkpoint and returns with Interrupted set. A
// failure after the run directory opened is recorded in its log.jsonl.
func Run(ctx context.Context, cfg *config.Config, o Options) (res *Result, err error) {
	j := &job{cfg: cfg, opts: o}
	defer func() {
		if err != nil && j.run != nil {
			j.run.Fail(err)
		}
		if cerr := j.close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if j.method, err = method.Get(cfg.Method); err != nil {
		return nil, err
	}
	if err := j.setup(); err != nil {
		return nil, err
	}
	res = &Result{RunDir: j.run.Dir}
	interrupted, err := j.loop(ctx)
	res.Steps, res.Best, res.Interrupted = j.step, j.best, interrupted
	if err != nil || interrupted {
		return res, err
	}
	res.Eval, err = j.finalEval()
	res.Calibrated = j.fitted.settings
	return res, err
}

func (j *job) setup() error {
	if g := j.opts.Group; g != nil {
		j.group, j.opts.Rank, j.opts.World = g, g.Rank(), g.World()
		if g.World() > 1 && j.cfg.Dataset.BadData == "skip" {
			return fmt.Errorf("dataset.bad_data: skip drops whole training batches, which would leave the ranks with different step counts; a run of %d ranks needs fail", g.World())
		}
	}
	native, err := nativeVersions()
	if err != nil {
		return err
	}
	j.run, err = runinfo.Create(runinfo.Options{Config: j.cfg, Native: native, Args: j.opts.Args,
		Name: j.opts.Name, Resume: j.opts.Resume, Restart: j.opts.Restart, Rank: j.opts.Rank, World: j.opts.World,
		Quiet: j.opts.Quiet})
	if err != nil {
		return err
	}
	j.log = j.run.Log
	j.log.Info("run", zap.String("dir", j.run.Dir), zap.String("method", j.cfg.Method), zap.Int64("seed", j.cfg.Seed),
		zap.Int("threads", threads(j.cfg)), zap.Int("rank", j.run.Rank), zap.Int("world", j.run.World))
	for _, c := range j.opts.Changes {
		j.log.Warn("resumed with a changed experiment", zap.String("key", c.Key), zap.String("was", c.Old), zap.String("now", c.New))
	}
	if j.data, err = eval.OpenData(j.cfg); err != nil {
		return err
	}
	if err := j.buildModel(); err != nil {
		return err
	}
	if err := j.buildData(); err != nil {
		return err
	}
	if j.criterion, j.higher, err = metrics.Select(j.cfg.Train.SelectMetric); err != nil {
		return fmt.Errorf("train.select_metric: %w", err)
	}
	j.evalOpt = eval.OptionsFromConfig(j.cfg)
	j.evalOpt.Score = eval.ScoreOptions{BatchSize: j.cfg.Val.BatchSize, Seed: uint64(j.cfg.Seed),
		Loader: dataset.LoaderOptions{BadData: j.data.Policy}}
	if j.group != nil {
		j.evalOpt.Score.Group = j.group
	}
	j.epoch = 1
	if j.opts.Resume {
		return j.resume()
	}
	return nil
}

// threads is run.threads, or every core.
func threads(c *config.Config) int {
	if c.Run.Threads > 0 {
		return c.Run.Threads
	}
	return shim.DefaultThreads()
}

func (j *job) buildModel() error {
	mc, err := method.ModelConfig(j.cfg, threads(j.cfg))
	if err != nil {
		return err
	}
	if j.model, err = shim.NewModel(mc); err != nil {
		return err
	}
	tc, err := method.TrainConfig(j.cfg, len(j.cfg.Dataset.Train))
	if err != nil {
		return err
	}
	if j.trainer, err = shim.NewTrainer(j.model, tc); err != nil {
		return err
	}
	if j.group != nil {
		return j.trainer.SetGroup(j.group, j.cfg.Train.AverageState)
	}
	return nil
}

func (j *job) buildData() error {
	var err error
	j.plan, err = dataset.NewTrainPlan(j.data.Train, j.cfg.Train.BatchSize, j.run.Rank, j.run.World, uint64(j.cfg.Seed))
	if err != nil {
		return err
	}
	j.loader, err = dataset.NewTrainLoader(j.data.DB, j.plan, j.data.Transform,
		dataset.LoaderOptions{BadData: j.data.Policy})
	if err != nil {
		return err
	}
	j.sched, err = schedule.FromConfig(j.cfg, j.plan.Steps())
	if err != nil {
		return err
	}
	j.log.Info("data", zap.Int("domains", j.plan.K()), zap.Int("steps_per_epoch", j.plan.Steps()),
		zap.Int("val_frames", len(j.data.Val.Entries)), zap.Int("test_frames", len(j.data.Test.Entries)))
	return nil
}

func (j *job) close() error {
	var errs []error
	if j.trainer != nil {
		errs = append(errs, j.trainer.Close())
	}
	if j.model != nil {
		errs = append(errs, j.model.Close())
	}
	if j.data != nil {
		errs = append(errs, j.data.Close())
	}
	if j.run != nil {
		errs = append(errs, j.run.Close())
	}
	return errors.Join(errs...)
}

func nativeVersions() (runinfo.Native, error) {
	v, err := shim.Version()
	if err != nil {
		return runinfo.Native{}, err
	}
	n := runinfo.Native{Shim: v.Shim, Libtorch: v.Torch}
	if v.CUDAAvailable {
		n.CUDA = fmt.Sprintf("%d device(s)", v.CUDADevices)
	}
	return n, nil
}
