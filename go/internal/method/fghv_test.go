package method

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func fghvConfig(edit func(*config.Config)) *config.Config {
	c := config.Default()
	c.Method = "fghv"
	c.Dataset.Train = []config.DomainList{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	if edit != nil {
		edit(c)
	}
	return c
}

// Every key of the fghv section reaches exactly its shim setting (model or training): none
// is validated but ignored.
func TestEveryFGHVKeyReachesTheShim(t *testing.T) {
	all := func(c *config.Config) shim.Settings {
		return append(fghv{}.ModelSettings(c), fghv{}.TrainSettings(c, 3)...)
	}
	base := all(fghvConfig(nil))
	cases := map[string]struct {
		edit     func(f *config.FGHV)
		settings []string
	}{
		"fghv.backbone.adanorm":     {func(f *config.FGHV) { f.Backbone.AdaNorm = true }, []string{"adanorm", "gate", "adanorm_impl"}},
		"fghv.latent_dim":           {func(f *config.FGHV) { f.LatentDim = 7 }, []string{"latent_dim"}},
		"fghv.hypotheses":           {func(f *config.FGHV) { f.Hypotheses = 3 }, []string{"hypotheses"}},
		"fghv.tau":                  {func(f *config.FGHV) { f.Tau = 0.3 }, []string{"tau"}},
		"fghv.rcc":                  {func(f *config.FGHV) { f.RCC = "hinge" }, []string{"rcc"}},
		"fghv.rcc_margin":           {func(f *config.FGHV) { f.RCCMargin = 0.2 }, []string{"rcc_margin"}},
		"fghv.loss.rcc":             {func(f *config.FGHV) { f.Loss.RCC = 2 }, []string{"w_rcc"}},
		"fghv.loss.var":             {func(f *config.FGHV) { f.Loss.Var = 2 }, []string{"w_var"}},
		"fghv.loss.ddc":             {func(f *config.FGHV) { f.Loss.DDC = 2 }, []string{"w_ddc"}},
		"fghv.loss.depth":           {func(f *config.FGHV) { f.Loss.Depth = 2 }, []string{"w_depth"}},
		"fghv.loss.cls":             {func(f *config.FGHV) { f.Loss.Cls = 1 }, []string{"w_cls", "cls_head"}},
		"fghv.meta":                 {func(f *config.FGHV) { f.Meta = true }, []string{"meta"}},
		"fghv.metasize":             {func(f *config.FGHV) { f.Metasize = 1 }, []string{"metasize"}},
		"fghv.meta_step_size":       {func(f *config.FGHV) { f.MetaStep = 0.5 }, []string{"meta_step_size"}},
		"fghv.meta_params":          {func(f *config.FGHV) { f.MetaParams = "fgn" }, []string{"meta_params"}},
		"fghv.first_order":          {func(f *config.FGHV) { f.FirstOrder = true }, []string{"first_order"}},
		"fghv.test.draws":           {func(f *config.FGHV) { f.Test.Draws = 2 }, []string{"draws"}},
		"fghv.test.latent_steps":    {func(f *config.FGHV) { f.Test.LatentSteps = 3 }, []string{"latent_steps"}},
		"fghv.test.latent_lr":       {func(f *config.FGHV) { f.Test.LatentLR = 0.5 }, []string{"latent_lr"}},
		"fghv.test.delta_kl":        {func(f *config.FGHV) { f.Test.DeltaKL = "real_minus_attack" }, []string{"delta_kl"}},
		"fghv.fit_lambda (+lambda)": {func(f *config.FGHV) { f.FitLambda, f.Lambda = false, 0.5 }, []string{"lambda"}},
	}
	for key, tc := range cases {
		got := all(fghvConfig(func(c *config.Config) { tc.edit(&c.FGHV) }))
		changed := map[string]bool{}
		for _, s := range got {
			if v, ok := base.Get(s.Key); !ok || v != s.Value {
				changed[s.Key] = true
			}
		}
		for _, s := range base {
			if _, ok := got.Get(s.Key); !ok {
				changed[s.Key] = true
			}
		}
		for _, k := range tc.settings {
			if !changed[k] {
				t.Errorf("%s: setting %s did not change", key, k)
			}
			delete(changed, k)
		}
		if len(changed) > 0 {
			t.Errorf("%s: other settings changed too: %v", key, changed)
		}
	}
	// The key names cover the whole fghv section of the schema.
	n := 0
	for _, k := range config.Keys() {
		if strings.HasPrefix(k, "fghv.") {
			n++
		}
	}
	if want := len(cases) + 2; n != want { // + backbone.gate (with adanorm) and lambda (with fit_lambda false)
		t.Errorf("the fghv section has %d keys, the test covers %d", n, want)
	}
	g := fghv{}.ModelSettings(fghvConfig(func(c *config.Config) { c.FGHV.Backbone = config.FGHVBackbone{AdaNorm: true, Gate: "clamp"} }))
	if v, _ := g.Get("gate"); v != "clamp" {
		t.Errorf("gate with adanorm: %s", g)
	}
	g = fghv{}.ModelSettings(fghvConfig(func(c *config.Config) {
		c.FGHV.Backbone.AdaNorm, c.Model.AdaNormImpl = true, "composite"
	}))
	if v, _ := g.Get("adanorm_impl"); v != "composite" {
		t.Errorf("model.adanorm_impl with adanorm: %s", g)
	}
	if _, ok := (fghv{}).ModelSettings(fghvConfig(nil)).Get("lambda"); ok {
		t.Error("a config that fits lambda decides it")
	}
}

// The settings the config gives build a model, and every one reaches it (the shim echoes
// them); the training settings build a trainer.
func TestFGHVSettingsBuild(t *testing.T) {
	c := fghvConfig(func(c *config.Config) {
		c.Model.Width, c.Transform.ImageSize = 0.125, 32
		c.FGHV.Backbone.AdaNorm, c.FGHV.Backbone.Gate = true, "2layer"
		c.FGHV.LatentDim, c.FGHV.Hypotheses, c.FGHV.Loss.Cls, c.FGHV.FitLambda, c.FGHV.Lambda = 8, 4, 0.5, false, 0.25
		c.FGHV.Meta, c.FGHV.MetaParams, c.FGHV.RCC = true, "gates", "hinge"
	})
	mc, err := ModelConfig(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, err := shim.NewModel(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if l := Mismatch(m.Info().Settings, mc.Settings); len(l) != 0 || len(m.Info().Settings) != len(mc.Settings) {
		t.Errorf("model settings %s, config %s: %v", m.Info().Settings, mc.Settings, l)
	}
	tc, err := TrainConfig(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := shim.NewTrainer(m, tc)
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
}

func TestFGHVDescribeWeights(t *testing.T) {
	ts := []safetensors.Tensor{
		{Name: "FeatExtractor.inc.conv.weight", DType: safetensors.F32, Shape: []int64{16, 6, 3, 3}},
		{Name: "Embedder.conv_block3.conv.weight", DType: safetensors.F32, Shape: []int64{128, 64, 3, 3}},
		{Name: "RealFGN.fc1.weight", DType: safetensors.F32, Shape: []int64{128, 32}},
	}
	s, inferred, err := fghv{}.DescribeWeights(nil, ts)
	if err != nil || s.String() != "width=0.25 adanorm=false latent_dim=32 cls_head=false" ||
		!strings.Contains(strings.Join(inferred, ","), "width,adanorm,latent_dim,cls_head,hypotheses (default)") {
		t.Errorf("inferred: %s %v %v", s, inferred, err)
	}
	ada := append(ts, safetensors.Tensor{Name: "FeatExtractor.inc.IN.weight", Shape: []int64{16}},
		safetensors.Tensor{Name: "FeatExtractor.inc.gate_weight", Shape: []int64{16}},
		safetensors.Tensor{Name: "Embedder.fc.weight", Shape: []int64{2, 128}})
	s, _, err = fghv{}.DescribeWeights(map[string]string{"lambda": "0.5", "tau": "0.2"}, ada)
	if err != nil || s.String() != "width=0.25 adanorm=true gate=clamp latent_dim=32 cls_head=true tau=0.2 lambda=0.5" {
		t.Errorf("adanorm, head, metadata: %s %v", s, err)
	}
	if _, _, err := (fghv{}).DescribeWeights(map[string]string{"adanorm": "maybe"}, ts); err == nil {
		t.Error("adanorm=maybe accepted")
	}
	if _, _, err := (fghv{}).DescribeWeights(nil, ts[:2]); err == nil || !strings.Contains(err.Error(), "RealFGN.fc1.weight") {
		t.Errorf("no generator: %v", err)
	}
	if Recognize(ts) != "fghv" || Recognize(ts[:2]) != "anrl" {
		t.Errorf("Recognize: %s for fghv names, %s for anrl's", Recognize(ts), Recognize(ts[:2]))
	}
}

// FitLambda finds the weight of a ΔKL that carries signal the space score lacks, keeps 0 for
// one that carries none, and prefers the smallest of equal lambdas.
func TestFitLambda(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	n := 400
	space, useful, noise := make([]float64, n), make([]float64, n), make([]float64, n)
	labels := make([]int, n)
	for i := range space {
		labels[i] = i % 2
		attack := float64(labels[i])
		space[i] = 0.5 - 0.1*attack + 0.2*r.NormFloat64() // liveness: a weak signal
		useful[i] = 3*attack + 2*r.NormFloat64()          // ΔKL higher for attacks
		noise[i] = 5 * r.NormFloat64()
	}
	fit, err := FitLambda(space, useful, labels)
	if err != nil {
		t.Fatal(err)
	}
	if !(fit.Lambda > 0) || !(fit.AUC > fit.SpaceAUC+0.05) {
		t.Errorf("useful ΔKL: %+v", fit)
	}
	fit0, err := FitLambda(space, noise, labels)
	if err != nil {
		t.Fatal(err)
	}
	if fit0.AUC < fit0.SpaceAUC || fit0.AUC > fit0.SpaceAUC+0.02 {
		t.Errorf("noise ΔKL should not help much: %+v", fit0)
	}
	if f, err := FitLambda(space, make([]float64, n), labels); err != nil || f.Lambda != 0 {
		t.Errorf("constant ΔKL: lambda %v", f.Lambda)
	}
	if _, err := FitLambda(space, useful, make([]int, n)); err == nil {
		t.Error("one class only: no error")
	}
	bad := append([]float64{}, useful...)
	bad[3] = math.NaN()
	if _, err := FitLambda(space, bad, labels); err == nil || !strings.Contains(err.Error(), "unit 3") {
		t.Errorf("NaN: %v", err)
	}
	// Calibrate reads the outputs of the units and reports the fitted setting.
	units := make([]Unit, n)
	for i := range units {
		units[i] = Unit{Label: labels[i], Outputs: map[string]float64{"space_score": space[i], "delta_kl": useful[i]}}
	}
	s, desc, err := fghv{}.Calibrate(fghvConfig(nil), units)
	if err != nil || len(s) != 1 || s[0].Key != "lambda" || s[0].Value != num(fit.Lambda) || !strings.Contains(desc, "400 validation units") {
		t.Errorf("Calibrate: %s %q %v", s, desc, err)
	}
	if outs := (fghv{}).CalibrationOutputs(fghvConfig(func(c *config.Config) { c.FGHV.FitLambda = false })); outs != nil {
		t.Error("fit_lambda false still calibrates")
	}
}
