package config

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// YAML renders the configuration in schema order. Loading the result (with no environment
// or flags) gives back an equal Config.
func (c *Config) YAML() ([]byte, error) {
	n, err := toNode(reflect.ValueOf(c).Elem())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("config: encoding YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: encoding YAML: %w", err)
	}
	return buf.Bytes(), nil
}

func toNode(v reflect.Value) (*yaml.Node, error) {
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fields(v.Type()) {
			val, err := toNode(v.Field(f.index))
			if err != nil {
				return nil, err
			}
			key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.tag}
			n.Content = append(n.Content, key, val)
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		if v.Type().Elem().Kind() == reflect.Struct && v.Len() > 0 {
			n.Style = 0 // one element per line, each a flow mapping
		}
		for i := range v.Len() {
			e, err := toNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			if e.Kind == yaml.MappingNode {
				e.Style = yaml.FlowStyle
				e.Content = dropEmptyStrings(e.Content)
			}
			n.Content = append(n.Content, e)
		}
		return n, nil
	}
	return scalarNode(v)
}

// dropEmptyStrings leaves the empty strings out of a list element's key, value pairs: they
// are the fields' defaults, and a {from, to} depth rule reads better without `preset: ""`.
func dropEmptyStrings(kv []*yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1]; v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "" {
			continue
		}
		out = append(out, kv[i], kv[i+1])
	}
	return out
}

func scalarNode(v reflect.Value) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.ScalarNode}
	switch v.Kind() {
	case reflect.Bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		n.Tag, n.Value = "!!int", strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("config: cannot write the non-finite number %v", f)
		}
		n.Tag, n.Value = "!!float", formatFloat(f)
	case reflect.String:
		n.Tag, n.Value = "!!str", v.String()
	default:
		return nil, fmt.Errorf("config: cannot write a %s", v.Type())
	}
	return n, nil
}

// toMap converts a config struct to the nested map koanf holds (the defaults layer).
func toMap(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		for _, f := range fields(v.Type()) {
			m[f.tag] = toMap(v.Field(f.index))
		}
		return m
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range v.Len() {
			out[i] = toMap(v.Index(i))
		}
		return out
	case reflect.Int, reflect.Int64:
		return v.Int()
	}
	return v.Interface()
}

// formatFloat writes the shortest text that parses back to f and that YAML 1.1 readers
// (PyYAML) also read as a float: a dot in the mantissa and a signed exponent.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	mant, exp, hasExp := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	if hasExp {
		return mant + "e" + exp
	}
	return mant
}
