package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// node is one key of the schema: a section (struct) or a leaf value.
type node struct {
	key string
	typ reflect.Type
}

func (n node) section() bool { return n.typ.Kind() == reflect.Struct }

// schema maps every dotted key (sections and leaves) to its Go type, in field order.
type schema struct {
	nodes map[string]node
	order []string
	lower map[string]string // lower-cased key -> key, for environment variables
}

var theSchema = sync.OnceValue(func() *schema {
	s := &schema{nodes: map[string]node{}, lower: map[string]string{}}
	s.walk("", reflect.TypeFor[Config]())
	return s
})

func (s *schema) walk(prefix string, t reflect.Type) {
	for _, f := range fields(t) {
		key := join(prefix, f.tag)
		s.nodes[key] = node{key: key, typ: f.typ}
		s.order = append(s.order, key)
		s.lower[strings.ToLower(key)] = key
		if f.typ.Kind() == reflect.Struct {
			s.walk(key, f.typ)
		}
	}
}

// field is a struct field that carries a koanf tag.
type field struct {
	tag   string
	typ   reflect.Type
	index int
}

func fields(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, field{tag: tag, typ: f.Type, index: i})
	}
	return out
}

// fieldByTag finds the field of struct type t tagged tag.
func fieldByTag(t reflect.Type, tag string) (field, bool) {
	for _, f := range fields(t) {
		if f.tag == tag {
			return f, true
		}
	}
	return field{}, false
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// Keys returns every leaf key of the schema in declaration order.
func Keys() []string {
	s := theSchema()
	var out []string
	for _, k := range s.order {
		if !s.nodes[k].section() {
			out = append(out, k)
		}
	}
	return out
}

// EnvName is the environment variable that sets key: FAS_ + upper-cased path with "__"
// between levels (single underscores inside a key stay as they are).
func EnvName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", envDelim))
}

// TypeName describes the value a key takes, for help output and error messages.
func TypeName(key string) string {
	n, ok := theSchema().nodes[key]
	if !ok {
		return ""
	}
	return typeName(n.typ)
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			var names []string
			for _, f := range fields(t.Elem()) {
				names = append(names, f.tag)
			}
			return "list of {" + strings.Join(names, ", ") + "}"
		}
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Struct:
		return "section"
	}
	return t.String()
}

// suggest returns a known key close to an unknown one ("" when none is close).
func suggest(key string) string {
	s := theSchema()
	if k, ok := s.lower[strings.ToLower(key)]; ok {
		return k
	}
	best, bestD := "", 3
	keys := make([]string, 0, len(s.nodes))
	for k := range s.nodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// KeyInfo describes one key for help output.
type KeyInfo struct {
	Key, Type, Default, Env string
}

// Describe lists every leaf key with its type, built-in default (as YAML) and environment
// variable, in schema order.
func Describe() ([]KeyInfo, error) {
	def := reflect.ValueOf(Default()).Elem()
	var out []KeyInfo
	for _, k := range Keys() {
		v := def
		for _, part := range strings.Split(k, ".") {
			f, _ := fieldByTag(v.Type(), part)
			v = v.Field(f.index)
		}
		n, err := toNode(v)
		if err != nil {
			return nil, err
		}
		text, err := yaml.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", k, err)
		}
		out = append(out, KeyInfo{Key: k, Type: TypeName(k), Default: strings.TrimSpace(string(text)), Env: EnvName(k)})
	}
	return out, nil
}
