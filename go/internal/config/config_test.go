package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/metrics"
)

// minimal is the smallest valid file: the data section every run needs.
const minimal = `
dataset:
  root: data
  depth_rule: [{from: "a/", to: "a_depth/"}]
  train:
    - {name: a, live: lists/a_train_live.txt, attack: lists/a_train_attack.txt}
    - {name: b, live: lists/b_train_live.txt, attack: lists/b_train_attack.txt}
    - {name: c, live: lists/c_train_live.txt, attack: lists/c_train_attack.txt}
  val:
    - {name: a, live: lists/a_val_live.txt, attack: lists/a_val_attack.txt}
  test:
    - {name: d, live: lists/d_test_live.txt, attack: lists/d_test_attack.txt}
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, path string, sets, env []string) *Config {
	t.Helper()
	c, err := Load(path, sets, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// loadErr loads and returns the error text, failing the test when loading succeeds.
func loadErr(t *testing.T, path string, sets, env []string) string {
	t.Helper()
	_, err := Load(path, sets, env)
	if err == nil {
		t.Fatalf("Load(%q, %q, %q) succeeded, want an error", path, sets, env)
	}
	return err.Error()
}

func wantAll(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not mention %q", msg, p)
		}
	}
}

func TestDefaultsAreTheDocumentedValues(t *testing.T) {
	c := mustLoad(t, writeFile(t, t.TempDir(), "p.yaml", minimal), nil, nil)
	o, s, tr := c.Optimizer, c.Scheduler, c.Train
	if o.Name != "Adam" || o.Params.LR != 1e-4 || o.Params.WeightDecay != 1e-5 {
		t.Errorf("optimizer = %+v, want Adam lr 1e-4 weight_decay 1e-5", o)
	}
	if s.Name != "StepLR" || s.Params.DecayT != 10 || s.Params.DecayRate != 0.1 {
		t.Errorf("scheduler = %+v, want StepLR x0.1 every 10 epochs", s)
	}
	if tr.Epochs != 50 || tr.BatchSize != 5 || tr.SelectMetric != "auc" {
		t.Errorf("train = %+v, want 50 epochs, B=5, select auc", tr)
	}
	want := ANRL{Gate: "1layer", Meta: true, Metasize: 2, MetaStepSize: 1e-4,
		Loss:           ANRLLoss{Cls: 1, Depth: 0.1, Domain: 0.001, Discri: 0.001},
		CenterMomentum: 0.9, CenterReset: "epoch", BatchGrouping: "domain"}
	if c.ANRL != want {
		t.Errorf("anrl = %+v, want %+v", c.ANRL, want)
	}
	if c.Transform.ImageSize != 256 || c.Model.Width != 1 {
		t.Errorf("transform/model = %+v %+v", c.Transform, c.Model)
	}
	if c.Run.Dir != "runs" || c.Run.Threads != 0 || c.Run.Device != "cpu" || c.Run.Protocol != "p" {
		t.Errorf("run = %+v, want dir runs, threads 0, device cpu, protocol p (file name)", c.Run)
	}
}

// TestLayeringOrder sets the same keys at every level and checks which one wins.
func TestLayeringOrder(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "x.yaml", minimal+`
train: {epochs: 11, batch_size: 6}
optimizer: {params: {lr: 0.011}}
transform: {mean: [0.1, 0.1, 0.1]}
run: {name: from-file}
`)
	env := []string{
		"FAS_TRAIN__EPOCHS=22", "FAS_TRAIN__BATCH_SIZE=7", "FAS_OPTIMIZER__PARAMS__LR=0.022",
		"FAS_TRANSFORM__MEAN=[0.2, 0.2, 0.2]", "FAS_RUN__NAME=from-env", "HOME=/x", "FASX_Y=1",
	}
	sets := []string{"train.epochs=33", "optimizer.params.lr=0.033", "transform.mean=[0.3,0.3,0.3]", "run.name=from-flag"}

	type got struct {
		epochs, batch int
		lr, mean      float64
		name          string
	}
	read := func(c *Config) got {
		return got{c.Train.Epochs, c.Train.BatchSize, c.Optimizer.Params.LR, c.Transform.Mean[0], c.Run.Name}
	}
	cases := []struct {
		name      string
		file      bool
		env, sets []string
		want      got
	}{
		{"defaults", false, nil, []string{"dataset.train=[{name: a, live: l, attack: a}, {name: b, live: l, attack: a}, {name: c, live: l, attack: a}]",
			"dataset.val=[{name: a, live: l, attack: a}]", "dataset.test=[{name: c, live: l, attack: a}]",
			`dataset.depth_rule=[{from: a, to: b}]`}, got{50, 5, 1e-4, 0.5, ""}},
		{"file over defaults", true, nil, nil, got{11, 6, 0.011, 0.1, "from-file"}},
		{"env over file", true, env, nil, got{22, 7, 0.022, 0.2, "from-env"}},
		{"flags over env", true, env, sets, got{33, 7, 0.033, 0.3, "from-flag"}},
		{"flags over file", true, nil, sets, got{33, 6, 0.033, 0.3, "from-flag"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file {
				path = file
			}
			if g := read(mustLoad(t, path, tc.sets, tc.env)); g != tc.want {
				t.Errorf("got %+v, want %+v", g, tc.want)
			}
		})
	}
}

func TestLaterFlagWins(t *testing.T) {
	file := writeFile(t, t.TempDir(), "x.yaml", minimal)
	c := mustLoad(t, file, []string{"train.epochs=4", "optimizer.params={lr: 0.5, weight_decay: 0}", "train.epochs=9"}, nil)
	if c.Train.Epochs != 9 || c.Optimizer.Params.LR != 0.5 || c.Optimizer.Params.WeightDecay != 0 {
		t.Errorf("epochs %d lr %g wd %g, want 9, 0.5, 0", c.Train.Epochs, c.Optimizer.Params.LR, c.Optimizer.Params.WeightDecay)
	}
	// A section given as a mapping merges: the keys it leaves out keep their values.
	if c.Optimizer.Params.Eps != 1e-8 {
		t.Errorf("eps = %g after merging optimizer.params, want the default 1e-8", c.Optimizer.Params.Eps)
	}
}

func TestEnvParsing(t *testing.T) {
	file := writeFile(t, t.TempDir(), "x.yaml", minimal)
	c := mustLoad(t, file, nil, []string{
		"FAS_ANRL__GATE=2layer",
		"FAS_RUN__NAME=007",                    // string keys keep their text
		"FAS_ANRL__META_STEP_SIZE=0.25",        // single underscores stay inside a key
		"FAS_ANRL__LOSS__DEPTH=0.5",            // three levels
		"FAS_ANRL__TEXTBOOK_FAST_WEIGHTS=TRUE", // YAML true
		"FAS_ANRL__FIRST_ORDER=true",
		"FAS_SEED=42",
		"FAS_DATASET__TEST=[{name: z, live: zl.txt, attack: za.txt}]",
		"FAS_EVAL__PROTOCOLS=[realistic]",
	})
	a := c.ANRL
	if a.Gate != "2layer" || c.Run.Name != "007" || a.MetaStepSize != 0.25 || a.Loss.Depth != 0.5 ||
		!a.FirstOrder || !a.TextbookFastWeights || c.Seed != 42 {
		t.Errorf("got gate %q name %q meta_step_size %g depth %g first_order %v textbook %v seed %d", a.Gate,
			c.Run.Name, a.MetaStepSize, a.Loss.Depth, a.FirstOrder, a.TextbookFastWeights, c.Seed)
	}
	want := []DomainList{{Name: "z", Live: "zl.txt", Attack: "za.txt"}}
	if !reflect.DeepEqual(c.Dataset.Test, want) || !reflect.DeepEqual(c.Eval.Protocols, []string{"realistic"}) {
		t.Errorf("test lists %+v protocols %q", c.Dataset.Test, c.Eval.Protocols)
	}
	if got := EnvName("anrl.loss.depth"); got != "FAS_ANRL__LOSS__DEPTH" {
		t.Errorf("EnvName = %s", got)
	}
	msg := loadErr(t, file, nil, []string{"FAS_OPTIMIZER__PARAMS={lr: 1}", "FAS_OPTIMIZER__PARAMS__LR=2"})
	wantAll(t, msg, "optimizer.params.lr", "overlaps with environment variable FAS_OPTIMIZER__PARAMS")
}

func TestUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "u.yaml", minimal+"train:\n  epoch: 3\n")
	wantAll(t, loadErr(t, file, nil, nil), "train.epoch", "unknown key", "u.yaml:14", "did you mean train.epochs")

	bad := writeFile(t, dir, "l.yaml", strings.Replace(minimal, "attack: lists/b_train_attack.txt", "atack: x", 1))
	wantAll(t, loadErr(t, bad, nil, nil), "dataset.train[1].atack", "unknown key", "l.yaml:7")

	good := writeFile(t, dir, "g.yaml", minimal)
	wantAll(t, loadErr(t, good, nil, []string{"FAS_TRAIN__EPOCH=3"}), "train.epoch", "environment variable FAS_TRAIN__EPOCH",
		"did you mean FAS_TRAIN__EPOCHS")
	wantAll(t, loadErr(t, good, []string{"optimizer.params.learning_rate=1"}, nil), "optimizer.params.learning_rate",
		"unknown key", "flag --set optimizer.params.learning_rate=1")
	wantAll(t, loadErr(t, good, []string{"anrl.Gate=clamp"}, nil), "did you mean anrl.gate")
	wantAll(t, loadErr(t, good, []string{"anrl.metasise=1"}, nil), "did you mean anrl.metasize")
	wantAll(t, loadErr(t, good, []string{"train.epochs"}, nil), "flag --set train.epochs", "expected key=value")
}

func TestBadValuesNameKeyAndSource(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "g.yaml", minimal)
	n := 0
	file := func(extra string) string {
		n++
		return writeFile(t, dir, fmt.Sprintf("b%d.yaml", n), minimal+extra)
	}
	cases := []struct {
		name  string
		path  string
		sets  []string
		env   []string
		parts []string
	}{
		{"string for int in file", file("train: {epochs: many}\n"), nil, nil, []string{"train.epochs", `"many"`, "b1.yaml:13", "expected an integer"}},
		{"fraction for int", file("train:\n  epochs: 2.5\n"), nil, nil, []string{"train.epochs", "2.5", "b2.yaml:14", "expected an integer"}},
		{"null value", file("train:\n  epochs:\n"), nil, nil, []string{"train.epochs", "b3.yaml:14", "has no value"}},
		{"bool", good, nil, []string{"FAS_ANRL__META=yes please"}, []string{"anrl.meta", "FAS_ANRL__META", "true or false"}},
		{"list expected", good, []string{"transform.mean=0.5"}, nil, []string{"transform.mean", "flag --set transform.mean=0.5", "expected a list"}},
		{"section expected", good, []string{"optimizer=Adam"}, nil, []string{"key optimizer", "expected a mapping"}},
		{"bad yaml", good, []string{"transform.mean=[0.5"}, nil, []string{"transform.mean", "not a YAML value"}},
		{"image size", good, []string{"transform.image_size=250"}, nil, []string{"transform.image_size = 250", "flag --set transform.image_size=250", "multiple of 8"}},
		{"image size small", file("transform: {image_size: 24}\n"), nil, nil, []string{"transform.image_size = 24", "b4.yaml:13", ">= 32"}},
		{"width", good, []string{"model.width=0"}, nil, []string{"model.width = 0", "(0, 16]"}},
		{"width large", good, []string{"model.width=17"}, nil, []string{"model.width = 17", "(0, 16]"}},
		{"metasize", good, nil, []string{"FAS_ANRL__METASIZE=3"}, []string{"anrl.metasize = 3", "FAS_ANRL__METASIZE", "[1, 2]"}},
		{"metasize zero", good, []string{"anrl.metasize=0"}, nil, []string{"anrl.metasize = 0", "[1, 2]"}},
		{"metasize zero without meta", good, []string{"anrl.metasize=0", "anrl.meta=false"}, nil, []string{"anrl.metasize = 0", ">= 1"}},
		{"metasize zero fghv", good, []string{"anrl.metasize=0", "method=fghv"}, nil, []string{"anrl.metasize = 0", ">= 1"}},
		{"meta step size", good, []string{"anrl.meta_step_size=0"}, nil, []string{"anrl.meta_step_size = 0", "> 0"}},
		{"loss weight", good, []string{"anrl.loss.depth=-0.1"}, nil, []string{"anrl.loss.depth = -0.1", ">= 0"}},
		{"loss weight cls", file("anrl:\n  loss:\n    cls: -1\n"), nil, nil, []string{"anrl.loss.cls = -1", "b5.yaml:15", ">= 0"}},
		{"loss weight domain", good, []string{"anrl.loss={domain: -1}"}, nil, []string{"anrl.loss.domain = -1", ">= 0"}},
		{"loss weight domain", good, nil, []string{"FAS_ANRL__LOSS__DOMAIN=-1"}, []string{"anrl.loss.domain = -1", "FAS_ANRL__LOSS__DOMAIN"}},
		{"loss weight discri not finite", good, nil, []string{"FAS_ANRL__LOSS__DISCRI=.inf"}, []string{"anrl.loss.discri", "FAS_ANRL__LOSS__DISCRI"}},
		{"center momentum", good, []string{"anrl.center_momentum=1"}, nil, []string{"anrl.center_momentum = 1", "[0, 1)"}},
		{"center reset", good, []string{"anrl.center_reset=step"}, nil, []string{"anrl.center_reset", "epoch, never"}},
		{"anrl range under fghv", good, []string{"method=fghv", "anrl.gate=3layer"}, nil, []string{"anrl.gate", "1layer, 2layer, clamp, bn, in"}},
		{"probability", good, []string{"transform.flip_p=1.5"}, nil, []string{"transform.flip_p = 1.5", "[0, 1]"}},
		{"lr", good, []string{"optimizer.params.lr=-0.1"}, nil, []string{"optimizer.params.lr = -0.1", "> 0"}},
		{"nan lr", good, []string{"optimizer.params.lr=.nan"}, nil, []string{"optimizer.params.lr = NaN"}},
		{"gate", good, []string{"anrl.gate=3layer"}, nil, []string{"anrl.gate = \"3layer\"", "1layer, 2layer, clamp, bn, in"}},
		{"one source", good, []string{"dataset.train=[{name: a, live: x, attack: y}]"}, nil, []string{"dataset.train", "K >= 2", "flag --set dataset.train="}},
		{"duplicate domain", good, []string{"dataset.train=[{name: a, live: x, attack: y}, {name: a, live: x, attack: y}]"}, nil, []string{"dataset.train[1].name", "unique"}},
		{"empty list file", writeFile(t, dir, "v.yaml", strings.Replace(minimal, "attack: lists/a_val_attack.txt", `attack: ""`, 1)), nil, nil,
			[]string{`dataset.val[0].attack = ""`, "v.yaml:10"}},
		{"momentum with Adam", good, []string{"optimizer.params.momentum=0.9"}, nil, []string{"optimizer.params.momentum", "SGD only"}},
		{"nesterov without momentum", good, []string{"optimizer.name=SGD", "optimizer.params.nesterov=true"}, nil, []string{"optimizer.params.nesterov", "momentum > 0"}},
		{"scheduler", good, []string{"scheduler.name=Linear"}, nil, []string{"scheduler.name", "StepLR, Cosine, None"}},
		{"constant gate with meta", good, []string{"anrl.gate=bn"}, nil, []string{"anrl.gate = \"bn\"", "constant gate", "anrl.meta: false"}},
		{"first order without meta", good, []string{"anrl.meta=false", "anrl.first_order=true"}, nil, []string{"anrl.first_order", "anrl.meta: true"}},
		{"batch grouping", good, []string{"anrl.batch_grouping=mixed"}, nil, []string{"anrl.batch_grouping = \"mixed\"", "domain, tface"}},
		{"textbook without meta", good, []string{"anrl.meta=false", "anrl.textbook_fast_weights=true"}, nil, []string{"anrl.textbook_fast_weights", "anrl.meta: true"}},
		{"fghv method accepted, unknown refused", good, []string{"method=fghv3"}, nil, []string{"method", "anrl, fghv"}},
		{"fghv hypotheses", good, []string{"method=fghv", "fghv.hypotheses=1"}, nil, []string{"fghv.hypotheses = 1", "[2, 65536]"}},
		{"fghv tau", good, []string{"fghv.tau=0"}, nil, []string{"fghv.tau = 0", "> 0"}},
		{"fghv rcc", good, nil, []string{"FAS_FGHV__RCC=mse"}, []string{"fghv.rcc", "FAS_FGHV__RCC", "bce, hinge"}},
		{"fghv loss weight", good, []string{"fghv.loss={ddc: -1}"}, nil, []string{"fghv.loss.ddc = -1", ">= 0"}},
		{"fghv delta_kl", good, []string{"fghv.test.delta_kl=after"}, nil, []string{"fghv.test.delta_kl", "after_minus_before, real_minus_attack"}},
		{"fghv draws", good, []string{"fghv.test.draws=0"}, nil, []string{"fghv.test.draws = 0", "[1, 65536]"}},
		{"fghv lambda", good, []string{"fghv.lambda=.nan"}, nil, []string{"fghv.lambda", "finite"}},
		{"fghv metasize", good, []string{"method=fghv", "fghv.meta=true", "fghv.metasize=3"}, nil, []string{"fghv.metasize = 3", "[1, 2]"}},
		{"fghv first order without meta", good, []string{"method=fghv", "fghv.first_order=true"}, nil, []string{"fghv.first_order", "fghv.meta: true"}},
		{"fghv gates without adanorm", good, []string{"method=fghv", "fghv.meta=true", "fghv.meta_params=gates"}, nil, []string{"fghv.meta_params", "adanorm"}},
		{"fghv gate without adanorm", good, []string{"method=fghv", "fghv.backbone.gate=clamp"}, nil, []string{"fghv.backbone.gate", "adanorm: true"}},
		{"fghv meta params", good, []string{"fghv.meta_params=head"}, nil, []string{"fghv.meta_params", "auto, gates, embedder, fgn, all"}},
		{"adanorm impl", good, []string{"model.adanorm_impl=fast"}, nil, []string{"model.adanorm_impl", "fused, composite"}},
		{"device", good, []string{"run.device=gpu"}, nil, []string{"run.device", "cpu, cuda or cuda:N"}},
		{"run name", good, []string{"run.name=a/b"}, nil, []string{"run.name", "one directory name"}},
		{"protocols", good, []string{"eval.protocols=[paper, paper]"}, nil, []string{"eval.protocols[1]", "twice"}},
		{"tpr targets", good, []string{"eval.tpr_at_fpr=[0.01, 0.05, 0.01]"}, nil, []string{"eval.tpr_at_fpr[2] = 0.01", "twice"}},
		{"tpr target range", good, []string{"eval.tpr_at_fpr=[1]"}, nil, []string{"eval.tpr_at_fpr[0] = 1", "(0, 1)"}},
		{"missing file", filepath.Join(dir, "absent.yaml"), nil, nil, []string{"absent.yaml"}},
		{"malformed file", writeFile(t, dir, "m.yaml", "train: [\n"), nil, nil, []string{"m.yaml", "yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := loadErr(t, tc.path, tc.sets, tc.env)
			wantAll(t, msg, tc.parts...)
		})
	}
}

func TestAllErrorsAreReported(t *testing.T) {
	good := writeFile(t, t.TempDir(), "g.yaml", minimal)
	_, err := Load(good, []string{"transform.flip_p=2", "train.epochs=0", "val.batch_size=0"}, nil)
	var keys []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ke *KeyError
		if !errors.As(e, &ke) {
			t.Fatalf("error %v is not a *KeyError", e)
		}
		keys = append(keys, ke.Key)
	}
	want := []string{"transform.flip_p", "train.epochs", "val.batch_size"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys with errors = %q, want %q", keys, want)
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "rt.yaml", minimal)
	c := mustLoad(t, file, []string{
		"run.name=007", "optimizer.params.weight_decay=5e-4", "scheduler.name=Cosine",
		"scheduler.params.min_lr=1e-6", "scheduler.params.warmup_epochs=0.5", "dataset.margin=1",
		"model.width=0.25", "eval.tpr_at_fpr=[0.05]", "anrl.metasize=1", "anrl.gate=clamp", "anrl.loss.discri=-0",
		"anrl.meta=false", "anrl.center_reset=never", "train.select_metric=HTER",
	}, []string{"FAS_SEED=-3"})
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	again := mustLoad(t, writeFile(t, t.TempDir(), "resolved.yaml", string(b)), nil, nil)
	if !reflect.DeepEqual(c, again) {
		t.Errorf("reloaded config differs\nfirst:  %+v\nreload: %+v\nYAML:\n%s", c, again, b)
	}
	if !strings.Contains(string(b), `name: "007"`) || !strings.Contains(string(b), "weight_decay: 0.0005") {
		t.Errorf("resolved YAML does not quote the string 007 or lost weight_decay:\n%s", b)
	}
}

func TestRootResolution(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "sub/p.yaml", minimal)
	c := mustLoad(t, file, nil, nil)
	if want := filepath.Join(dir, "sub", "data"); c.Dataset.Root != want {
		t.Errorf("root = %s, want %s (relative to the config file)", c.Dataset.Root, want)
	}
	if got, want := c.DataPath("lists/x.txt"), filepath.Join(dir, "sub", "data", "lists", "x.txt"); got != want {
		t.Errorf("DataPath = %s, want %s", got, want)
	}
	c = mustLoad(t, file, []string{"dataset.root=elsewhere"}, nil)
	cwd, _ := os.Getwd()
	if want := filepath.Join(cwd, "elsewhere"); c.Dataset.Root != want {
		t.Errorf("root from a flag = %s, want %s (relative to the working directory)", c.Dataset.Root, want)
	}
	c = mustLoad(t, writeFile(t, dir, "sub/q.yaml", strings.Replace(minimal, "  root: data\n", "", 1)), nil, nil)
	if want := filepath.Join(dir, "sub"); c.Dataset.Root != want {
		t.Errorf("default root = %s, want the config file's directory %s", c.Dataset.Root, want)
	}
}

func TestCheckPaths(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", minimal)
	c := mustLoad(t, file, nil, nil)
	var lists []string
	for _, d := range append(append(append([]DomainList{}, c.Dataset.Train...), c.Dataset.Val...), c.Dataset.Test...) {
		lists = append(lists, d.Live, d.Attack)
	}
	for _, l := range lists {
		writeFile(t, filepath.Join(dir, "data"), l, "x 0\n")
	}
	writeFile(t, filepath.Join(dir, "data"), "data.lmdb/data.mdb", "")
	if err := c.CheckPaths(); err != nil {
		t.Fatalf("CheckPaths with every file present: %v", err)
	}
	os.Remove(filepath.Join(dir, "data", "lists", "d_test_attack.txt"))
	err := c.CheckPaths()
	if err == nil {
		t.Fatal("CheckPaths passed with a list file missing")
	}
	wantAll(t, err.Error(), "dataset.test[0].attack", "d_test_attack.txt")
	if strings.Contains(err.Error(), "live") {
		t.Errorf("CheckPaths blames files that exist: %v", err)
	}
}

func TestKeysAndTypes(t *testing.T) {
	keys := Keys()
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
	}
	for _, k := range []string{"train.batch_size", "anrl.loss.depth", "anrl.gate", "model.width", "dataset.depth_rule", "eval.protocols"} {
		if !seen[k] {
			t.Errorf("Keys() lacks %s", k)
		}
	}
	if seen["anrl.loss"] || seen["dataset"] {
		t.Errorf("Keys() lists sections")
	}
	for k := range oldKeys {
		if seen[k] {
			t.Errorf("Keys() lists the old key %s", k)
		}
	}
	if TypeName("dataset.train") != "list of {name, live, attack}" || TypeName("train.epochs") != "integer" {
		t.Errorf("TypeName: %q %q", TypeName("dataset.train"), TypeName("train.epochs"))
	}
}

// TestShippedConfigsLoad loads every YAML under configs/ and checks the OCIM protocols.
func TestShippedConfigsLoad(t *testing.T) {
	root := filepath.Join("..", "..", "..", "configs")
	var n int
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" || filepath.Base(p) == "published.yaml" {
			return err // published.yaml holds the papers' numbers (package reproduce), not a run config
		}
		n++
		c, err := Load(p, nil, nil)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		if b, err := c.YAML(); err != nil || len(b) == 0 {
			t.Errorf("%s: YAML: %v", p, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found %d YAML files under %s, want the 4 OCIM protocols and synth for anrl and fghv", n, root)
	}
	names := map[byte]string{'O': "oulu", 'C': "casia", 'I': "replay", 'M': "msu"}
	for _, proto := range []string{"OCI2M", "OMI2C", "OCM2I", "ICM2O"} {
		c := mustLoad(t, filepath.Join(root, "anrl", proto+".yaml"), nil, nil)
		var train []string
		for _, d := range c.Dataset.Train {
			train = append(train, d.Name)
		}
		want := []string{names[proto[0]], names[proto[1]], names[proto[2]]}
		if !reflect.DeepEqual(train, want) || c.Dataset.Test[0].Name != names[proto[4]] || c.Run.Protocol != proto {
			t.Errorf("%s: train %q test %q protocol %q", proto, train, c.Dataset.Test[0].Name, c.Run.Protocol)
		}
		if c.Transform.ImageSize != 256 || c.Model.Width != 1 || c.Train.BatchSize != 5 || c.Train.Epochs != 50 ||
			c.ANRL.Metasize != 2 || c.ANRL.Loss != (ANRLLoss{Cls: 1, Depth: 0.1, Domain: 0.001, Discri: 0.001}) {
			t.Errorf("%s: not the paper's sizes: %+v %+v", proto, c.Transform, c.Train)
		}
		if want := filepath.Join(root, "..", "data", "ocim"); !sameDir(t, c.Dataset.Root, want) {
			t.Errorf("%s: root %s, want %s", proto, c.Dataset.Root, want)
		}
		// FGHV's config of the protocol: the same data and sizes, the spec's defaults.
		f := mustLoad(t, filepath.Join(root, "fghv", proto+".yaml"), nil, nil)
		if f.Method != "fghv" || f.Run.Protocol != proto || !reflect.DeepEqual(f.Dataset, c.Dataset) || f.Transform.ImageSize != 256 ||
			f.Model.Width != 1 || f.Train != c.Train || f.FGHV != Default().FGHV {
			t.Errorf("fghv/%s: method %s protocol %s, or not the ANRL config's data and sizes with the spec's defaults", proto, f.Method, f.Run.Protocol)
		}
	}
	s := mustLoad(t, filepath.Join(root, "fghv", "synth.yaml"), nil, nil)
	if s.Method != "fghv" || s.Transform.ImageSize != 32 {
		t.Errorf("fghv/synth.yaml: method %s size %d", s.Method, s.Transform.ImageSize)
	}
}

func sameDir(t *testing.T, a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

func TestDescribe(t *testing.T) {
	keys, err := Describe()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]KeyInfo{}
	for _, k := range keys {
		got[k.Key] = k
	}
	want := []KeyInfo{
		{"train.batch_size", "integer", "5", "FAS_TRAIN__BATCH_SIZE"},
		{"optimizer.params.weight_decay", "number", "1.0e-05", "FAS_OPTIMIZER__PARAMS__WEIGHT_DECAY"},
		{"eval.protocols", "list of strings", "[paper, realistic]", "FAS_EVAL__PROTOCOLS"},
		{"run.name", "string", `""`, "FAS_RUN__NAME"},
	}
	for _, w := range want {
		if got[w.Key] != w {
			t.Errorf("Describe %s = %+v, want %+v", w.Key, got[w.Key], w)
		}
	}
	if len(keys) != len(Keys()) {
		t.Errorf("Describe lists %d keys, Keys %d", len(keys), len(Keys()))
	}
}

// TestFloatText checks that written floats parse back exactly and match PyYAML's (YAML 1.1)
// float pattern, so that Python tools read config.yaml numbers as numbers.
func TestFloatText(t *testing.T) {
	pyyaml := regexp.MustCompile(`^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?$`)
	for _, f := range []float64{0, 1, -2, 0.1, 1e-4, 1e-5, 5e-4, 1e-8, 123456789, 1e21, 0.999, -3.5e-7} {
		s := formatFloat(f)
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || back != f || !pyyaml.MatchString(s) {
			t.Errorf("formatFloat(%g) = %q (parses to %v, %v; PyYAML float: %v)", f, s, back, err, pyyaml.MatchString(s))
		}
	}
}

// TestOldKeysNameTheirNewKey gives keys of the old TFace-style layout from every source: each
// fails, naming its new key (or why it is gone) and where it came from.
func TestOldKeysNameTheirNewKey(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "g.yaml", minimal)
	// minimal ends with line 12, so the first added line is line 13.
	old := writeFile(t, dir, "old.yaml", minimal+`model:
  params: {in_ch: 6, mid_ch: 384, AdapNorm: true, AdapNorm_attention_flag: 2layer, model_initial: kaiming, width: 0.5}
