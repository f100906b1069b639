package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// helpLine is the line of flag name in the OPTIONS (or GLOBAL OPTIONS) part of help output.
func helpLine(t *testing.T, out, name string) string {
	t.Helper()
	_, opts, _ := strings.Cut(out, "OPTIONS:")
	for _, l := range strings.Split(opts, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--"+name+" ") {
			return l
		}
	}
	t.Fatalf("no help line for --%s in\n%s", name, out)
	return ""
}

func TestNoDefaultHidesTheDefaultOnly(t *testing.T) {
	var got uint64
	var set bool
	app := &cli.App{
		Name: "x",
		Flags: []cli.Flag{
			noDefault(&cli.Uint64Flag{Name: "seed", Required: true, Usage: "initialisation seed"}),
			noDefault(&cli.IntFlag{Name: "index", Usage: "entry index"}),
			&cli.IntFlag{Name: "size", Value: 256, Usage: "input size"},
		},
		Action: func(c *cli.Context) error {
			got, set = c.Uint64("seed"), c.IsSet("index")
			return nil
		},
	}
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	if err := app.Run([]string{"x", "--help"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"seed", "index"} {
		if l := helpLine(t, out.String(), name); strings.Contains(l, "default") {
			t.Errorf("help shows a default for --%s: %q", name, l)
		}
	}
	if l := helpLine(t, out.String(), "size"); !strings.Contains(l, "input size (default: 256)") {
		t.Errorf("a plain flag lost its default: %q", l)
	}
	if l := helpLine(t, out.String(), "seed"); !strings.Contains(l, "initialisation seed") {
		t.Errorf("usage text lost: %q", l)
	}

	// Still required, still parsed, IsSet still tells given from absent.
	err := app.Run([]string{"x"})
	if err == nil || !strings.Contains(err.Error(), `"seed"`) {
		t.Fatalf("missing required --seed: %v", err)
	}
	if err := app.Run([]string{"x", "--seed", "42"}); err != nil || got != 42 || set {
		t.Fatalf("--seed 42: %v, got %d, index set %v", err, got, set)
	}
	if err := app.Run([]string{"x", "--seed", "7", "--index", "0"}); err != nil || got != 7 || !set {
		t.Fatalf("--index 0: %v, index set %v", err, set)
	}
}

func TestDumpHelpShowsNoMeaninglessDefaults(t *testing.T) {
	out, err := runFasData(t, "data", "dump", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index", "seed"} {
		if l := helpLine(t, out, name); strings.Contains(l, "default: 0") {
			t.Errorf("--%s: %q", name, l)
		}
	}
	if l := helpLine(t, out, "size"); !strings.Contains(l, "(default: 256)") {
		t.Errorf("--size: %q", l)
	}
}

func TestModelInitHelpShowsNoSeedDefault(t *testing.T) {
	out, err := modelRun(t, "model", "init", "--help")
	if err != nil {
		t.Fatal(err)
	}
	if l := helpLine(t, out, "seed"); strings.Contains(l, "default") {
		t.Errorf("--seed: %q", l)
	}
}
