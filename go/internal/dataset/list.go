// Package dataset reads the reference list files, turns list entries into the exact
// tensors the model takes (decode, crop, resize, HSV, flip, jitter, normalise, depth
// target), samples domain-balanced training batches with per-rank sharding, and keeps a
// pool of decode workers ahead of the training loop.
package dataset

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
)

// Label values of the reference list files.
const (
	Live   = 0
	Attack = 1
)

// Entry is one line of a list file.
type Entry struct {
	Path      string       // LMDB key, as written in the list
	Label     int          // Live or Attack
	Landmarks *[10]float64 // optional 5-point landmarks x1 y1 ... x5 y5 (source pixels)
	Attack    string       // optional attack type (attack=TYPE), "" when absent
	List      string       // list file the entry came from
	Line      int          // 1-based line number in List
}

// VideoID is the frame's parent directory, which groups frames of one video.
func (e *Entry) VideoID() string { return path.Dir(e.Path) }

// Where names the entry for error messages: "list:line: key \"path\"".
func (e *Entry) Where() string { return fmt.Sprintf("%s:%d: key %q", e.List, e.Line, e.Path) }

// ReadList parses a list file.
func ReadList(file string) ([]Entry, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseList(f, file)
}

// ParseList parses list lines from r; name is used in entries and errors. Blank lines
// and lines starting with '#' are skipped.
func ParseList(r io.Reader, name string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		e.List, e.Line = name, n
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// parseLine reads `path label [10 numbers] [attack=TYPE]`.
func parseLine(line string) (Entry, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return Entry{}, fmt.Errorf("want `path label [10 landmark numbers] [attack=TYPE]`, got %q", line)
	}
	e := Entry{Path: f[0]}
	switch f[1] {
	case "0":
		e.Label = Live
	case "1":
		e.Label = Attack
	default:
		return Entry{}, fmt.Errorf("key %q: label %q is not 0 (live) or 1 (attack)", f[0], f[1])
	}
	rest := f[2:]
	if n := len(rest); n > 0 && strings.HasPrefix(rest[n-1], "attack=") {
		e.Attack = strings.TrimPrefix(rest[n-1], "attack=")
		if e.Attack == "" {
			return Entry{}, fmt.Errorf("key %q: empty attack= tag", f[0])
		}
		rest = rest[:n-1]
	}
	switch len(rest) {
	case 0:
	case 10:
		var lm [10]float64
		for i, s := range rest {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v != v || v > 1e9 || v < -1e9 {
				return Entry{}, fmt.Errorf("key %q: landmark %d %q is not a finite number", f[0], i+1, s)
			}
			lm[i] = v
		}
		e.Landmarks = &lm
	default:
		return Entry{}, fmt.Errorf("key %q: %d extra fields; want 10 landmark numbers or none (then optional attack=TYPE)", f[0], len(rest))
	}
	return e, nil
}
