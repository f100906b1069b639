package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() { register("", versionCommand) }

// threadsEnv sets the intra-op thread count of the commands that run the network without a
// config; for fas train and fas eval it is the config key run.threads.
const threadsEnv = "FAS_RUN__THREADS"

// threadsFlag is the --threads flag of every command that runs the network.
func threadsFlag() cli.Flag {
	return &cli.IntFlag{Name: "threads", Usage: "intra-op CPU threads (default: the number of usable cores; env " + threadsEnv + ")"}
}

// cliThreads is the thread count a command's models run with: --threads, else
// FAS_RUN__THREADS, else every usable core.
func cliThreads(c *cli.Context) (int, error) {
	if c.IsSet("threads") {
		if n := c.Int("threads"); n >= 1 {
			return n, nil
		}
		return 0, fmt.Errorf("--threads %d: want a positive thread count", c.Int("threads"))
	}
	if s := os.Getenv(threadsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return 0, fmt.Errorf("%s=%q: want a positive thread count", threadsEnv, s)
		}
		return v, nil
	}
	return shim.DefaultThreads(), nil
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
	threads, err := cliThreads(c)
	if err != nil {
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
	fmt.Fprintf(w, "methods    %s\n", strings.Join(v.Methods, ", "))
	faces := shim.FaceBackend()
	if faces == "" {
		faces = "not built (install libdlib-dev: make deps, make build)"
	}
	fmt.Fprintf(w, "faces      %s\n", faces)
	fmt.Fprintf(w, "abi        %d\n", v.ABI)
	_, err = fmt.Fprintf(w, "threads    %d\n", threads)
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
