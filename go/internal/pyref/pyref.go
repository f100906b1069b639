// Package pyref runs the golden-value scripts of tests/python with Debian's /usr/bin/python3
// (python3-torch, -opencv, -sklearn, -lmdb, ...). Tests only: a missing interpreter or module
// fails the test with "run `make deps`", never skips it.
package pyref

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Interpreter is the Python that has the modules the scripts need (the PATH python3 may not).
const Interpreter = "/usr/bin/python3"

// Root is the repository root: the nearest directory above the working directory that holds
// go.mod.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("pyref: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Script is the path of tests/python/<name>.
func Script(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Root(t), "tests", "python", name)
}

// Run runs tests/python/<script> with args, feeding stdin when it is not nil, and returns its
// standard output. A failure ends the test with the script's standard error.
func Run(t testing.TB, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	out, err := Try(t, stdin, script, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Try is Run that returns the failure instead of ending the test (for scripts that are
// expected to refuse some inputs).
func Try(t testing.TB, stdin []byte, script string, args ...string) ([]byte, error) {
	t.Helper()
	if _, err := os.Stat(Interpreter); err != nil {
		t.Fatalf("%s is missing: run `make deps`", Interpreter)
	}
	cmd := exec.Command(Interpreter, append([]string{Script(t, script)}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &Error{Script: script, Args: args, Err: err, Stderr: stderr.String()}
	}
	return out, nil
}

// Error is a failed script run.
type Error struct {
	Script string
	Args   []string
	Err    error
	Stderr string
}

func (e *Error) Error() string {
	hint := ""
	var ee *exec.ExitError
	if !errors.As(e.Err, &ee) || bytes.Contains([]byte(e.Stderr), []byte("ModuleNotFoundError")) {
		hint = "\n(a Python module is missing? run `make deps`)"
	}
	return "python3 tests/python/" + e.Script + " " + join(e.Args) + ": " + e.Err.Error() + "\n" + e.Stderr + hint
}

func join(args []string) string {
	var b bytes.Buffer
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a)
	}
	return b.String()
}
