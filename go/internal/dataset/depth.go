package dataset

import (
	"fmt"
	"sort"
	"strings"
)

// Replace is one substring substitution of a depth rule. A plain Replace applies once, to
// the first occurrence, and ends the rule; an All step replaces every occurrence and the
// rule goes on with its next Replace (a chain of Python str.replace calls).
type Replace struct {
	From string `koanf:"from" yaml:"from" json:"from"`
	To   string `koanf:"to" yaml:"to" json:"to"`
	All  bool   `koanf:"all" yaml:"all,omitempty" json:"all,omitempty"`
}

// DepthRule maps an image key to its depth map's key. Replaces are tried in order: an All
// step whose From occurs replaces every occurrence and the next Replace sees the result; the
// first plain Replace whose From occurs applies once and ends the rule. A key no Replace
// matches has no depth key.
type DepthRule []Replace

// TFaceDepthRule is the depth rule of the TFace reference (its DG_Dataset's
// _convert_to_depth): four chained str.replace calls, each renaming every occurrence of a
// data set directory. TFace used the image itself when none matched; here that is a key
// without a depth map, a data error for a live frame.
var TFaceDepthRule = DepthRule{
	{From: "replayattack", To: "replayattack_depth", All: true},
	{From: "CASIA_database", To: "CASIA_database_depth", All: true},
	{From: "MSU-MFSD", To: "MSU-MFSD_depth", All: true},
	{From: "Oulu_NPU", To: "Oulu_NPU_depth", All: true},
}

// depthPresets are the named rules a --depth-rule argument or a config's
// dataset.depth_rule[i].preset may give.
var depthPresets = map[string]DepthRule{"tface": TFaceDepthRule}

// DepthPreset returns the named preset rule.
func DepthPreset(name string) (DepthRule, error) {
	r, ok := depthPresets[name]
	if !ok {
		return nil, fmt.Errorf("unknown depth rule preset %q (known: %s)", name, strings.Join(DepthPresetNames(), ", "))
	}
	return append(DepthRule(nil), r...), nil
}

// DepthPresetNames lists the presets, sorted.
func DepthPresetNames() []string {
	var n []string
	for k := range depthPresets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// ParseDepthRule reads "from=to" arguments or preset names (the --depth-rule flag).
func ParseDepthRule(args []string) (DepthRule, error) {
	var r DepthRule
	for _, a := range args {
		from, to, ok := strings.Cut(a, "=")
		if !ok {
			p, err := DepthPreset(a)
			if err != nil {
				return nil, fmt.Errorf("depth rule %q: want from=to or a preset name: %w", a, err)
			}
			r = append(r, p...)
			continue
		}
		if from == "" {
			return nil, fmt.Errorf("depth rule %q: want from=to with a non-empty from", a)
		}
		r = append(r, Replace{From: from, To: to})
	}
	return r, nil
}

// DepthKey returns the depth key of an image key; ok is false when no Replace matches.
func (r DepthRule) DepthKey(key string) (string, bool) {
	out, hit := key, false
	for _, p := range r {
		if !strings.Contains(out, p.From) {
			continue
		}
		if p.All {
			out, hit = strings.ReplaceAll(out, p.From, p.To), true
			continue
		}
		return strings.Replace(out, p.From, p.To, 1), true
	}
	if !hit {
		return "", false
	}
	return out, true
}
