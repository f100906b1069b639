package runinfo

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/safetensors"
	"go.uber.org/zap"
)

// A checkpoint is a directory ckpt/step-NNNNNNNNN/ holding whatever files the training loop
// writes for that step (weights, optimizer state, ...). It is written under a temporary
// name and renamed when complete, so a listed checkpoint is never half written.

// Checkpoint is one complete checkpoint.
type Checkpoint struct {
	Step int64
	Dir  string
}

var ckptName = regexp.MustCompile(`^step-([0-9]{9,})$`)

func ckptDirName(step int64) string { return fmt.Sprintf("step-%09d", step) }

// ListCheckpoints returns the complete checkpoints in dir, by increasing step. A missing
// dir has none.
func ListCheckpoints(dir string) ([]Checkpoint, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runinfo: checkpoints: %w", err)
	}
	var out []Checkpoint
	for _, e := range ents {
		m := ckptName.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		step, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("runinfo: checkpoint %s: %w", e.Name(), err)
		}
		out = append(out, Checkpoint{Step: step, Dir: filepath.Join(dir, e.Name())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}

// LatestCheckpoint returns the checkpoint with the highest step; ok is false when there is
// none.
func LatestCheckpoint(dir string) (c Checkpoint, ok bool, err error) {
	all, err := ListCheckpoints(dir)
	if err != nil || len(all) == 0 {
		return Checkpoint{}, false, err
	}
	return all[len(all)-1], true, nil
}

// Pending is a checkpoint being written: write its files into Dir, then Commit or Abort.
type Pending struct {
	Dir   string
	step  int64
	final string
}

// BeginCheckpoint creates a temporary directory for the checkpoint of step inside dir
// (mode 0755 under the umask, like the directory it becomes). Run.Checkpoint is the way
// the training loop writes one.
func BeginCheckpoint(dir string, step int64) (*Pending, error) {
	if step < 0 {
		return nil, fmt.Errorf("runinfo: checkpoint step %d < 0", step)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runinfo: %w", err)
	}
	name := ckptDirName(step)
	tmp, err := safetensors.MkdirTemp(dir, "."+name+tmpMark)
	if err != nil {
		return nil, fmt.Errorf("runinfo: %w", err)
	}
	return &Pending{Dir: tmp, step: step, final: filepath.Join(dir, name)}, nil
}

// Commit makes the checkpoint visible under its final name, replacing an older checkpoint
// of the same step.
func (p *Pending) Commit() (Checkpoint, error) {
	var old string
	if _, err := os.Stat(p.final); err == nil {
		old = p.final + oldSuffix
		if err := os.RemoveAll(old); err != nil {
			return Checkpoint{}, fmt.Errorf("runinfo: %w", err)
		}
		if err := os.Rename(p.final, old); err != nil {
			return Checkpoint{}, fmt.Errorf("runinfo: %w", err)
		}
	}
	if err := os.Rename(p.Dir, p.final); err != nil {
		if old != "" {
			os.Rename(old, p.final) // put the previous checkpoint back
		}
		return Checkpoint{}, fmt.Errorf("runinfo: committing checkpoint: %w", err)
	}
	syncDir(filepath.Dir(p.final))
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return Checkpoint{}, fmt.Errorf("runinfo: %w", err)
		}
	}
	return Checkpoint{Step: p.step, Dir: p.final}, nil
}

// Abort removes the temporary directory.
func (p *Pending) Abort() error { return os.RemoveAll(p.Dir) }

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Names in a checkpoint directory besides step-N: a checkpoint being written
// (.step-N.tmpXXXX), the replaced one while its successor is renamed into place (step-N.old)
// and one being deleted (.step-N.delXXXX). A process killed while they exist leaves them;
// recoverCheckpoints cleans up.
const (
	tmpMark   = ".tmp"
	oldSuffix = ".old"
	delMark   = ".del"
)

// removeCheckpoint deletes c: first renamed out of the listing, so that a process killed
// in mid-removal leaves no half-deleted directory that looks complete.
func removeCheckpoint(c Checkpoint) error {
	parent, base := filepath.Split(c.Dir)
	trash, err := safetensors.MkdirTemp(parent, "."+base+delMark)
	if err != nil {
		return fmt.Errorf("runinfo: removing checkpoint %s: %w", c.Dir, err)
	}
	gone := filepath.Join(trash, base)
	if err := os.Rename(c.Dir, gone); err != nil {
		os.Remove(trash)
		return fmt.Errorf("runinfo: removing checkpoint %s: %w", c.Dir, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("runinfo: removing checkpoint %s: %w", c.Dir, err)
	}
	return nil
}

// recoverCheckpoints repairs what a killed process left in dir: unfinished and half-deleted
// checkpoints and temporary files go; a step-N.old whose step-N is missing (killed between
// the two renames of Commit) becomes step-N again. It returns what it did. Only for a
// directory no other process writes.
func recoverCheckpoints(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runinfo: %w", err)
	}
	var did []string
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, ".") && (strings.Contains(name, tmpMark) || strings.Contains(name, delMark)):
			if err := os.RemoveAll(p); err != nil {
				return did, fmt.Errorf("runinfo: %w", err)
			}
			did = append(did, "removed "+name)
		case strings.HasSuffix(name, oldSuffix) && ckptName.MatchString(strings.TrimSuffix(name, oldSuffix)):
			final := strings.TrimSuffix(p, oldSuffix)
			if _, err := os.Stat(final); err == nil {
				if err := os.RemoveAll(p); err != nil {
					return did, fmt.Errorf("runinfo: %w", err)
				}
				did = append(did, "removed "+name)
				continue
			}
			if err := os.Rename(p, final); err != nil {
				return did, fmt.Errorf("runinfo: %w", err)
			}
			did = append(did, "restored "+filepath.Base(final)+" from "+name)
		}
	}
	return did, nil
}

