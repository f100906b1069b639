package metrics

import (
	"fmt"
	"sort"
	"strings"
)

type selector struct {
	value  func(*Report) float64
	higher bool
}

func tprAt(target float64) func(*Report) float64 {
	return func(r *Report) float64 {
		p, _ := r.TPR(target) // Evaluate always fills every targetFPRs entry
		return p.TPR
	}
}

// selectors are the model-selection criteria; rates use the paper protocol (the EER
// threshold of the validation set itself).
var selectors = map[string]selector{
	"auc":          {func(r *Report) float64 { return r.AUC }, true},
	"eer":          {func(r *Report) float64 { return r.EER }, false},
	"hter":         {func(r *Report) float64 { return r.Paper.HTER }, false},
	"acer":         {func(r *Report) float64 { return r.Paper.ACER }, false},
	"apcer":        {func(r *Report) float64 { return r.Paper.APCER }, false},
	"bpcer":        {func(r *Report) float64 { return r.Paper.BPCER }, false},
	"accuracy":     {func(r *Report) float64 { return r.Paper.Accuracy }, true},
	"tpr@fpr=1%":   {tprAt(0.01), true},
	"tpr@fpr=0.1%": {tprAt(0.001), true},
}

// SelectNames lists the names Select accepts.
func SelectNames() []string {
	var names []string
	for n := range selectors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Select returns the model-selection criterion called name (case-insensitive): a function of
// a validation report and whether higher values are better. Names: auc, eer, hter, acer,
// apcer, bpcer, accuracy, tpr@fpr=1%, tpr@fpr=0.1%.
func Select(name string) (func(*Report) float64, bool, error) {
	s, ok := selectors[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return nil, false, fmt.Errorf("unknown selection metric %q; known: %s", name, strings.Join(SelectNames(), ", "))
	}
	return s.value, s.higher, nil
}

// Better reports whether value a beats b under a criterion where higher is better or not.
func Better(a, b float64, higherIsBetter bool) bool {
	if higherIsBetter {
		return a > b
	}
	return a < b
}
