package config

import (
	"fmt"
	"math"
	"reflect"
	"strings"
)

// KeyError is a problem with one key: unknown, of the wrong type, or out of range.
type KeyError struct {
	Key    string // dotted key, list elements as key[i].field
	Value  string // the offending value as text ("" when not applicable)
	Source string // where the value came from: default, file F:LINE, environment variable V, flag --set K=V
	Msg    string
}

func (e *KeyError) Error() string {
	var b strings.Builder
	b.WriteString("config: key ")
	b.WriteString(e.Key)
	if e.Value != "" {
		b.WriteString(" = ")
		b.WriteString(e.Value)
	}
	if e.Source != "" {
		b.WriteString(" (from ")
		b.WriteString(e.Source)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// checker type-checks one layer's nested map against the schema and normalizes its values
// to the Go types the struct decoder expects (int64, float64, bool, string, lists).
type checker struct {
	where   func(key string) string // the source of a key in this layer
	origins map[string]string       // key -> source, shared across layers
	errs    []error
}

func (c *checker) fail(key string, v any, format string, args ...any) {
	e := &KeyError{Key: key, Source: c.where(key), Msg: fmt.Sprintf(format, args...)}
	if v != nil {
		e.Value = show(v)
	}
	c.errs = append(c.errs, e)
}

// unknown reports a key the schema lacks, found with value v: an old key names its new one
// (see moved.go), others get the nearest known key as a suggestion.
func (c *checker) unknown(key string, v any) {
	if retired(key, v, false, func(given, old, msg string) {
		c.errs = append(c.errs, &KeyError{Key: old, Source: c.where(given), Msg: msg})
	}) {
		return
	}
	msg := "unknown key"
	if s := suggest(key); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	c.errs = append(c.errs, &KeyError{Key: key, Source: c.where(key), Msg: msg})
}

// section checks a mapping found at prefix (a struct in the schema).
func (c *checker) section(prefix string, t reflect.Type, m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		key := join(prefix, k)
		f, ok := fieldByTag(t, k)
		if !ok {
			c.unknown(key, v)
			continue
		}
		if nv, ok := c.value(key, f.typ, v); ok {
			out[k] = nv
		}
	}
	return out
}

// value checks v against type t and returns it normalized.
func (c *checker) value(key string, t reflect.Type, v any) (any, bool) {
	c.forget(key)
	c.origins[key] = c.where(key)
	if v == nil {
		c.fail(key, nil, "has no value (expected a %s)", typeName(t))
		return nil, false
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.fail(key, v, "expected a mapping of the keys of section %s", key)
			return nil, false
		}
		return c.section(key, t, m), true
	case reflect.Slice:
		if s, ok := v.(string); ok && t == reflect.TypeFor[[]DepthRule]() {
			v = []any{map[string]any{"preset": s}} // depth_rule: tface
		}
		return c.list(key, t, v)
	}
	nv, err := scalar(t, v)
	if err != "" {
		c.fail(key, v, "%s", err)
		return nil, false
	}
	return nv, true
}

// forget drops the origins of a list's old elements when a layer replaces the list.
func (c *checker) forget(key string) {
	for k := range c.origins {
		if strings.HasPrefix(k, key+"[") {
			delete(c.origins, k)
		}
	}
}

func (c *checker) list(key string, t reflect.Type, v any) (any, bool) {
	items, ok := v.([]any)
	if !ok {
		c.fail(key, v, "expected a %s (YAML: [a, b, ...])", typeName(t))
		return nil, false
	}
	out := make([]any, 0, len(items))
	good := true
	for i, it := range items {
		nv, ok := c.value(fmt.Sprintf("%s[%d]", key, i), t.Elem(), it)
		good = good && ok
		out = append(out, nv)
	}
	return out, good
}

// scalar converts a YAML scalar to the Go kind of t, or says why it cannot.
func scalar(t reflect.Type, v any) (any, string) {
	switch t.Kind() {
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			return b, ""
		}
		return nil, "expected true or false"
	case reflect.Int, reflect.Int64:
		return integer(v)
	case reflect.Float64:
		switch x := v.(type) {
		case int:
			return float64(x), ""
		case int64:
			return float64(x), ""
		case uint64:
			return float64(x), ""
		case float64:
			return x, ""
		}
		return nil, "expected a number"
	case reflect.String:
		if s, ok := v.(string); ok {
			return s, ""
		}
		return nil, "expected a string (quote the value to make it one)"
	}
	return nil, "unsupported type " + t.String()
}

func integer(v any) (any, string) {
	switch x := v.(type) {
	case int:
		return int64(x), ""
	case int64:
		return x, ""
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), ""
		}
		return nil, "integer out of range"
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), ""
		}
	}
	return nil, "expected an integer"
}

// show renders a value for an error message.
func show(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]any:
		return "{mapping}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = show(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
