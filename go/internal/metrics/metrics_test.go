package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestRocCurveDocExample(t *testing.T) {
	// scikit-learn's roc_curve docstring example, positive class = attack.
	roc, err := RocCurve([]int{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := ROC{
		FPR:        []float64{0, 0, 0.5, 0.5, 1},
		TPR:        []float64{0, 0.5, 0.5, 1, 1},
		Thresholds: []float64{1.8, 0.8, 0.4, 0.35, 0.1},
	}
	if !reflect.DeepEqual(roc, want) {
		t.Errorf("ROC %+v, want %+v", roc, want)
	}
	if a := roc.AUC(); a != 0.75 {
		t.Errorf("AUC %v, want 0.75", a)
	}
	// The ROC is vertical at FPR 0.5 from TPR 0.5 to 1: the EER is 0.5.
	eer, _, err := roc.EER()
	if err != nil || math.Abs(eer-0.5) > 1e-11 {
		t.Errorf("EER %v (%v), want 0.5", eer, err)
	}
}

func TestSeparableAndReversed(t *testing.T) {
	sep := toVideos([]int{0, 0, 1, 1}, []float64{0.1, 0.2, 0.8, 0.9})
	r, err := Evaluate(sep, "video", nil)
	if err != nil {
		t.Fatal(err)
	}
	// f(0) = 1 - TPR(0) = 0: brentq returns 0 at once; the threshold is the lowest attack score.
	if r.AUC != 1 || r.EER != 0 || r.EERThreshold != 0.8 || r.Paper.HTER != 0 || r.Paper.Accuracy != 1 {
		t.Errorf("separable: %+v", r)
	}
	rev := toVideos([]int{1, 1, 0, 0}, []float64{0.1, 0.2, 0.8, 0.9})
	r, err = Evaluate(rev, "video", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.AUC != 0 || math.Abs(r.EER-1) > 1e-11 {
		t.Errorf("reversed: AUC %v EER %v, want 0 and 1", r.AUC, r.EER)
	}
}

func TestAllEqualScores(t *testing.T) {
	r, err := Evaluate(toVideos([]int{0, 1, 0, 1, 1}, []float64{0.3, 0.3, 0.3, 0.3, 0.3}), "video", nil)
	if err != nil {
		t.Fatal(err)
	}
	// ROC (0,0)-(1,1); EER 0.5; threshold halfway between max+1 = 1.3 and 0.3; all live.
	if r.AUC != 0.5 || r.EER != 0.5 || math.Abs(r.EERThreshold-0.8) > 1e-15 {
		t.Errorf("AUC %v EER %v thr %v, want 0.5 0.5 0.8", r.AUC, r.EER, r.EERThreshold)
	}
	if r.Paper.APCER != 1 || r.Paper.BPCER != 0 || r.Paper.HTER != 0.5 || r.Paper.Accuracy != 0.4 {
		t.Errorf("rates %+v", r.Paper.Rates)
	}
}

func TestDegenerateInputs(t *testing.T) {
	if _, err := Evaluate(nil, "video", nil); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("empty: %v", err)
	}
	_, err := Evaluate(toVideos([]int{1, 1, 1}, []float64{0.1, 0.5, 0.9}), "video", nil)
	if !errors.Is(err, ErrOneClass) || !strings.Contains(err.Error(), "0 live and 3 attack") {
		t.Errorf("attacks only: %v", err)
	}
	if _, err := EERThreshold(toVideos([]int{0, 0}, []float64{0.1, 0.5}), "val.csv"); !errors.Is(err, ErrOneClass) ||
		!strings.Contains(err.Error(), "threshold from val.csv") {
		t.Errorf("live-only source: %v", err)
	}
	if _, err := At(toVideos([]int{0}, []float64{0.1}), 0.5); !errors.Is(err, ErrOneClass) {
		t.Errorf("At on one class: %v", err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, err := RocCurve([]int{0, 1}, []float64{0.2, bad}, true)
		if err == nil || !strings.Contains(err.Error(), "sample 1: score") || !strings.Contains(err.Error(), "not finite") {
			t.Errorf("score %v: %v", bad, err)
		}
	}
	if _, err := RocCurve([]int{0, 2}, []float64{0.2, 0.3}, true); err == nil || !strings.Contains(err.Error(), "label 2") {
		t.Errorf("label 2: %v", err)
	}
	if _, err := Evaluate(toVideos([]int{0, 1}, []float64{0.1, 0.9}), "clip", nil); err == nil || !strings.Contains(err.Error(), `level "clip"`) {
		t.Errorf("bad level: %v", err)
	}
	if _, err := TPRAtFPR(ROC{}, 1.5, 1); err == nil {
		t.Error("target FPR 1.5 accepted")
	}
}

func TestVideos(t *testing.T) {
	frames := []FrameScore{
		{Video: "a", Label: 0, Score: 0.1, Where: "s.csv:2"},
		{Video: "b", Label: 1, Score: 0.7, AttackType: "print", Where: "s.csv:3"},
		{Video: "a", Label: 0, Score: 0.4, Where: "s.csv:4"},
		{Video: "b", Label: 1, Score: 0.8, AttackType: "print", Where: "s.csv:5"},
		{Video: "b", Label: 1, Score: 0.9, AttackType: "print", Where: "s.csv:6"},
	}
	vs, err := Videos(frames)
	if err != nil {
		t.Fatal(err)
	}
	// Runtime float64 sums in input order (constant expressions would be exact).
	s := []float64{0.1, 0.4, 0.7, 0.8, 0.9}
	want := []VideoScore{
		{Video: "a", Label: 0, Score: (s[0] + s[1]) / 2, Frames: 2},
		{Video: "b", Label: 1, Score: (s[2] + s[3] + s[4]) / 3, Frames: 3, AttackType: "print"},
	}
	if !reflect.DeepEqual(vs, want) {
		t.Errorf("got %+v, want %+v", vs, want)
	}
	fl, err := Frames(frames)
	if err != nil || len(fl) != 5 || fl[3].Score != 0.8 || fl[3].Frames != 1 {
		t.Errorf("frame level: %+v %v", fl, err)
	}
	bad := append([]FrameScore(nil), frames...)
	bad[3].Label = 0
	bad[3].AttackType = ""
	_, err = Videos(bad)
	for _, want := range []string{"s.csv:5", `video "b"`, "s.csv:3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("label disagreement: error %v lacks %q", err, want)
		}
	}
	bad = append([]FrameScore(nil), frames...)
	bad[4].AttackType = "replay"
	if _, err := Videos(bad); err == nil || !strings.Contains(err.Error(), `attack type "replay"`) {
		t.Errorf("attack type disagreement: %v", err)
	}
	bad = append([]FrameScore(nil), frames...)
	bad[2].Score = math.NaN()
	if _, err := Videos(bad); err == nil || !strings.Contains(err.Error(), `s.csv:4: video "a": score NaN is not finite`) {
		t.Errorf("NaN: %v", err)
	}
	bad = append([]FrameScore(nil), frames...)
	bad[0].AttackType = "print"
	if _, err := Videos(bad); err == nil || !strings.Contains(err.Error(), "live sample has attack type") {
		t.Errorf("typed live: %v", err)
	}
}

// TestTPRAtFPRBruteForce checks the operating point against every threshold tried directly.
func TestTPRAtFPRBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for rep := 0; rep < 200; rep++ {
		n := 2 + rng.IntN(300)
		grid := []float64{5, 20, 1000}[rep%3]
		labels, scores := make([]int, n), make([]float64, n)
		for i := range labels {
			labels[i] = rng.IntN(2)
			scores[i] = math.Round(sigmoid(rng.NormFloat64()+float64(labels[i]))*grid) / grid
		}
		labels[0], labels[1] = 0, 1
		full, err := RocCurve(labels, scores, false)
		if err != nil {
			t.Fatal(err)
		}
		var nLive int
		for _, l := range labels {
			nLive += 1 - l
		}
		for _, target := range []float64{0, 0.001, 0.01, 0.1, 0.5} {
			got, err := TPRAtFPR(full, target, nLive)
			if err != nil {
				t.Fatal(err)
			}
			bestTPR, bestFPR, bestThr := brute(labels, scores, target)
			if got.TPR != bestTPR || got.FPR != bestFPR || got.Threshold != bestThr {
				t.Fatalf("rep %d target %v: got %+v, brute force tpr %v fpr %v thr %v", rep, target, got, bestTPR, bestFPR, bestThr)
			}
		}
	}
}

// brute tries the rule "attack if score >= t" for every score t and t = max+1.
func brute(labels []int, scores []float64, target float64) (tpr, fpr, thr float64) {
	maxS := math.Inf(-1)
	for _, s := range scores {
		maxS = math.Max(maxS, s)
	}
	tpr, fpr, thr = 0, 0, maxS+1
	for _, t := range scores {
		var tp, fp, p, n float64
		for i, s := range scores {
			if labels[i] == 1 {
				p++
				if s >= t {
					tp++
				}
			} else {
				n++
				if s >= t {
					fp++
				}
			}
		}
		r, f := tp/p, fp/n
		if f <= target && (r > tpr || (r == tpr && f < fpr) || (r == tpr && f == fpr && t > thr)) {
			tpr, fpr, thr = r, f, t
		}
	}
	return tpr, fpr, thr
}

func TestRealisticProtocol(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	draw := func(n int, shift float64) []VideoScore {
		labels, scores := make([]int, n), make([]float64, n)
		for i := range labels {
			labels[i] = i % 2
			scores[i] = sigmoid(rng.NormFloat64() + shift*float64(labels[i]))
		}
		return toVideos(labels, scores)
	}
	src, test := draw(100, 3), draw(150, 1)
	thr, err := EERThreshold(src, "val")
	if err != nil {
		t.Fatal(err)
	}
	r, err := Evaluate(test, "video", thr)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := At(test, thr.Value)
	if r.Realistic == nil || !reflect.DeepEqual(r.Realistic.Rates, want) || r.Realistic.Name != ProtocolRealistic ||
		r.Realistic.ThresholdFrom != "EER of val" || r.RealisticSource != thr {
		t.Errorf("realistic %+v, want rates %+v", r.Realistic, want)
	}
	if thr.Live != 50 || thr.Attacks != 50 || r.Paper.Threshold == thr.Value {
		t.Errorf("source %+v, paper threshold %v", thr, r.Paper.Threshold)
	}
}

func TestSelect(t *testing.T) {
	r := &Report{AUC: 0.9, EER: 0.1, Paper: Protocol{Rates: Rates{HTER: 0.12, ACER: 0.12, APCER: 0.2, BPCER: 0.04, Accuracy: 0.85}},
		TPRAtFPR: []TPRPoint{{TargetFPR: 0.01, TPR: 0.6}, {TargetFPR: 0.001, TPR: 0.3}}}
	cases := []struct {
		name   string
		value  float64
		higher bool
	}{{"auc", 0.9, true}, {"EER", 0.1, false}, {"hter", 0.12, false}, {"acer", 0.12, false}, {"apcer", 0.2, false},
		{"bpcer", 0.04, false}, {"accuracy", 0.85, true}, {"tpr@fpr=1%", 0.6, true}, {" TPR@FPR=0.1% ", 0.3, true}}
	for _, c := range cases {
		f, higher, err := Select(c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if v := f(r); v != c.value || higher != c.higher {
			t.Errorf("%s: value %v higher %v, want %v %v", c.name, v, higher, c.value, c.higher)
		}
	}
	if _, _, err := Select("f1"); err == nil || !strings.Contains(err.Error(), "known: accuracy, acer, apcer, auc") {
		t.Errorf("unknown name: %v", err)
	}
	if !Better(0.9, 0.8, true) || Better(0.9, 0.8, false) || Better(0.8, 0.8, true) {
		t.Error("Better")
	}
}

// TestSelectTarget: the TPR@FPR criteria name the target they read, the others none; a report
// without that target gives NaN, which never wins.
func TestSelectTarget(t *testing.T) {
	for name, want := range map[string]float64{"tpr@fpr=1%": 0.01, "TPR@FPR=0.1%": 0.001} {
		if got, ok := SelectTarget(name); !ok || got != want {
			t.Errorf("SelectTarget(%s) = %v, %v, want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"auc", "hter", "f1"} {
		if got, ok := SelectTarget(name); ok {
			t.Errorf("SelectTarget(%s) = %v, want none", name, got)
		}
	}
	f, higher, err := Select("tpr@fpr=1%")
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{TPRAtFPR: []TPRPoint{{TargetFPR: 0.05, TPR: 0.9}}}
	if v := f(r); !math.IsNaN(v) || Better(v, 0.1, higher) {
		t.Errorf("TPR@1%% of a report computed at 5%% only = %v, want NaN that loses", v)
	}
}

func BenchmarkEvaluate10k(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	labels, scores := make([]int, 10000), make([]float64, 10000)
	for i := range labels {
		labels[i] = i % 2
		scores[i] = sigmoid(rng.NormFloat64() + float64(labels[i]))
	}
	vs := toVideos(labels, scores)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Evaluate(vs, "video", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEvaluateWithOptions(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	labels, scores := make([]int, 400), make([]float64, 400)
	for i := range labels {
		labels[i] = i % 2
		scores[i] = sigmoid(rng.NormFloat64() + 2*float64(labels[i]))
	}
	vs := toVideos(labels, scores)
	full, err := RocCurve(labels, scores, false)
	if err != nil {
		t.Fatal(err)
	}
	targets := func(r *Report) []float64 {
		var out []float64
		for _, p := range r.TPRAtFPR {
			out = append(out, p.TargetFPR)
		}
		return out
	}
	r, err := Evaluate(vs, "video", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(targets(r), []float64{0.01, 0.001}) || !reflect.DeepEqual(r.Protocols, []string{"paper", "realistic"}) {
		t.Errorf("Evaluate: targets %v protocols %q, want the defaults", targets(r), r.Protocols)
	}
	r, err = EvaluateWith(vs, "video", nil, Options{TPRAtFPR: []float64{0.2, 0.05}, Protocols: []string{"realistic"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(targets(r), []float64{0.2, 0.05}) || !reflect.DeepEqual(r.Protocols, []string{"realistic"}) {
		t.Errorf("targets %v protocols %q, want [0.2 0.05] [realistic]", targets(r), r.Protocols)
	}
	for _, p := range r.TPRAtFPR {
		want, _ := TPRAtFPR(full, p.TargetFPR, 200)
		if p != want {
			t.Errorf("TPR@%v = %+v, want %+v", p.TargetFPR, p, want)
		}
	}
	if !r.Shows("realistic") || r.Shows("paper") || r.Paper.Name != "paper" {
		t.Errorf("Shows: realistic %v paper %v; paper is still computed: %+v", r.Shows("realistic"), r.Shows("paper"), r.Paper)
	}
	if _, ok := r.TPR(0.01); ok {
		t.Error("a report without the 1% target has a TPR@1%")
	}
	if f, _, _ := Select("tpr@fpr=1%"); !math.IsNaN(f(r)) {
		t.Error("selection by an absent target is not NaN")
	}
	r, err = EvaluateWith(vs, "frame", nil, Options{TPRAtFPR: []float64{}})
	if err != nil || len(r.TPRAtFPR) != 0 || r.TPRAtFPR == nil || r.Level != "frame" {
		t.Errorf("no targets: %v, %+v", err, r)
	}
	for _, o := range []Options{
		{TPRAtFPR: []float64{1.5}}, {TPRAtFPR: []float64{math.NaN()}}, {TPRAtFPR: []float64{0.01, 0.01}},
		{Protocols: []string{"test"}}, {Protocols: []string{"paper", "paper"}},
	} {
		if _, err := EvaluateWith(vs, "video", nil, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	var old Report // a report read from a metrics.json written before Protocols existed
	if !old.Shows("paper") || !old.Shows("realistic") {
		t.Error("a report without Protocols does not show both")
	}
}