// Checkpoint writes the checkpoint of step: write puts its files into a temporary
// directory, which becomes ckpt/step-N once write returns nil (replacing a checkpoint of
// the same step) and is removed when it fails. On rank != 0 it returns Checkpoint{Step:
// step} (no Dir) without calling write.
func (r *Run) Checkpoint(step int64, write func(dir string) error) (Checkpoint, error) {
	if !r.writes() {
		return Checkpoint{Step: step}, nil
	}
	p, err := BeginCheckpoint(r.CkptDir(), step)
	if err != nil {
		return Checkpoint{}, err
	}
	if err := write(p.Dir); err != nil {
		p.Abort()
		return Checkpoint{}, fmt.Errorf("checkpoint at step %d: %w", step, err)
	}
	c, err := p.Commit()
	if err != nil {
		p.Abort()
		return Checkpoint{}, fmt.Errorf("checkpoint at step %d: %w", step, err)
	}
	r.Log.Info("checkpoint", zap.String("dir", c.Dir), zap.Int64("step", c.Step))
	return c, nil
}

// Prune removes every checkpoint for which keep returns false (the training loop keeps the
// latest and the best). No-op on rank != 0.
func (r *Run) Prune(keep func(Checkpoint) bool) error {
	if !r.writes() {
		return nil
	}
	all, err := ListCheckpoints(r.CkptDir())
	if err != nil {
		return err
	}
	for _, c := range all {
		if keep(c) {
			continue
		}
		if err := removeCheckpoint(c); err != nil {
			return err
		}
		r.Log.Debug("checkpoint removed", zap.Int64("step", c.Step))
	}
	return nil
}

// MarkBest records b as the best checkpoint (ckpt/best.json); the checkpoint of b.Step
// must exist. No-op on rank != 0.
func (r *Run) MarkBest(b Best) error {
	if !r.writes() {
		return nil
	}
	return MarkBest(r.CkptDir(), b)
}

// Best returns the best checkpoint recorded in the run; ok is false when none is. Works on
// every rank.
func (r *Run) Best() (b Best, c Checkpoint, ok bool, err error) { return ReadBest(r.CkptDir()) }

// LatestCheckpoint returns the run's checkpoint of the highest step; ok is false when there
// is none. Works on every rank.
func (r *Run) LatestCheckpoint() (c Checkpoint, ok bool, err error) {
	return LatestCheckpoint(r.CkptDir())
}

// Best records which checkpoint scored best on the validation data.
type Best struct {
	Step   int64   `json:"step"`
	Epoch  int     `json:"epoch"`
	Metric string  `json:"metric"` // train.select_metric
	Value  float64 `json:"value"`
}

// MarkBest writes dir/best.json atomically; the checkpoint of b.Step must exist.
func MarkBest(dir string, b Best) error {
	if st, err := os.Stat(filepath.Join(dir, ckptDirName(b.Step))); err != nil || !st.IsDir() {
		return fmt.Errorf("runinfo: best checkpoint: no checkpoint of step %d in %s", b.Step, dir)
	}
	j, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return fmt.Errorf("runinfo: best checkpoint: %w", err)
	}
	return safetensors.WriteFileAtomic(filepath.Join(dir, "best.json"), append(j, '\n'))
}

// ReadBest returns the best checkpoint recorded in dir; ok is false when none is.
func ReadBest(dir string) (b Best, c Checkpoint, ok bool, err error) {
	raw, err := os.ReadFile(filepath.Join(dir, "best.json"))
	if errors.Is(err, os.ErrNotExist) {
		return Best{}, Checkpoint{}, false, nil
	}
	if err != nil {
		return Best{}, Checkpoint{}, false, fmt.Errorf("runinfo: %w", err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return Best{}, Checkpoint{}, false, fmt.Errorf("runinfo: %s: %w", filepath.Join(dir, "best.json"), err)
	}
	c = Checkpoint{Step: b.Step, Dir: filepath.Join(dir, ckptDirName(b.Step))}
	if st, err := os.Stat(c.Dir); err != nil || !st.IsDir() {
		return b, c, false, fmt.Errorf("runinfo: best.json names step %d but %s is missing", b.Step, c.Dir)
	}
	return b, c, true, nil
}
