package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

// Bad requests fail before any training, naming what is wrong; a real data directory
// reaches every protocol config as its dataset.root.
func TestReproduceRefusals(t *testing.T) {
	root := pyref.Root(t)
	data := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	base := []string{"reproduce", "--out", out, "--configs", filepath.Join(root, "configs", "anrl"),
		"--published", filepath.Join(root, "configs", "published.yaml")}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--method", "minifas", "--data", data}, `--method "minifas"`},
		{[]string{"--method", "fghv", "--data", data, "--grouping", "both"}, "tface batch grouping is ANRL's"},
		{[]string{"--method", "anrl", "--data", data, "--grouping", "mixed"}, `batch grouping "mixed"`},
		{[]string{"--method", "anrl", "--data", data, "--seeds", "0"}, "--seeds 0"},
		{[]string{"--method", "anrl", "--data", filepath.Join(data, "missing")}, "is not a directory"},
		{[]string{"--method", "anrl", "--data", data, "--protocols", "OCI2M,XYZ"}, `no protocol "XYZ" (have: OCI2M, OMI2C, OCM2I, ICM2O)`},
		// The data directory exists but holds no lists: the first protocol names what it lacks.
		{[]string{"--method", "anrl", "--data", data, "--protocols", "ICM2O"}, filepath.Join(data, "lists")},
	} {
		_, err := modelRun(t, append(append([]string{}, base...), c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: err = %v, want one mentioning %q", c.args, err, c.msg)
		}
	}
}
