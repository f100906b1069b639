package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() {
	register("", versionCommand())
	threadsErr = applyThreads(os.Getenv(threadsEnv))
}

// threadsEnv overrides the default intra-op thread count (the number of usable cores).
// The same variable sets the config key run.threads for fas train and fas eval.
const threadsEnv = "FAS_RUN__THREADS"

// threadsErr records a bad FAS_RUN__THREADS; commands that use the shim report it (setupThreads).
var threadsErr error

// applyThreads sets libtorch's thread count to s, or to the number of usable cores when s
// is empty.
func applyThreads(s string) error {
	n := runtime.NumCPU()
	if s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return fmt.Errorf("%s=%q: want a positive thread count", threadsEnv, s)
		}
		n = v
	}
	return shim.SetNumThreads(n)
}

// threadsFlag is the --threads flag of commands that run the network.
func threadsFlag() cli.Flag {
	return &cli.IntFlag{Name: "threads", EnvVars: []string{threadsEnv},
		Usage: "intra-op CPU threads (default: the number of usable cores)"}
}

// setupThreads applies --threads (or reports a bad FAS_RUN__THREADS); call it first in an Action
// that runs the shim.
func setupThreads(c *cli.Context) error {
	if c.IsSet("threads") {
		if n := c.Int("threads"); n < 1 {
			return fmt.Errorf("--threads %d: want a positive thread count", n)
		}
		return shim.SetNumThreads(c.Int("threads"))
	}
	return threadsErr
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:   "version",
		Usage:  "print the versions of fas, libfasshim and libtorch, CUDA devices and threads",
		Flags:  []cli.Flag{threadsFlag()},
		Action: runVersion,
	}
}

func runVersion(c *cli.Context) error {
	if err := setupThreads(c); err != nil {
		return err
	}
	v, err := shim.Version()
	if err != nil {
		return err
	}
	cuda := "no"
	if v.CUDAAvailable {
		cuda = fmt.Sprintf("yes, %d devices", v.CUDADevices)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "fas        %s\n", v.Shim)
	fmt.Fprintf(w, "commit     %s\n", gitCommit())
	fmt.Fprintf(w, "libtorch   %s\n", v.Torch)
	fmt.Fprintf(w, "go         %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "cuda       %s\n", cuda)
	_, err = fmt.Fprintf(w, "threads    %d\n", v.Threads)
	return err
}

// gitCommit is the VCS revision Go stamped into the binary ("unknown" for go run/test).
func gitCommit() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += " (modified)"
	}
	return rev
}
