package tfevents

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Writer appends events to one file. Each event goes to the file in a single write, so a
// TensorBoard reading the directory sees whole records as they are written. Safe for
// concurrent use.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	path string
	now  func() time.Time
}

// Create starts a new event file in dir named events.out.tfevents.<unix seconds>.<host>
// (with a .N suffix if that exists) and writes the file_version event. now is the clock
// of the wall_time fields (nil = time.Now).
func Create(dir, host string, now func() time.Time) (*Writer, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	host = strings.NewReplacer("/", "_", string(os.PathSeparator), "_").Replace(host)
	t := now()
	base := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s", t.Unix(), host))
	var f *os.File
	var err error
	path := base
	for i := 1; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			break
		}
		path = fmt.Sprintf("%s.%d", base, i)
	}
	if err != nil {
		return nil, fmt.Errorf("tfevents: %w", err)
	}
	w := &Writer{f: f, path: path, now: now}
	if err := w.write(Event{WallTime: seconds(t), FileVersion: FileVersion}); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// seconds is t in Unix seconds; whole seconds and the fraction convert separately, which
// keeps the result exact where float64 can represent it.
func seconds(t time.Time) float64 { return float64(t.Unix()) + float64(t.Nanosecond())/1e9 }

// Path is the event file's path.
func (w *Writer) Path() string { return w.path }

// Scalars writes one event at step holding every value of m, in tag order.
func (w *Writer) Scalars(step int64, m map[string]float64) error {
	tags := make([]string, 0, len(m))
	for t := range m {
		if t == "" {
			return fmt.Errorf("tfevents: empty tag")
		}
		tags = append(tags, t)
	}
	sort.Strings(tags)
	e := Event{WallTime: seconds(w.now()), Step: step}
	for _, t := range tags {
		e.Values = append(e.Values, Value{Tag: t, SimpleValue: float32(m[t])})
	}
	return w.write(e)
}

// Scalar writes one value.
func (w *Writer) Scalar(tag string, step int64, v float64) error {
	return w.Scalars(step, map[string]float64{tag: v})
}

func (w *Writer) write(e Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("tfevents: %s: writer is closed", w.path)
	}
	if _, err := w.f.Write(frame(e.encode())); err != nil {
		return fmt.Errorf("tfevents: %w", err)
	}
	return nil
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// ReadRecords returns the payloads of the TFRecords in r, checking both CRCs of each.
func ReadRecords(r io.Reader) ([][]byte, error) {
	br := bufio.NewReader(r)
	var out [][]byte
	for i := 0; ; i++ {
		var head [12]byte
		if _, err := io.ReadFull(br, head[:]); err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, fmt.Errorf("record %d: header: %w", i, err)
		}
		if got, want := binary.LittleEndian.Uint32(head[8:]), maskedCRC(head[:8]); got != want {
			return out, fmt.Errorf("record %d: length CRC %08x, want %08x", i, got, want)
		}
		n := binary.LittleEndian.Uint64(head[:8])
		if n > math.MaxInt32 {
			return out, fmt.Errorf("record %d: length %d is not plausible", i, n)
		}
		data := make([]byte, n+4)
		if _, err := io.ReadFull(br, data); err != nil {
			return out, fmt.Errorf("record %d: truncated: %w", i, err)
		}
		if got, want := binary.LittleEndian.Uint32(data[n:]), maskedCRC(data[:n]); got != want {
			return out, fmt.Errorf("record %d: data CRC %08x, want %08x", i, got, want)
		}
		out = append(out, data[:n])
	}
}

// ReadFile decodes every event of an event file.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := ReadRecords(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]Event, 0, len(recs))
	for i, r := range recs {
		e, err := DecodeEvent(r)
		if err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", path, i, err)
		}
		out = append(out, e)
	}
	return out, nil
}
