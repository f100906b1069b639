package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	kyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"go.yaml.in/yaml/v3"
)

const (
	envPrefix = "FAS_"
	envDelim  = "__"
)

// Load resolves a configuration from, lowest to highest precedence: the built-in defaults,
// the YAML file at path ("" for none), the FAS_* variables in env (KEY=VALUE strings, as
// os.Environ returns them) and the --set flags in sets ("key=value"). Values from env and
// sets are YAML (scalars, [lists], {mappings}) except for string keys, which take the text
// as is. A relative dataset.root from the file or the defaults resolves against the file's
// directory, one from env or sets against the working directory. The result is validated;
// paths are not opened (see CheckPaths).
func Load(path string, sets []string, env []string) (*Config, error) {
	l := &loader{k: koanf.New("."), origins: map[string]string{}}
	l.add(toMap(reflect.ValueOf(Default()).Elem()).(map[string]any), func(string) string { return "default" })
	if path != "" {
		if err := l.file(path); err != nil {
			return nil, err
		}
	}
	l.env(env)
	l.sets(sets)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	c, err := l.decode()
	if err != nil {
		return nil, err
	}
	if err := l.resolve(c, path); err != nil {
		return nil, err
	}
	if err := c.validate(l.origins); err != nil {
		return nil, err
	}
	return c, nil
}

// loader accumulates the layers in a koanf instance and remembers where each key came from.
type loader struct {
	k       *koanf.Koanf
	origins map[string]string
	errs    []error
}

// add type-checks one layer and merges it over the previous ones.
func (l *loader) add(m map[string]any, where func(string) string) {
	c := &checker{where: where, origins: l.origins}
	norm := c.section("", reflect.TypeFor[Config](), m)
	if len(c.errs) > 0 {
		l.errs = append(l.errs, c.errs...)
		return
	}
	if err := l.k.Load(confmap.Provider(norm, ""), nil); err != nil {
		l.errs = append(l.errs, fmt.Errorf("config: merging: %w", err))
	}
}

func (l *loader) file(path string) error {
	b, err := file.Provider(path).ReadBytes()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	m, err := kyaml.Parser().Unmarshal(b)
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	lines := map[string]int{}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err == nil {
		keyLines(&doc, "", lines)
	}
	l.add(m, func(key string) string {
		if n, ok := lines[key]; ok {
			return fmt.Sprintf("file %s:%d", path, n)
		}
		return "file " + path
	})
	return nil
}

// keyLines records the line of every key (and list element) in a YAML document.
func keyLines(n *yaml.Node, prefix string, lines map[string]int) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			keyLines(c, prefix, lines)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := join(prefix, n.Content[i].Value)
			lines[key] = n.Content[i].Line
			keyLines(n.Content[i+1], key, lines)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			lines[key] = c.Line
			keyLines(c, key, lines)
		}
	}
}

// env reads FAS_SECTION__KEY=VALUE variables. The koanf env provider reads the process
// environment only; Load takes the variables as an argument so that callers and tests
// control them, hence the parsing here and a confmap layer.
func (l *loader) env(env []string) {
	s := theSchema()
	m := map[string]any{}
	source := map[string]string{}
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		where := "environment variable " + name
		lower := strings.ToLower(strings.ReplaceAll(name[len(envPrefix):], envDelim, "."))
		key, ok := s.lower[lower]
		if !ok && retired(lower, yamlValue(val), true, func(_, old, msg string) {
			l.errs = append(l.errs, &KeyError{Key: old, Source: where, Msg: msg})
		}) {
			continue
		}
		if !ok {
			msg := "unknown key (FAS_ variables name keys: FAS_TRAIN__BATCH_SIZE sets train.batch_size)"
			if sg := suggest(lower); sg != "" {
				msg += fmt.Sprintf("; did you mean %s?", EnvName(sg))
			}
			l.errs = append(l.errs, &KeyError{Key: lower, Source: where, Msg: msg})
			continue
		}
		if prev := overlap(source, key); prev != "" {
			l.errs = append(l.errs, &KeyError{Key: key, Source: where, Msg: "overlaps with " + prev})
			continue
		}
		v, err := parseText(key, val)
		if err != nil {
			l.errs = append(l.errs, &KeyError{Key: key, Value: fmt.Sprintf("%q", val), Source: where, Msg: err.Error()})
			continue
		}
		source[key] = where
		nest(m, key, v)
	}
	l.add(m, func(key string) string {
		for k, w := range source {
			if within(key, k) {
				return w
			}
		}
		return "environment"
	})
}

