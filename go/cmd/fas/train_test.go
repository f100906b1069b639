package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/synth"
	"github.com/fasgo/fasgo/go/internal/train"
)

// SIGINT during training finishes the step, writes a loadable checkpoint and exits cleanly;
// --resume then completes the run.
func TestTrainSignalWritesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "synth")
	o := synth.Options{Domains: 3, Subjects: 5, VideosPerSubject: 2, Frames: 2, Size: 32, Seed: 3}
	if _, err := synth.Write(context.Background(), data, o, false, nil); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	args := []string{"fas", "train", "--quiet", "--config", filepath.Join(data, "configs", synth.ProtocolName(0)+".yaml"),
		"--set", "run.dir=" + runs, "--set", "run.name=sig", "--set", "train.epochs=50",
		"--set", "train.batch_size=2", "--set", "anrl.metasize=1", "--set", "model.width=0.125",
		"--set", "transform.image_size=32", "--set", "run.threads=2"}
	steps := filepath.Join(runs, "sig", "metrics", "steps.jsonl")
	go func() {
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if b, err := os.ReadFile(steps); err == nil && bytes.Count(b, []byte("\n")) >= 2 {
				syscall.Kill(os.Getpid(), syscall.SIGINT)
				return
			}
		}
	}()
	var out bytes.Buffer
	app := buildApp()
	app.Writer = &out
	if err := app.Run(args); err != nil {
		t.Fatalf("interrupted training returned an error: %v", err)
	}
	if !strings.Contains(out.String(), "checkpoint written") {
		t.Fatalf("no stop message; output:\n%s", out.String())
	}
	c, ok, err := runinfo.LatestCheckpoint(filepath.Join(runs, "sig", "ckpt"))
	if err != nil || !ok {
		t.Fatalf("no checkpoint after SIGINT: %v", err)
	}
	m, _, err := model.Load(filepath.Join(c.Dir, train.WeightsFile), model.Options{})
	if err != nil {
		t.Fatalf("checkpoint written on SIGINT does not load: %v", err)
	}
	m.Close()

	// Resume for one more epoch to the end.
	out.Reset()
	args = append(args, "--resume", "--set", "train.epochs=1")
	app = buildApp()
	app.Writer = &out
	if err := app.Run(args); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !strings.Contains(out.String(), "Evaluation") {
		t.Fatalf("resumed run printed no evaluation:\n%s", out.String())
	}
	checkEval(t, filepath.Join(data, "configs", synth.ProtocolName(0)+".yaml"), filepath.Join(runs, "sig"), filepath.Join(dir, "eval"))
}

// checkEval runs fas eval on a finished run and checks its report against its own scores.
func checkEval(t *testing.T, cfgPath, runDir, out string) {
	t.Helper()
	var buf bytes.Buffer
	app := buildApp()
	app.Writer = &buf
	args := []string{"fas", "eval", "--config", cfgPath, "--checkpoint", runDir, "--out", out, "--embed",
		"--set", "transform.image_size=32"}
	if err := app.Run(args); err != nil {
		t.Fatalf("fas eval: %v", err)
	}
	for _, f := range []string{"metrics.json", "metrics.md", "scores.csv", "roc.png", "det.png", "scores_hist.png", "embed.png", "val/metrics.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("fas eval wrote no %s: %v", f, err)
		}
	}
	var rep metrics.Report
	b, err := os.ReadFile(filepath.Join(out, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	// The report must follow from its per-video scores, with the threshold it recorded.
	again, _, err := metrics.EvaluateCSV(filepath.Join(out, "scores.csv"), filepath.Join(out, "val", "scores.csv"), false)
	if err != nil {
		t.Fatal(err)
	}
	if again.AUC != rep.AUC || again.Paper.HTER != rep.Paper.HTER || again.Realistic == nil || rep.Realistic == nil ||
		again.Realistic.HTER != rep.Realistic.HTER {
		t.Errorf("metrics.json (AUC %v, HTER %v/%v) disagrees with its scores.csv (AUC %v, HTER %v)",
			rep.AUC, rep.Paper.HTER, rep.Realistic, again.AUC, again.Paper.HTER)
	}
}
