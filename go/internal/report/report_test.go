package report

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/fasgo/fasgo/go/internal/metrics"
)

// videos draws live scores around 0.3 and attacks (print, replay) around 0.7.
func videos(seed uint64, nLive, nAttack int) []metrics.VideoScore {
	rng := rand.New(rand.NewPCG(seed, 9))
	var vs []metrics.VideoScore
	for i := 0; i < nLive+nAttack; i++ {
		v := metrics.VideoScore{Video: fmt.Sprintf("v%03d", i), Frames: 1}
		mu := -0.8
		if i >= nLive {
			v.Label = metrics.LabelAttack
			v.AttackType = []string{"print", "replay"}[i%2]
			mu = 0.8
		}
		v.Score = 1 / (1 + math.Exp(-(mu + rng.NormFloat64())))
		vs = append(vs, v)
	}
	return vs
}

func evaluate(t *testing.T, withRealistic bool) (*metrics.Report, []metrics.VideoScore) {
	t.Helper()
	test := videos(1, 80, 160)
	var thr *metrics.Threshold
	if withRealistic {
		var err error
		if thr, err = metrics.EERThreshold(videos(2, 50, 100), "source val"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := metrics.Evaluate(test, "video", thr)
	if err != nil {
		t.Fatal(err)
	}
	return res, test
}

func TestWriteReadsBack(t *testing.T) {
	res, test := evaluate(t, true)
	dir := filepath.Join(t.TempDir(), "new", "report")
	if err := Write(dir, res, test); err != nil {
		t.Fatal(err)
	}
	var back metrics.Report
	b, err := os.ReadFile(filepath.Join(dir, MetricsJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, res) {
		t.Errorf("metrics.json reads back as\n%+v\nwant\n%+v", back, *res)
	}
	frames, err := metrics.ReadCSVFile(filepath.Join(dir, ScoresCSV))
	if err != nil {
		t.Fatal(err)
	}
	units, err := metrics.Videos(frames)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(units, test) {
		t.Error("scores.csv does not read back as the scores written")
	}
	md, err := os.ReadFile(filepath.Join(dir, MetricsMD))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("| paper | EER of this score set | %.6g | %.2f | %.2f | %.2f | %.2f |", res.Paper.Threshold,
			100*res.Paper.APCER, 100*res.Paper.BPCER, 100*res.Paper.HTER, 100*res.Paper.Accuracy),
		fmt.Sprintf("| realistic | EER of source val | %.6g | %.2f | %.2f | %.2f | %.2f |", res.Realistic.Threshold,
			100*res.Realistic.APCER, 100*res.Realistic.BPCER, 100*res.Realistic.HTER, 100*res.Realistic.Accuracy),
		fmt.Sprintf("AUC %.2f %%", 100*res.AUC),
		fmt.Sprintf("| print | %.2f | %.2f |", 100*res.Paper.APCERByType["print"], 100*res.Realistic.APCERByType["print"]),
		"(coarse: 80 live < 1/FPR)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("metrics.md lacks %q:\n%s", want, md)
		}
	}
	for _, name := range []string{ROCPNG, HistPNG, DETPNG} {
		img := readPNG(t, filepath.Join(dir, name))
		if w := img.Bounds().Dx(); w != 672 { // 7 in at 96 dpi
			t.Errorf("%s: width %d, want 672", name, w)
		}
		// The ROC/DET curve and the attack bars are drawn in the attack colour.
		if n := countNear(img, colAttack); n < 200 {
			t.Errorf("%s: only %d pixels in the attack colour", name, n)
		}
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", name, st.Mode().Perm())
		}
	}
	// The histogram draws the live class and both thresholds too.
	hist := readPNG(t, filepath.Join(dir, HistPNG))
	if countNear(hist, colLive) < 100 || countNear(hist, colRealistic) < 50 {
		t.Error("histogram lacks the live bars or the realistic threshold line")
	}
}

