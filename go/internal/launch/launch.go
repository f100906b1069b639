// Package launch starts the rank processes of a distributed run on this node and supervises
// them, as torchrun does: every rank gets the torchrun environment (RANK, LOCAL_RANK,
// WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_ERROR_FILE), a fair
// share of the cores, and its output prefixed with its rank. When a rank fails, the others
// are stopped (SIGTERM, then SIGKILL after a grace period) and the first failure is reported
// as the root cause; a signal to the launcher is forwarded so that every rank checkpoints.
package launch

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options describe the ranks to start.
type Options struct {
	NProc      int      // ranks on this node
	NNodes     int      // nodes (default 1)
	NodeRank   int      // this node's index
	MasterAddr string   // rank 0's node (default 127.0.0.1)
	MasterPort int      // 0: a free port (one node only)
	Command    []string // the rank's command line: program and arguments
	Env        []string // the ranks' base environment (default os.Environ())
	// Threads is each rank's intra-op thread count (FAS_RUN__THREADS); 0 = the usable cores
	// split over the local ranks, unless the environment already sets it.
	Threads int
	Grace   time.Duration // SIGTERM to SIGKILL when stopping failed runs (default 10 s)
	Stdout  io.Writer     // default os.Stdout
	Stderr  io.Writer     // default os.Stderr
}

// RankError is the root cause of a failed run: the first rank that failed.
type RankError struct {
	Rank, LocalRank, PID int
	Exit                 string // "exit status 1", "signal: killed"
	Message              string // from its error file, else its last error line
}

func (e *RankError) Error() string {
	msg := fmt.Sprintf("rank %d (local rank %d, pid %d) failed first: %s", e.Rank, e.LocalRank, e.PID, e.Exit)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// FreePort asks the kernel for a free TCP port on the loopback interface.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (o *Options) defaults() error {
	if o.NProc < 1 {
		return fmt.Errorf("launch: --nproc %d must be >= 1", o.NProc)
	}
	if o.NNodes == 0 {
		o.NNodes = 1
	}
	if o.NNodes < 1 || o.NodeRank < 0 || o.NodeRank >= o.NNodes {
		return fmt.Errorf("launch: --node-rank %d outside 0..%d", o.NodeRank, o.NNodes-1)
	}
	if len(o.Command) == 0 {
		return errors.New("launch: no command")
	}
	if o.MasterAddr == "" {
		o.MasterAddr = "127.0.0.1"
	}
	if o.MasterPort == 0 {
		if o.NNodes > 1 {
			return errors.New("launch: a run of several nodes needs --master-port (every node must use the same)")
		}
		p, err := FreePort()
		if err != nil {
			return fmt.Errorf("launch: choosing a free port: %w", err)
		}
		o.MasterPort = p
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Grace == 0 {
		o.Grace = 10 * time.Second
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	return nil
}

// rank is one started process.
type rank struct {
	global, local int
	cmd           *exec.Cmd
	errFile       string
	lastErr       lastLine
	done          chan struct{}
	err           error
}

// Env is the environment of local rank local.
func (o *Options) env(local int, errFile string) []string {
	world := o.NNodes * o.NProc
	env := append([]string(nil), o.Env...)
	set := func(k, v string) { env = append(env, k+"="+v) }
	set("RANK", strconv.Itoa(o.NodeRank*o.NProc+local))
	set("LOCAL_RANK", strconv.Itoa(local))
	set("GROUP_RANK", strconv.Itoa(o.NodeRank))
	set("WORLD_SIZE", strconv.Itoa(world))
	set("LOCAL_WORLD_SIZE", strconv.Itoa(o.NProc))
	set("MASTER_ADDR", o.MasterAddr)
	set("MASTER_PORT", strconv.Itoa(o.MasterPort))
	set("TORCHELASTIC_ERROR_FILE", errFile)
	share := max(1, runtime.NumCPU()/o.NProc)
	if o.Threads > 0 {
		share = o.Threads
	}
	if o.Threads > 0 || !has(o.Env, "FAS_RUN__THREADS") {
		set("FAS_RUN__THREADS", strconv.Itoa(share))
	}
	if !has(o.Env, "GOMAXPROCS") { // the decode workers follow GOMAXPROCS
		set("GOMAXPROCS", strconv.Itoa(max(1, runtime.NumCPU()/o.NProc)))
	}
	return env
}

func has(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

// Run starts the ranks and waits for them. It returns nil when every rank exits 0, a
// *RankError naming the first failure otherwise. Cancelling ctx forwards SIGTERM to every
// rank (they checkpoint and stop) and waits for them; a second cancellation is not needed:
// ranks that ignore SIGTERM are killed after the grace period.
func Run(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "fas-launch-")
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	defer os.RemoveAll(tmp)
	ranks := make([]*rank, o.NProc)
	started := make(chan error, 1)
	var wg sync.WaitGroup
	// One locked OS thread starts every rank and lives until they all exited: the ranks'
	// parent-death signal is tied to the thread that forked them, so if the launcher dies
	// the ranks get SIGKILL and no orphan survives.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for l := range ranks {
			r := &rank{global: o.NodeRank*o.NProc + l, local: l, errFile: filepath.Join(tmp, fmt.Sprintf("rank-%d.json", l)), done: make(chan struct{})}
			r.cmd = exec.Command(o.Command[0], o.Command[1:]...)
			r.cmd.Env = o.env(l, r.errFile)
			r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			prefix := fmt.Sprintf("[rank %d] ", r.global)
			stdout, _ := r.cmd.StdoutPipe()
			stderr, _ := r.cmd.StderrPipe()
			if err := r.cmd.Start(); err != nil {
				started <- fmt.Errorf("launch: starting rank %d: %w", r.global, err)
				for _, p := range ranks[:l] {
					p.signal(syscall.SIGKILL)
				}
				return
			}
			ranks[l] = r
			wg.Add(1)
			go func() {
				defer wg.Done()
				var cp sync.WaitGroup
				cp.Add(2)
				go func() { defer cp.Done(); copyLines(o.Stdout, stdout, prefix, nil) }()
				go func() { defer cp.Done(); copyLines(o.Stderr, stderr, prefix, &r.lastErr) }()
				cp.Wait()
				r.err = r.cmd.Wait()
				close(r.done)
			}()
		}
		started <- nil
		wg.Wait()
	}()
	if err := <-started; err != nil {
		return err
	}
	return supervise(ctx, ranks, o.Grace)
}

