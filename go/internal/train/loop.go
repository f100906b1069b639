package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Files of one checkpoint directory.
const (
	StateFile   = "state.safetensors" // the whole training state (resume)
	WeightsFile = "model.safetensors" // the weights alone (eval, serving, PyTorch)
)

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
	if j.epochPos == 0 && j.cfg.Train.CenterReset == "epoch" {
		if err := j.trainer.ResetCenters(); err != nil {
			return false, err
		}
	}
	// The loader gets its own context: a signal must let the current step finish.
	dataCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	it := j.loader.Epoch(dataCtx, j.epoch)
	defer it.Close()
	total := j.plan.Steps()
	prog := runinfo.NewProgress(total-j.epochPos, j.log, runinfo.WithDescription(fmt.Sprintf("epoch %d/%d", j.epoch, j.cfg.Train.Epochs)))
	defer prog.Done()
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
	st, err := j.trainer.Step(&shim.Batch{NumDomains: b.K, PerClass: b.B, Size: b.S,
		Images: b.Images, Depth: b.Depth, Labels: b.Labels}, lr)
	if err != nil {
		return fmt.Errorf("epoch %d step %d: %w", j.epoch, j.epochPos+1, err)
	}
	j.step++
	j.epochPos++
	values := stepValues(st, lr)
	if err := j.run.StepMetrics(j.step, j.sched.Epoch(int(j.step)), values); err != nil {
		return err
	}
	prog.Step(b.K*2*b.B, map[string]float64{"loss": st.Loss, "test_cls": st.MetaTest.Cls, "lr": lr})
	if j.opts.AfterStep != nil {
		j.opts.AfterStep(j.step)
	}
	return nil
}

func stepValues(st shim.StepStats, lr float64) map[string]float64 {
	v := map[string]float64{"loss": st.Loss, "lr": lr}
	for prefix, p := range map[string]shim.PhaseStats{"meta_train": st.MetaTrain, "meta_test": st.MetaTest} {
		v[prefix+"/cls"], v[prefix+"/depth"], v[prefix+"/domain"] = p.Cls, p.Depth, p.Domain
		v[prefix+"/discri"], v[prefix+"/acc"], v[prefix+"/loss"] = p.Discri, p.Acc, p.Loss
	}
	return v
}

// endEpoch validates, keeps the best checkpoint by the chosen metric and records the epoch.
func (j *job) endEpoch(ctx context.Context) error {
	val, err := eval.Validate(ctx, j.model, j.data, j.evalOpt)
	if err != nil {
		return fmt.Errorf("epoch %d: %w", j.epoch, err)
	}
	rep := val.Report
	value := j.selectFn(rep)
	values := map[string]float64{"val/auc": rep.AUC, "val/eer": rep.EER, "val/hter": rep.Paper.HTER,
		"val/" + j.cfg.Train.SelectMetric: value}
	if err := j.run.EpochMetrics(j.epoch, j.step, values); err != nil {
		return err
	}
	j.log.Info("validation", zap.Int("epoch", j.epoch), zap.Float64("auc", rep.AUC),
		zap.Float64("eer", rep.EER), zap.Float64("hter", rep.Paper.HTER))
	// The epoch is complete: its checkpoint resumes at the start of the next one.
	if err := j.checkpoint(j.epoch+1, 0); err != nil {
		return err
	}
	if !math.IsNaN(value) && (!j.hasBest || betterThan(value, j.best.Value, j.higher)) {
		j.best = runinfo.Best{Step: j.step, Epoch: j.epoch, Metric: j.cfg.Train.SelectMetric, Value: value}
		j.hasBest = true
		if err := runinfo.MarkBest(j.run.CkptDir(), j.best); err != nil {
			return err
		}
		j.log.Info("new best", zap.Int("epoch", j.epoch), zap.String("metric", j.best.Metric), zap.Float64("value", value))
	}
	return j.prune()
}

func betterThan(a, b float64, higher bool) bool {
	if higher {
		return a > b
	}
	return a < b
}

// checkpoint writes the training state and the weights of the current step atomically;
// a resume continues at step pos of epoch.
func (j *job) checkpoint(epoch, pos int) error {
	p, err := runinfo.BeginCheckpoint(j.run.CkptDir(), j.step)
	if err != nil {
		return err
	}
	extra := map[string]string{"epoch": strconv.Itoa(epoch), "epoch_step": strconv.Itoa(pos),
		"step": strconv.FormatInt(j.step, 10), "seed": strconv.FormatInt(j.cfg.Seed, 10)}
	err = j.trainer.SaveCheckpoint(filepath.Join(p.Dir, StateFile), j.model.Info(), extra)
	if err == nil {
		err = model.Save(j.model, filepath.Join(p.Dir, WeightsFile), extra)
	}
	if err != nil {
		p.Abort()
		return fmt.Errorf("checkpoint at step %d: %w", j.step, err)
	}
	c, err := p.Commit()
	if err != nil {
		return err
	}
	j.log.Info("checkpoint", zap.String("dir", c.Dir), zap.Int64("step", c.Step))
	return nil
}

// prune keeps the latest and the best checkpoints only.
func (j *job) prune() error {
	all, err := runinfo.ListCheckpoints(j.run.CkptDir())
	if err != nil {
		return err
	}
	for i, c := range all {
		if i == len(all)-1 || (j.hasBest && c.Step == j.best.Step) {
			continue
		}
		if err := removeCheckpoint(c); err != nil {
			return err
		}
	}
	return nil
}

// resume restores the latest checkpoint of the run directory.
func (j *job) resume() error {
	c, ok, err := runinfo.LatestCheckpoint(j.run.CkptDir())
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
	if b, _, ok, err := runinfo.ReadBest(j.run.CkptDir()); err != nil {
		return err
	} else if ok {
		j.best, j.hasBest = b, true
	}
	j.log.Info("resumed", zap.String("checkpoint", c.Dir), zap.Int("epoch", j.epoch), zap.Int("epoch_step", j.epochPos))
	return nil
}

// finalEval loads the best checkpoint's weights and evaluates them on the test lists.
func (j *job) finalEval() (*eval.Result, error) {
	_, c, ok, err := runinfo.ReadBest(j.run.CkptDir())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no best checkpoint in %s (no epoch finished validation)", j.run.CkptDir())
	}
	m, _, err := model.Load(filepath.Join(c.Dir, WeightsFile), model.Options{Device: j.cfg.Run.Device})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	o := j.evalOpt
	o.OutDir = filepath.Join(j.run.Dir, "eval")
	o.Embed = j.opts.Embed
	o.Score.BatchSize = j.cfg.Test.BatchSize
	res, err := eval.Run(context.Background(), m, j.data, o)
	if err != nil {
		return nil, err
	}
	j.log.Info("test", zap.String("checkpoint", c.Dir), zap.Float64("auc", res.Test.AUC),
		zap.Float64("hter_paper", res.Test.Paper.HTER), zap.Float64("hter_realistic", res.Test.Realistic.HTER))
	return res, nil
}

func removeCheckpoint(c runinfo.Checkpoint) error {
	if err := os.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("pruning checkpoint %s: %w", c.Dir, err)
	}
	return nil
}
