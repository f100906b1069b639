package method

import (
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func settingsOf(t *testing.T, sets ...string) (shim.Settings, shim.TrainConfig) {
	t.Helper()
	c := config.Default()
	c.Dataset.Train = []config.DomainList{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	for _, kv := range sets {
		k, v, _ := strings.Cut(kv, "=")
		if err := setConfig(c, k, v); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := TrainConfig(c, 3)
	if err != nil {
		t.Fatal(err)
	}
	return anrl{}.ModelSettings(c), tc
}

// setConfig sets the few keys the tests change.
func setConfig(c *config.Config, key, v string) error {
	a := &c.ANRL
	switch key {
	case "anrl.gate":
		a.Gate = v
	case "anrl.meta":
		a.Meta = v == "true"
	case "anrl.metasize":
		a.Metasize = 1
	case "anrl.meta_step_size":
		a.MetaStepSize = 0.5
	case "anrl.first_order":
		a.FirstOrder = true
	case "anrl.textbook_fast_weights":
		a.TextbookFastWeights = true
	case "anrl.freeze_bn":
		a.FreezeBN = true
	case "anrl.loss.cls":
		a.Loss.Cls = 2
	case "anrl.loss.depth":
		a.Loss.Depth = 2
	case "anrl.loss.domain":
		a.Loss.Domain = 2
	case "anrl.loss.discri":
		a.Loss.Discri = -2
	case "anrl.center_momentum":
		a.CenterMomentum = 0.5
	case "anrl.center_reset":
		a.CenterReset = "never"
	case "model.width":
		c.Model.Width = 0.5
	case "model.adanorm_impl":
		c.Model.AdaNormImpl = "composite"
	case "optimizer.name":
		c.Optimizer.Name = v
	}
	return nil
}

// Every key of the anrl section reaches exactly its shim setting: none is validated but
// ignored.
func TestEveryANRLKeyReachesTheShim(t *testing.T) {
	_, base := settingsOf(t)
	for key, setting := range map[string]string{
		"anrl.meta": "meta", "anrl.metasize": "metasize", "anrl.meta_step_size": "meta_step_size",
		"anrl.first_order": "first_order", "anrl.textbook_fast_weights": "textbook_fast_weights", "anrl.freeze_bn": "freeze_bn",
		"anrl.loss.cls": "w_cls", "anrl.loss.depth": "w_depth", "anrl.loss.domain": "w_domain",
		"anrl.loss.discri": "w_discri", "anrl.center_momentum": "center_momentum", "anrl.center_reset": "center_reset",
	} {
		_, tc := settingsOf(t, key+"=false")
		for _, s := range base.Settings {
			got, _ := tc.Settings.Get(s.Key)
			if changed := got != s.Value; changed != (s.Key == setting) {
				t.Errorf("%s: setting %s %s -> %s", key, s.Key, s.Value, got)
			}
		}
	}
	if k, _ := base.Settings.Get("num_domains"); k != "3" {
		t.Errorf("num_domains = %s, want the 3 sources", k)
	}
	ms, _ := settingsOf(t, "model.width", "anrl.gate=clamp", "model.adanorm_impl")
	if ms.String() != "width=0.5 gate=clamp adanorm_impl=composite" {
		t.Errorf("model settings %s", ms)
	}
}

func TestTrainConfigOptimizers(t *testing.T) {
	_, adamw := settingsOf(t, "optimizer.name=AdamW")
	if adamw.Optimizer != "adam" || !adamw.DecoupledWeightDecay || adamw.Beta2 != 0.999 || adamw.Seed != 1234 {
		t.Errorf("AdamW: %+v", adamw)
	}
	_, adam := settingsOf(t)
	if adam.DecoupledWeightDecay || adam.WeightDecay != 1e-5 {
		t.Errorf("Adam: %+v", adam)
	}
	c := config.Default()
	c.Optimizer.Name = "Lion"
	if _, err := TrainConfig(c, 3); err == nil || !strings.Contains(err.Error(), "Lion") {
		t.Errorf("unknown optimizer: %v", err)
	}
	c.Method = "fghv2"
	if _, err := ModelConfig(c, 1); err == nil || !strings.Contains(err.Error(), `unknown method "fghv2" (known: anrl, fghv, minifasnet)`) {
		t.Errorf("unknown method: %v", err)
	}
}

func TestMismatch(t *testing.T) {
	have := shim.Settings{{Key: "width", Value: "0.25"}, {Key: "gate", Value: "1layer"}}
	if m := Mismatch(have, have); len(m) != 0 {
		t.Errorf("same settings: %v", m)
	}
	m := Mismatch(have, shim.Settings{{Key: "width", Value: "1"}, {Key: "gate", Value: "1layer"}, {Key: "other", Value: "x"}})
	if len(m) != 1 || m[0] != "width: 0.25, the config says 1" {
		t.Errorf("mismatch %v", m)
	}
}

func TestDescribeWeights(t *testing.T) {
	s, inferred, err := anrl{}.DescribeWeights(map[string]string{"width": "0.250", "gate": "clamp"}, nil)
	if err != nil || s.String() != "width=0.25 gate=clamp" || len(inferred) != 0 {
		t.Errorf("from metadata: %s %v %v", s, inferred, err)
	}
	if _, _, err := (anrl{}).DescribeWeights(map[string]string{"width": "wide", "gate": "clamp"}, nil); err == nil {
		t.Error("a non-numeric width was accepted")
	}
	ts := []safetensors.Tensor{
		{Name: "FeatExtractor.inc.conv.weight", DType: safetensors.F32, Shape: []int64{32, 6, 3, 3}},
		{Name: "FeatExtractor.inc.AttentionNet_fc1.weight", DType: safetensors.F32, Shape: []int64{3, 32}},
	}
	s, inferred, err = anrl{}.DescribeWeights(nil, ts)
	if err != nil || s.String() != "width=0.5 gate=2layer" || strings.Join(inferred, ",") != "width,gate" {
		t.Errorf("inferred: %s %v %v", s, inferred, err)
	}
}