// supervise waits for every rank; the first failure stops the others.
func supervise(ctx context.Context, ranks []*rank, grace time.Duration) error {
	failed := make(chan *rank, len(ranks))
	for _, r := range ranks {
		go func(r *rank) {
			<-r.done
			if r.err != nil {
				failed <- r
			}
		}(r)
	}
	all := make(chan struct{})
	go func() {
		for _, r := range ranks {
			<-r.done
		}
		close(all)
	}()
	var cause *RankError
	stopping := false
	for {
		select {
		case <-all:
			if cause != nil {
				return cause
			}
			select { // a rank that failed as the last one to finish
			case r := <-failed:
				return r.cause()
			default:
			}
			return nil
		case r := <-failed:
			if cause == nil {
				cause = r.cause()
				stop(ranks, grace)
			}
		case <-ctx.Done():
			if !stopping {
				stopping = true
				for _, r := range ranks {
					r.signal(syscall.SIGTERM)
				}
			}
			ctx = context.Background() // forward once
		}
	}
}

// stop sends SIGTERM to every rank still running and SIGKILL to those left after grace.
func stop(ranks []*rank, grace time.Duration) {
	for _, r := range ranks {
		r.signal(syscall.SIGTERM)
	}
	go func() {
		deadline := time.After(grace)
		for _, r := range ranks {
			select {
			case <-r.done:
			case <-deadline:
				for _, q := range ranks {
					q.signal(syscall.SIGKILL)
				}
				return
			}
		}
	}()
}

// signal signals the rank's whole process group (the rank and anything it started).
func (r *rank) signal(s syscall.Signal) {
	select {
	case <-r.done:
		return
	default:
	}
	if r.cmd.Process != nil {
		syscall.Kill(-r.cmd.Process.Pid, s)
	}
}

func (r *rank) cause() *RankError {
	e := &RankError{Rank: r.global, LocalRank: r.local, PID: r.cmd.Process.Pid, Exit: r.err.Error(), Message: r.lastErr.get()}
	if b, err := os.ReadFile(r.errFile); err == nil {
		var f struct {
			Message struct {
				Message string `json:"message"`
			} `json:"message"`
		}
		if json.Unmarshal(b, &f) == nil && f.Message.Message != "" {
			e.Message = f.Message.Message
		}
	}
	return e
}

// lastLine remembers the last line that looks like an error.
type lastLine struct {
	mu   sync.Mutex
	line string
}

func (l *lastLine) set(s string) { l.mu.Lock(); l.line = s; l.mu.Unlock() }
func (l *lastLine) get() string  { l.mu.Lock(); defer l.mu.Unlock(); return l.line }

// copyLines copies r to w line by line, each line prefixed.
func copyLines(w io.Writer, r io.Reader, prefix string, last *lastLine) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if last != nil && strings.TrimSpace(line) != "" {
			last.set(line)
		}
		outMu.Lock() // whole lines, never two ranks' halves
		fmt.Fprintln(w, prefix+line)
		outMu.Unlock()
	}
}

var outMu sync.Mutex

// WriteErrorFile writes err into path in torchrun's error-file format, so that the launcher
// (this package, or torchrun) reports it as the rank's root cause.
func WriteErrorFile(path string, err error) error {
	data := map[string]any{"message": map[string]any{"message": err.Error(),
		"extraInfo": map[string]string{"py_callstack": "", "timestamp": strconv.FormatInt(time.Now().Unix(), 10)}}}
	b, jerr := json.Marshal(data)
	if jerr != nil {
		return jerr
	}
	return os.WriteFile(path, b, 0o644)
}
