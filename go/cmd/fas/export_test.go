package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/synth"
	"github.com/fasgo/fasgo/go/liveness"
)

var (
	tinyRunOnce sync.Once
	tinyRunDir  string
	tinyRunCfg  string
	tinyRunErr  error
)

// tinyRun trains a 2-epoch run on a small synthetic benchmark once per test binary and returns
// its directory and config.
func tinyRun(t *testing.T) (run, cfg string) {
	t.Helper()
	tinyRunOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fas-export-test-")
		if err != nil {
			tinyRunErr = err
			return
		}
		testCleanups = append(testCleanups, func() { os.RemoveAll(dir) })
		data := filepath.Join(dir, "synth")
		o := synth.Options{Domains: 3, Subjects: 5, VideosPerSubject: 2, Frames: 2, Size: 32, Seed: 5}
		if _, err := synth.Write(context.Background(), data, o, false, nil); err != nil {
			tinyRunErr = err
			return
		}
		tinyRunCfg = filepath.Join(data, "configs", synth.ProtocolName(0)+".yaml")
		args := []string{"fas", "train", "--quiet", "--config", tinyRunCfg, "--set", "run.dir=" + filepath.Join(dir, "runs"),
			"--set", "run.name=tiny", "--set", "train.epochs=2", "--set", "train.batch_size=2", "--set", "anrl.metasize=1",
			"--set", "model.width=0.125", "--set", "transform.image_size=32", "--set", "run.threads=2"}
		app := buildApp()
		app.Writer = &bytes.Buffer{}
		tinyRunErr = app.Run(args)
		tinyRunDir = filepath.Join(dir, "runs", "tiny")
	})
	if tinyRunErr != nil {
		t.Fatalf("training the test run: %v", tinyRunErr)
	}
	return tinyRunDir, tinyRunCfg
}

func runFas(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := buildApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"fas"}, args...))
	return out.String(), errOut.String(), err
}

