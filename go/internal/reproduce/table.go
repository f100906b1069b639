package reproduce

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// File names of the table in the results directory.
const (
	TableMarkdown = "results.md"
	TableJSON     = "results.json"
)

// Table is the reproduction table: one row per protocol and batch grouping. Every number
// is in percent, as the papers print them.
type Table struct {
	Method          string `json:"method"`
	Data            string `json:"data"`
	Out             string `json:"-"`
	PublishedSource string `json:"published_source,omitempty"`
	Rows            []Row  `json:"rows"`
}

// Row is one protocol under one batch grouping over its seeds.
type Row struct {
	Protocol  string      `json:"protocol"`
	Grouping  string      `json:"grouping"`
	Runs      []RunResult `json:"runs"`
	HTERPaper Stat        `json:"hter_paper"`
	// HTERRealistic is nil when a run had no realistic threshold (no validation lists).
	HTERRealistic *Stat           `json:"hter_realistic"`
	AUC           Stat            `json:"auc"`
	Published     *PublishedScore `json:"published"`
}

// RunResult is one run's test figures and its directory (relative to the results
// directory).
type RunResult struct {
	Seed          int64    `json:"seed"`
	Dir           string   `json:"dir"`
	HTERPaper     float64  `json:"hter_paper"`     // threshold at the test set's own EER
	HTERRealistic *float64 `json:"hter_realistic"` // threshold at the source validation EER
	AUC           float64  `json:"auc"`
}

// Stat is a mean and the sample standard deviation (n - 1 in the denominator; 0 for one
// value) over the seeds.
type Stat struct {
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	N    int     `json:"n"`
}

// NewStat summarises xs.
func NewStat(xs []float64) Stat {
	s := Stat{N: len(xs)}
	for _, x := range xs {
		s.Mean += x / float64(len(xs))
	}
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

func (s Stat) String() string { return fmt.Sprintf("%.2f ± %.2f", s.Mean, s.Std) }

func (r *Row) summarize() {
	var paper, real, auc []float64
	for _, x := range r.Runs {
		paper, auc = append(paper, x.HTERPaper), append(auc, x.AUC)
		if x.HTERRealistic != nil {
			real = append(real, *x.HTERRealistic)
		}
	}
	r.HTERPaper, r.AUC = NewStat(paper), NewStat(auc)
	r.HTERRealistic = nil
	if len(real) == len(r.Runs) {
		s := NewStat(real)
		r.HTERRealistic = &s
	}
}

// Markdown is the table as people read it, with every run linked.
func (t *Table) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: reproduction table\n\n", t.Method)
	fmt.Fprintf(&b, "Data: `%s`. HTER and AUC in %%, mean ± sample standard deviation over seeds; one run per seed, each linked.\n", t.Data)
	b.WriteString("HTER (paper): the threshold at the EER of the test set itself, as the papers report. ")
	b.WriteString("HTER (realistic): the threshold at the EER of the held-out source validation lists, the only one a deployment has. ")
	b.WriteString("AUC needs no threshold.\n")
	if t.PublishedSource != "" {
		fmt.Fprintf(&b, "Published: %s.\n", t.PublishedSource)
	}
	b.WriteString("\n| protocol | grouping | seeds | HTER % (paper) | HTER % (realistic) | AUC % | published HTER % / AUC % | runs |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range t.Rows {
		real, pub := "—", "—"
		if r.HTERRealistic != nil {
			real = r.HTERRealistic.String()
		}
		if r.Published != nil {
			pub = fmt.Sprintf("%.2f / %.2f", r.Published.HTER, r.Published.AUC)
		}
		var links []string
		for _, x := range r.Runs {
			links = append(links, fmt.Sprintf("[%d](%s)", x.Seed, filepath.ToSlash(x.Dir)))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s |\n", r.Protocol, r.Grouping, len(r.Runs),
			r.HTERPaper, real, r.AUC, pub, strings.Join(links, " "))
	}
	return b.String()
}

// write stores the table as results.md and results.json in dir, atomically.
func (t *Table) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	js, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := safetensors.WriteFileAtomic(filepath.Join(dir, TableJSON), append(js, '\n')); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	if err := safetensors.WriteFileAtomic(filepath.Join(dir, TableMarkdown), []byte(t.Markdown())); err != nil {
		return fmt.Errorf("reproduce: %w", err)
	}
	return nil
}
