package report

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fasgo/fasgo/go/internal/metrics"
)

// Markdown renders res as Markdown: a summary line, the threshold protocols res.Protocols
// names (both when it is nil) side by side, TPR@FPR at the targets res was computed for and,
// when attacks carry types, APCER per attack type. Rates are percent.
func Markdown(res *metrics.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Evaluation (%s level)\n\n", res.Level)
	fmt.Fprintf(&b, "%d live, %d attacks. AUC %s %%, EER %s %% (threshold %s).\n\n",
		res.Live, res.Attacks, pct(res.AUC), pct(res.EER), num(res.EERThreshold))
	b.WriteString("| protocol | threshold from | threshold | APCER % | BPCER % | ACER = HTER % | accuracy % |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	row := func(p metrics.Protocol) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", p.Name, cell(p.ThresholdFrom), num(p.Threshold),
			pct(p.APCER), pct(p.BPCER), pct(p.HTER), pct(p.Accuracy))
	}
	for _, name := range shown(res) {
		switch {
		case name == metrics.ProtocolPaper:
			row(res.Paper)
		case res.Realistic != nil:
			row(*res.Realistic)
		default:
			b.WriteString("| realistic | no held-out source scores given | – | – | – | – | – |\n")
		}
	}
	if s := res.RealisticSource; s != nil && res.Shows(metrics.ProtocolRealistic) {
		fmt.Fprintf(&b, "\nRealistic threshold: EER threshold of %s (%d live, %d attacks, EER %s %%).\n",
			cell(s.From), s.Live, s.Attacks, pct(s.EER))
	}
	if len(res.TPRAtFPR) > 0 {
		b.WriteString("\n| TPR@FPR (attack detected @ live rejected) | TPR % | FPR % | threshold |\n|---|---:|---:|---:|\n")
	}
	for _, p := range res.TPRAtFPR {
		note := ""
		if p.Coarse {
			note = fmt.Sprintf(" (coarse: %d live < 1/FPR)", res.Live)
		}
		fmt.Fprintf(&b, "| FPR ≤ %s %%%s | %s | %s | %s |\n", pctShort(p.TargetFPR), note, pct(p.TPR), pct(p.FPR), num(p.Threshold))
	}
	writeTypes(&b, res)
	return b.String()
}

func writeTypes(b *strings.Builder, res *metrics.Report) {
	if len(res.Paper.APCERByType) == 0 {
		return
	}
	var types []string
	for t := range res.Paper.APCERByType {
		types = append(types, t)
	}
	sort.Strings(types)
	protocols := shown(res)
	b.WriteString("\n| attack type |")
	for _, p := range protocols {
		fmt.Fprintf(b, " APCER %% (%s) |", p)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(protocols)) + "\n")
	for _, t := range types {
		fmt.Fprintf(b, "| %s |", cell(t))
		for _, p := range protocols {
			v := "–"
			switch {
			case p == metrics.ProtocolPaper:
				v = pct(res.Paper.APCERByType[t])
			case res.Realistic != nil:
				v = pct(res.Realistic.APCERByType[t])
			}
			fmt.Fprintf(b, " %s |", v)
		}
		b.WriteString("\n")
	}
}

// shown lists the protocols the tables show, in their order: res.Protocols, both when nil.
func shown(res *metrics.Report) []string {
	if res.Protocols == nil {
		return metrics.Protocols()
	}
	return res.Protocols
}

func pct(x float64) string      { return fmt.Sprintf("%.2f", 100*x) }
func pctShort(x float64) string { return fmt.Sprintf("%g", 100*x) }
func num(x float64) string      { return fmt.Sprintf("%.6g", x) }

// cell escapes the characters that would break a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
