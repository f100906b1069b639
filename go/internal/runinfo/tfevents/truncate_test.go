package tfevents

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

func writeSteps(t *testing.T, w *Writer, from, to int64) {
	t.Helper()
	for s := from; s <= to; s++ {
		if err := w.Scalars(s, map[string]float64{"loss": float64(s) / 10, "lr": 1e-3}); err != nil {
			t.Fatal(err)
		}
	}
}

// pySteps reads path with the independent Python reader (which checks every CRC) and
// returns the step of each event, -1 standing for the file_version event.
func pySteps(t *testing.T, path string) []int64 {
	t.Helper()
	var evs []struct {
		Step        int64  `json:"step"`
		FileVersion string `json:"file_version"`
		Values      []struct {
			Tag string `json:"tag"`
		} `json:"values"`
	}
	if err := json.Unmarshal(pyref.Run(t, nil, "read_tfevents.py", path), &evs); err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range evs {
		if e.FileVersion != "" {
			out = append(out, -1)
			continue
		}
		if len(e.Values) != 2 {
			t.Errorf("step %d: %d values, want 2", e.Step, len(e.Values))
		}
		out = append(out, e.Step)
	}
	return out
}

func goSteps(t *testing.T, path string) []int64 {
	t.Helper()
	evs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range evs {
		if e.FileVersion != "" {
			out = append(out, -1)
		} else {
			out = append(out, e.Step)
		}
	}
	return out
}

// Steps 1..10, truncated after 6, then 7..8 appended: every step once, in order, readable
// by Python and Go.
func TestTruncateAfterThenAppend(t *testing.T) {
	w, err := Create(t.TempDir(), "h", clock())
	if err != nil {
		t.Fatal(err)
	}
	writeSteps(t, w, 1, 10)
	path := w.Path()
	w.Close()
	os.Chmod(path, 0o640)
	n, err := TruncateAfter(path, 6)
	if err != nil || n != 4 {
		t.Fatalf("TruncateAfter dropped %d (%v), want 4", n, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("rewritten file mode %v, want the old 0640", st.Mode().Perm())
	}
	a, err := Append(path, clock())
	if err != nil {
		t.Fatal(err)
	}
	writeSteps(t, a, 7, 8)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	want := []int64{-1, 1, 2, 3, 4, 5, 6, 7, 8}
	if got := pySteps(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("python reads steps %v, want %v", got, want)
	}
	if got := goSteps(t, path); !reflect.DeepEqual(got, want) {
		t.Errorf("go reads steps %v, want %v", got, want)
	}
	// Nothing past the step: the file is left alone.
	before, _ := os.ReadFile(path)
	if n, err := TruncateAfter(path, 8); err != nil || n != 0 {
		t.Errorf("second truncation dropped %d (%v)", n, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a truncation that drops nothing changed the file")
	}
}

// The records kept are the original bytes (wall times and values unchanged), and events of
// step 0 and negative steps are kept.
func TestTruncateKeepsRecordsVerbatim(t *testing.T) {
	path, want := writeSample(t, t.TempDir()) // steps 1, 1<<40, -3
	if n, err := TruncateAfter(path, 1); err != nil || n != 1 {
		t.Fatalf("dropped %d (%v), want 1", n, err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := []Event{want[0], want[1], want[3]}; !reflect.DeepEqual(got, w) {
		t.Errorf("kept %+v, want %+v", got, w)
	}
}

// A record torn by a killed writer is dropped; a corrupt record in the middle is refused.
func TestTruncateDamagedFiles(t *testing.T) {
	w, err := Create(t.TempDir(), "h", clock())
	if err != nil {
		t.Fatal(err)
	}
	writeSteps(t, w, 1, 3)
	w.Close()
	good, _ := os.ReadFile(w.Path())
	torn := append(append([]byte(nil), good...), frame([]byte("partial event"))[:9]...)
	os.WriteFile(w.Path(), torn, 0o644)
	if n, err := TruncateAfter(w.Path(), 100); err != nil || n != 1 {
		t.Fatalf("torn tail: dropped %d (%v), want 1", n, err)
	}
	if b, _ := os.ReadFile(w.Path()); !bytes.Equal(b, good) {
		t.Error("torn tail: the file is not the records before it")
	}
	bad := flip(good, len(good)-30)
	os.WriteFile(w.Path(), bad, 0o644)
	if _, err := TruncateAfter(w.Path(), 1); err == nil || !strings.Contains(err.Error(), "not rewriting") {
		t.Errorf("corrupt file: %v", err)
	}
	if b, _ := os.ReadFile(w.Path()); !bytes.Equal(b, bad) {
		t.Error("a corrupt file was rewritten")
	}
}

func TestEventStep(t *testing.T) {
	for _, e := range []Event{{Step: 0}, {Step: 5, Values: []Value{{"a", 1}}}, {Step: -7}, {Step: 1 << 50}, {FileVersion: FileVersion}} {
		s, v, err := eventStep(e.encode())
		if err != nil || s != e.Step || v != (e.FileVersion != "") {
			t.Errorf("%+v: step %d version %v err %v", e, s, v, err)
		}
	}
	if _, _, err := eventStep([]byte{0x12, 0x05, 'a'}); err == nil {
		t.Error("a truncated field was accepted")
	}
}
