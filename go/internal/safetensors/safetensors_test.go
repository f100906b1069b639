package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func sample() []Tensor {
	return []Tensor{
		FromFloat32("b.weight", []int64{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}),
		FromFloat64("a.scalar", []int64{}, []float64{math.Pi}),
		FromInt64("c.count", nil, []int64{-7}),
		{Name: "d.mask", DType: U8, Shape: []int64{4}, Data: []byte{0, 1, 2, 255}},
		{Name: "e.empty", DType: F32, Shape: []int64{0, 5}, Data: nil},
	}
}

func encode(t *testing.T, ts []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, ts, meta); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	meta := map[string]string{"method": "anrl", "size": "256"}
	b := encode(t, sample(), meta)
	n := binary.LittleEndian.Uint64(b)
	if (8+n)%8 != 0 {
		t.Errorf("data starts at byte %d, not 8-aligned", 8+n)
	}
	f, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Metadata, meta) {
		t.Errorf("metadata %v", f.Metadata)
	}
	for _, want := range sample() {
		got, ok := f.Get(want.Name)
		if !ok {
			t.Fatalf("%s missing", want.Name)
		}
		ws := want.Shape
		if ws == nil {
			ws = []int64{}
		}
		if got.DType != want.DType || !reflect.DeepEqual(got.Shape, ws) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: %s %v %v, want %s %v %v", want.Name, got.DType, got.Shape, got.Data, want.DType, ws, want.Data)
		}
	}
	v, _ := f.Tensors[0].Float64()
	if got, _ := f.Get("a.scalar"); got != &f.Tensors[0] || v[0] != math.Pi {
		t.Errorf("tensors not in offset order or wrong value: %v", f.Names())
	}
	// Encoding is deterministic and independent of the input order.
	rev := sample()
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if !bytes.Equal(b, encode(t, rev, meta)) {
		t.Error("encoding depends on the order of the tensors")
	}
	// The header is the plain JSON the format specifies.
	var h map[string]any
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	e := h["b.weight"].(map[string]any)
	if e["dtype"] != "F32" || !reflect.DeepEqual(e["shape"], []any{2.0, 3.0}) {
		t.Errorf("header entry %v", e)
	}
}

func TestConversions(t *testing.T) {
	f32 := FromFloat32("x", []int64{2}, []float32{1.5, -3})
	if v, err := f32.Float64(); err != nil || v[0] != 1.5 || v[1] != -3 {
		t.Errorf("F32 -> float64: %v %v", v, err)
	}
	f64 := FromFloat64("y", []int64{1}, []float64{0.1})
	if v, err := f64.Float32(); err != nil || v[0] != float32(0.1) {
		t.Errorf("F64 -> float32: %v %v", v, err)
	}
	i32 := Tensor{Name: "z", DType: I32, Shape: []int64{1}, Data: []byte{0xfe, 0xff, 0xff, 0xff}}
	if v, err := i32.Int64(); err != nil || v[0] != -2 {
		t.Errorf("I32 -> int64: %v %v", v, err)
	}
	if _, err := f32.Int64(); err == nil {
		t.Error("Int64 of an F32 tensor")
	}
	i64 := FromInt64("c", []int64{1}, []int64{1})
	if _, err := i64.Float32(); err == nil {
		t.Error("Float32 of an I64 tensor")
	}
	short := Tensor{Name: "s", DType: F32, Shape: []int64{3}, Data: make([]byte, 8)}
	if _, err := short.Float32(); err == nil || !strings.Contains(err.Error(), `"s"`) {
		t.Errorf("short data: %v", err)
	}
}