func readReport(t *testing.T, path string) metrics.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r metrics.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExportFromRun(t *testing.T) {
	run, _ := tinyRun(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "model.safetensors")
	stdout, stderr, err := runFas(t, "export", "--checkpoint", run, "--out", out)
	if err != nil {
		t.Fatalf("fas export: %v\n%s", err, stderr)
	}
	f, spec, err := export.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	val := readReport(t, filepath.Join(run, "eval", "val", "metrics.json"))
	test := readReport(t, filepath.Join(run, "eval", "metrics.json"))
	th := spec.Threshold
	if th == nil {
		t.Fatalf("no threshold; stdout %s stderr %s", stdout, stderr)
	}
	// The threshold is the validation lists' EER threshold, i.e. the realistic protocol's ...
	if th.Value != val.EERThreshold || test.Realistic == nil || th.Value != test.RealisticSource.Value {
		t.Errorf("threshold %v; eval/val EER threshold %v; realistic threshold of the test report %v", th.Value, val.EERThreshold, test.RealisticSource)
	}
	// ... never the test lists' own.
	if th.Value == test.EERThreshold {
		t.Errorf("threshold %v equals the test lists' EER threshold", th.Value)
	}
	if !th.Recomputed || th.Protocol != synth.ProtocolName(0) || th.Level != "video" || th.Live != val.Live || th.Attacks != val.Attacks ||
		!strings.Contains(th.From, "dataset.val: dom1, dom2") || th.EER != val.EER {
		t.Errorf("threshold provenance %+v (val report: %d live, %d attacks, EER %v)", th, val.Live, val.Attacks, val.EER)
	}
	if !strings.Contains(stderr, "threshold from "+filepath.Join(run, "eval", "val")) {
		t.Errorf("stderr does not say where the threshold came from: %s", stderr)
	}
	// Everything else a service needs, and where the model came from.
	stored, err := config.Load(filepath.Join(run, "config.yaml"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := stored.YAML()
	sum := sha256.Sum256(y)
	_, best, _, _ := runinfo.ReadBest(filepath.Join(run, "ckpt"))
	md := f.Metadata
	want := map[string]string{
		"format": "fasgo", "export_format": export.FormatVersion, "method": "anrl", "size": "32", "width": "0.125", "gate": "1layer",
		"model_settings": `[["width","0.125"],["gate","1layer"],["adanorm_impl","fused"]]`, "input": "rgb+hsv", "transform_mean": "[0.5,0.5,0.5]",
		"transform_std": "[0.5,0.5,0.5]", "crop": "none", "calibrated": "true", "threshold_protocol": "lodo_dom0",
		"train_config_sha256": hex.EncodeToString(sum[:]), "source": filepath.Join(best.Dir, "model.safetensors"),
		"git_commit_from": filepath.Join(run, "versions.json"), "threshold_level": "video",
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}
	for _, k := range []string{"fas_version", "git_commit", "model_version", "step", "epoch", "threshold", "threshold_from"} {
		if md[k] == "" {
			t.Errorf("metadata %s is missing", k)
		}
	}
	// The public package opens it with the model's threshold.
	d, err := liveness.Open(out, liveness.WithFaceCrops())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if i := d.Info(); !i.Calibrated || i.ModelThreshold != th.Value || i.ThresholdSource != liveness.ThresholdModel || i.ModelVersion != md["model_version"] {
		t.Errorf("liveness info %+v", i)
	}

	// Scoring the validation lists again gives the same threshold, bit for bit.
	out2 := filepath.Join(dir, "rescored.safetensors")
	if _, stderr, err := runFas(t, "export", "--checkpoint", best.Dir, "--out", out2, "--rescore", "--quiet"); err != nil {
		t.Fatalf("fas export --rescore: %v\n%s", err, stderr)
	}
	_, spec2, err := export.Read(out2)
	if err != nil {
		t.Fatal(err)
	}
	if spec2.Threshold == nil || math.Float64bits(spec2.Threshold.Value) != math.Float64bits(th.Value) || spec2.Threshold.Recomputed {
		t.Errorf("rescored threshold %+v, from the report %v", spec2.Threshold, th.Value)
	}
	if spec2.ModelVersion != spec.ModelVersion {
		t.Errorf("the same weights got versions %s and %s", spec.ModelVersion, spec2.ModelVersion)
	}
}

// A checkpoint other than the evaluated one is calibrated by scoring the validation lists.
func TestExportOtherCheckpoint(t *testing.T) {
	run, _ := tinyRun(t)
	all, err := runinfo.ListCheckpoints(filepath.Join(run, "ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	_, best, _, _ := runinfo.ReadBest(filepath.Join(run, "ckpt"))
	var other string
	for _, c := range all {
		if c.Step != best.Step {
			other = c.Dir
		}
	}
	if other == "" {
		t.Skip("the run kept only its best checkpoint")
	}
	out := filepath.Join(t.TempDir(), "m.safetensors")
	_, stderr, err := runFas(t, "export", "--checkpoint", filepath.Join(other, "state.safetensors"), "--out", out, "--quiet")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "not these weights") {
		t.Errorf("stderr: %s", stderr)
	}
	_, spec, err := export.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	// The same checkpoint through fas eval: its validation report's EER threshold.
	evalOut := filepath.Join(t.TempDir(), "eval")
	if _, stderr, err := runFas(t, "eval", "--config", filepath.Join(run, "config.yaml"), "--checkpoint", other, "--out", evalOut, "--quiet"); err != nil {
		t.Fatalf("fas eval: %v\n%s", err, stderr)
	}
	val := readReport(t, filepath.Join(evalOut, "val", "metrics.json"))
	if spec.Threshold == nil || spec.Threshold.Value != val.EERThreshold {
		t.Errorf("threshold %+v; fas eval's validation EER threshold %v", spec.Threshold, val.EERThreshold)
	}
}

func TestExportChoices(t *testing.T) {
	run, cfg := tinyRun(t)
	dir := t.TempDir()
	// --uncalibrated: the model says so, and the public package needs a threshold.
	unc := filepath.Join(dir, "unc.safetensors")
	stdout, _, err := runFas(t, "export", "--checkpoint", run, "--out", unc, "--uncalibrated")
	if err != nil || !strings.Contains(stdout, "no calibrated threshold") {
		t.Fatalf("%v: %s", err, stdout)
	}
	f, spec, err := export.Read(unc)
	if err != nil || spec.Threshold != nil || f.Metadata["calibrated"] != "false" || f.Metadata["threshold"] != "" {
		t.Fatalf("uncalibrated: %v %+v", err, f.Metadata)
	}
	if _, err := liveness.Open(unc, liveness.WithFaceCrops()); !errors.Is(err, liveness.ErrNoThreshold) {
		t.Errorf("opening an uncalibrated model: %v", err)
	}
	// --threshold by hand.
	hand := filepath.Join(dir, "hand.safetensors")
	if _, _, err := runFas(t, "export", "--checkpoint", run, "--out", hand, "--threshold", "0.3125", "--threshold-from", "a field trial"); err != nil {
		t.Fatal(err)
	}
	if _, spec, err := export.Read(hand); err != nil || spec.Threshold.Value != 0.3125 || spec.Threshold.From != "a field trial" {
		t.Errorf("hand threshold: %v %+v", err, spec.Threshold)
	}
	// A bare weights file without a config cannot be calibrated.
	weights := filepath.Join(dir, "w.safetensors")
	if _, _, err := runFas(t, "model", "init", "--size", "32", "--width", "0.5", "--seed", "1", "--out", weights); err != nil {
		t.Fatal(err)
	}
	_, _, err = runFas(t, "export", "--checkpoint", weights, "--out", filepath.Join(dir, "x.safetensors"))
	for _, want := range []string{"--config", "--threshold", "--uncalibrated"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bare weights: %v (want %s)", err, want)
		}
	}
	if _, stderr, err := runFas(t, "export", "--checkpoint", weights, "--out", filepath.Join(dir, "x.safetensors"), "--uncalibrated"); err != nil ||
		!strings.Contains(stderr, "no training config") {
		t.Errorf("bare weights, uncalibrated: %v %s", err, stderr)
	}
	// A config that describes another network is refused.
	_, _, err = runFas(t, "export", "--checkpoint", weights, "--out", filepath.Join(dir, "y.safetensors"), "--config", cfg,
		"--set", "transform.image_size=32")
	if err == nil || !strings.Contains(err.Error(), "width: 0.5, the config says 0.25") {
		t.Errorf("another network: %v", err)
	}
	if _, _, err := runFas(t, "export", "--checkpoint", run, "--out", filepath.Join(dir, "z"), "--threshold", "0.5", "--uncalibrated"); err == nil {
		t.Error("--threshold with --uncalibrated accepted")
	}
}
