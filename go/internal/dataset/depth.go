package dataset

import (
	"fmt"
	"strings"
)

// Replace is one substring substitution of a depth rule.
type Replace struct {
	From string `koanf:"from" yaml:"from" json:"from"`
	To   string `koanf:"to" yaml:"to" json:"to"`
}

// DepthRule maps an image key to its depth map's key: the first Replace whose From occurs
// in the key applies once (to its first occurrence).
type DepthRule []Replace

// ParseDepthRule reads "from=to" arguments (the --depth-rule flag).
func ParseDepthRule(args []string) (DepthRule, error) {
	var r DepthRule
	for _, a := range args {
		from, to, ok := strings.Cut(a, "=")
		if !ok || from == "" {
			return nil, fmt.Errorf("depth rule %q: want from=to with a non-empty from", a)
		}
		r = append(r, Replace{From: from, To: to})
	}
	return r, nil
}

// DepthKey returns the depth key of an image key; ok is false when no rule matches.
func (r DepthRule) DepthKey(key string) (string, bool) {
	for _, p := range r {
		if strings.Contains(key, p.From) {
			return strings.Replace(key, p.From, p.To, 1), true
		}
	}
	return "", false
}