func TestMarkdownWithoutRealistic(t *testing.T) {
	res, _ := evaluate(t, false)
	md := Markdown(res)
	if !strings.Contains(md, "| realistic | no held-out source scores given |") {
		t.Errorf("no realistic row:\n%s", md)
	}
	if res.Realistic != nil || strings.Contains(md, "Realistic threshold:") {
		t.Error("realistic numbers without a source")
	}
}

func TestEmbedPlot(t *testing.T) {
	x, cls := gaussianClusters(rand.New(rand.NewPCG(4, 4)), 3, 20, 5, 7)
	y, err := TSNE(x, TSNEOptions{Perplexity: 10, Iterations: 400, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	domains := make([]string, len(cls))
	labels := make([]int, len(cls))
	for i, c := range cls {
		domains[i] = []string{"CASIA", "Idiap", "MSU"}[c]
		labels[i] = i % 2
	}
	path := filepath.Join(t.TempDir(), "tsne.png")
	if err := EmbedPlot(path, y, domains, labels); err != nil {
		t.Fatal(err)
	}
	img := readPNG(t, path)
	for k := 0; k < 3; k++ {
		c := domainColours[k]
		// Markers are drawn at alpha 190 over white.
		blend := func(v uint8) uint8 { return uint8((int(v)*190 + 255*(255-190) + 127) / 255) }
		want := color.RGBA{blend(c.R), blend(c.G), blend(c.B), 255}
		if n := countNear(img, want); n < 20 {
			t.Errorf("domain %d colour %v: %d pixels", k, want, n)
		}
	}
	if err := EmbedPlot(path, y[:3], domains, labels); err == nil || !strings.Contains(err.Error(), "must be equal") {
		t.Errorf("mismatched lengths: error %v", err)
	}
	labels[5] = 2
	if err := EmbedPlot(path, y, domains, labels); err == nil || !strings.Contains(err.Error(), "point 5: label 2") {
		t.Errorf("bad label: error %v", err)
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// countNear counts pixels within 12 levels per channel of c.
func countNear(img image.Image, c color.Color) int {
	cr, cg, cb, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near8(r, cr) && near8(g, cg) && near8(bl, cb) {
				n++
			}
		}
	}
	return n
}

func near8(a, b uint32) bool {
	d := int(a>>8) - int(b>>8)
	return d >= -12 && d <= 12
}

// Report files and directories get the usual modes under the umask (0644 / 0755 with 022,
// 0640 / 0750 with 027), not a fixed mode.
func TestWriteModesFollowUmask(t *testing.T) {
	res, test := evaluate(t, false)
	for _, c := range []struct {
		umask         int
		file, dirMode os.FileMode
	}{{0o022, 0o644, 0o755}, {0o027, 0o640, 0o750}} {
		dir := filepath.Join(t.TempDir(), "report")
		old := syscall.Umask(c.umask)
		err := Write(dir, res, test)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(dir); st.Mode().Perm() != c.dirMode {
			t.Errorf("umask %03o: directory mode %v, want %v", c.umask, st.Mode().Perm(), c.dirMode)
		}
		for _, name := range []string{MetricsJSON, MetricsMD, ScoresCSV, ROCPNG} {
			if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != c.file {
				t.Errorf("umask %03o: %s mode %v, want %v", c.umask, name, st.Mode().Perm(), c.file)
			}
		}
	}
}

// TestMarkdownFollowsOptions: metrics.md shows the protocols and TPR@FPR targets the report
// was computed with; metrics.json keeps both protocols.
func TestMarkdownFollowsOptions(t *testing.T) {
	test := videos(1, 80, 160)
	thr, err := metrics.EERThreshold(videos(2, 50, 100), "source val")
	if err != nil {
		t.Fatal(err)
	}
	eval := func(o metrics.Options) (*metrics.Report, string, map[string]any) {
		t.Helper()
		res, err := metrics.EvaluateWith(test, "video", thr, o)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := Write(dir, res, test); err != nil {
			t.Fatal(err)
		}
		md, err := os.ReadFile(filepath.Join(dir, MetricsMD))
		if err != nil {
			t.Fatal(err)
		}
		if string(md) != Markdown(res) {
			t.Error("metrics.md is not Markdown(res)")
		}
		var js map[string]any
		b, err := os.ReadFile(filepath.Join(dir, MetricsJSON))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &js); err != nil {
			t.Fatal(err)
		}
		return res, string(md), js
	}
	paperRow, realisticRow := "| paper | EER of this score set |", "| realistic | EER of source val |"

	res, md, js := eval(metrics.Options{Protocols: []string{"realistic"}, TPRAtFPR: []float64{0.05, 0.2}})
	if strings.Contains(md, paperRow) || !strings.Contains(md, realisticRow) || !strings.Contains(md, "Realistic threshold:") {
		t.Errorf("realistic only:\n%s", md)
	}
	for _, want := range []string{"| FPR ≤ 5 % |", "| FPR ≤ 20 % |", "| attack type | APCER % (realistic) |\n|---|---:|\n",
		fmt.Sprintf("| print | %.2f |\n", 100*res.Realistic.APCERByType["print"])} {
		if !strings.Contains(md, want) {
			t.Errorf("metrics.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "FPR ≤ 1 %") || strings.Contains(md, "FPR ≤ 0.1 %") {
		t.Errorf("metrics.md shows default targets that were not asked for:\n%s", md)
	}
	if js["paper"] == nil || js["realistic"] == nil || fmt.Sprint(js["protocols"]) != "[realistic]" {
		t.Errorf("metrics.json: paper %v realistic %v protocols %v; want both kept, protocols [realistic]", js["paper"] != nil,
			js["realistic"] != nil, js["protocols"])
	}
	if pts := js["tpr_at_fpr"].([]any); len(pts) != 2 || pts[0].(map[string]any)["target_fpr"] != 0.05 {
		t.Errorf("metrics.json tpr_at_fpr = %v, want the targets 0.05, 0.2", pts)
	}

	res, md, _ = eval(metrics.Options{Protocols: []string{"paper"}, TPRAtFPR: []float64{}})
	if !strings.Contains(md, paperRow) || strings.Contains(md, realisticRow) || strings.Contains(md, "Realistic threshold:") ||
		strings.Contains(md, "realistic") {
		t.Errorf("paper only:\n%s", md)
	}
	if strings.Contains(md, "TPR@FPR") {
		t.Errorf("TPR@FPR table without targets:\n%s", md)
	}
	if !strings.Contains(md, fmt.Sprintf("| attack type | APCER %% (paper) |\n|---|---:|\n| print | %.2f |\n", 100*res.Paper.APCERByType["print"])) {
		t.Errorf("attack types, paper only:\n%s", md)
	}

	// The listed order is the row order.
	_, md, _ = eval(metrics.Options{Protocols: []string{"realistic", "paper"}})
	if i, j := strings.Index(md, realisticRow), strings.Index(md, paperRow); i < 0 || j < 0 || i > j {
		t.Errorf("rows not in the order realistic, paper:\n%s", md)
	}
	if !strings.Contains(md, "FPR ≤ 1 %") || !strings.Contains(md, "FPR ≤ 0.1 %") {
		t.Errorf("default targets missing:\n%s", md)
	}
}

func TestPlanePlot(t *testing.T) {
	dir := t.TempDir()
	pts := []PlanePoint{{X: 0.01, Y: 0.2, Label: 0}, {X: 0.02, Y: 0.5, Label: 1}, {X: 0.015, Y: -0.1, Label: 0, Target: true},
		{X: 0.03, Y: 0.9, Label: 1, Target: true}}
	path := filepath.Join(dir, "plane.png")
	if err := PlanePlot(path, PlaneOptions{Title: "plane", XLabel: "x", YLabel: "y"}, pts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Fatalf("plane.png: %d bytes, %v", len(b), err)
	}
	for _, bad := range [][]PlanePoint{nil, {{X: math.NaN(), Label: 0}}, {{Label: 2}}} {
		if err := PlanePlot(filepath.Join(dir, "bad.png"), PlaneOptions{}, bad); err == nil {
			t.Errorf("points %v accepted", bad)
		}
	}
}
