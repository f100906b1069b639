package metrics

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

type selector struct {
	value  func(*Report) float64
	higher bool
	target float64 // the FPR target a TPR@FPR criterion reads; 0 for the others
}

// tprAt reads the TPR at target, or NaN when the report was computed without that target
// (Better never prefers NaN, and the training loop skips NaN values; SelectTarget lets a
// caller check the targets beforehand, as config validation does).
func tprAt(target float64) func(*Report) float64 {
	return func(r *Report) float64 {
		p, ok := r.TPR(target)
		if !ok {
			return math.NaN()
		}
		return p.TPR
	}
}

// selectors are the model-selection criteria; rates use the paper protocol (the EER
// threshold of the validation set itself).
var selectors = map[string]selector{
	"auc":          {func(r *Report) float64 { return r.AUC }, true, 0},
	"eer":          {func(r *Report) float64 { return r.EER }, false, 0},
	"hter":         {func(r *Report) float64 { return r.Paper.HTER }, false, 0},
	"acer":         {func(r *Report) float64 { return r.Paper.ACER }, false, 0},
	"apcer":        {func(r *Report) float64 { return r.Paper.APCER }, false, 0},
	"bpcer":        {func(r *Report) float64 { return r.Paper.BPCER }, false, 0},
	"accuracy":     {func(r *Report) float64 { return r.Paper.Accuracy }, true, 0},
	"tpr@fpr=1%":   {tprAt(0.01), true, 0.01},
	"tpr@fpr=0.1%": {tprAt(0.001), true, 0.001},
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

// SelectTarget returns the FPR target whose TPR@FPR the criterion called name reads (0.01 for
// tpr@fpr=1%), and false for the other criteria and unknown names. The reports a TPR@FPR
// criterion compares must have been computed with that target (Options.TPRAtFPR).
func SelectTarget(name string) (float64, bool) {
	s, ok := selectors[strings.ToLower(strings.TrimSpace(name))]
	return s.target, ok && s.target > 0
}

// Better reports whether value a beats b under a criterion where higher is better or not.
func Better(a, b float64, higherIsBetter bool) bool {
	if higherIsBetter {
		return a > b
	}
	return a < b
}