loss: {name: CrossEntropyLoss, weight: 1.0}
loss_2:
  name: MSELoss
  weight: 0.2
loss_3: {name: EuclideanLoss, domain_weight: 0.001, discri_weight: 0.001, center_momentum: 0.8}
train:
  epochs: 3
  metasize: 1
  meta_step_size: 0.001
  meta: true
  first_order: false
  textbook_fast_weights: false
  center_reset: never
`)
	_, err := Load(old, nil, nil)
	if err == nil {
		t.Fatal("a file in the old layout loaded")
	}
	type want struct{ source, msg string }
	moved := func(line int, to string) want {
		return want{fmt.Sprintf("file %s:%d", old, line), "moved to " + to + " ("}
	}
	removed := func(line int) want { return want{fmt.Sprintf("file %s:%d", old, line), "removed: "} }
	wants := map[string]want{
		"model.params.AdapNorm_attention_flag": moved(14, "anrl.gate"),
		"model.params.width":                   moved(14, "model.width"),
		"model.params.in_ch":                   removed(14),
		"model.params.mid_ch":                  removed(14),
		"model.params.AdapNorm":                removed(14),
		"model.params.model_initial":           removed(14),
		"loss.name":                            removed(15),
		"loss.weight":                          moved(15, "anrl.loss.cls"),
		"loss_2.name":                          removed(17),
		"loss_2.weight":                        moved(18, "anrl.loss.depth"),
		"loss_3.name":                          removed(19),
		"loss_3.domain_weight":                 moved(19, "anrl.loss.domain"),
		"loss_3.discri_weight":                 moved(19, "anrl.loss.discri"),
		"loss_3.center_momentum":               moved(19, "anrl.center_momentum"),
		"train.metasize":                       moved(22, "anrl.metasize"),
		"train.meta_step_size":                 moved(23, "anrl.meta_step_size"),
		"train.meta":                           moved(24, "anrl.meta"),
		"train.first_order":                    moved(25, "anrl.first_order"),
		"train.textbook_fast_weights":          moved(26, "anrl.textbook_fast_weights"),
		"train.center_reset":                   moved(27, "anrl.center_reset"),
	}
	got := map[string]*KeyError{}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ke *KeyError
		if !errors.As(e, &ke) {
			t.Fatalf("error %v is not a *KeyError", e)
		}
		if got[ke.Key] != nil {
			t.Errorf("key %s reported twice", ke.Key)
		}
		got[ke.Key] = ke
	}
	if len(got) != len(wants) {
		t.Errorf("%d keys reported, want %d: %v", len(got), len(wants), err)
	}
	for key, w := range wants {
		ke := got[key]
		if ke == nil {
			t.Errorf("old key %s not reported", key)
			continue
		}
		if ke.Source != w.source || !strings.HasPrefix(ke.Msg, w.msg) {
			t.Errorf("%s: source %q msg %q, want %q and a message starting %q", key, ke.Source, ke.Msg, w.source, w.msg)
		}
	}
	// The example of the documentation, whole.
	wantAll(t, got["loss_2.weight"].Error(), "config: key loss_2.weight (from file "+old+":18): "+
		"moved to anrl.loss.depth (method settings live under the method's section)")
	wantAll(t, got["model.params.in_ch"].Error(), "removed: the input always has 6 channels")
	wantAll(t, got["loss_3.name"].Error(), "removed: the losses are fixed by the method")
	wantAll(t, got["model.params.width"].Msg, "shared")

	// Environment variables: leaves (any case), and a whole old section as a mapping.
	cases := []struct {
		name  string
		sets  []string
		env   []string
		parts [][]string // one list of fragments per expected error (a section's keys in sorted order)
	}{
		{"env leaf", nil, []string{"FAS_LOSS_2__WEIGHT=0.2"}, [][]string{{"key loss_2.weight", "environment variable FAS_LOSS_2__WEIGHT",
			"moved to anrl.loss.depth (FAS_ANRL__LOSS__DEPTH; method settings"}}},
		{"env mixed-case key", nil, []string{"FAS_MODEL__PARAMS__ADAPNORM_ATTENTION_FLAG=clamp"}, [][]string{{
			"key model.params.AdapNorm_attention_flag", "FAS_MODEL__PARAMS__ADAPNORM_ATTENTION_FLAG", "moved to anrl.gate (FAS_ANRL__GATE"}}},
		{"env train key", nil, []string{"FAS_TRAIN__METASIZE=1"}, [][]string{{"key train.metasize", "moved to anrl.metasize"}}},
		{"env removed", nil, []string{"FAS_MODEL__PARAMS__IN_CH=6"}, [][]string{{"key model.params.in_ch", "removed: the input always has 6 channels"}}},
		{"env section", nil, []string{"FAS_LOSS_3={domain_weight: 0.1, center_momentum: 0.5}"}, [][]string{
			{"key loss_3.center_momentum", "environment variable FAS_LOSS_3", "moved to anrl.center_momentum"},
			{"key loss_3.domain_weight", "environment variable FAS_LOSS_3", "moved to anrl.loss.domain"}}},
		{"env new section with an old key", nil, []string{"FAS_TRAIN={epochs: 2, meta: false}"}, [][]string{
			{"key train.meta", "environment variable FAS_TRAIN", "moved to anrl.meta"}}},
		{"flag leaf", []string{"loss_3.discri_weight=-0.001"}, nil, [][]string{{"key loss_3.discri_weight",
			"flag --set loss_3.discri_weight=-0.001", "moved to anrl.loss.discri (method settings"}}},
		{"flag width", []string{"model.params.width=0.25"}, nil, [][]string{{"key model.params.width", "moved to model.width"}}},
		{"flag removed", []string{"loss.name=CrossEntropyLoss"}, nil, [][]string{{"key loss.name", "removed: the losses are fixed"}}},
		{"flag textbook", []string{"train.textbook_fast_weights=true"}, nil, [][]string{{"key train.textbook_fast_weights", "moved to anrl.textbook_fast_weights"}}},
		{"flag section", []string{"loss_3={name: EuclideanLoss, discri_weight: 0.01}"}, nil, [][]string{
			{"key loss_3.discri_weight", "flag --set loss_3=", "moved to anrl.loss.discri"},
			{"key loss_3.name", "flag --set loss_3=", "removed: the losses are fixed"}}},
		{"flag nested section", []string{"model={params: {width: 0.5}}"}, nil, [][]string{
			{"key model.params.width", "flag --set model=", "moved to model.width"}}},
		{"flag old section, not a mapping", []string{"loss_2=0.1"}, nil, [][]string{
			{"key loss_2 ", "removed section", "weight -> anrl.loss.depth", "name removed"}}},
		{"flag unknown key in an old section", []string{"loss_3={weight: 1}"}, nil, [][]string{
			{"key loss_3.weight", "unknown key in the removed section loss_3"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(good, tc.sets, tc.env)
			if err == nil {
				t.Fatal("loaded")
			}
			errs := err.(interface{ Unwrap() []error }).Unwrap()
			if len(errs) != len(tc.parts) {
				t.Fatalf("%d errors, want %d: %v", len(errs), len(tc.parts), err)
			}
			for i, parts := range tc.parts {
				wantAll(t, errs[i].Error(), parts...)
			}
		})
	}
}

// TestOldKeysAreNotInTheSchema keeps the table of old keys apart from the schema: no old key
// is a key again, and every new key the table names exists.
func TestOldKeysAreNotInTheSchema(t *testing.T) {
	s := theSchema()
	for k, o := range oldKeys {
		if _, ok := s.lower[strings.ToLower(k)]; ok {
			t.Errorf("old key %s is in the schema", k)
		}
		if o.to != "" {
			if n, ok := s.nodes[o.to]; !ok || n.section() {
				t.Errorf("old key %s moved to %s, which is not a key", k, o.to)
			}
		} else if o.why == "" {
			t.Errorf("old key %s has neither a new key nor a reason", k)
		}
	}
}

// TestSelectMetric accepts every criterion metrics.Select knows, in any case, and names them
// all when given an unknown one.
func TestSelectMetric(t *testing.T) {
	good := writeFile(t, t.TempDir(), "g.yaml", minimal)
	names := metrics.SelectNames()
	if len(names) < 9 {
		t.Fatalf("metrics.SelectNames() = %q, want at least the 9 documented criteria", names)
	}
	for _, want := range []string{"auc", "eer", "hter", "acer", "apcer", "bpcer", "accuracy", "tpr@fpr=1%", "tpr@fpr=0.1%"} {
		if !slices.Contains(names, want) {
			t.Errorf("metrics.SelectNames() lacks %s", want)
		}
	}
	for _, n := range names {
		for _, spelled := range []string{n, strings.ToUpper(n)} {
			c, err := Load(good, []string{"train.select_metric=" + spelled}, nil)
			if err != nil {
				t.Errorf("select_metric %s: %v", spelled, err)
				continue
			}
			if c.Train.SelectMetric != spelled {
				t.Errorf("select_metric %s loaded as %s", spelled, c.Train.SelectMetric)
			}
		}
	}
	msg := loadErr(t, good, []string{"train.select_metric=f1"}, nil)
	wantAll(t, msg, `train.select_metric = "f1"`, "flag --set train.select_metric=f1")
	wantAll(t, msg, names...)

	// A TPR@FPR criterion needs its target among the computed ones.
	msg = loadErr(t, good, []string{"train.select_metric=TPR@FPR=1%", "eval.tpr_at_fpr=[0.001]"}, nil)
	wantAll(t, msg, "train.select_metric", "0.01", "eval.tpr_at_fpr")
	mustLoad(t, good, []string{"train.select_metric=tpr@fpr=0.1%", "eval.tpr_at_fpr=[0.001]"}, nil)
	mustLoad(t, good, []string{"train.select_metric=auc", "eval.tpr_at_fpr=[]"}, nil)
}

// TestDepthRulePreset: `depth_rule: tface`, `[{preset: tface}]` and a preset next to
// {from, to} rules load, round-trip through YAML, and expand (dataset.DepthPreset); an
// unknown preset and a preset with from/to are refused with the key named.
func TestDepthRulePreset(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "p.yaml", minimal)
	for _, set := range []string{"dataset.depth_rule=tface", "dataset.depth_rule=[{preset: tface}]",
		`dataset.depth_rule=[{from: "a/", to: "a_depth/"}, {preset: tface}]`} {
		c := mustLoad(t, base, []string{set}, nil)
		last := c.Dataset.DepthRule[len(c.Dataset.DepthRule)-1]
		if last != (DepthRule{Preset: "tface"}) {
			t.Errorf("%s: rules %+v", set, c.Dataset.DepthRule)
		}
		b, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if again := mustLoad(t, writeFile(t, t.TempDir(), "r.yaml", string(b)), nil, nil); !reflect.DeepEqual(c, again) {
			t.Errorf("%s: reloaded config differs:\n%s", set, b)
		}
		// Empty fields of a rule are left out: {preset: tface}, {from: a/, to: a_depth/}.
		if !strings.Contains(string(b), "- {preset: tface}") || strings.Contains(string(b), `preset: ""`) {
			t.Errorf("%s: rules written as:\n%s", set, b)
		}
		if strings.Contains(set, "from") && !strings.Contains(string(b), "- {from: a/, to: a_depth/}") {
			t.Errorf("%s: {from, to} rule written as:\n%s", set, b)
		}
	}
	wantAll(t, loadErr(t, base, []string{"dataset.depth_rule=tfac"}, nil), "dataset.depth_rule[0].preset", "tfac", "tface")
	wantAll(t, loadErr(t, base, []string{`dataset.depth_rule=[{preset: tface, from: "a/"}]`}, nil), "dataset.depth_rule[0].from", "preset")
	wantAll(t, loadErr(t, base, []string{"dataset.depth_rule=3"}, nil), "dataset.depth_rule")
}

// The constant gates are valid without the meta step (the ablation's BN-only / IN-only).
func TestConstantGatesWithoutMeta(t *testing.T) {
	good := writeFile(t, t.TempDir(), "g.yaml", minimal)
	for _, g := range []string{"bn", "in"} {
		if c := mustLoad(t, good, []string{"anrl.gate=" + g, "anrl.meta=false"}, nil); c.ANRL.Gate != g {
			t.Errorf("anrl.gate = %q, want %q", c.ANRL.Gate, g)
		}
	}
}
