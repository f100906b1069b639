// Package train runs ANRL training from a config: epochs of domain-balanced meta steps
// through the shim, the learning-rate schedule, validation and model selection every
// epoch, checkpoints that survive interruption, and the final evaluation of the best
// model on the unseen domain.
package train

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/schedule"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Options steer a training run.
type Options struct {
	Resume bool     // continue the named run from its latest checkpoint
	Args   []string // the command line, recorded in the run directory
	Quiet  bool     // no console log (tests)
	Embed  bool     // also draw the t-SNE picture in the final evaluation
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
}

// job holds what one run needs; its methods are the phases of the loop.
type job struct {
	cfg      *config.Config
	opts     Options
	run      *runinfo.Run
	log      *zap.Logger
	data     *eval.Data
	model    *shim.Model
	trainer  *shim.Trainer
	plan     *dataset.TrainPlan
	loader   *dataset.TrainLoader
	sched    *schedule.Schedule
	selectFn func(*metrics.Report) float64
	higher   bool
	evalOpt  eval.Options

	step     int64 // global optimizer steps done
	epoch    int   // current epoch, 1-based
	epochPos int   // steps done within the current epoch
	best     runinfo.Best
	hasBest  bool
}

// Run trains the model a config describes. Cancelling ctx (SIGINT/SIGTERM in the CLI)
// finishes the step in flight, writes a checkpoint and returns with Interrupted set.
func Run(ctx context.Context, cfg *config.Config, o Options) (res *Result, err error) {
	if cfg.Method != "anrl" {
		return nil, fmt.Errorf("method %q: only anrl can be trained yet", cfg.Method)
	}
	j := &job{cfg: cfg, opts: o}
	defer func() {
		if cerr := j.close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
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
	return res, err
}

func (j *job) setup() error {
	threads := j.cfg.Run.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	if err := shim.SetNumThreads(threads); err != nil {
		return err
	}
	native, err := nativeVersions()
	if err != nil {
		return err
	}
	j.run, err = runinfo.Create(runinfo.Options{Config: j.cfg, Native: native, Args: j.opts.Args,
		Resume: j.opts.Resume, Quiet: j.opts.Quiet})
	if err != nil {
		return err
	}
	j.log = j.run.Log
	j.log.Info("run", zap.String("dir", j.run.Dir), zap.Int64("seed", j.cfg.Seed), zap.Int("threads", threads))
	if j.data, err = eval.OpenData(j.cfg); err != nil {
		return err
	}
	if err := j.buildModel(); err != nil {
		return err
	}
	if err := j.buildData(); err != nil {
		return err
	}
	if j.selectFn, j.higher, err = metrics.Select(j.cfg.Train.SelectMetric); err != nil {
		return fmt.Errorf("train.selectFnmetric: %w", err)
	}
	j.evalOpt = eval.Options{Seed: uint64(j.cfg.Seed), Score: eval.ScoreOptions{
		BatchSize: j.cfg.Val.BatchSize, Loader: dataset.LoaderOptions{BadData: j.data.Policy}}}
	j.epoch = 1
	if j.opts.Resume {
		return j.resume()
	}
	return nil
}

func (j *job) buildModel() error {
	p := j.cfg.Model.Params
	var err error
	j.model, err = shim.NewModel(shim.Config{Method: j.cfg.Method, Size: j.cfg.Transform.ImageSize,
		Width: p.Width, Gate: p.AttentionFlag, Device: j.cfg.Run.Device, Seed: uint64(j.cfg.Seed)})
	if err != nil {
		return err
	}
	tc, err := TrainConfig(j.cfg)
	if err != nil {
		return err
	}
	j.trainer, err = shim.NewTrainer(j.model, tc)
	return err
}

func (j *job) buildData() error {
	var err error
	j.plan, err = dataset.NewTrainPlan(j.data.Train, j.cfg.Train.BatchSize, 0, 1, uint64(j.cfg.Seed))
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

// TrainConfig maps a config onto the shim's training-step settings.
func TrainConfig(c *config.Config) (shim.TrainConfig, error) {
	tc := shim.DefaultTrainConfig(len(c.Dataset.Train))
	tc.Metasize = c.Train.Metasize
	tc.Meta = c.Train.Meta
	tc.MetaStepSize = c.Train.MetaStepSize
	tc.FirstOrder = c.Train.FirstOrder
	tc.TextbookFastWeights = c.Train.TextbookFastWeights
	tc.WCls = c.Loss.Weight
	tc.WDepth = c.Loss2.Weight
	tc.WDomain = c.Loss3.DomainWeight
	tc.WDiscri = c.Loss3.DiscriWeight
	tc.CenterMomentum = c.Loss3.CenterMomentum
	op := c.Optimizer.Params
	switch c.Optimizer.Name {
	case "Adam", "adam", "AdamW", "adamw":
		tc.Optimizer = "adam"
		if len(op.Betas) == 2 {
			tc.Beta1, tc.Beta2 = op.Betas[0], op.Betas[1]
		}
		if op.Eps > 0 {
			tc.Eps = op.Eps
		}
	case "SGD", "sgd":
		tc.Optimizer = "sgd"
		tc.Momentum, tc.Nesterov = op.Momentum, op.Nesterov
	default:
		return tc, fmt.Errorf("optimizer.name %q: want Adam, AdamW or SGD", c.Optimizer.Name)
	}
	tc.WeightDecay = op.WeightDecay
	tc.DecoupledWeightDecay = op.DecoupledWeightDecay || c.Optimizer.Name == "AdamW" || c.Optimizer.Name == "adamw"
	tc.Seed = uint64(c.Seed)
	return tc, nil
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
