package launch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the ranks' concurrent output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// Every rank gets the torchrun environment and its output prefixed.
func TestEnvironmentAndPrefixes(t *testing.T) {
	var out syncBuffer
	err := Run(context.Background(), Options{NProc: 2, NNodes: 2, NodeRank: 1, MasterAddr: "127.0.0.9", MasterPort: 29999,
		Command: sh(`echo "R=$RANK L=$LOCAL_RANK W=$WORLD_SIZE LW=$LOCAL_WORLD_SIZE A=$MASTER_ADDR P=$MASTER_PORT T=$FAS_RUN__THREADS E=${TORCHELASTIC_ERROR_FILE:+set}"`),
		Env:     []string{"PATH=/usr/bin:/bin"}, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[rank 2] R=2 L=0 W=4 LW=2 A=127.0.0.9 P=29999", "[rank 3] R=3 L=1 W=4 LW=2", "E=set"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// The first failure is the root cause (with its error file's message); the other ranks are
// stopped, also one that ignores SIGTERM (killed after the grace period).
func TestFirstFailureStopsTheRest(t *testing.T) {
	var out syncBuffer
	start := time.Now()
	script := `if [ "$RANK" = 1 ]; then sleep 0.3; printf '{"message": {"message": "bad data in list x:3"}}' > "$TORCHELASTIC_ERROR_FILE"; exit 3; fi
trap "" TERM; sleep 60`
	err := Run(context.Background(), Options{NProc: 3, Command: sh(script), Grace: time.Second, Stdout: &out, Stderr: &out})
	var re *RankError
	if !errors.As(err, &re) || re.Rank != 1 || re.Exit != "exit status 3" || re.Message != "bad data in list x:3" {
		t.Fatalf("err = %v", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("stopping took %v", el)
	}
}

// Without an error file the root cause quotes the rank's last line of standard error.
func TestRootCauseFromStderr(t *testing.T) {
	var out syncBuffer
	err := Run(context.Background(), Options{NProc: 2, Command: sh(`if [ "$RANK" = 0 ]; then echo "fas: no such list" >&2; exit 1; fi; sleep 30`),
		Grace: time.Second, Stdout: &out, Stderr: &out})
	var re *RankError
	if !errors.As(err, &re) || re.Rank != 0 || re.Message != "fas: no such list" {
		t.Fatalf("err = %v", err)
	}
}

// A signal to the launcher reaches every rank, which may finish cleanly.
func TestCancelForwardsSIGTERM(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(500 * time.Millisecond); cancel() }()
	script := `trap 'echo stopped > ` + dir + `/r$RANK; exit 0' TERM; while true; do sleep 0.1; done`
	if err := Run(ctx, Options{NProc: 2, Command: sh(script)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"r0", "r1"} {
		if b, err := os.ReadFile(filepath.Join(dir, r)); err != nil || strings.TrimSpace(string(b)) != "stopped" {
			t.Errorf("rank %s did not get SIGTERM: %v", r, err)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, o := range []Options{{NProc: 0, Command: sh("true")}, {NProc: 1}, {NProc: 1, NNodes: 2, Command: sh("true")},
		{NProc: 1, NNodes: 2, NodeRank: 2, MasterPort: 1, Command: sh("true")}} {
		if err := Run(context.Background(), o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
