package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

// The test binary stands in for fasbench as the program of the side processes.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sideCmd {
		os.Exit(sideMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

var lineRE = regexp.MustCompile(`^(.+): (\S+) ([0-9.]+) img/s, (\S+) ([0-9.]+) img/s, ratio ([0-9.]+) \(median of 1 alternating runs; ranges [0-9.]+-[0-9.]+, [0-9.]+-[0-9.]+\)$`)

// The whole bench at tiny sizes: every comparison runs (both Python scripts included, one
// short iteration each) and prints a line the README's figures are read from; the AdaNorm
// line is either measured or skipped with its reason.
func TestQuickBenchRunsEveryComparison(t *testing.T) {
	o, err := parse([]string{"-quick", "-threads", "1", "-root", pyref.Root(t)})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	if failed := run(o, zap.NewNop(), func(l string) { lines = append(lines, l) }); failed != 0 {
		t.Fatalf("%d comparisons failed:\n%s", failed, strings.Join(lines, "\n"))
	}
	want := []string{"meta step S=32 B=1", "forward S=32 N=8", "adanorm op fwd+bwd N=2 C=32 S=32", "adanorm meta step S=32 B=1",
		"data pipeline 64x64 JPEG -> S=32, 1 worker(s)", "jpeg decode 64x64 q90"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i, l := range lines {
		t.Log(l)
		if strings.HasPrefix(l, want[i]+": skipped (") && strings.Contains(want[i], "adanorm") {
			continue
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil || m[1] != want[i] {
			t.Errorf("line %d %q: not a %q result line", i, l, want[i])
		}
	}
}

// -set reaches every fasgo model: an unknown key fails the fasgo side with the shim's reason.
func TestSettingsPassThrough(t *testing.T) {
	o, err := parse([]string{"-quick", "-threads", "1", "-only", "^forward", "-set", "bogus_key=1", "-root", pyref.Root(t)})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	if failed := run(o, zap.NewNop(), func(l string) { lines = append(lines, l) }); failed != 1 || len(lines) != 1 {
		t.Fatalf("%d failed, lines %q", failed, lines)
	}
	if !strings.Contains(lines[0], "FAILED") || !strings.Contains(lines[0], "bogus_key") {
		t.Errorf("line %q does not report the unknown setting", lines[0])
	}
}

func TestParseRejectsBadFlags(t *testing.T) {
	root := pyref.Root(t)
	for _, args := range [][]string{{"-runs", "0"}, {"-set", "novalue"}, {"-only", "("}, {"-width", "0"}, {"extra"}, {"-root", t.TempDir()}} {
		if _, err := parse(append([]string{"-root", root}, args...)); err == nil {
			t.Errorf("parse(%q) accepted", args)
		}
	}
}

// The side subcommand measures a positive rate and names what is wrong with its arguments.
func TestSideSubcommand(t *testing.T) {
	for _, kind := range []string{kindStep, kindForward} {
		rate, err := measureSide([]string{"-kind", kind, "-size", "32", "-batch", "1", "-threads", "1", "-width", "0.25", "-min-time", "0"})
		if err != nil || !(rate > 0) {
			t.Errorf("%s: rate %v, err %v", kind, rate, err)
		}
	}
	for _, c := range []struct{ args, want string }{
		{"-kind nope -size 32 -batch 1", `-kind "nope"`},
		{"-kind step -size 0 -batch 1", "-size 0"},
		{"-kind step -size 32 -batch 0", "-batch 0"},
		{"-kind forward -size 32 -batch 1 -set nokey", "want key=value"},
		{"-kind forward -size 32 -batch 1 -width 0.25 -set bogus_key=1", "bogus_key"},
	} {
		if _, err := measureSide(strings.Fields(c.args)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to name %q", c.args, err, c.want)
		}
	}
}
