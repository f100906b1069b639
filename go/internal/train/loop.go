package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Files of one checkpoint directory.
const (
	StateFile   = "state.safetensors" // the whole training state (resume)
	WeightsFile = "model.safetensors" // the weights alone (eval, serving, PyTorch)
)

// ErrDiverged marks a run stopped because a loss or gradient became NaN or Inf.
var ErrDiverged = errors.New("training diverged")

// loop runs the remaining epochs; it reports whether ctx stopped it.
func (j *job) loop(ctx context.Context) (bool, error) {
	for ; j.epoch <= j.cfg.Train.Epochs; j.epoch, j.epochPos = j.epoch+1, 0 {
		done, err := j.runEpoch(ctx)
		if err != nil {
			return false, err
		}
		if !done {
			return true, j.checkpoint(j.epoch, j.epochPos)
		}
		if err := j.endEpoch(ctx); err != nil {
			return false, err
		}
	}
	return false, nil
}

// runEpoch trains the rest of the current epoch; false means ctx stopped it between steps.
func (j *job) runEpoch(ctx context.Context) (bool, error) {
	if j.epochPos == 0 {
		if err := j.trainer.EpochBegin(j.epoch); err != nil { // the method's hook (anrl: centers)
			return false, err
		}
	}
	// The loader gets its own context: a signal must let the current step finish.
	dataCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	it := j.loader.Epoch(dataCtx, j.epoch)
	defer it.Close()
	prog := j.run.Progress(j.plan.Steps()-j.epochPos, fmt.Sprintf("epoch %d/%d", j.epoch, j.cfg.Train.Epochs))
	defer prog.Stop() // a failed epoch is not reported as done
	if err := skip(it, j.epochPos); err != nil {
		return false, err
	}
	for {
		if ctx.Err() != nil {
			j.log.Info("stopping: writing a checkpoint", zap.Int("epoch", j.epoch), zap.Int64("step", j.step))
			return false, nil
		}
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("epoch %d: %w", j.epoch, err)
		}
		if err := j.trainStep(b, prog); err != nil {
			return false, err
		}
		if every := j.cfg.Train.CheckpointEvery; every > 0 && j.step%int64(every) == 0 {
			if err := j.checkpoint(j.epoch, j.epochPos); err != nil {
				return false, err
			}
		}
	}
	if st := it.Stats(); st.Skipped > 0 {
		j.log.Warn("bad samples skipped", zap.Int("epoch", j.epoch), zap.Int("samples", st.Skipped),
			zap.Int("batches_dropped", st.DroppedBatches), zap.Strings("first_errors", st.Errors))
	}
	prog.Done()
	return true, nil
}

// skip replays the batches of the epoch that a resumed run already trained on, so that
// the rest of the epoch sees exactly the samples and augmentations it would have.
func skip(it *dataset.TrainIter, n int) error {
	for i := 0; i < n; i++ {
		if _, err := it.Next(); err != nil {
			return fmt.Errorf("resuming: replaying batch %d of the epoch: %w", i, err)
		}
	}
	return nil
}

func (j *job) trainStep(b *dataset.TrainBatch, prog *runinfo.Progress) error {
	lr := j.sched.LR(int(j.step))
	st, err := j.trainer.Step(j.method.Batch(b), lr)
	if errors.Is(err, shim.ErrNonFinite) {
		return fmt.Errorf("%w at epoch %d, step %d of the epoch (global step %d): %v; %s",
			ErrDiverged, j.epoch, j.epochPos+1, j.step+1, err, j.kept())
	}
	if err != nil {
		return fmt.Errorf("epoch %d step %d: %w", j.epoch, j.epochPos+1, err)
	}
	j.step++
	j.epochPos++
	values := st.Values()
	values["lr"] = lr
	if err := j.run.StepMetrics(j.step, j.sched.Epoch(int(j.step)), values); err != nil {
		return err
	}
	shown := map[string]float64{"lr": lr}
	for _, k := range j.method.ProgressKeys() {
		if v, ok := values[k]; ok {
			shown[k] = v
		}
	}
	prog.Step(b.K*2*b.B, shown)
	if j.opts.AfterStep != nil {
		j.opts.AfterStep(j.step)
	}
	return nil
}

