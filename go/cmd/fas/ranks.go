package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/launch"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// rankEnv is the torchrun contract a rank process reads: set by `fas train --nproc` and by
// torchrun alike.
type rankEnv struct {
	rank, localRank, world, localWorld int
	masterAddr                         string
	masterPort                         int
	agentStore                         bool   // torchrun's agent serves the store
	errorFile                          string // TORCHELASTIC_ERROR_FILE
}

// rankFromEnv reads the rank environment; nil when this process is not a rank of a launch.
func rankFromEnv() (*rankEnv, error) {
	if os.Getenv("WORLD_SIZE") == "" && os.Getenv("RANK") == "" {
		return nil, nil
	}
	e := &rankEnv{masterAddr: os.Getenv("MASTER_ADDR"), errorFile: os.Getenv("TORCHELASTIC_ERROR_FILE"),
		agentStore: os.Getenv("TORCHELASTIC_USE_AGENT_STORE") == "True"}
	for _, v := range []struct {
		name string
		dst  *int
		def  string
	}{{"RANK", &e.rank, ""}, {"WORLD_SIZE", &e.world, ""}, {"LOCAL_RANK", &e.localRank, "0"},
		{"LOCAL_WORLD_SIZE", &e.localWorld, ""}, {"MASTER_PORT", &e.masterPort, "29500"}} {
		s := os.Getenv(v.name)
		if s == "" {
			s = v.def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("environment %s=%q: want a non-negative integer (the torchrun contract: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)", v.name, s)
		}
		*v.dst = n
	}
	if e.localWorld == 0 {
		e.localWorld = e.world
	}
	if e.masterAddr == "" {
		e.masterAddr = "127.0.0.1"
	}
	if e.world < 1 || e.rank >= e.world {
		return nil, fmt.Errorf("environment RANK=%d WORLD_SIZE=%d: the rank must be below the world size", e.rank, e.world)
	}
	return e, nil
}

// joinGroup joins the run's process group, with the config's run.dist settings; a rank's
// CUDA device is its local rank.
func joinGroup(cfg *config.Config, e *rankEnv) (*shim.Group, error) {
	if cfg.Run.Name == "" {
		return nil, errors.New("a run of several ranks needs a fixed run.name (the ranks must agree on one directory); `fas train --nproc` sets one")
	}
	if cfg.Run.Device == "cuda" {
		cfg.Run.Device = fmt.Sprintf("cuda:%d", e.localRank)
	}
	d := cfg.Run.Dist
	return shim.NewGroup(shim.GroupConfig{Rank: e.rank, World: e.world, MasterAddr: e.masterAddr, MasterPort: e.masterPort,
		Backend: d.Backend, Interface: d.Interface, Hostname: d.Hostname, AgentStore: e.agentStore,
		Timeout: time.Duration(d.Timeout * float64(time.Second))})
}

// launchFlags are the flags the launcher consumes; the ranks get the rest of the command line.
var launchFlags = []string{"nproc", "nnodes", "node-rank", "master-addr", "master-port"}

// launchRanks starts --nproc rank processes of this command on this node and supervises them.
func launchRanks(c *cli.Context) error {
	args, err := rankArgs(c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--nproc: finding this program: %w", err)
	}
	o := launch.Options{NProc: c.Int("nproc"), NNodes: c.Int("nnodes"), NodeRank: c.Int("node-rank"),
		MasterAddr: c.String("master-addr"), MasterPort: c.Int("master-port"),
		Command: append([]string{exe}, args...), Stdout: c.App.Writer, Stderr: c.App.ErrWriter}
	if c.IsSet("threads") {
		o.Threads = c.Int("threads")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return launch.Run(ctx, o)
}

// rankArgs is the rank processes' command line: this one without the launcher's flags, with
// the run's name fixed (every rank must agree on it).
func rankArgs(c *cli.Context) ([]string, error) {
	args := stripFlags(os.Args[1:], launchFlags)
	if c.Bool("resume") {
		return args, nil // the name is given (resumeConfig insists)
	}
	if c.String("config") == "" {
		return nil, errors.New("--config is required (unless --resume)")
	}
	cfg, err := config.Load(c.String("config"), cliSets(c), os.Environ())
	if err != nil {
		return nil, err
	}
	if cfg.Run.Name == "" {
		name, err := runinfo.FreeName(cfg, time.Now())
		if err != nil {
			return nil, err
		}
		args = append(args, "--set", "run.name="+name)
	}
	return args, nil
}

// stripFlags removes --name VALUE and --name=VALUE for every name.
func stripFlags(args, names []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		drop := false
		for _, n := range names {
			if a == "--"+n || a == "-"+n {
				drop = true
				i++ // its value
				break
			}
			if strings.HasPrefix(a, "--"+n+"=") || strings.HasPrefix(a, "-"+n+"=") {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, a)
		}
	}
	return out
}

// reportRankFailure writes a failing rank's error where its launcher reads the root cause.
func reportRankFailure(err error) {
	if path := os.Getenv("TORCHELASTIC_ERROR_FILE"); path != "" && err != nil {
		_ = launch.WriteErrorFile(path, err)
	}
}
