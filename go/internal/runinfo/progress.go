package runinfo

import (
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// Progress reports the steps of an epoch (or any counted work): a progress bar with the
// latest values, throughput and ETA when stderr is a terminal, otherwise a log line every
// few steps. Not safe for concurrent use; the training loop calls it from one goroutine.
type Progress struct {
	total, done int
	images      int64
	start       time.Time
	now         func() time.Time
	log         *zap.Logger
	desc        string
	every       int
	bar         *progressbar.ProgressBar
	ended       bool // Done or Stop was called
}

type progressConfig struct {
	desc     string
	every    int
	out      io.Writer
	terminal bool
	now      func() time.Time
}

// ProgressOption changes a Progress.
type ProgressOption func(*progressConfig)

// WithDescription labels the work, e.g. "epoch 3/50".
func WithDescription(d string) ProgressOption { return func(c *progressConfig) { c.desc = d } }

// WithLogEvery sets the steps between log lines when there is no terminal (default 10).
func WithLogEvery(n int) ProgressOption { return func(c *progressConfig) { c.every = n } }

// WithOutput replaces stderr and its terminal check (for tests and embedding).
func WithOutput(w io.Writer, terminal bool) ProgressOption {
	return func(c *progressConfig) { c.out, c.terminal = w, terminal }
}

// WithClock replaces time.Now.
func WithClock(now func() time.Time) ProgressOption { return func(c *progressConfig) { c.now = now } }

// NewProgress starts reporting total steps.
func NewProgress(total int, log *zap.Logger, opts ...ProgressOption) *Progress {
	c := progressConfig{desc: "progress", every: 10, out: os.Stderr, now: time.Now}
	c.terminal = term.IsTerminal(int(os.Stderr.Fd()))
	for _, o := range opts {
		o(&c)
	}
	if c.every < 1 {
		c.every = 1
	}
	p := &Progress{total: total, now: c.now, log: log, desc: c.desc, every: c.every}
	p.start = p.now()
	if c.terminal {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(c.out),
			progressbar.OptionSetDescription(c.desc),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.out) }),
		)
	}
	return p
}

// Step records one finished step that processed images samples and reports values (loss
// terms, lr) with it.
func (p *Progress) Step(images int, values map[string]float64) {
	p.done++
	p.images += int64(images)
	rate, eta := p.rates()
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("%s %s %.1f img/s", p.desc, formatValues(values), rate))
		if p.done <= p.total {
			p.bar.Add(1)
		}
		return
	}
	if p.done%p.every == 0 || p.done == p.total {
		fields := []zap.Field{zap.Int("step", p.done), zap.Int("total", p.total)}
		for _, k := range sortedKeys(values) {
			fields = append(fields, zap.Float64(k, Significant(values[k], 4)))
		}
		fields = append(fields, zap.Float64("img_per_s", oneDecimal(rate)), zap.Duration("eta", eta))
		p.log.Info(p.desc, fields...)
	}
}

// rates is the mean throughput so far and the time the remaining steps will take at the
// mean step time so far.
func (p *Progress) rates() (imgPerS float64, eta time.Duration) {
	el := p.now().Sub(p.start)
	if el <= 0 || p.done == 0 {
		return 0, 0
	}
	imgPerS = float64(p.images) / el.Seconds()
	if left := p.total - p.done; left > 0 {
		eta = (el / time.Duration(p.done) * time.Duration(left)).Round(time.Second)
	}
	return imgPerS, eta
}

// Done ends the report with a summary line and returns the mean throughput. After Done or
// Stop it logs nothing more.
func (p *Progress) Done() (imgPerS float64) {
	el := p.now().Sub(p.start)
	if el > 0 {
		imgPerS = float64(p.images) / el.Seconds()
	}
	if p.ended {
		return imgPerS
	}
	p.ended = true
	if p.bar != nil {
		p.bar.Finish()
	}
	p.log.Info(p.desc+" done", zap.Int("steps", p.done), zap.Duration("elapsed", el.Round(time.Millisecond)),
		zap.Float64("img_per_s", oneDecimal(imgPerS)))
	return imgPerS
}

// Stop ends the report without the summary line: for work that failed, which must not be
// logged as done. The bar stays where it was. After Done or Stop it does nothing, so
// `defer p.Stop()` followed by p.Done() on success ends every report once.
func (p *Progress) Stop() {
	if p.ended {
		return
	}
	p.ended = true
	if p.bar != nil {
		p.bar.Exit()
	}
}

// Significant rounds v to n significant decimal digits, for numbers people read (log
// lines); the metrics files keep full precision. Non-finite values are returned as they are.
func Significant(v float64, n int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', n, 64), 64)
	if err != nil {
		return v
	}
	return r
}

func oneDecimal(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	return math.Round(v*10) / 10
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func formatValues(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%.4g", k, m[k]))
	}
	return strings.Join(parts, " ")
}
