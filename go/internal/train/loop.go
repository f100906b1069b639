package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/eval"
	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Files of one checkpoint directory.
const (
	StateFile   = "state.safetensors" // the whole training state (resume): rank 0's
	WeightsFile = "model.safetensors" // the weights alone (eval, serving, PyTorch)
	RanksFile   = "ranks.safetensors" // every rank's own state (buffers, centers, generator)
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
		if j.stopRequested(ctx) {
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
		if err := j.trainStep(ctx, b, prog); err != nil {
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

// stopRequested: in one process, whether ctx is done; with several ranks, whether the ranks
// agreed at the last step that one of them was signalled (they must all stop at one step).
func (j *job) stopRequested(ctx context.Context) bool {
	if !j.distributed() {
		return ctx.Err() != nil
	}
	return j.stopped
}

// distributed reports whether this run has a process group of several ranks.
func (j *job) distributed() bool { return j.group != nil && j.group.World() > 1 }

// agree averages the step's statistics over the ranks and shares whether any rank was
// signalled, in one collective.
func (j *job) agree(ctx context.Context, st *shim.StepResult) error {
	if !j.distributed() {
		return nil
	}
	v := make([]float64, len(st.Stats)+1)
	for i, s := range st.Stats {
		v[i] = s.Value
	}
	if ctx.Err() != nil {
		v[len(st.Stats)] = 1
	}
	if err := j.group.AllReduceSum(v); err != nil {
		return fmt.Errorf("epoch %d step %d: %w", j.epoch, j.epochPos, err)
	}
	for i := range st.Stats {
		st.Stats[i].Value = v[i] / float64(j.group.World())
	}
	j.stopped = v[len(st.Stats)] > 0
	return nil
}

func (j *job) trainStep(ctx context.Context, b *dataset.TrainBatch, prog *runinfo.Progress) error {
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
	if err := j.agree(ctx, &st); err != nil {
		return err
	}
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
		"step": strconv.FormatInt(j.step, 10), "seed": strconv.FormatInt(j.cfg.Seed, 10),
		"world": strconv.Itoa(j.run.World)}
	var ranks []safetensors.Tensor
	if j.distributed() { // a collective: every rank takes part, rank 0 writes
		st, err := j.trainer.GatherRankState()
		if err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", j.step, err)
		}
		for _, t := range st {
			ranks = append(ranks, t.Tensor)
		}
	}
	_, err := j.run.Checkpoint(j.step, func(dir string) error {
		if err := j.trainer.SaveCheckpoint(filepath.Join(dir, StateFile), j.model.Info(), extra); err != nil {
			return err
		}
		if ranks != nil {
			if err := safetensors.Write(filepath.Join(dir, RanksFile), ranks, map[string]string{"world": strconv.Itoa(j.run.World)}); err != nil {
				return err
			}
		}
		return model.Save(j.model, filepath.Join(dir, WeightsFile), extra)
	})
	if err != nil {
		return fmt.Errorf("checkpoint at step %d: %w", j.step, err)
	}
	if j.distributed() { // no rank runs ahead of a checkpoint that is not complete
		if err := j.group.Barrier(); err != nil {
			return fmt.Errorf("checkpoint at step %d: %w", j.step, err)
		}
	}
	return nil
}

// loadRankState replaces this rank's per-rank state (buffers, extra state, generator) by what
// the checkpoint recorded for it.
func (j *job) loadRankState(dir string) error {
	f, err := safetensors.Read(filepath.Join(dir, RanksFile))
	if err != nil {
		return fmt.Errorf("a checkpoint of %d ranks needs its %s: %w", j.run.World, RanksFile, err)
	}
	if f.Metadata["world"] != strconv.Itoa(j.run.World) {
		return fmt.Errorf("%s: a checkpoint of %s ranks; this run has %d (resume with the same world size)", dir, f.Metadata["world"], j.run.World)
	}
	mine := map[string]safetensors.Tensor{}
	prefix := "rank" + strconv.Itoa(j.run.Rank) + "/"
	for _, t := range f.Tensors {
		if name, ok := strings.CutPrefix(t.Name, prefix); ok {
			t.Name = name
			mine[name] = t
		}
	}
	st, err := j.trainer.State()
	if err != nil {
		return err
	}
	merged := make([]safetensors.Tensor, len(st))
	for i, t := range st {
		merged[i] = t.Tensor
		if r, ok := mine[t.Name]; ok {
			merged[i] = r
		}
	}
	return j.trainer.Import(merged)
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
	if w := meta["world"]; w != "" && w != strconv.Itoa(j.run.World) {
		return fmt.Errorf("--resume: %s is a checkpoint of a run of %s ranks; resume it with the same world size (this run has %d)", c.Dir, w, j.run.World)
	}
	if j.distributed() {
		if err := j.loadRankState(c.Dir); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
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
// the validation lists (calibrate) and evaluates them on the test lists. With several ranks
// every rank takes part (the scoring is split and gathered, so all fit the same settings);
// rank 0 stores the fitted settings and reports.
func (j *job) finalEval() (*eval.Result, error) {
	if j.run.Rank != 0 && j.group == nil {
		return nil, nil // a rank without its group has no rank 0 to evaluate with
	}
	if !j.hasBest {
		return nil, fmt.Errorf("no best checkpoint in %s (no epoch finished validation)", j.run.CkptDir())
	}
	m, err := j.bestModel(nil)
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
		if err := j.storeFitted(fitted); err != nil {
			return nil, err
		}
		m.Close()
		if m, err = j.bestModel(fitted.settings); err != nil {
			return nil, err
		}
	}
	res, err := eval.Run(context.Background(), m, j.data, o)
	if err != nil {
		return nil, err
	}
	if j.run.Rank != 0 {
		return nil, nil // rank 0 reports
	}
	if o.OutDir != "" { // which weights the report is of (fas export reuses its threshold)
		_, c, _, err := j.run.Best()
		if err != nil {
			return nil, err
		}
		p, err := eval.NewProvenance(m, filepath.Join(c.Dir, WeightsFile), j.best.Step)
		if err == nil {
			err = eval.WriteProvenance(o.OutDir, p)
		}
		if err != nil {
			return nil, fmt.Errorf("evaluation report: %w", err)
		}
	}
	j.log.Info("test", zap.Int64("best_step", j.best.Step), zap.Float64("auc", runinfo.Significant(res.Test.AUC, 4)),
		zap.Float64("hter_paper", runinfo.Significant(res.Test.Paper.HTER, 4)),
		zap.Float64("hter_realistic", runinfo.Significant(res.Test.Realistic.HTER, 4)))
	for _, p := range res.Parts {
		j.log.Info("test, "+p.Part.Name+" alone", zap.Float64("auc", runinfo.Significant(p.Test.AUC, 4)),
			zap.Float64("hter_paper", runinfo.Significant(p.Test.Paper.HTER, 4)),
			zap.Float64("hter_realistic", runinfo.Significant(p.Test.Realistic.HTER, 4)))
	}
	return res, nil
}

// storeFitted writes the fitted settings into the best checkpoint's files (rank 0); every
// rank waits until they are there.
func (j *job) storeFitted(fitted calibration) error {
	if j.run.Rank == 0 {
		_, c, ok, err := j.run.Best()
		if err != nil || !ok {
			return fmt.Errorf("storing the calibrated settings: no best checkpoint (%v)", err)
		}
		for _, f := range []string{filepath.Join(c.Dir, WeightsFile), filepath.Join(c.Dir, StateFile)} {
			if err := model.SetSettings(f, fitted.settings); err != nil {
				return fmt.Errorf("storing the calibrated settings: %w", err)
			}
		}
		j.log.Info("calibrated on the validation lists", zap.String("checkpoint", c.Dir),
			zap.String("settings", fitted.settings.String()), zap.String("fit", fitted.desc))
	}
	if j.distributed() {
		return j.group.Barrier()
	}
	return nil
}

// bestModel is the best checkpoint's network: rank 0 reads it; with several ranks the others
// build the same network (with the fitted settings, when given) and receive its state from
// rank 0 (no shared disk needed).
func (j *job) bestModel(fitted shim.Settings) (*shim.Model, error) {
	if j.run.Rank == 0 {
		_, c, ok, err := j.run.Best()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("no best checkpoint in %s", j.run.CkptDir())
		}
		m, _, err := model.Load(filepath.Join(c.Dir, WeightsFile), model.Options{Device: j.cfg.Run.Device, Threads: threads(j.cfg)})
		if err != nil || !j.distributed() {
			return m, err
		}
		if err := j.group.BroadcastModel(m, 0); err != nil {
			m.Close()
			return nil, err
		}
		return m, nil
	}
	mc, err := method.ModelConfig(j.cfg, threads(j.cfg))
	if err != nil {
		return nil, err
	}
	for _, f := range fitted {
		replaced := false
		for i := range mc.Settings {
			if mc.Settings[i].Key == f.Key {
				mc.Settings[i].Value, replaced = f.Value, true
			}
		}
		if !replaced {
			mc.Settings = append(mc.Settings, f)
		}
	}
	m, err := shim.NewModel(mc)
	if err != nil {
		return nil, err
	}
	if err := j.group.BroadcastModel(m, 0); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}
