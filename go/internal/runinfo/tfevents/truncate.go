package tfevents

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// Append opens an existing event file to add events at its end (no new file_version
// event). now is the clock of the wall_time fields (nil = time.Now).
func Append(path string, now func() time.Time) (*Writer, error) {
	if now == nil {
		now = time.Now
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("tfevents: %w", err)
	}
	return &Writer{f: f, path: path, now: now}, nil
}

// TruncateAfter rewrites the event file at path, keeping the file_version event and every
// event whose step is at most step, byte for byte, and returns how many records it
// dropped. A torn last record (a writer killed in mid-write) is dropped as well; any other
// damage is an error and leaves the file as it is. The new file replaces the old one
// atomically, and only when something was dropped; a Writer open on path must be closed
// before and reopened with Append after.
func TruncateAfter(path string, step int64) (dropped int, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("tfevents: %w", err)
	}
	recs, err := ReadRecords(bytes.NewReader(raw))
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("tfevents: %s: %w (not rewriting it)", path, err)
		}
		dropped++ // the torn tail
	}
	var out []byte
	for i, r := range recs {
		s, version, err := eventStep(r)
		if err != nil {
			return 0, fmt.Errorf("tfevents: %s: record %d: %w (not rewriting it)", path, i, err)
		}
		if version || s <= step {
			out = append(out, frame(r)...)
		} else {
			dropped++
		}
	}
	if dropped == 0 {
		return 0, nil
	}
	if err := safetensors.WriteFileAtomic(path, out); err != nil {
		return 0, fmt.Errorf("tfevents: %w", err)
	}
	return dropped, nil
}

// eventStep reads the step (field 2, varint int64; absent = 0) of a tensorflow.Event and
// whether it is the file_version record (field 3), looking at no other field.
func eventStep(b []byte) (step int64, version bool, err error) {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false, errors.New("event: bad field key")
		}
		b = b[n:]
		num, wire := key>>3, key&7
		var skip int
		switch wire {
		case wireVarint:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return 0, false, fmt.Errorf("event: field %d: bad varint", num)
			}
			if num == 2 {
				step = int64(v) // two's complement, as written
			}
			skip = n
		case wireFixed64:
			skip = 8
		case wireFixed32:
			skip = 4
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return 0, false, fmt.Errorf("event: field %d: truncated", num)
			}
			if num == 3 {
				version = true
			}
			skip = n + int(l)
		default:
			return 0, false, fmt.Errorf("event: field %d: unsupported wire type %d", num, wire)
		}
		if len(b) < skip {
			return 0, false, fmt.Errorf("event: field %d: truncated", num)
		}
		b = b[skip:]
	}
	return step, version, nil
}
