package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// Python is a side measured by a script that prints, as its last line, a JSON object with
// "images_per_s" (bench/anrl_bench.py, bench/pipeline.py). Each run is a fresh process;
// the script itself times only its loop after a warm-up, so start-up is not counted.
func Python(name, interpreter, script string, args ...string) Side {
	return Command(name, interpreter, append([]string{script}, args...)...)
}

// Command is a side measured by a program that prints such a JSON line (build/fas_profile).
func Command(name, program string, args ...string) Side {
	return Side{Name: name, Run: func() (float64, error) {
		cmd := exec.Command(program, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w: %s", program, strings.Join(args, " "), err, lastLines(stderr.String(), 5))
		}
		return ParseRate(out)
	}}
}

// ParseRate reads "images_per_s" from the last non-empty line of a bench script's output.
func ParseRate(out []byte) (float64, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	var v struct {
		Rate *float64 `json:"images_per_s"`
	}
	if err := json.Unmarshal([]byte(last), &v); err != nil {
		return 0, fmt.Errorf("bench script output %q is not a JSON line: %w", last, err)
	}
	if v.Rate == nil || !(*v.Rate > 0) {
		return 0, fmt.Errorf("bench script output %q has no positive images_per_s", last)
	}
	return *v.Rate, nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
