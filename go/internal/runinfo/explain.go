package runinfo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// existsError is the error of Create for a named run directory that exists when neither
// resume nor restart was asked for: it says what the directory holds and what to do.
func existsError(dir string) error {
	if !looksLikeRun(dir) {
		return fmt.Errorf("runinfo: %s exists and is not a run directory (no config.yaml); choose another run name", dir)
	}
	latest, ok, err := LatestCheckpoint(filepath.Join(dir, "ckpt"))
	if err != nil {
		return fmt.Errorf("runinfo: run directory %s exists: %w", dir, err)
	}
	if ok {
		return fmt.Errorf("runinfo: run directory %s exists and holds checkpoints up to step %d: "+
			"continue it with --resume, or start it over with --restart (deletes it), or choose another run name",
			dir, latest.Step)
	}
	return fmt.Errorf("runinfo: run directory %s exists, but %s; --restart starts it over (deletes it), or choose another run name",
		dir, stoppedEarly(dir))
}

// checkResumable is nil when dir holds a checkpoint to resume from, else an error that
// explains why there is none.
func checkResumable(dir string) error {
	if !isDir(dir) {
		return fmt.Errorf("runinfo: cannot resume: there is no run directory %s", dir)
	}
	_, ok, err := LatestCheckpoint(filepath.Join(dir, "ckpt"))
	if err != nil {
		return fmt.Errorf("runinfo: cannot resume %s: %w", dir, err)
	}
	if !ok {
		return fmt.Errorf("runinfo: cannot resume %s: %s; --restart starts it over (deletes it)", dir, stoppedEarly(dir))
	}
	return nil
}

// stoppedEarly describes a run directory without a checkpoint, quoting the last error of
// its log.
func stoppedEarly(dir string) string {
	msg := "its run stopped before its first checkpoint"
	if e := lastError(filepath.Join(dir, "log.jsonl")); e != "" {
		return msg + fmt.Sprintf(" (last error in its log.jsonl: %q)", e)
	}
	return msg + " (its log.jsonl records no error)"
}

// lastError is the last error-level entry of a zap JSON log, as "msg: error", or "" when
// there is none (or no readable log).
func lastError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var e struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
				Error string `json:"error"`
			}
			if json.Unmarshal(line, &e) == nil {
				switch e.Level {
				case "error", "dpanic", "panic", "fatal":
					last = e.Msg
					if e.Error != "" {
						last += ": " + e.Error
					}
				}
			}
		}
		if err != nil { // io.EOF after the last line
			return last
		}
	}
}