// within reports whether key is k itself or lies inside it.
func within(key, k string) bool {
	return key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[")
}

// overlap returns the source of an earlier variable whose key contains key or lies in it,
// so that at most one variable speaks for any key.
func overlap(source map[string]string, key string) string {
	for k, w := range source {
		if within(key, k) || within(k, key) {
			return w
		}
	}
	return ""
}

// sets applies --set key=value flags in order; a later flag overrides an earlier one.
func (l *loader) sets(sets []string) {
	s := theSchema()
	for _, kv := range sets {
		where := "flag --set " + kv
		key, val, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			l.errs = append(l.errs, fmt.Errorf("config: %s: expected key=value", where))
			continue
		}
		if _, known := s.nodes[key]; !known {
			c := &checker{where: func(string) string { return where }}
			c.unknown(key, yamlValue(val))
			l.errs = append(l.errs, c.errs...)
			continue
		}
		v, err := parseText(key, val)
		if err != nil {
			l.errs = append(l.errs, &KeyError{Key: key, Value: fmt.Sprintf("%q", val), Source: where, Msg: err.Error()})
			continue
		}
		m := map[string]any{}
		nest(m, key, v)
		l.add(m, func(string) string { return where })
	}
}

// parseText turns the text of an environment variable or flag into a value: the text itself
// for string keys, else the YAML it spells.
func parseText(key, text string) (any, error) {
	if theSchema().nodes[key].typ.Kind() == reflect.String {
		return text, nil
	}
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("not a YAML value: %w", err)
	}
	return v, nil
}

// yamlValue is the value text spells as YAML, or nil when it is not YAML.
func yamlValue(text string) any {
	var v any
	if yaml.Unmarshal([]byte(text), &v) != nil {
		return nil
	}
	return v
}

// nest stores v at the dotted key inside m, creating the intermediate mappings.
func nest(m map[string]any, key string, v any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[parts[len(parts)-1]] = v
}

// decode unmarshals the merged layers strictly: the layers are already type-checked, so
// any error here is a bug, but it still surfaces rather than being papered over.
func (l *loader) decode() (*Config, error) {
	c := &Config{}
	err := l.k.UnmarshalWithConf("", c, koanf.UnmarshalConf{
		Tag:           "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{TagName: "koanf", ErrorUnused: true},
	})
	if err != nil {
		return nil, fmt.Errorf("config: decoding: %w", err)
	}
	return c, nil
}

// resolve fills the values derived from the file's location.
func (l *loader) resolve(c *Config, path string) error {
	if c.Run.Protocol == "" {
		c.Run.Protocol = "custom"
		if path != "" {
			c.Run.Protocol = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		l.origins["run.protocol"] = "derived from the config file name"
	}
	if filepath.IsAbs(c.Dataset.Root) {
		c.Dataset.Root = filepath.Clean(c.Dataset.Root)
		return nil
	}
	base := "."
	src := l.origins["dataset.root"]
	if path != "" && (src == "default" || strings.HasPrefix(src, "file ")) {
		base = filepath.Dir(path)
	}
	abs, err := filepath.Abs(filepath.Join(base, c.Dataset.Root))
	if err != nil {
		return fmt.Errorf("config: key dataset.root: %w", err)
	}
	c.Dataset.Root = abs
	return nil
}
