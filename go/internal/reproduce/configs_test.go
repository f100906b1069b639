package reproduce

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

// The hyperparameters a protocol config must set itself rather than leave to the built-in
// defaults (so that the file alone says what the experiment is), per method.
var explicitKeys = map[string][]string{
	"": {"seed", "method", "transform.image_size", "transform.mean", "transform.std", "transform.hsv_jitter_p",
		"transform.flip_p", "model.width", "optimizer.name", "optimizer.params.lr", "optimizer.params.weight_decay",
		"optimizer.params.betas", "optimizer.params.eps", "scheduler.name", "scheduler.params.decay_t",
		"scheduler.params.decay_rate", "train.epochs", "train.batch_size", "train.select_metric", "eval.protocols",
		"eval.video_level", "dataset.depth_rule", "dataset.train", "dataset.val", "dataset.test"},
	"anrl": {"anrl.gate", "anrl.meta", "anrl.metasize", "anrl.meta_step_size", "anrl.loss.cls", "anrl.loss.depth",
		"anrl.loss.domain", "anrl.loss.discri", "anrl.center_momentum", "anrl.center_reset", "anrl.first_order",
		"anrl.textbook_fast_weights", "anrl.batch_grouping"},
	"fghv": {"fghv.backbone.adanorm", "fghv.latent_dim", "fghv.hypotheses", "fghv.tau", "fghv.rcc", "fghv.loss.rcc",
		"fghv.loss.var", "fghv.loss.ddc", "fghv.loss.depth", "fghv.meta", "fghv.test.draws", "fghv.test.latent_steps",
		"fghv.test.latent_lr", "fghv.lambda", "fghv.fit_lambda"},
}

// Every protocol config of both methods loads and validates, sets every hyperparameter
// itself, uses IADG's values where the ANRL release leaves placeholders, and names in its
// header the published numbers that configs/published.yaml holds for it.
func TestProtocolConfigs(t *testing.T) {
	root := pyref.Root(t)
	header := regexp.MustCompile(`HTER % / AUC %: ([0-9.]+) / ([0-9.]+)\.`)
	for _, m := range []string{"anrl", "fghv"} {
		pub, err := LoadPublished(filepath.Join(root, "configs", "published.yaml"), m)
		if err != nil || pub == nil || len(pub.Protocols) != 4 || !strings.Contains(pub.Source, "2021") && !strings.Contains(pub.Source, "2022") {
			t.Fatalf("%s: published %+v, %v", m, pub, err)
		}
		for _, p := range paperOrder {
			path := filepath.Join(root, "configs", m, p+".yaml")
			c, err := config.Load(path, nil, nil)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if c.Method != m || c.Run.Protocol != p || len(c.Dataset.Train) != 3 || len(c.Dataset.Test) != 1 {
				t.Errorf("%s: method %s, protocol %s, %d sources, %d targets", path, c.Method, c.Run.Protocol, len(c.Dataset.Train), len(c.Dataset.Test))
			}
			o := c.Optimizer.Params
			if c.Optimizer.Name != "Adam" || o.LR != 1e-4 || o.WeightDecay != 1e-5 || c.Scheduler.Name != "StepLR" ||
				c.Scheduler.Params.DecayT != 10 || c.Scheduler.Params.DecayRate != 0.1 || c.Train.BatchSize != 5 ||
				c.Train.Epochs != 50 || c.Transform.ImageSize != 256 {
				t.Errorf("%s: not IADG's values: %+v %+v %+v size %d", path, c.Optimizer, c.Scheduler, c.Train, c.Transform.ImageSize)
			}
			set := setKeys(t, path)
			for _, k := range append(explicitKeys[""], explicitKeys[m]...) {
				if !set[k] {
					t.Errorf("%s: %s is left to the built-in default", path, k)
				}
			}
			b, _ := os.ReadFile(path)
			h := header.FindStringSubmatch(string(b))
			want, ok := pub.Protocols[p]
			if h == nil || !ok {
				t.Errorf("%s: header numbers %v, published %v", path, h, ok)
				continue
			}
			hter, _ := strconv.ParseFloat(h[1], 64)
			auc, _ := strconv.ParseFloat(h[2], 64)
			if hter != want.HTER || auc != want.AUC {
				t.Errorf("%s: header says %v / %v, configs/published.yaml %v / %v", path, hter, auc, want.HTER, want.AUC)
			}
		}
	}
}

// setKeys are the dotted keys a YAML file sets (sections and leaves).
func setKeys(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			out[key] = true
			if sub, ok := v.(map[string]any); ok {
				walk(key, sub)
			}
		}
	}
	walk("", doc)
	return out
}

func TestLoadPublishedRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"no source":    "anrl: {protocols: {OCI2M: {hter: 1, auc: 2}}}\n",
		"unknown key":  "anrl: {source: x, protocols: {OCI2M: {hter: 1, acc: 2}}}\n",
		"not percent":  "anrl: {source: x, protocols: {OCI2M: {hter: 0.1, auc: 120}}}\n",
		"not a number": "anrl: {source: x, protocols: {OCI2M: {hter: high, auc: 2}}}\n",
	} {
		p := filepath.Join(dir, "p.yaml")
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := LoadPublished(p, "anrl"); err == nil || !strings.Contains(err.Error(), "p.yaml") {
			t.Errorf("%s: err = %v, want one naming the file", name, err)
		}
	}
}
