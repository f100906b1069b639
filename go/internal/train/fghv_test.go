package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/runinfo"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/synth"
)

// fghvSets make a tiny FGHV (latent 16, 8 hypotheses, 5 latent steps) on the test data.
var fghvSets = []string{"method=fghv", "fghv.latent_dim=16", "fghv.hypotheses=8", "fghv.test.latent_steps=5", "fghv.test.draws=4"}

func tinyFGHV(t *testing.T, runDir, name string, epochs int, more ...string) *config.Config {
	t.Helper()
	c, err := config.Load(filepath.Join(tinyData(t), "configs", synth.ProtocolName(2)+".yaml"),
		append(append(configSets(runDir, name, epochs), fghvSets...), more...), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// configSets are tinyConfig's settings.
func configSets(runDir, name string, epochs int) []string {
	return []string{
		"run.dir=" + runDir, "run.name=" + name, "run.threads=2",
		fmt.Sprintf("train.epochs=%d", epochs), "train.batch_size=2",
		"transform.image_size=32", "model.width=0.125",
		"optimizer.params.lr=0.002", "val.batch_size=16", "test.batch_size=16",
	}
}

// largerData is a synthetic benchmark of 3 domains of 30 subjects.
func largerData(t *testing.T) string { return largeSet.get(t) }

func metaOf(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := safetensors.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.Metadata
}

// A short FGHV run on the synthetic benchmark trains without NaN, scores above chance on
// the held-out domain, reports the score parts alone and the decision plane, fits lambda on
// the validation lists and stores it with the best checkpoint's weights under stable names.
func TestFGHVTrainsAboveChance(t *testing.T) {
	runs := t.TempDir()
	data := largerData(t)
	sets := []string{"method=fghv", "run.dir=" + runs, "run.name=fghv", "run.threads=2", "train.epochs=4",
		"train.batch_size=4", "model.width=0.25", "optimizer.params.lr=0.001", "scheduler.params.decay_t=3",
		"fghv.latent_dim=32", "fghv.test.latent_steps=10"}
	cfg, err := config.Load(filepath.Join(data, "configs", synth.ProtocolName(2)+".yaml"), sets, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), cfg, Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	steps := readSteps(t, res.RunDir)
	for _, s := range steps {
		if math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
			t.Fatalf("step %d: loss %v", s.Step, s.Loss)
		}
	}
	k := len(steps) / 4
	if first, last := mean(steps[:k]), mean(steps[len(steps)-k:]); !(last < first) {
		t.Errorf("training loss did not fall: first quarter %.4f, last quarter %.4f", first, last)
	}
	if auc := res.Eval.Test.AUC; !(auc > 0.65) {
		t.Errorf("test AUC %.4f on the unseen domain: not above chance", auc)
	}
	t.Logf("test AUC %.4f, HTER %.4f; parts: space %.4f, delta_kl %.4f; %s", res.Eval.Test.AUC, res.Eval.Test.Paper.HTER,
		res.Eval.Parts[0].Test.AUC, res.Eval.Parts[1].Test.AUC, res.Calibrated)
	for _, f := range []string{"eval/metrics.json", "eval/space/metrics.json", "eval/space/val/metrics.json",
		"eval/delta_kl/metrics.json", "eval/delta_kl/roc.png", "eval/decision_plane.png"} {
		if _, err := os.Stat(filepath.Join(res.RunDir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if len(res.Eval.Parts) != 2 || res.Eval.Parts[0].Part.Name != "space" || res.Eval.Parts[1].Part.Name != "delta_kl" ||
		res.Eval.Parts[0].Test.Realistic == nil {
		t.Errorf("parts: %+v", res.Eval.Parts)
	}
	// lambda: fitted, stored with the best checkpoint (weights and training state), read back.
	lambda, ok := res.Calibrated.Get("lambda")
	if !ok || len(res.Calibrated) != 1 {
		t.Fatalf("calibrated settings %s", res.Calibrated)
	}
	_, ck, ok, err := runinfo.ReadBest(filepath.Join(res.RunDir, "ckpt"))
	if err != nil || !ok {
		t.Fatalf("no best checkpoint: %v", err)
	}
	if got := metaOf(t, filepath.Join(ck.Dir, WeightsFile))["lambda"]; got != lambda {
		t.Errorf("best weights record lambda %q, fitted %q", got, lambda)
	}
	for _, f := range []string{WeightsFile, StateFile} {
		m, meta, err := model.Load(filepath.Join(ck.Dir, f), model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Info().Settings.Get("lambda"); v != lambda || meta.Method != "fghv" {
			t.Errorf("%s loads as %s with lambda %q, fitted %q", f, meta.Method, v, lambda)
		}
		m.Close()
	}
	// Stable names: exactly the tensors of a freshly built network, in its order, and they
	// round-trip bit for bit.
	f, err := safetensors.Read(filepath.Join(ck.Dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := model.Load(filepath.Join(ck.Dir, WeightsFile), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.State()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range st {
		names = append(names, s.Name)
		ft, ok := f.Get(s.Name)
		if !ok || string(ft.Data) != string(s.Data) {
			t.Errorf("tensor %s does not round-trip", s.Name)
		}
	}
	for _, want := range []string{"FeatExtractor.inc.conv.weight", "Embedder.conv_block3.BN.running_var", "DepthEstmator.conv_block3.conv.bias",
		"RealFGN.fc1.weight", "RealFGN.bn2.num_batches_tracked", "AttackFGN.fc3.bias"} {
		if !slices.Contains(names, want) {
			t.Errorf("no tensor %s in the weights", want)
		}
	}
	if len(names) != len(f.Tensors) {
		t.Errorf("the file holds %d tensors, the network %d", len(f.Tensors), len(names))
	}
}

// A stopped and resumed FGHV run ends with exactly the weights and losses of an
// uninterrupted one: the latents of every step come from the trainer's generator, which the
// checkpoint restores.
func TestFGHVResumeIsBitForBit(t *testing.T) {
	runs := t.TempDir()
	full, err := Run(context.Background(), tinyFGHV(t, runs, "full", 2), Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	stopAt := full.Steps/2 + 1
	ctx, cancel := context.WithCancel(context.Background())
	part, err := Run(ctx, tinyFGHV(t, runs, "split", 2), Options{Quiet: true, AfterStep: func(s int64) {
		if s == stopAt {
			cancel()
		}
	}})
	cancel()
	if err != nil || !part.Interrupted || part.Steps != stopAt {
		t.Fatalf("interrupted run: %v, %+v", err, part)
	}
	rest, err := Run(context.Background(), tinyFGHV(t, runs, "split", 2), Options{Quiet: true, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	a, b := finalWeights(t, full.RunDir), finalWeights(t, rest.RunDir)
	for _, ta := range a.Tensors {
		tb, ok := b.Get(ta.Name)
		if !ok || string(ta.Data) != string(tb.Data) {
			t.Fatalf("tensor %s differs between the uninterrupted and the resumed run", ta.Name)
		}
	}
	sa, sb := readSteps(t, full.RunDir), readSteps(t, rest.RunDir)
	if len(sa) != len(sb) {
		t.Fatalf("%d steps uninterrupted, %d resumed", len(sa), len(sb))
	}
	for i := range sa {
		if sa[i] != sb[i] {
			t.Fatalf("step %d: loss %v uninterrupted, %v stopped and resumed", sa[i].Step, sa[i].Loss, sb[i].Loss)
		}
	}
	if full.Calibrated.String() != rest.Calibrated.String() || full.Eval.Test.AUC != rest.Eval.Test.AUC {
		t.Errorf("calibration %s vs %s, test AUC %v vs %v", full.Calibrated, rest.Calibrated, full.Eval.Test.AUC, rest.Eval.Test.AUC)
	}
}

// flipLists writes copies of the target domain's lists with every label flipped (and no
// attack types), as lists/poison_<split>_<old class>.txt.
func flipLists(t *testing.T, data string) []string {
	t.Helper()
	var entries []string
	for _, split := range []string{"train", "val", "test"} {
		for _, class := range []string{"live", "attack"} {
			b, err := os.ReadFile(filepath.Join(data, "lists", fmt.Sprintf("dom2_%s_%s.txt", split, class)))
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, line := range strings.Split(string(b), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 || strings.HasPrefix(line, "#") {
					continue
				}
				if f[1] == "0" {
					f[1] = "1"
				} else {
					f[1] = "0"
				}
				if strings.HasPrefix(f[len(f)-1], "attack=") {
					f = f[:len(f)-1]
				}
				out = append(out, strings.Join(f, " "))
			}
			name := fmt.Sprintf("lists/poison_%s_%s.txt", split, class)
			if err := os.WriteFile(filepath.Join(data, name), []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			entries = append(entries, name)
		}
	}
	var sets []string
	for i := 0; i < len(entries); i += 2 { // the same frames in the same order (FGHV's latents depend on the batches)
		sets = append(sets, fmt.Sprintf("{name: dom2, live: %s, attack: %s}", entries[i], entries[i+1]))
	}
	return []string{"dataset.test=[" + strings.Join(sets, ", ") + "]"}
}

// The test lists never reach the fitting of lambda: a run whose test lists are poisoned
// (every label flipped) fits bit for bit the same lambda as the clean run, while its test
// metrics do change (the poison reached the evaluation).
func TestFGHVLambdaNeverSeesTheTestLists(t *testing.T) {
	runs := t.TempDir()
	clean, err := Run(context.Background(), tinyFGHV(t, runs, "clean", 1), Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	poison := flipLists(t, tinyData(t))
	dirty, err := Run(context.Background(), tinyFGHV(t, runs, "poisoned", 1, poison...), Options{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("clean %s (test AUC %.4f), poisoned %s (test AUC %.4f)", clean.Calibrated, clean.Eval.Test.AUC, dirty.Calibrated, dirty.Eval.Test.AUC)
	if len(clean.Calibrated) != 1 || clean.Calibrated.String() != dirty.Calibrated.String() {
		t.Errorf("lambda with clean test lists %s, with poisoned ones %s", clean.Calibrated, dirty.Calibrated)
	}
	if a, b := clean.Eval.Test.AUC, dirty.Eval.Test.AUC; math.Abs(a+b-1) > 1e-9 {
		t.Errorf("test AUC clean %v, poisoned %v: the poisoned lists did not reach the evaluation (want AUCs summing to 1)", a, b)
	}
}
