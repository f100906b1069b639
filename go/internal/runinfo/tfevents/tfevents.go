// Package tfevents writes and reads TensorBoard event files: TFRecord framing around
// hand-encoded tensorflow.Event protobufs carrying scalar summaries. No TensorFlow or
// protobuf library is involved; the few fields used are encoded directly.
//
// A record is: uint64 length (little endian), uint32 masked CRC32C of those 8 bytes, the
// data, uint32 masked CRC32C of the data. The Event fields used are wall_time (1, double),
// step (2, int64), file_version (3, string) and summary (5); Summary.value (1) holds
// Value{tag (1, string), simple_value (2, float)}.
package tfevents

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// FileVersion is the first event of every file; TensorBoard checks it.
const FileVersion = "brain.Event:2"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maskedCRC is TFRecord's CRC32C, rotated and offset so that CRCs of CRCs stay distinct.
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

// frame wraps data in a TFRecord.
func frame(data []byte) []byte {
	out := make([]byte, 12, 16+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(data)))
	binary.LittleEndian.PutUint32(out[8:], maskedCRC(out[:8]))
	out = append(out, data...)
	return binary.LittleEndian.AppendUint32(out, maskedCRC(data))
}

// Value is one scalar of a summary.
type Value struct {
	Tag         string
	SimpleValue float32
}

// Event is the part of tensorflow.Event this package writes and reads.
type Event struct {
	WallTime    float64 // seconds since the Unix epoch
	Step        int64
	FileVersion string  // set on the first event only
	Values      []Value // the summary's scalars
}

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

func appendKey(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func appendBytes(b []byte, field int, data []byte) []byte {
	b = appendKey(b, field, wireBytes)
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// encode serializes e as a tensorflow.Event message.
func (e Event) encode() []byte {
	b := appendKey(nil, 1, wireFixed64)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.WallTime))
	if e.Step != 0 {
		b = appendKey(b, 2, wireVarint)
		b = binary.AppendUvarint(b, uint64(e.Step)) // int64: two's complement as uint64
	}
	if e.FileVersion != "" {
		b = appendBytes(b, 3, []byte(e.FileVersion))
	}
	if len(e.Values) > 0 {
		var summary []byte
		for _, v := range e.Values {
			val := appendBytes(nil, 1, []byte(v.Tag))
			val = appendKey(val, 2, wireFixed32)
			val = binary.LittleEndian.AppendUint32(val, math.Float32bits(v.SimpleValue))
			summary = appendBytes(summary, 1, val)
		}
		b = appendBytes(b, 5, summary)
	}
	return b
}

// field is one decoded protobuf field: num and wire type, and the value as either an
// integer (varint, fixed32, fixed64) or bytes.
type field struct {
	num, wire int
	u         uint64
	data      []byte
}

// fields splits a protobuf message into its fields.
func fields(b []byte) ([]field, error) {
	var out []field
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, fmt.Errorf("bad field key")
		}
		b = b[n:]
		f := field{num: int(key >> 3), wire: int(key & 7)}
		switch f.wire {
		case wireVarint:
			f.u, n = binary.Uvarint(b)
			if n <= 0 {
				return nil, fmt.Errorf("field %d: bad varint", f.num)
			}
			b = b[n:]
		case wireFixed64, wireFixed32:
			size := 8
			if f.wire == wireFixed32 {
				size = 4
			}
			if len(b) < size {
				return nil, fmt.Errorf("field %d: truncated", f.num)
			}
			if size == 8 {
				f.u = binary.LittleEndian.Uint64(b)
			} else {
				f.u = uint64(binary.LittleEndian.Uint32(b))
			}
			b = b[size:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, fmt.Errorf("field %d: truncated", f.num)
			}
			f.data = b[n : n+int(l)]
			b = b[n+int(l):]
		default:
			return nil, fmt.Errorf("field %d: unsupported wire type %d", f.num, f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

// DecodeEvent parses a tensorflow.Event, keeping the fields of Event and skipping others.
func DecodeEvent(b []byte) (Event, error) {
	var e Event
	fs, err := fields(b)
	if err != nil {
		return e, fmt.Errorf("event: %w", err)
	}
	for _, f := range fs {
		switch {
		case f.num == 1 && f.wire == wireFixed64:
			e.WallTime = math.Float64frombits(f.u)
		case f.num == 2 && f.wire == wireVarint:
			e.Step = int64(f.u)
		case f.num == 3 && f.wire == wireBytes:
			e.FileVersion = string(f.data)
		case f.num == 5 && f.wire == wireBytes:
			vs, err := decodeSummary(f.data)
			if err != nil {
				return e, err
			}
			e.Values = append(e.Values, vs...)
		}
	}
	return e, nil
}

func decodeSummary(b []byte) ([]Value, error) {
	fs, err := fields(b)
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	var out []Value
	for _, f := range fs {
		if f.num != 1 || f.wire != wireBytes {
			continue
		}
		vf, err := fields(f.data)
		if err != nil {
			return nil, fmt.Errorf("summary value: %w", err)
		}
		var v Value
		for _, g := range vf {
			switch {
			case g.num == 1 && g.wire == wireBytes:
				v.Tag = string(g.data)
			case g.num == 2 && g.wire == wireFixed32:
				v.SimpleValue = math.Float32frombits(uint32(g.u))
			}
		}
		out = append(out, v)
	}
	return out, nil
}