// build assembles a file from a raw header so that tests can corrupt any part of it.
func build(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestDecodeRejectsCorruptFiles(t *testing.T) {
	eight := make([]byte, 8)
	cases := []struct {
		name, want string
		b          []byte
	}{
		{"too short", "too short", []byte{1, 2, 3}},
		{"header longer than file", "does not fit", build(`{}`, nil)[:9]},
		{"huge header length", "does not fit", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, eight...)},
		{"not JSON", "not valid JSON", build(`{"a":`, eight)},
		{"JSON array", "not valid JSON", build(`[1,2]`, nil)},
		{"metadata not strings", "__metadata__", build(`{"__metadata__":{"a":1}}`, nil)},
		{"bad entry", "bad header entry", build(`{"x":{"dtype":"F32","shape":"oops","data_offsets":[0,8]}}`, eight)},
		{"unknown dtype", "unsupported dtype", build(`{"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}`, eight)},
		{"negative dim", "bad shape", build(`{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight)},
		{"overflowing shape", "", build(`{"x":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight)},
		{"offset past the end", "outside", build(`{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight)},
		{"reversed offsets", "outside", build(`{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, eight)},
		{"negative offset", "outside", build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, eight)},
		{"size mismatch", "want 12", build(`{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight)},
		{"overlap", "overlap or hole", build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"same range twice", "overlap or hole", build(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, append(eight, eight...))},
		{"hole", "overlap or hole", build(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"trailing bytes", "trailing", build(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight)},
	}
	for _, c := range cases {
		_, err := Decode(c.b)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q lacks %q", c.name, err, c.want)
		}
	}
}

func TestEncodeRejectsBadTensors(t *testing.T) {
	cases := map[string][]Tensor{
		"duplicate":     {FromFloat32("a", []int64{1}, []float32{1}), FromFloat32("a", []int64{1}, []float32{2})},
		"reserved name": {FromFloat32("__metadata__", []int64{1}, []float32{1})},
		"short data":    {{Name: "a", DType: F32, Shape: []int64{2}, Data: make([]byte, 4)}},
		"unknown dtype": {{Name: "a", DType: "F7", Shape: []int64{1}, Data: make([]byte, 1)}},
	}
	for name, ts := range cases {
		if err := Encode(&bytes.Buffer{}, ts, nil); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w.safetensors")
	if err := Write(p, sample(), map[string]string{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, sample()[:2], map[string]string{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	f, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["v"] != "2" || len(f.Tensors) != 2 {
		t.Errorf("second write not in place: %v %v", f.Metadata, f.Names())
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	// A failing write (bad tensor) leaves the old file and no temporary file.
	if err := Write(p, []Tensor{{Name: "x", DType: F32, Shape: []int64{3}}}, nil); err == nil {
		t.Fatal("wrote a bad tensor")
	}
	if f, err := Read(p); err != nil || f.Metadata["v"] != "2" {
		t.Errorf("old file damaged: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only w.safetensors", names)
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir.safetensors"), sample(), nil); err == nil {
		t.Error("wrote into a missing directory")
	}
	if _, err := Read(filepath.Join(dir, "absent")); err == nil {
		t.Error("read a missing file")
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("12345678xx"), 0o644)
	if _, err := Read(filepath.Join(dir, "bad")); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bad")) {
		t.Errorf("corrupt file error lacks the path: %v", err)
	}
}

// withUmask runs f with the process umask set to mask and restores the old one.
func withUmask(t *testing.T, mask int, f func()) {
	t.Helper()
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	f()
}

// A new file gets 0644 under the umask, like os.WriteFile; a replaced file keeps its mode.
func TestWriteFileAtomicModes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o644}, {0o027, 0o640}, {0o002, 0o644}} {
		p := filepath.Join(dir, fmt.Sprintf("u%03o.json", c.umask))
		withUmask(t, c.umask, func() {
			if err := WriteFileAtomic(p, []byte("{}")); err != nil {
				t.Fatal(err)
			}
		})
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != c.want {
			t.Errorf("umask %03o: new file mode %v (%v), want %v", c.umask, st.Mode().Perm(), err, c.want)
		}
	}
	p := filepath.Join(dir, "private")
	if err := os.WriteFile(p, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	withUmask(t, 0o022, func() {
		if err := WriteFileAtomic(p, []byte("b")); err != nil {
			t.Fatal(err)
		}
	})
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("replaced file mode %v, want its old 0600", st.Mode().Perm())
	}
	f, err := CreateTemp(dir, ".x.tmp")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if b := filepath.Base(f.Name()); !strings.HasPrefix(b, ".x.tmp") || len(b) <= len(".x.tmp") {
		t.Errorf("temporary name %s", b)
	}
}

func TestMkdirTempMode(t *testing.T) {
	parent := t.TempDir()
	for _, c := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o755}, {0o027, 0o750}} {
		var d string
		withUmask(t, c.umask, func() {
			var err error
			if d, err = MkdirTemp(parent, ".d.tmp"); err != nil {
				t.Fatal(err)
			}
		})
		if st, err := os.Stat(d); err != nil || !st.IsDir() || st.Mode().Perm() != c.want {
			t.Errorf("umask %03o: %s: %v %v, want a directory of mode %v", c.umask, d, st, err, c.want)
		}
	}
}