// kept says which checkpoint survives a failure.
func (j *job) kept() string {
	c, ok, err := j.run.LatestCheckpoint()
	if err != nil || !ok {
		return "no checkpoint was written before it"
	}
	return fmt.Sprintf("the last good checkpoint (step %d) is kept in %s", c.Step, c.Dir)
}

// endEpoch validates, keeps the best checkpoint by the chosen metric and records the epoch.
func (j *job) endEpoch(ctx context.Context) error {
	val, err := eval.Validate(ctx, j.model, j.data, j.evalOpt)
	if err != nil {
		return fmt.Errorf("epoch %d: %w", j.epoch, err)
	}
	rep := val.Report
	value := j.criterion(rep)
	values := map[string]float64{"val/auc": rep.AUC, "val/eer": rep.EER, "val/hter": rep.Paper.HTER,
		"val/" + j.cfg.Train.SelectMetric: value}
	if err := j.run.EpochMetrics(j.epoch, j.step, values); err != nil {
		return err
	}
	j.log.Info("validation", zap.Int("epoch", j.epoch), zap.Float64("auc", runinfo.Significant(rep.AUC, 4)),
		zap.Float64("eer", runinfo.Significant(rep.EER, 4)), zap.Float64("hter", runinfo.Significant(rep.Paper.HTER, 4)))
	// The epoch is complete: its checkpoint resumes at the start of the next one.
	if err := j.checkpoint(j.epoch+1, 0); err != nil {
		return err
	}
	if !math.IsNaN(value) && (!j.hasBest || metrics.Better(value, j.best.Value, j.higher)) {
		j.best = runinfo.Best{Step: j.step, Epoch: j.epoch, Metric: j.cfg.Train.SelectMetric, Value: value}
		j.hasBest = true
		if err := j.run.MarkBest(j.best); err != nil {
			return err
		}
		j.log.Info("new best", zap.Int("epoch", j.epoch), zap.String("metric", j.best.Metric), zap.Float64("value", value))
	}
	// Keep the latest and the best checkpoints only.
	return j.run.Prune(func(c runinfo.Checkpoint) bool {
		return c.Step == j.step || (j.hasBest && c.Step == j.best.Step)
	})
}

// checkpoint writes the training state and the weights of the current step atomically;
// a resume continues at step pos of epoch.
func (j *job) checkpoint(epoch, pos int) error {
	extra := map[string]string{"epoch": strconv.Itoa(epoch), "epoch_step": strconv.Itoa(pos),
		"step": strconv.FormatInt(j.step, 10), "seed": strconv.FormatInt(j.cfg.Seed, 10)}
	_, err := j.run.Checkpoint(j.step, func(dir string) error {
		if err := j.trainer.SaveCheckpoint(filepath.Join(dir, StateFile), j.model.Info(), extra); err != nil {
			return err
		}
		return model.Save(j.model, filepath.Join(dir, WeightsFile), extra)
	})
	if err != nil {
		return fmt.Errorf("checkpoint at step %d: %w", j.step, err)
	}
	return nil
}

// calibration is what calibrate fitted.
type calibration struct {
	settings shim.Settings
	desc     string
}

// calibrate fits the method's calibrated settings (method.Calibrator; FGHV: lambda) with the
// best model on the validation lists: the source domains' held-out data is the only data it
// is given (eval.Calibrate scores nothing else), so the test lists cannot reach the fit.
func calibrate(ctx context.Context, m *shim.Model, cfg *config.Config, db dataset.Store, val *dataset.EvalSet,
	t dataset.Transform, o eval.Options) (calibration, error) {
	s, desc, err := eval.Calibrate(ctx, m, cfg, db, val, t, o)
	if err != nil {
		return calibration{}, err
	}
	return calibration{s, desc}, nil
}

