// Package report turns evaluation results into files people read: metrics.json, a Markdown
// table, a per-video scores CSV and PNG plots (ROC, score histograms, DET), plus a t-SNE
// embedding of features and its scatter plot.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// File names Write produces inside its directory.
const (
	MetricsJSON = "metrics.json"
	MetricsMD   = "metrics.md"
	ScoresCSV   = "scores.csv"
	ROCPNG      = "roc.png"
	HistPNG     = "scores_hist.png"
	DETPNG      = "det.png"
)

// Write creates dir if needed and writes every report file for res, computed from scores
// (the units res was computed on: videos, or frames in frame-level mode). Each file is
// written atomically.
func Write(dir string, res *metrics.Report, scores []metrics.VideoScore) error {
	if res == nil {
		return fmt.Errorf("report %s: no metrics", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := JSON(res)
	if err != nil {
		return fmt.Errorf("report %s: %w", dir, err)
	}
	var csv bytes.Buffer
	if err := metrics.WriteCSV(&csv, scores); err != nil {
		return fmt.Errorf("report %s: %w", dir, err)
	}
	files := []struct {
		name string
		data func() ([]byte, error)
	}{
		{MetricsJSON, func() ([]byte, error) { return js, nil }},
		{MetricsMD, func() ([]byte, error) { return []byte(Markdown(res)), nil }},
		{ScoresCSV, func() ([]byte, error) { return csv.Bytes(), nil }},
		{ROCPNG, func() ([]byte, error) { return ROCPlot(res, scores) }},
		{HistPNG, func() ([]byte, error) { return HistPlot(res, scores) }},
		{DETPNG, func() ([]byte, error) { return DETPlot(res, scores) }},
	}
	for _, f := range files {
		b, err := f.data()
		if err != nil {
			return fmt.Errorf("report %s: %s: %w", dir, f.name, err)
		}
		if err := writeFile(filepath.Join(dir, f.name), b); err != nil {
			return err
		}
	}
	return nil
}

// JSON is res as indented JSON ending in a newline, with ">=" left readable.
func JSON(res *metrics.Report) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFile writes atomically; a new file gets 0644 under the umask, like os.WriteFile.
func writeFile(path string, b []byte) error {
	return safetensors.WriteFileAtomic(path, b)
}
