package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
)

// runConfigCLI runs `fas config ARGS...` on a fresh command and returns its output.
func runConfigCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "fas", Commands: []*cli.Command{configCommand()}, Writer: &out, ErrWriter: &out}
	err := app.Run(append([]string{"fas", "config"}, args...))
	return out.String(), err
}

func TestConfigShow(t *testing.T) {
	const file = "../../../configs/anrl/OCI2M.yaml"
	t.Setenv("FAS_TRAIN__BATCH_SIZE", "7")
	out, err := runConfigCLI(t, "show", "--config", file, "--set", "train.epochs=3", "--set", "transform.mean=[0.4,0.5,0.6]")
	if err != nil {
		t.Fatal(err)
	}
	shown := filepath.Join(t.TempDir(), "shown.yaml")
	if err := os.WriteFile(shown, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(shown, nil, nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	want, err := config.Load(file, []string{"train.epochs=3", "transform.mean=[0.4,0.5,0.6]"}, []string{"FAS_TRAIN__BATCH_SIZE=7"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("printed config differs from Load\n%s", out)
	}
	if got.Train.Epochs != 3 || got.Train.BatchSize != 7 || got.Transform.Mean[2] != 0.6 {
		t.Errorf("flags or environment lost: %+v %+v", got.Train, got.Transform)
	}
}

func TestConfigShowErrors(t *testing.T) {
	const file = "../../../configs/anrl/OCI2M.yaml"
	if _, err := runConfigCLI(t, "show", "--config", file, "--set", "train.epoch=3"); err == nil ||
		!strings.Contains(err.Error(), "train.epoch") || !strings.Contains(err.Error(), "--set train.epoch=3") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := runConfigCLI(t, "show", "--config", file, "--set", "loss_2.weight=0.2"); err == nil ||
		!strings.Contains(err.Error(), "moved to anrl.loss.depth") {
		t.Errorf("old key: %v", err)
	}
	absent := "dataset.root=" + filepath.Join(t.TempDir(), "absent")
	if _, err := runConfigCLI(t, "show", "--config", file, "--set", absent); err != nil {
		t.Errorf("show without --check-paths opened the data: %v", err)
	}
	if _, err := runConfigCLI(t, "show", "--config", file, "--set", absent, "--check-paths"); err == nil ||
		!strings.Contains(err.Error(), "dataset.root") || !strings.Contains(err.Error(), "dataset.test[0].live") {
		t.Errorf("check-paths without data: %v", err)
	}
}

func TestConfigKeys(t *testing.T) {
	out, err := runConfigCLI(t, "keys")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	find := func(key string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == key {
				return f
			}
		}
		t.Fatalf("no line for %s in\n%s", key, out)
		return nil
	}
	if f := find("train.batch_size"); !reflect.DeepEqual(f, []string{"train.batch_size", "integer", "5", "FAS_TRAIN__BATCH_SIZE"}) {
		t.Errorf("train.batch_size line %q", f)
	}
	if f := find("optimizer.params.lr"); f[2] != "0.0001" {
		t.Errorf("optimizer.params.lr line %q", f)
	}
	if f := find("anrl.loss.depth"); !reflect.DeepEqual(f, []string{"anrl.loss.depth", "number", "0.1", "FAS_ANRL__LOSS__DEPTH"}) {
		t.Errorf("anrl.loss.depth line %q", f)
	}
	for _, old := range []string{"loss_2.weight", "model.params.width", "train.metasize"} {
		if strings.Contains(out, old) {
			t.Errorf("config keys lists the old key %s", old)
		}
	}
	if len(lines) < len(config.Keys())+1 {
		t.Errorf("%d lines for %d keys", len(lines), len(config.Keys()))
	}
}
