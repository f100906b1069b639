// Package safetensors reads and writes the safetensors format: an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte range, then the
// raw little-endian tensor bytes. It is the exchange format for weights, inputs and
// checkpoints, readable by PyTorch users without pickle.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// DType is a safetensors dtype name.
type DType string

// The dtypes this project reads and writes.
const (
	F32  DType = "F32"
	F64  DType = "F64"
	I64  DType = "I64"
	I32  DType = "I32"
	U8   DType = "U8"
	BOOL DType = "BOOL"
	F16  DType = "F16"
	BF16 DType = "BF16"
)

// Size returns the byte width of one element, or 0 for an unknown dtype.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16:
		return 2
	case U8, BOOL:
		return 1
	}
	return 0
}

// maxHeader bounds the JSON header so that a corrupt length cannot exhaust memory.
const maxHeader = 100 << 20

// Tensor is one named tensor with its raw little-endian bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// Numel is the number of elements the shape describes.
func (t *Tensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a decoded safetensors file: its tensors in header order and its metadata.
type File struct {
	Metadata map[string]string
	Tensors  []Tensor
	index    map[string]int
}

// Get returns the tensor with the given name.
func (f *File) Get(name string) (*Tensor, bool) {
	i, ok := f.index[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Names lists the tensor names in header order.
func (f *File) Names() []string {
	out := make([]string, len(f.Tensors))
	for i := range f.Tensors {
		out[i] = f.Tensors[i].Name
	}
	return out
}

type entry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Read loads and validates a safetensors file.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Decode parses a whole safetensors buffer. Tensor data aliases b.
func Decode(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is too short for a header", len(b))
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d does not fit a file of %d bytes", n, len(b))
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not valid JSON: %w", err)
	}
	data := b[8+n:]
	f := &File{Metadata: map[string]string{}, index: map[string]int{}}
	var placed []placement
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %w", name, err)
		}
		t, err := checkEntry(name, e, data)
		if err != nil {
			return nil, err
		}
		placed = append(placed, placement{t, e.DataOffsets[0]})
	}
	sort.Slice(placed, func(i, j int) bool {
		if placed[i].off != placed[j].off {
			return placed[i].off < placed[j].off
		}
		return placed[i].t.Name < placed[j].t.Name
	})
	if err := checkCoverage(placed, len(data)); err != nil {
		return nil, err
	}
	for i := range placed {
		f.Tensors = append(f.Tensors, placed[i].t)
	}
	for i := range f.Tensors {
		f.index[f.Tensors[i].Name] = i
	}
	return f, nil
}

func checkEntry(name string, e entry, data []byte) (Tensor, error) {
	size := e.DType.Size()
	if size == 0 {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", name, e.DType)
	}
	numel := int64(1)
	for _, d := range e.Shape {
		if d < 0 || (d > 0 && numel > math.MaxInt64/d) {
			return Tensor{}, fmt.Errorf("safetensors: tensor %q: bad shape %v", name, e.Shape)
		}
		numel *= d
	}
	lo, hi := e.DataOffsets[0], e.DataOffsets[1]
	if lo < 0 || hi < lo || hi > int64(len(data)) {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: byte range [%d,%d) outside the %d data bytes", name, lo, hi, len(data))
	}
	// numel is checked against the data first so that numel*size cannot overflow.
	if numel > int64(len(data))/int64(size) || hi-lo != numel*int64(size) {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of %s (want %d)", name, hi-lo, e.Shape, e.DType, numel*int64(size))
	}
	shape := e.Shape
	if shape == nil {
		shape = []int64{}
	}
	return Tensor{Name: name, DType: e.DType, Shape: shape, Data: data[lo:hi:hi]}, nil
}

type placement struct {
	t   Tensor
	off int64
}

// checkCoverage rejects overlapping tensors and holes, as the reference reader does.
func checkCoverage(ps []placement, n int) error {
	var pos int64
	for _, p := range ps {
		if len(p.t.Data) == 0 {
			continue
		}
		if p.off != pos {
			return fmt.Errorf("safetensors: tensor %q starts at byte %d, expected %d (overlap or hole)", p.t.Name, p.off, pos)
		}
		pos += int64(len(p.t.Data))
	}
	if pos != int64(n) {
		return fmt.Errorf("safetensors: %d trailing data bytes belong to no tensor", int64(n)-pos)
	}
	return nil
}

// Encode writes tensors (sorted by name, for byte-identical output) and metadata.
func Encode(w io.Writer, tensors []Tensor, meta map[string]string) error {
	ts := append([]Tensor(nil), tensors...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for i := range ts {
		t := &ts[i]
		if t.DType.Size() == 0 {
			return fmt.Errorf("safetensors: tensor %q: unsupported dtype %q", t.Name, t.DType)
		}
		if int64(len(t.Data)) != t.Numel()*int64(t.DType.Size()) {
			return fmt.Errorf("safetensors: tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
		}
		if _, dup := header[t.Name]; dup || t.Name == "__metadata__" {
			return fmt.Errorf("safetensors: duplicate or reserved tensor name %q", t.Name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		header[t.Name] = entry{DType: t.DType, Shape: shape, DataOffsets: [2]int64{off, off + int64(len(t.Data))}}
		off += int64(len(t.Data))
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad the header with spaces so that the data starts 8-byte aligned.
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hb)))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hb); err != nil {
		return err
	}
	for _, t := range ts {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}

// Write stores tensors atomically: a temporary file in the same directory, fsync, rename.
// A crash leaves either the old file or the new one, never a torn one.
func Write(path string, tensors []Tensor, meta map[string]string) error {
	var buf bytes.Buffer
	if err := Encode(&buf, tensors, meta); err != nil {
		return err
	}
	return WriteFileAtomic(path, buf.Bytes())
}

// WriteFileAtomic writes b to path through a synced temporary file in the same directory
// and a rename. A new file gets the usual mode, 0644 under the umask (os.WriteFile's
// behaviour); a replaced file keeps its mode.
func WriteFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := CreateTemp(dir, "."+filepath.Base(path)+".tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fail(err)
	}
	if st, err := os.Stat(path); err == nil {
		if err := tmp.Chmod(st.Mode().Perm()); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// CreateTemp creates a new file named prefix followed by random hex digits in dir, for
// writing, with mode 0644 under the umask. Unlike os.CreateTemp (always 0600), the file is
// readable like any other output once renamed into place.
func CreateTemp(dir, prefix string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 16))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("no free temporary name %s* in %s", prefix, dir)
}

// MkdirTemp creates a new directory named prefix followed by random hex digits in dir and
// returns its path. Its mode is 0755 under the umask: unlike os.MkdirTemp (always 0700), a
// directory built under a temporary name and renamed into place is as readable as any other.
func MkdirTemp(dir, prefix string) (string, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 16))
		err := os.Mkdir(name, 0o755)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return name, nil
	}
	return "", fmt.Errorf("no free temporary name %s* in %s", prefix, dir)
}
