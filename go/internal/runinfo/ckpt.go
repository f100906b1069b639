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

	"github.com/fasgo/fasgo/go/internal/safetensors"
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

// BeginCheckpoint creates a temporary directory for the checkpoint of step inside dir.
func BeginCheckpoint(dir string, step int64) (*Pending, error) {
	if step < 0 {
		return nil, fmt.Errorf("runinfo: checkpoint step %d < 0", step)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runinfo: %w", err)
	}
	name := ckptDirName(step)
	tmp, err := os.MkdirTemp(dir, "."+name+".tmp*")
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
		old = p.final + ".old"
		if err := os.RemoveAll(old); err != nil {
			return Checkpoint{}, fmt.Errorf("runinfo: %w", err)
		}
		if err := os.Rename(p.final, old); err != nil {
			return Checkpoint{}, fmt.Errorf("runinfo: %w", err)
		}
	}
	if err := os.Rename(p.Dir, p.final); err != nil {
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