// resume restores the latest checkpoint of the run directory and drops the metrics the
// interrupted process wrote after it.
func (j *job) resume() error {
	c, ok, err := j.run.LatestCheckpoint()
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("--resume: no checkpoint in %s", j.run.CkptDir())
	}
	meta, err := j.trainer.LoadCheckpoint(filepath.Join(c.Dir, StateFile))
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	if j.epoch, err = strconv.Atoi(meta["epoch"]); err != nil {
		return fmt.Errorf("--resume: %s: bad epoch %q", c.Dir, meta["epoch"])
	}
	if j.epochPos, err = strconv.Atoi(meta["epoch_step"]); err != nil {
		return fmt.Errorf("--resume: %s: bad epoch_step %q", c.Dir, meta["epoch_step"])
	}
	j.step = c.Step
	if b, _, ok, err := j.run.Best(); err != nil {
		return err
	} else if ok {
		j.best, j.hasBest = b, true
	}
	if err := j.run.TruncateAfter(c.Step); err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	j.log.Info("resumed", zap.String("checkpoint", c.Dir), zap.Int("epoch", j.epoch), zap.Int("epoch_step", j.epochPos))
	return nil
}

// finalEval loads the best checkpoint's weights, fits the method's calibrated settings on
// the validation lists (calibrate) and evaluates them on the test lists. Only rank 0
// evaluates: the other ranks wrote no checkpoint (their recorder writes nothing), and
// gathering their scores belongs to the distributed evaluation.
func (j *job) finalEval() (*eval.Result, error) {
	if j.run.Rank != 0 {
		return nil, nil
	}
	_, c, ok, err := j.run.Best()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no best checkpoint in %s (no epoch finished validation)", j.run.CkptDir())
	}
	weights := filepath.Join(c.Dir, WeightsFile)
	lo := model.Options{Device: j.cfg.Run.Device, Threads: threads(j.cfg)}
	m, _, err := model.Load(weights, lo)
	if err != nil {
		return nil, err
	}
	defer func() { m.Close() }()
	o := j.evalOpt
	o.OutDir = j.run.EvalDir()
	o.Embed = j.opts.Embed
	o.Score.BatchSize = j.cfg.Test.BatchSize
	// The validation lists are scored as the evaluation scores them (same batches and seeds).
	fitted, err := calibrate(context.Background(), m, j.cfg, j.data.DB, j.data.Val, j.data.Transform, o)
	if err != nil {
		return nil, err
	}
	j.fitted = fitted
	if len(fitted.settings) > 0 {
		for _, f := range []string{weights, filepath.Join(c.Dir, StateFile)} {
			if err := model.SetSettings(f, fitted.settings); err != nil {
				return nil, fmt.Errorf("storing the calibrated settings: %w", err)
			}
		}
		j.log.Info("calibrated on the validation lists", zap.String("checkpoint", c.Dir),
			zap.String("settings", fitted.settings.String()), zap.String("fit", fitted.desc))
		m.Close()
		if m, _, err = model.Load(weights, lo); err != nil {
			return nil, err
		}
	}
	res, err := eval.Run(context.Background(), m, j.data, o)
	if err != nil {
		return nil, err
	}
	j.log.Info("test", zap.String("checkpoint", c.Dir), zap.Float64("auc", runinfo.Significant(res.Test.AUC, 4)),
		zap.Float64("hter_paper", runinfo.Significant(res.Test.Paper.HTER, 4)),
		zap.Float64("hter_realistic", runinfo.Significant(res.Test.Realistic.HTER, 4)))
	for _, p := range res.Parts {
		j.log.Info("test, "+p.Part.Name+" alone", zap.Float64("auc", runinfo.Significant(p.Test.AUC, 4)),
			zap.Float64("hter_paper", runinfo.Significant(p.Test.Paper.HTER, 4)),
			zap.Float64("hter_realistic", runinfo.Significant(p.Test.Realistic.HTER, 4)))
	}
	return res, nil
}
