package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/method"
	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() { register("model", modelStepCommand) }

func modelStepCommand() *cli.Command {
	return &cli.Command{
		Name:  "step",
		Usage: "run exactly one training step of the weights' method from given weights on a given batch",
		Description: "Reads the batch file's tensors (anrl: images K x 2B x 6 x S x S, per domain B live then B\n" +
			"attack; depth K x 2B x F x F; labels K x 2B, int64), takes one training step from the weights\n" +
			"(fresh training state: anrl's domain centers all ones, zero optimizer moments), writes the\n" +
			"updated weights (BN buffers included) to --out and prints the step's named statistics, its\n" +
			"other results and the step count as one JSON object. anrl: with --domain-order the first\n" +
			"metasize domains of the order are meta-train, the rest meta-test, so the step is deterministic.\n" +
			"--set KEY=VALUE (repeatable) sets an optimizer option (" + strings.Join(optimizerKeys(), ", ") + ")\n" +
			"or one of the method's training settings (anrl: metasize, meta, meta_step_size (alias alpha),\n" +
			"w_cls, w_depth, w_domain, w_discri, center_momentum, first_order, textbook_fast_weights\n" +
			"(alias textbook), freeze_bn, batch_grouping (domain or tface), center_reset; fghv: rcc,\n" +
			"rcc_margin, w_rcc, w_var, w_ddc, w_depth, w_cls,\n" +
			"meta, metasize, meta_step_size, meta_params, first_order — its latents come from the\n" +
			"trainer's seed); the shim names the known ones when a key is unknown.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "weights", Required: true, Usage: "weights file (.safetensors)"},
			&cli.StringFlag{Name: "batch", Required: true, Usage: "batch file with images, depth, labels (.safetensors)"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "updated weights file (.safetensors)"},
			&cli.StringFlag{Name: "domain-order", Usage: "permutation of 0..K-1, e.g. 2,0,1 (default: drawn from the seed)"},
			&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "adam or sgd"},
			&cli.Float64Flag{Name: "lr", Value: 1e-4, Usage: "learning rate"},
			&cli.Float64Flag{Name: "weight-decay", Value: 0, Usage: "weight decay (L2 unless --set decoupled_weight_decay=true)"},
			&cli.StringSliceFlag{Name: "set", Usage: "train option KEY=VALUE (repeatable)"},
			&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu, cuda or cuda:N"},
			threadsFlag(),
		},
		Action: runStep,
	}
}

func runStep(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	threads, err := cliThreads(c)
	if err != nil {
		return err
	}
	bf, err := safetensors.Read(c.String("batch"))
	if err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	wf, err := safetensors.Read(c.String("weights"))
	if err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	me, err := method.Get(orDefault(wf.Metadata[model.KeyMethod], method.Recognize(wf.Tensors)))
	if err != nil {
		return fmt.Errorf("model step: %s: %w", c.String("weights"), err)
	}
	batch, implied, size, err := me.BatchFromFile(bf, c.String("batch"))
	if err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	if s := c.String("domain-order"); s != "" {
		k, _ := strconv.Atoi(implied[0].Value)
		order, err := parseOrder(s, k)
		if err != nil {
			return fmt.Errorf("model step: --domain-order: %w", err)
		}
		batch = append(batch, shim.I64("domain_order", []int64{int64(k)}, order))
	}
	cfg := shim.DefaultTrainConfig()
	cfg.Optimizer, cfg.WeightDecay, cfg.Settings = c.String("optimizer"), c.Float64("weight-decay"), implied
	for _, kv := range c.StringSlice("set") {
		if err := setTrainOption(&cfg, kv); err != nil {
			return fmt.Errorf("model step: --set %s: %w", kv, err)
		}
	}
	m, _, err := model.FromFile(wf, model.Options{Size: size, Device: c.String("device"), Threads: threads})
	if err != nil {
		return fmt.Errorf("model step: %s: %w", c.String("weights"), err)
	}
	defer m.Close()
	tr, err := shim.NewTrainer(m, cfg)
	if err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	defer tr.Close()
	st, err := tr.Step(batch, c.Float64("lr"))
	if err != nil {
		return fmt.Errorf("model step: %s: %w", c.String("batch"), err)
	}
	if err := model.Save(m, c.String("out"), nil); err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	js, err := json.Marshal(stepJSON(st))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, string(js))
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// stepJSON is a step's result as one flat object: every statistic, every integer result,
// and "step".
func stepJSON(r shim.StepResult) map[string]any {
	out := map[string]any{"step": r.Step}
	for _, s := range r.Stats {
		out[s.Name] = s.Value
	}
	for k, v := range r.Ints {
		out[k] = v
	}
	return out
}

func parseOrder(s string, k int) ([]int64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != k {
		return nil, fmt.Errorf("%q has %d entries, the batch %d domains", s, len(parts), k)
	}
	seen := make([]bool, k)
	out := make([]int64, k)
	for i, p := range parts {
		d, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || d < 0 || d >= k || seen[d] {
			return nil, fmt.Errorf("%q is not a permutation of 0..%d", s, k-1)
		}
		seen[d], out[i] = true, int64(d)
	}
	return out, nil
}

// trainOptionAliases are short names of anrl's training settings accepted by --set.
var trainOptionAliases = map[string]string{"textbook": "textbook_fast_weights", "alpha": "meta_step_size"}

// optimizerKeys lists the generic keys of --set: the JSON names of shim.TrainConfig's
// optimizer fields.
func optimizerKeys() []string {
	var keys []string
	t := reflect.TypeOf(shim.TrainConfig{})
	for i := 0; i < t.NumField(); i++ {
		if k := t.Field(i).Tag.Get("json"); k != "" && k != "settings" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// setTrainOption applies one KEY=VALUE to cfg: an optimizer field, parsed by its type, or
// else a method training setting (replacing an earlier one of the same key).
func setTrainOption(cfg *shim.TrainConfig, kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("want KEY=VALUE")
	}
	if a, ok := trainOptionAliases[key]; ok {
		key = a
	}
	v := reflect.ValueOf(cfg).Elem()
	for i := 0; i < v.NumField(); i++ {
		if tag := v.Type().Field(i).Tag.Get("json"); tag != key || tag == "settings" {
			continue
		}
		return setField(v.Field(i), key, val)
	}
	for i := range cfg.Settings {
		if cfg.Settings[i].Key == key {
			if key == "num_domains" {
				return fmt.Errorf("num_domains comes from the batch")
			}
			cfg.Settings[i].Value = val
			return nil
		}
	}
	cfg.Settings = append(cfg.Settings, shim.Setting{Key: key, Value: val})
	return nil
}

func setField(f reflect.Value, key, val string) error {
	switch f.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("%s wants true or false, got %q", key, val)
		}
		f.SetBool(b)
	case reflect.Uint64:
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return fmt.Errorf("%s wants a non-negative integer, got %q", key, val)
		}
		f.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("%s wants a number, got %q", key, val)
		}
		f.SetFloat(x)
	case reflect.String:
		f.SetString(val)
	default:
		return fmt.Errorf("%s cannot be set", key)
	}
	return nil
}
