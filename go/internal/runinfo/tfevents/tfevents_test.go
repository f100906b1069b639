package tfevents

import (
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

// clock returns times one second apart starting at a fixed instant.
func clock() func() time.Time {
	t := time.Unix(1700000000, 250000000)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

// writeSample writes a file with the file_version event and three scalar events.
func writeSample(t *testing.T, dir string) (string, []Event) {
	t.Helper()
	w, err := Create(dir, "host-a", clock())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalars(1, map[string]float64{"train/loss": 0.6931, "lr": 1e-4}); err != nil {
		t.Fatal(err)
	}
	if err := w.Scalar("val/auc", 1<<40, 0.9375); err != nil {
		t.Fatal(err)
	}
	if err := w.Scalar("neg", -3, -2.5); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{WallTime: 1700000001.25, FileVersion: FileVersion},
		{WallTime: 1700000002.25, Step: 1, Values: []Value{{"lr", float32(1e-4)}, {"train/loss", float32(0.6931)}}},
		{WallTime: 1700000003.25, Step: 1 << 40, Values: []Value{{"val/auc", 0.9375}}},
		{WallTime: 1700000004.25, Step: -3, Values: []Value{{"neg", -2.5}}},
	}
	return w.Path(), want
}

func TestCRC32CKnownVector(t *testing.T) {
	// The CRC32C check value of the ASCII digits 1-9 (RFC 3720, B.4).
	if got := crc32.Checksum([]byte("123456789"), castagnoli); got != 0xe3069283 {
		t.Fatalf("crc32c = %08x, want e3069283", got)
	}
}

func TestWriteReadGo(t *testing.T) {
	path, want := writeSample(t, t.TempDir())
	if !strings.HasPrefix(filepath.Base(path), "events.out.tfevents.1700000001.host-a") {
		t.Errorf("file name %s", filepath.Base(path))
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
}

func TestSecondFileInSameSecondGetsSuffix(t *testing.T) {
	dir := t.TempDir()
	fixed := func() time.Time { return time.Unix(5, 0) }
	a, err := Create(dir, "h", fixed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Create(dir, "h", fixed)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	if a.Path() == b.Path() || b.Path() != a.Path()+".1" {
		t.Errorf("paths %s and %s", a.Path(), b.Path())
	}
}

// TestPythonReader parses the file with an independent Python reader that checks the CRCs.
func TestPythonReader(t *testing.T) {
	path, want := writeSample(t, t.TempDir())
	out := pyref.Run(t, nil, "read_tfevents.py", path)
	var got []struct {
		WallTime    float64 `json:"wall_time"`
		Step        int64   `json:"step"`
		FileVersion string  `json:"file_version"`
		Values      []struct {
			Tag         string  `json:"tag"`
			SimpleValue float64 `json:"simple_value"`
		} `json:"values"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if len(got) != len(want) {
		t.Fatalf("python read %d events, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.WallTime != w.WallTime || g.Step != w.Step || g.FileVersion != w.FileVersion || len(g.Values) != len(w.Values) {
			t.Errorf("event %d: python %+v, want %+v", i, g, w)
			continue
		}
		for j, v := range g.Values {
			if v.Tag != w.Values[j].Tag || float32(v.SimpleValue) != w.Values[j].SimpleValue {
				t.Errorf("event %d value %d: python %+v, want %+v", i, j, v, w.Values[j])
			}
		}
	}
}

func TestCorruptionIsDetected(t *testing.T) {
	path, _ := writeSample(t, t.TempDir())
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"flipped data byte":   flip(b, len(b)-6),
		"flipped length byte": flip(b, 0),
		"truncated":           b[:len(b)-2],
	}
	for name, bad := range cases {
		p := filepath.Join(t.TempDir(), "events.out.tfevents.bad")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFile(p); err == nil {
			t.Errorf("%s: Go reader accepted a corrupt file", name)
		}
		// The script itself must refuse the file (its "read_tfevents: PATH: why" line), not
		// fail to start.
		out, err := pyref.Try(t, nil, "read_tfevents.py", p)
		var pe *pyref.Error
		if err == nil {
			t.Errorf("%s: python reader accepted a corrupt file: %s", name, out)
		} else if !errors.As(err, &pe) || !strings.Contains(pe.Stderr, "read_tfevents: "+p+": record") {
			t.Errorf("%s: python reader did not run as expected: %v", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}

func TestNonFiniteValues(t *testing.T) {
	w, err := Create(t.TempDir(), "h", clock())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalars(2, map[string]float64{"nan": math.NaN(), "inf": math.Inf(1)}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	evs, err := ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	v := evs[1].Values
	if v[0].Tag != "inf" || !math.IsInf(float64(v[0].SimpleValue), 1) || !math.IsNaN(float64(v[1].SimpleValue)) {
		t.Errorf("values %+v", v)
	}
	if err := w.Scalar("x", 3, 1); err == nil {
		t.Error("writing after Close succeeded")
	}
}
