package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Change is one leaf key whose value differs between two configurations, with both values as
// YAML text (flow style: "0.0001", "[0.5, 0.5, 0.5]", "{name: a, live: x, attack: y}").
// Elements of a list of mappings (dataset.train, ...) are compared one by one as key[i].field
// when both lists have the same length; otherwise, and for lists of scalars, the key is the
// whole list.
type Change struct{ Key, Old, New string }

func (c Change) String() string { return fmt.Sprintf("%s: %s -> %s", c.Key, c.Old, c.New) }

// Diff lists every leaf that differs between a and b, in schema order.
func Diff(a, b *Config) []Change {
	var out []Change
	diffValue("", reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), &out)
	return out
}

// ExperimentChanges is Diff without the keys that do not change what a run computes: every
// run.* key (name, protocol label, directory, threads, device). A resumed run whose stored
// configuration has ExperimentChanges against the current one would be another experiment.
func ExperimentChanges(stored, now *Config) []Change {
	var out []Change
	for _, c := range Diff(stored, now) {
		if !within(c.Key, "run") {
			out = append(out, c)
		}
	}
	return out
}

func diffValue(key string, a, b reflect.Value, out *[]Change) {
	switch a.Kind() {
	case reflect.Struct:
		for _, f := range fields(a.Type()) {
			diffValue(join(key, f.tag), a.Field(f.index), b.Field(f.index), out)
		}
		return
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Struct && a.Len() == b.Len() {
			for i := range a.Len() {
				diffValue(fmt.Sprintf("%s[%d]", key, i), a.Index(i), b.Index(i), out)
			}
			return
		}
		if sameList(a, b) {
			return
		}
	default:
		if a.Interface() == b.Interface() {
			return
		}
	}
	*out = append(*out, Change{Key: key, Old: yamlText(a), New: yamlText(b)})
}

// sameList compares element by element, so that a nil and an empty list are the same.
func sameList(a, b reflect.Value) bool {
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		if !reflect.DeepEqual(a.Index(i).Interface(), b.Index(i).Interface()) {
			return false
		}
	}
	return true
}

// yamlText writes v as one line of flow-style YAML.
func yamlText(v reflect.Value) string {
	n, err := toNode(v)
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	flow(n)
	b, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return strings.TrimSpace(string(b))
}

func flow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flow(c)
	}
}
