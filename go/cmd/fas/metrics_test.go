package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/pyref"
	"github.com/fasgo/fasgo/go/internal/report"
)

// metricsWriteFrames writes a scores CSV: videos of 1-6 frames, rows shuffled so that the frames of a
// video are not adjacent, attack types print/replay, scores on a 1/100 grid (ties).
func metricsWriteFrames(t *testing.T, path string, seed uint64, nVideos int, shift float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	var rows []string
	for v := 0; v < nVideos; v++ {
		label, typ := v%3%2, ""
		if label == 1 {
			typ = []string{"print", "replay"}[v%2]
		}
		base := rng.NormFloat64() + shift*float64(label)
		for f := 0; f < 1+rng.IntN(6); f++ {
			s := math.Round(100/(1+math.Exp(-(base+0.5*rng.NormFloat64())))) / 100
			rows = append(rows, fmt.Sprintf("vid%03d,%d,%v,%s", v, label, s, typ))
		}
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	body := metrics.CSVHeader + "\n" + strings.Join(rows, "\n") + "\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func metricsRun(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	app := buildApp()
	var out bytes.Buffer
	app.Writer = &out
	err := app.Run(append([]string{"fas"}, args...))
	return out.Bytes(), err
}

type metricsGoldenRates struct {
	Threshold   float64            `json:"threshold"`
	APCER       float64            `json:"apcer"`
	BPCER       float64            `json:"bpcer"`
	HTER        float64            `json:"hter"`
	Accuracy    float64            `json:"accuracy"`
	APCERByType map[string]float64 `json:"apcer_by_type"`
}

type metricsGolden struct {
	Live         int                 `json:"live"`
	Attacks      int                 `json:"attacks"`
	AUC          float64             `json:"auc"`
	EER          float64             `json:"eer"`
	EERThreshold float64             `json:"eer_threshold"`
	Paper        metricsGoldenRates  `json:"paper"`
	Realistic    *metricsGoldenRates `json:"realistic"`
	SourceEER    float64             `json:"source_eer"`
	TPRAtFPR     []metrics.TPRPoint  `json:"tpr_at_fpr"`
}

func metricsPythonGolden(t *testing.T, args ...string) metricsGolden {
	t.Helper()
	out := filepath.Join(t.TempDir(), "metricsGolden.json")
	pyref.Run(t, nil, "metrics_golden.py", append([]string{"csv"}, append(args, out)...)...)
	var g metricsGolden
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMetricsCommandAgainstSklearn(t *testing.T) {
	dir := t.TempDir()
	test, val := filepath.Join(dir, "test.csv"), filepath.Join(dir, "val.csv")
	metricsWriteFrames(t, test, 1, 150, 1.5)
	metricsWriteFrames(t, val, 2, 90, 3)
	for _, frameLevel := range []bool{false, true} {
		args := []string{"metrics", "--scores", test, "--threshold-from", val}
		pyArgs := []string{test, val}
		if frameLevel {
			args = append(args, "--frame-level")
			pyArgs = append(pyArgs, "--frame-level")
		}
		out, err := metricsRun(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		var r metrics.Report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("output is not a report: %v\n%s", err, out)
		}
		g := metricsPythonGolden(t, pyArgs...)
		level := map[bool]string{false: "video", true: "frame"}[frameLevel]
		if r.Level != level || r.Live != g.Live || r.Attacks != g.Attacks || r.Realistic == nil {
			t.Fatalf("%s level: report %+v, metricsGolden %+v", level, r, g)
		}
		checks := []struct {
			what      string
			got, want float64
		}{
			{"auc", r.AUC, g.AUC}, {"eer", r.EER, g.EER}, {"eer threshold", r.EERThreshold, g.EERThreshold},
			{"source eer", r.RealisticSource.EER, g.SourceEER},
		}
		for _, p := range []struct {
			name string
			got  metrics.Rates
			want metricsGoldenRates
		}{{"paper", r.Paper.Rates, g.Paper}, {"realistic", r.Realistic.Rates, *g.Realistic}} {
			checks = append(checks, []struct {
				what      string
				got, want float64
			}{
				{p.name + " threshold", p.got.Threshold, p.want.Threshold}, {p.name + " apcer", p.got.APCER, p.want.APCER},
				{p.name + " bpcer", p.got.BPCER, p.want.BPCER}, {p.name + " hter", p.got.HTER, p.want.HTER},
				{p.name + " accuracy", p.got.Accuracy, p.want.Accuracy},
				{p.name + " apcer print", p.got.APCERByType["print"], p.want.APCERByType["print"]},
				{p.name + " apcer replay", p.got.APCERByType["replay"], p.want.APCERByType["replay"]},
			}...)
		}
		for i, tp := range r.TPRAtFPR {
			checks = append(checks, []struct {
				what      string
				got, want float64
			}{{"tpr", tp.TPR, g.TPRAtFPR[i].TPR}, {"tpr fpr", tp.FPR, g.TPRAtFPR[i].FPR}, {"tpr thr", tp.Threshold, g.TPRAtFPR[i].Threshold}}...)
		}
		for _, c := range checks {
			if math.Abs(c.got-c.want) > 1e-9 {
				t.Errorf("%s level %s: %.17g, sklearn %.17g", level, c.what, c.got, c.want)
			}
		}
		if len(r.Paper.APCERByType) != 2 {
			t.Errorf("per-type APCER %v, want print and replay", r.Paper.APCERByType)
		}
	}
}

func TestMetricsCommandReport(t *testing.T) {
	dir := t.TempDir()
	test := filepath.Join(dir, "test.csv")
	metricsWriteFrames(t, test, 3, 40, 2)
	rep := filepath.Join(dir, "rep")
	out, err := metricsRun(t, "metrics", "--scores", test, "--report", rep)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(filepath.Join(rep, report.MetricsJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, saved) {
		t.Error("printed JSON differs from metrics.json")
	}
	for _, f := range []string{report.MetricsMD, report.ScoresCSV, report.ROCPNG, report.HistPNG, report.DETPNG} {
		if st, err := os.Stat(filepath.Join(rep, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The per-video CSV is itself a valid --scores file with the same result.
	again, err := metricsRun(t, "metrics", "--scores", filepath.Join(rep, report.ScoresCSV))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, out) {
		t.Errorf("scores.csv evaluates differently:\n%s\nvs\n%s", again, out)
	}
}

func TestMetricsCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("v1,0,0.2\nv2,1,0.8\nv1,1,0.4\n"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"metrics"}, `"scores" not set`},
		{[]string{"metrics", "--scores", bad}, bad + `:3: video "v1" has label 1`},
		{[]string{"metrics", "--scores", bad, "extra"}, "unexpected arguments"},
		{[]string{"metrics", "--scores", filepath.Join(dir, "none.csv")}, "none.csv"},
	}
	for _, c := range cases {
		_, err := metricsRun(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fas %v: error %v, want %q", c.args, err, c.want)
		}
	}
}
