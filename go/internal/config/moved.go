package config

import (
	"fmt"
	"sort"
	"strings"
)

// An oldKey is a key of the TFace-style layout that the schema no longer has: it either moved
// (to names its new key) or is gone (why says why).
type oldKey struct {
	to  string
	why string
}

// note says why a key moved.
func (o oldKey) note() string {
	if strings.HasPrefix(o.to, "anrl.") {
		return methodNote
	}
	return "the backbone is shared by the methods"
}

const methodNote = "method settings live under the method's section"

// oldKeys maps every leaf key of the old layout to what became of it.
var oldKeys = map[string]oldKey{
	"model.params.AdapNorm_attention_flag": {to: "anrl.gate"},
	"model.params.width":                   {to: "model.width"},
	"model.params.in_ch":                   {why: "the input always has 6 channels (RGB + HSV)"},
	"model.params.mid_ch":                  {why: "the feature channels are always 384 at width 1 (model.width scales them)"},
	"model.params.AdapNorm":                {why: "ANRL always uses AdaNorm"},
	"model.params.model_initial":           {why: "the spec's Kaiming initialisation is the only one"},
	"loss.name":                            {why: "the losses are fixed by the method"},
	"loss.weight":                          {to: "anrl.loss.cls"},
	"loss_2.name":                          {why: "the losses are fixed by the method"},
	"loss_2.weight":                        {to: "anrl.loss.depth"},
	"loss_3.name":                          {why: "the losses are fixed by the method"},
	"loss_3.domain_weight":                 {to: "anrl.loss.domain"},
	"loss_3.discri_weight":                 {to: "anrl.loss.discri"},
	"loss_3.center_momentum":               {to: "anrl.center_momentum"},
	"train.metasize":                       {to: "anrl.metasize"},
	"train.meta_step_size":                 {to: "anrl.meta_step_size"},
	"train.meta":                           {to: "anrl.meta"},
	"train.first_order":                    {to: "anrl.first_order"},
	"train.textbook_fast_weights":          {to: "anrl.textbook_fast_weights"},
	"train.center_reset":                   {to: "anrl.center_reset"},
}

// oldSections are the sections of the old layout that no longer exist (their parents may:
// model does, model.params does not).
var oldSections = map[string]bool{"model.params": true, "loss": true, "loss_2": true, "loss_3": true}

// findOld looks key up among the old leaf keys, ignoring case (environment variables are
// matched that way, and a wrong case should not hide the new name). It returns the old key
// as the table spells it.
func findOld(key string) (string, oldKey, bool) {
	if o, ok := oldKeys[key]; ok {
		return key, o, true
	}
	for k, o := range oldKeys {
		if strings.EqualFold(k, key) {
			return k, o, true
		}
	}
	return "", oldKey{}, false
}

// findOldSection is findOld for the removed sections.
func findOldSection(key string) (string, bool) {
	for k := range oldSections {
		if strings.EqualFold(k, key) {
			return k, true
		}
	}
	return "", false
}

// message is the error text of an old key; env adds the variable of the new key.
func (o oldKey) message(env bool) string {
	if o.to == "" {
		return "removed: " + o.why
	}
	if env {
		return fmt.Sprintf("moved to %s (%s; %s)", o.to, EnvName(o.to), o.note())
	}
	return fmt.Sprintf("moved to %s (%s)", o.to, o.note())
}

// sectionMessage is the error text of an old section given as something other than a
// mapping: what became of each of its keys.
func sectionMessage(section string) string {
	var parts []string
	for k, o := range oldKeys {
		if strings.HasPrefix(k, section+".") {
			sub := k[len(section)+1:]
			if o.to != "" {
				parts = append(parts, sub+" -> "+o.to)
			} else {
				parts = append(parts, sub+" removed")
			}
		}
	}
	sort.Strings(parts)
	return "removed section (" + methodNote + "): " + strings.Join(parts, ", ")
}

// retired reports an old key or section found at key with value v (nil when unknown, as for
// a flag whose text did not parse) and returns false when key is not one. report gets the key
// as the source spells it (to find its line), the key as the old layout spells it, and the
// message. A removed section given as a mapping reports each of its keys; env says whether
// the source is an environment variable, so that the message names the new variable.
func retired(key string, v any, env bool, report func(given, old, msg string)) bool {
	if old, o, ok := findOld(key); ok {
		report(key, old, o.message(env))
		return true
	}
	section, ok := findOldSection(key)
	if !ok {
		return false
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		report(key, section, sectionMessage(section))
		return true
	}
	subs := make([]string, 0, len(m))
	for k := range m {
		subs = append(subs, k)
	}
	sort.Strings(subs)
	for _, k := range subs {
		sub := join(key, k)
		if !retired(sub, m[k], env, report) {
			report(sub, join(section, k), "unknown key in the removed section "+section+" ("+methodNote+")")
		}
	}
	return true
}
