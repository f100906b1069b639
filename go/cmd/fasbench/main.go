// Command fasbench runs the side-by-side speed comparisons of `make bench` and prints one
// line each: fasgo against the same network and step in PyTorch (bench/anrl_bench.py, on the
// same libtorch and thread count), the AdaNorm implementations against each other, the data
// pipeline against a cv2 + DataLoader one (bench/pipeline.py), and JPEG decoding against
// the former image/jpeg path. Sides alternate (ABBA) over -runs runs; medians and their
// ratio are reported. Progress goes to stderr (zap), the report lines to stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/bench"
	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// options are the command's flags.
type options struct {
	runs     int
	minTime  float64 // seconds each side measures per run, after its warm-up
	threads  int
	width    float64
	workers  int
	python   string
	root     string
	only     *regexp.Regexp
	settings shim.Settings // passed to every fasgo model (e.g. adanorm_impl=composite)
	quick    bool          // tiny sizes: the smoke test
	self     string        // this program: the fasgo network sides run its side subcommand
}

type settingsFlag struct{ s *shim.Settings }

func (f settingsFlag) String() string { return "" }
func (f settingsFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("-set %q: want key=value", v)
	}
	*f.s = append(*f.s, shim.Setting{Key: k, Value: val})
	return nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == sideCmd {
		os.Exit(sideMain(os.Args[2:]))
	}
	o, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fasbench:", err)
		os.Exit(2)
	}
	log, sync, err := logging.New(logging.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fasbench:", err)
		os.Exit(1)
	}
	defer sync()
	if failed := run(o, log, func(line string) { fmt.Println(line) }); failed > 0 {
		log.Error("comparisons failed", zap.Int("failed", failed))
		sync()
		os.Exit(1)
	}
}

func parse(args []string) (*options, error) {
	fs := flag.NewFlagSet("fasbench", flag.ContinueOnError)
	o := &options{}
	only := fs.String("only", "", "run only the comparisons whose label matches this regexp")
	fs.IntVar(&o.runs, "runs", 5, "alternating runs per side")
	fs.Float64Var(&o.minTime, "min-time", 3, "seconds each side measures per run (after one warm-up)")
	fs.IntVar(&o.threads, "threads", 2, "intra-op threads, both sides")
	fs.Float64Var(&o.width, "width", 1, "ANRL width multiplier")
	fs.IntVar(&o.workers, "workers", 1, "data pipeline workers, both sides (1 = per core)")
	fs.StringVar(&o.python, "python", "/usr/bin/python3", "the Python with torch and cv2 (Debian python3-torch)")
	fs.StringVar(&o.root, "root", "", "repository root (holds bench/); default: the nearest go.mod above the working directory")
	fs.Var(settingsFlag{&o.settings}, "set", "model setting key=value for every fasgo model (repeatable), e.g. adanorm_impl=composite")
	fs.BoolVar(&o.quick, "quick", false, "tiny sizes, one short run: checks that everything runs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.only, err = regexp.Compile(*only); err != nil {
		return nil, fmt.Errorf("-only: %w", err)
	}
	if o.runs < 1 || o.minTime < 0 || o.threads < 1 || o.workers < 1 || !(o.width > 0) {
		return nil, errors.New("-runs, -threads, -workers must be >= 1, -min-time >= 0, -width > 0")
	}
	if o.root == "" {
		if o.root, err = findRoot(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(o.root, "bench", "anrl_bench.py")); err != nil {
		return nil, fmt.Errorf("-root %s: no bench/anrl_bench.py there", o.root)
	}
	if o.quick {
		o.runs, o.minTime, o.width = 1, 0, 0.25
	}
	if o.self, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("finding this program for its side processes: %w", err)
	}
	return o, nil
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory: pass -root")
		}
		dir = up
	}
}

// run prints a line per selected comparison and returns how many failed.
func run(o *options, log *zap.Logger, print func(string)) int {
	log.Info("fasbench", zap.Int("runs", o.runs), zap.Float64("min_time_s", o.minTime), zap.Int("threads", o.threads),
		zap.Float64("width", o.width), zap.Int("workers", o.workers), zap.Any("settings", o.settings))
	failed := 0
	for _, c := range comparisons(o) {
		if !o.only.MatchString(c.Label) {
			continue
		}
		log.Info("comparing", zap.String("what", c.Label))
		r := bench.Run(c, o.runs, func(side string, run int, rate float64) {
			log.Info("measured", zap.String("what", c.Label), zap.String("side", side), zap.Int("run", run),
				zap.Float64(strings.ReplaceAll(c.Unit, "/", "_per_"), rate))
		})
		if r.Err != nil {
			failed++
		}
		print(r.Line())
	}
	return failed
}

// comparisons lists every line of the report, in order.
func comparisons(o *options) []bench.Comparison {
	// Meta steps as (S, B): B = 1 at S = 128 keeps each side near 4 GB.
	steps, forwards := [][2]int{{32, 2}, {64, 2}, {128, 1}}, []int{64, 128, 256}
	if o.quick {
		steps, forwards = [][2]int{{32, 1}}, []int{32}
	}
	var cs []bench.Comparison
	for _, s := range steps {
		cs = append(cs, stepComparison(o, s[0], s[1]))
	}
	for _, s := range forwards {
		cs = append(cs, forwardComparison(o, s, 8))
	}
	ada := steps[min(1, len(steps)-1)]
	cs = append(cs, adanormOpComparison(o, ada[0], ada[1]), adanormComparison(o, ada[0], ada[1]))
	cs = append(cs, pipelineComparison(o), decodeComparison(o))
	return cs
}
