package runinfo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/runinfo/tfevents"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"go.uber.org/zap"
)

// TruncateAfter forgets the metrics of steps after step, which a process interrupted after
// its last checkpoint had written and a resume from that checkpoint (of step) trains again:
// metrics/steps.jsonl and metrics/epochs.jsonl keep only their lines whose "step" is at most
// step, and every TensorBoard event file under tb/ only its events of steps up to step (and
// its file_version record). Each file is rewritten atomically (temporary file and rename)
// and only when something goes; the open files are reopened for appending. A line or record
// torn by a killed writer goes too. No-op on rank != 0.
func (r *Run) TruncateAfter(step int64) error {
	if !r.writes() {
		return nil
	}
	if r.steps == nil || r.epochs == nil || r.tb == nil {
		return errors.New("runinfo: truncate: the run is closed")
	}
	dropped := map[string]int{}
	for _, j := range []*JSONL{r.steps, r.epochs} {
		n, err := j.truncateAfter(step)
		if err != nil {
			return err
		}
		if n > 0 {
			dropped[filepath.Base(j.path)] = n
		}
	}
	n, err := r.truncateTB(step)
	if err != nil {
		return err
	}
	if n > 0 {
		dropped["tb events"] = n
	}
	if len(dropped) > 0 {
		r.Log.Info("metrics after the checkpoint dropped", zap.Int64("step", step), zap.Any("dropped", dropped))
	}
	return nil
}

// truncateTB truncates every event file of tb/, the one this run appends to included.
func (r *Run) truncateTB(step int64) (int, error) {
	own := r.tb.Path()
	if err := r.tb.Close(); err != nil {
		return 0, fmt.Errorf("runinfo: %w", err)
	}
	r.tb = nil
	files, err := filepath.Glob(filepath.Join(r.Dir, "tb", "events.out.tfevents.*"))
	if err != nil {
		return 0, fmt.Errorf("runinfo: %w", err)
	}
	total := 0
	var errs []error
	for _, f := range files {
		n, err := tfevents.TruncateAfter(f, step)
		total += n
		errs = append(errs, err)
	}
	w, err := tfevents.Append(own, nil)
	if err != nil {
		errs = append(errs, fmt.Errorf("runinfo: reopening %s: %w", own, err))
	}
	r.tb = w
	return total, errors.Join(errs...)
}

// truncateAfter rewrites the file keeping the lines whose "step" is at most step (and lines
// without a numeric step), and returns how many lines it dropped. A last line without its
// newline (torn by a killed writer) is dropped too.
func (j *JSONL) truncateAfter(step int64) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return 0, fmt.Errorf("%s: closed", j.path)
	}
	raw, err := os.ReadFile(j.path)
	if err != nil {
		return 0, err
	}
	var kept []byte
	dropped := 0
	for i, rest := 1, raw; len(rest) > 0; i++ {
		line, tail, complete := bytes.Cut(rest, []byte{'\n'})
		rest = tail
		if !complete {
			dropped++ // torn
			break
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var rec struct {
			Step *json.Number `json:"step"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return 0, fmt.Errorf("%s: line %d: %w (not rewriting it)", j.path, i, err)
		}
		if rec.Step != nil && afterStep(*rec.Step, step) {
			dropped++
			continue
		}
		kept = append(append(kept, line...), '\n')
	}
	if dropped == 0 {
		return 0, nil
	}
	if err := safetensors.WriteFileAtomic(j.path, kept); err != nil {
		return 0, err
	}
	// The open file is the replaced one now: continue on the new one.
	j.f.Close()
	j.f, err = os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		j.f = nil
		return 0, err
	}
	return dropped, nil
}

func afterStep(n json.Number, step int64) bool {
	if i, err := n.Int64(); err == nil {
		return i > step
	}
	f, err := n.Float64()
	return err == nil && f > float64(step)
}
