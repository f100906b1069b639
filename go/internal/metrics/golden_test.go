package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

const tol = 1e-9

// python runs tests/python/metrics_golden.py with args (numpy, scipy, sklearn); a missing
// interpreter or module fails the test with the fix.
func python(t *testing.T, args ...string) {
	t.Helper()
	pyref.Run(t, nil, "metrics_golden.py", args...)
}

type goldenRates struct {
	Threshold     float64            `json:"threshold"`
	APCER         float64            `json:"apcer"`
	BPCER         float64            `json:"bpcer"`
	HTER          float64            `json:"hter"`
	Accuracy      float64            `json:"accuracy"`
	Tie           bool               `json:"tie"`
	TFaceAPCER    float64            `json:"tface_apcer"`
	TFaceBPCER    float64            `json:"tface_bpcer"`
	TFaceACER     float64            `json:"tface_acer"`
	TFaceAccuracy float64            `json:"tface_accuracy"`
	APCERByType   map[string]float64 `json:"apcer_by_type"`
}

type goldenCase struct {
	FPR            []float64     `json:"fpr"`
	TPR            []float64     `json:"tpr"`
	Thresholds     []float64     `json:"thresholds"`
	FPRFull        []float64     `json:"fpr_full"`
	TPRFull        []float64     `json:"tpr_full"`
	ThresholdsFull []float64     `json:"thresholds_full"`
	AUC            float64       `json:"auc"`
	EER            float64       `json:"eer"`
	EERThreshold   float64       `json:"eer_threshold"`
	Rates          []goldenRates `json:"rates"`
	TPRAtFPR       []TPRPoint    `json:"tpr_at_fpr"`
}

type inCase struct {
	Labels     []int     `json:"labels"`
	Scores     []float64 `json:"scores"`
	Thresholds []float64 `json:"thresholds"`
}

// makeCases draws score sets: continuous, heavily tied, separable, reversed, imbalanced.
func makeCases(rng *rand.Rand) []inCase {
	var cases []inCase
	add := func(n int, pAttack float64, score func(label int) float64) {
		c := inCase{}
		for len(c.Labels) < n || !bothClasses(c.Labels) {
			l := 0
			if rng.Float64() < pAttack {
				l = 1
			}
			c.Labels = append(c.Labels, l)
			c.Scores = append(c.Scores, score(l))
		}
		c.Thresholds = []float64{0.5, c.Scores[rng.IntN(len(c.Scores))], rng.Float64()}
		cases = append(cases, c)
	}
	sizes := []int{2, 3, 5, 10, 31, 100, 257, 1000}
	for _, n := range sizes {
		for rep := 0; rep < 6; rep++ {
			shift := rng.Float64() * 2
			noisy := func(l int) float64 { return sigmoid(rng.NormFloat64() + shift*float64(l)) }
			add(n, 0.2+0.6*rng.Float64(), noisy)
			for _, grid := range []float64{2, 10, 100} { // ties: scores on a grid
				add(n, 0.2+0.6*rng.Float64(), func(l int) float64 { return math.Round(noisy(l)*grid) / grid })
			}
		}
		add(n, 0.5, func(l int) float64 { return 0.1 + 0.8*float64(l) + 0.1*rng.Float64() })     // separable
		add(n, 0.5, func(l int) float64 { return 0.9 - 0.8*float64(l) - 0.1*rng.Float64() })     // reversed
		add(n, 0.5, func(int) float64 { return 0.25 })                                           // all equal
		add(n, 0.97, func(l int) float64 { return sigmoid(rng.NormFloat64() + 1.5*float64(l)) }) // few live
		add(n, 0.03, func(l int) float64 { return sigmoid(rng.NormFloat64() + 1.5*float64(l)) }) // few attacks
	}
	return cases
}

