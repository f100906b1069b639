package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/model"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() { register("model", modelStepCommand()) }

func modelStepCommand() *cli.Command {
	return &cli.Command{
		Name:  "step",
		Usage: "run exactly one ANRL training step from given weights on a given batch",
		Description: "Reads the batch file's images (K x 2B x 6 x S x S: per domain B live then B attack),\n" +
			"depth (K x 2B x F x F) and labels (K x 2B, int64), takes one training step from the weights\n" +
			"(domain centers all ones, fresh optimizer), writes the updated weights (BN buffers included)\n" +
			"to --out and prints the step's figures as JSON. With --domain-order the first metasize\n" +
			"domains of the order are meta-train, the rest meta-test, so the step is deterministic.\n" +
			"--set KEY=VALUE (repeatable) sets any train option:\n" + wrapWords(settableKeys(), 90),
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
	b, err := readBatch(c.String("batch"))
	if err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	if s := c.String("domain-order"); s != "" {
		if b.DomainOrder, err = parseOrder(s, b.NumDomains); err != nil {
			return fmt.Errorf("model step: --domain-order: %w", err)
		}
	}
	cfg := shim.DefaultTrainConfig(b.NumDomains)
	cfg.Optimizer, cfg.WeightDecay = c.String("optimizer"), c.Float64("weight-decay")
	for _, kv := range c.StringSlice("set") {
		if err := setTrainOption(&cfg, kv); err != nil {
			return fmt.Errorf("model step: --set %s: %w", kv, err)
		}
	}
	m, _, err := model.Load(c.String("weights"), model.Options{Size: b.Size, Device: c.String("device")})
	if err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	defer m.Close()
	tr, err := shim.NewTrainer(m, cfg)
	if err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	defer tr.Close()
	st, err := tr.Step(b, c.Float64("lr"))
	if err != nil {
		return fmt.Errorf("model step: %s: %w", c.String("batch"), err)
	}
	if err := model.Save(m, c.String("out"), nil); err != nil {
		return fmt.Errorf("model step: %w", err)
	}
	js, err := json.Marshal(st)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, string(js))
	return err
}

// readBatch loads images, depth and labels and checks that their shapes agree.
func readBatch(path string) (*shim.Batch, error) {
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, err
	}
	get := func(name string, ndim int) (*safetensors.Tensor, error) {
		t, ok := f.Get(name)
		if !ok {
			return nil, fmt.Errorf("%s: no tensor %q (want images, depth, labels)", path, name)
		}
		if len(t.Shape) != ndim {
			return nil, fmt.Errorf("%s: %s has shape %v, want %d dimensions", path, name, t.Shape, ndim)
		}
		return t, nil
	}
	im, err := get("images", 5)
	if err != nil {
		return nil, err
	}
	k, n, s := im.Shape[0], im.Shape[1], im.Shape[3]
	if k < 2 || k > 16 || n < 2 || n%2 != 0 || im.Shape[2] != 6 || im.Shape[4] != s || s%8 != 0 || s < 32 {
		return nil, fmt.Errorf("%s: images have shape %v, want K x 2B x 6 x S x S (2 <= K <= 16, B >= 1, S a multiple of 8, >= 32)", path, im.Shape)
	}
	dp, err := get("depth", 4)
	if err != nil {
		return nil, err
	}
	if want := []int64{k, n, s / 8, s / 8}; !reflect.DeepEqual(dp.Shape, want) {
		return nil, fmt.Errorf("%s: depth has shape %v, want %v (K x 2B x S/8 x S/8)", path, dp.Shape, want)
	}
	lb, err := get("labels", 2)
	if err != nil {
		return nil, err
	}
	if want := []int64{k, n}; !reflect.DeepEqual(lb.Shape, want) || lb.DType != safetensors.I64 {
		return nil, fmt.Errorf("%s: labels are %s %v, want I64 %v", path, lb.DType, lb.Shape, want)
	}
	b := &shim.Batch{NumDomains: int(k), PerClass: int(n / 2), Size: int(s)}
	if b.Images, err = im.Float32(); err != nil {
		return nil, fmt.Errorf("%s: images: %w", path, err)
	}
	if b.Depth, err = dp.Float32(); err != nil {
		return nil, fmt.Errorf("%s: depth: %w", path, err)
	}
	if b.Labels, err = lb.Int64(); err != nil {
		return nil, fmt.Errorf("%s: labels: %w", path, err)
	}
	return b, nil
}

// wrapWords joins words with ", " into lines of at most width characters.
func wrapWords(words []string, width int) string {
	var sb strings.Builder
	line := 0
	for i, w := range words {
		if i > 0 {
			sb.WriteString(",")
			line++
			if line+len(w)+1 > width {
				sb.WriteString("\n")
				line = 0
			} else {
				sb.WriteString(" ")
				line++
			}
		}
		sb.WriteString(w)
		line += len(w)
	}
	return sb.String()
}

func parseOrder(s string, k int) ([]int, error) {
	parts := strings.Split(s, ",")
	if len(parts) != k {
		return nil, fmt.Errorf("%q has %d entries, the batch %d domains", s, len(parts), k)
	}
	seen := make([]bool, k)
	out := make([]int, k)
	for i, p := range parts {
		d, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || d < 0 || d >= k || seen[d] {
			return nil, fmt.Errorf("%q is not a permutation of 0..%d", s, k-1)
		}
		seen[d], out[i] = true, d
	}
	return out, nil
}

// trainOptionAliases are short names accepted by --set besides the JSON keys of TrainConfig.
var trainOptionAliases = map[string]string{"textbook": "textbook_fast_weights", "alpha": "meta_step_size"}

// settableKeys lists the keys of --set: the JSON names of shim.TrainConfig except
// num_domains (the batch's K).
func settableKeys() []string {
	var keys []string
	t := reflect.TypeOf(shim.TrainConfig{})
	for i := 0; i < t.NumField(); i++ {
		if k := t.Field(i).Tag.Get("json"); k != "" && k != "num_domains" {
			keys = append(keys, k)
		}
	}
	for k := range trainOptionAliases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// setTrainOption applies one KEY=VALUE to cfg, parsing VALUE by the field's type.
func setTrainOption(cfg *shim.TrainConfig, kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("want KEY=VALUE")
	}
	key = strings.TrimSpace(key)
	if a, ok := trainOptionAliases[key]; ok {
		key = a
	}
	v := reflect.ValueOf(cfg).Elem()
	for i := 0; i < v.NumField(); i++ {
		if v.Type().Field(i).Tag.Get("json") != key || key == "num_domains" {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fmt.Errorf("%s wants true or false, got %q", key, val)
			}
			f.SetBool(b)
		case reflect.Int:
			n, err := strconv.Atoi(val)
			if err != nil {
				return fmt.Errorf("%s wants an integer, got %q", key, val)
			}
			f.SetInt(int64(n))
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
	return fmt.Errorf("unknown key %q (keys: %s)", key, strings.Join(settableKeys(), ", "))
}
