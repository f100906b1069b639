package runinfo

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
	"time"
)

// JSONL appends one JSON object per line. Each line reaches the file in one write (no
// buffering), so a crash loses at most the line being written. Safe for concurrent use.
type JSONL struct {
	mu   sync.Mutex
	f    *os.File
	path string
	now  func() time.Time
}

// OpenJSONL opens path for appending, creating it if needed.
func OpenJSONL(path string) (*JSONL, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &JSONL{f: f, path: path, now: time.Now}, nil
}

// Write appends rec as one line, adding "time" (RFC 3339 with nanoseconds) unless rec has
// it. Non-finite numbers, which JSON cannot hold, are written as the strings "NaN", "+Inf"
// and "-Inf" so that a diverged loss is recorded rather than dropped.
func (j *JSONL) Write(rec map[string]any) error {
	out := make(map[string]any, len(rec)+1)
	for k, v := range rec {
		out[k] = finite(v)
	}
	if _, ok := out["time"]; !ok {
		out["time"] = j.now().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return fmt.Errorf("%s: closed", j.path)
	}
	if _, err := j.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%s: %w", j.path, err)
	}
	return nil
}

// finite replaces non-finite floats (also inside maps and slices) with their names.
func finite(v any) any {
	switch x := v.(type) {
	case float64:
		return floatOrName(x)
	case float32:
		return floatOrName(float64(x))
	case map[string]float64:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = floatOrName(e)
		}
		return m
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = finite(e)
		}
		return m
	case []float64:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = floatOrName(e)
		}
		return s
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = finite(e)
		}
		return s
	}
	return v
}

func floatOrName(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// Close syncs and closes the file.
func (j *JSONL) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Sync()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	j.f = nil
	return err
}
