package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
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

	// The printed command resumes from the run's stored config: no --config, no --set but
	// the run's location.
	want := "fas train --resume --set run.dir=" + runs + " --set run.name=sig"
	if !strings.Contains(out.String(), want) {
		t.Errorf("continue line is not %q:\n%s", want, out.String())
	}
	// A resume that changes the experiment is refused, naming the key ...
	resume := []string{"fas", "train", "--quiet", "--resume", "--set", "run.dir=" + runs, "--set", "run.name=sig",
		"--set", "train.epochs=1"}
	err = buildApp().Run(resume)
	if err == nil || !strings.Contains(err.Error(), "train.epochs: 50 -> 1") || !strings.Contains(err.Error(), "--allow-change") {
		t.Fatalf("a resume with another train.epochs: %v", err)
	}
	// ... unless allowed: then it finishes, and the change is in the run's log.
	out.Reset()
	app = buildApp()
	app.Writer = &out
	if err := app.Run(append(resume, "--allow-change", "train.epochs")); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(runs, "sig", "log.jsonl")); !strings.Contains(string(b), `"key":"train.epochs"`) {
		t.Error("the allowed change is not recorded in log.jsonl")
	}
	// Steps trained before the interruption's checkpoint are not duplicated.
	b, err := os.ReadFile(steps)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[float64]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct{ Step float64 }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if seen[rec.Step] {
			t.Errorf("step %v appears twice in steps.jsonl", rec.Step)
		}
		seen[rec.Step] = true
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
	// Weights of another width than the config's are refused, naming the setting.
	if err := buildApp().Run(args); err == nil || !strings.Contains(err.Error(), "width: 0.125, the config says 0.25") {
		t.Fatalf("fas eval with a config of another width: %v", err)
	}
	args = append(args, "--set", "model.width=0.125", "--threads", "2")
	var progress bytes.Buffer
	app.ErrWriter = &progress
	if err := app.Run(args); err != nil {
		t.Fatalf("fas eval: %v", err)
	}
	if !regexp.MustCompile(`scored (\d+)/(\d+) frames\n$`).MatchString(progress.String()) {
		t.Errorf("fas eval showed no progress ending at the total: %q", progress.String())
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
