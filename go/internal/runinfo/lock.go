package runinfo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockName is the lock file of a run directory. The lock is flock(2) on it, not its
// existence: the kernel releases it when the holder exits, however it exits, so a process
// killed with SIGKILL blocks nobody. The file holds the holder's pid and start time as text
// for the error message of the next one; it is emptied, not removed, on release (removing a
// flock file lets two processes lock two different files of the same name).
const lockName = "run.lock"

// ErrLocked is wrapped by the error of Create when another process holds the run directory.
var ErrLocked = errors.New("run directory in use")

type runLock struct {
	f *os.File
}

// lockRun takes the exclusive lock of dir, without waiting.
func lockRun(dir string, now time.Time) (*runLock, error) {
	p := filepath.Join(dir, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("runinfo: lock: %w", err)
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, lockedError(dir)
		}
		return nil, fmt.Errorf("runinfo: locking %s: %w", p, err)
	}
	host, _ := os.Hostname()
	text := fmt.Sprintf("pid %d\nstarted %s\nhost %s\n", os.Getpid(), now.Format(time.RFC3339), host)
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(text), 0)
	}
	if err != nil {
		flock(f, syscall.LOCK_UN)
		f.Close()
		return nil, fmt.Errorf("runinfo: lock: %w", err)
	}
	return &runLock{f: f}, nil
}

// probeLock returns the ErrLocked error when a process holds dir's lock, else nil. It does
// not create the lock file.
func probeLock(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	if err != nil {
		return nil // no lock file: nobody holds it
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return lockedError(dir)
		}
		return nil
	}
	return flock(f, syscall.LOCK_UN)
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// lockedError names dir and the holder recorded in its lock file.
func lockedError(dir string) error {
	who := "another process"
	if pid, started := lockHolder(dir); pid > 0 {
		who = fmt.Sprintf("process %d", pid)
		if started != "" {
			who += " (started " + started + ")"
		}
	}
	return fmt.Errorf("runinfo: run directory %s is in use by %s: %w; wait for it to end or stop it first",
		dir, who, ErrLocked)
}

// lockHolder reads the pid and start time in dir's lock file; pid 0 when unknown.
func lockHolder(dir string) (pid int, started string) {
	b, err := os.ReadFile(filepath.Join(dir, lockName))
	if err != nil {
		return 0, ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "pid":
			pid, _ = strconv.Atoi(v)
		case "started":
			started = v
		}
	}
	return pid, started
}

// release empties the lock file and unlocks it.
func (l *runLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0)
	err := flock(l.f, syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