func bothClasses(labels []int) bool {
	var n [2]int
	for _, l := range labels {
		n[l]++
	}
	return n[0] > 0 && n[1] > 0
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestAgainstSklearn(t *testing.T) {
	dir := t.TempDir()
	cases := makeCases(rand.New(rand.NewPCG(1, 2)))
	writeJSON(t, filepath.Join(dir, "in.json"), cases)
	python(t, "cases", filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json"))
	var want []goldenCase
	readJSON(t, filepath.Join(dir, "out.json"), &want)
	if len(want) != len(cases) {
		t.Fatalf("%d golden cases for %d inputs", len(want), len(cases))
	}
	var exactThr, ties, tfaceChecked int
	for i, c := range cases {
		w := want[i]
		roc, err := RocCurve(c.Labels, c.Scores, true)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		full, _ := RocCurve(c.Labels, c.Scores, false)
		sameSlice(t, i, "fpr", roc.FPR, w.FPR)
		sameSlice(t, i, "tpr", roc.TPR, w.TPR)
		sameSlice(t, i, "thresholds", roc.Thresholds, w.Thresholds)
		sameSlice(t, i, "fpr_full", full.FPR, w.FPRFull)
		sameSlice(t, i, "tpr_full", full.TPR, w.TPRFull)
		sameSlice(t, i, "thresholds_full", full.Thresholds, w.ThresholdsFull)

		vs := toVideos(c.Labels, c.Scores)
		rep, err := Evaluate(vs, "video", nil)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		near(t, i, "auc", rep.AUC, w.AUC)
		near(t, i, "eer", rep.EER, w.EER)
		near(t, i, "eer threshold", rep.EERThreshold, w.EERThreshold)
		if rep.EERThreshold == w.EERThreshold {
			exactThr++
		}
		sameRates(t, i, rep.Paper.Rates, w.Rates[0])
		for k, thr := range c.Thresholds {
			r, err := At(vs, thr)
			if err != nil {
				t.Fatal(err)
			}
			sameRates(t, i, r, w.Rates[k+1])
		}
		// Away from ties the >= rule is the reference's > rule: the numbers are TFace's.
		for k, g := range w.Rates {
			if g.Tie {
				ties++
				continue
			}
			tfaceChecked++
			if g.APCER != g.TFaceAPCER || g.BPCER != g.TFaceBPCER || g.HTER != g.TFaceACER || g.Accuracy != g.TFaceAccuracy {
				t.Errorf("case %d rate %d: >= and > rules differ without a tie: %+v", i, k, g)
			}
		}
		for k, p := range rep.TPRAtFPR {
			g := w.TPRAtFPR[k]
			if p != g {
				t.Errorf("case %d: TPR@FPR=%v: got %+v, sklearn %+v", i, g.TargetFPR, p, g)
			}
		}
	}
	t.Logf("%d cases; EER threshold bit-identical in %d; %d rate checks at a tied threshold, %d equal to TFace's > rule",
		len(cases), exactThr, ties, tfaceChecked)
	if exactThr != len(cases) {
		t.Errorf("EER threshold bit-identical in only %d of %d cases", exactThr, len(cases))
	}
}

func sameRates(t *testing.T, i int, got Rates, w goldenRates) {
	t.Helper()
	if got.Threshold != w.Threshold {
		t.Errorf("case %d: threshold %v, golden %v", i, got.Threshold, w.Threshold)
	}
	near(t, i, "apcer", got.APCER, w.APCER)
	near(t, i, "bpcer", got.BPCER, w.BPCER)
	near(t, i, "hter", got.HTER, w.HTER)
	near(t, i, "acer", got.ACER, w.HTER)
	near(t, i, "accuracy", got.Accuracy, w.Accuracy)
}

func sameSlice(t *testing.T, i int, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("case %d: %s has %d points, sklearn %d", i, what, len(got), len(want))
		return
	}
	for k := range got {
		if got[k] != want[k] {
			t.Errorf("case %d: %s[%d] = %v, sklearn %v", i, what, k, got[k], want[k])
			return
		}
	}
}

func near(t *testing.T, i int, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("case %d: %s = %.17g, golden %.17g", i, what, got, want)
	}
}

func toVideos(labels []int, scores []float64) []VideoScore {
	vs := make([]VideoScore, len(labels))
	for i := range labels {
		vs[i] = VideoScore{Video: "v" + string(rune('a'+i%26)), Label: labels[i], Score: scores[i], Frames: 1}
	}
	return vs
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
