package runinfo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Native describes the native core; the caller fills it from the shim, which this package
// does not import.
type Native struct {
	Shim     string            `json:"shim"`
	Libtorch string            `json:"libtorch"`
	CUDA     string            `json:"cuda"`            // "" when built without CUDA
	Extra    map[string]string `json:"extra,omitempty"` // e.g. cudnn, device names
}

// Git is the state of the source tree a run was built from.
type Git struct {
	Commit string `json:"commit"`          // "" when unknown
	Dirty  bool   `json:"dirty"`           // uncommitted changes, untracked files included
	Dir    string `json:"dir,omitempty"`   // the work tree that was asked
	Source string `json:"source"`          // "build info" or "git"
	Error  string `json:"error,omitempty"` // why Commit is empty
}

// Versions is versions.json: everything needed to say what produced a run.
type Versions struct {
	Module      string    `json:"module_version"` // from the build info; "(devel)" for local builds
	Go          string    `json:"go"`
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	NumCPU      int       `json:"num_cpu"`
	Native      Native    `json:"native"`
	Git         Git       `json:"git"`
	Hostname    string    `json:"hostname"`
	Seed        int64     `json:"seed"`
	StartTime   time.Time `json:"start_time"`
	CommandLine []string  `json:"command_line"`
	WorkDir     string    `json:"work_dir"`
	PID         int       `json:"pid"`
}

func collectVersions(native Native, seed int64, start time.Time, args []string) Versions {
	host, _ := os.Hostname()
	wd, _ := os.Getwd()
	v := Versions{
		Module: "unknown", Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		NumCPU: runtime.NumCPU(), Native: native, Hostname: host, Seed: seed,
		StartTime: start, CommandLine: args, WorkDir: wd, PID: os.Getpid(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module = bi.Main.Version
	}
	v.Git = sourceGit(wd)
	return v
}

// sourceGit finds the commit of the source tree: the build's VCS stamp when present, else
// git on the directory this file was compiled from (the executable's source tree), else on
// the working directory.
func sourceGit(wd string) Git {
	if g, ok := buildInfoGit(); ok {
		return g
	}
	var dirs []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dirs = append(dirs, filepath.Dir(file))
	}
	dirs = append(dirs, wd)
	var last Git
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			continue
		}
		last = GitState(d)
		if last.Commit != "" {
			return last
		}
	}
	return last
}

func buildInfoGit() (Git, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Git{}, false
	}
	g := Git{Source: "build info"}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			g.Commit = s.Value
		case "vcs.modified":
			g.Dirty = s.Value == "true"
		}
	}
	return g, g.Commit != ""
}

// GitState runs git in dir: the HEAD commit and whether the work tree has changes.
func GitState(dir string) Git {
	g := Git{Dir: dir, Source: "git"}
	head, err := git(dir, "rev-parse", "--verify", "HEAD")
	if err != nil {
		g.Error = err.Error()
		return g
	}
	g.Commit = head
	status, err := git(dir, "status", "--porcelain")
	if err != nil {
		g.Error = err.Error()
		return g
	}
	g.Dirty = status != ""
	return g
}

func git(dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	// Reading state must not take the index lock that other git processes may hold.
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	out, err := cmd.Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", &gitError{args: args, msg: msg}
	}
	return strings.TrimSpace(string(out)), nil
}

type gitError struct {
	args []string
	msg  string
}

func (e *gitError) Error() string { return "git " + strings.Join(e.args, " ") + ": " + e.msg }
