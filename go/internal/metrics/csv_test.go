package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	in := "video_id,label,score,attack_type\n" +
		"# a comment\n" +
		"live/1,0,0.25\n" +
		"\n" +
		"\"att,2\",1,0.75,print\n" +
		" live/1 , 0 , 0.5 ,\n"
	got, err := ReadCSV(strings.NewReader(in), "s.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []FrameScore{
		{Video: "live/1", Label: 0, Score: 0.25, Where: "s.csv:3"},
		{Video: "att,2", Label: 1, Score: 0.75, AttackType: "print", Where: "s.csv:5"},
		{Video: "live/1", Label: 0, Score: 0.5, Where: "s.csv:6"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// Without a header the first line is data.
	got, err = ReadCSV(strings.NewReader("v,1,0.5\n"), "s.csv")
	if err != nil || len(got) != 1 || got[0].Where != "s.csv:1" {
		t.Errorf("headerless: %+v %v", got, err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a,0,0.1\nb,1\n", "s.csv:2: 2 columns"},
		{"a,0,0.1,x,y\n", "s.csv:1: 5 columns"},
		{"a,0,0.1\nb,2,0.3\n", `s.csv:2: label "2" is neither 0 (live) nor 1 (attack)`},
		{"a,0,0.1\nb,1,abc\n", `s.csv:2: score "abc" is not a number`},
		{"a,0,0.1\nb,1,NaN\n", `s.csv:2: video "b": score NaN is not finite`},
		{"a,0,0.1\nb,1,-Inf\n", `s.csv:2: video "b": score -Inf is not finite`},
		{"a,0,0.1\n,1,0.3\n", "s.csv:2: empty video_id"},
		{"a,0,0.1,print\n", `s.csv:1: video "a": live sample has attack type "print"`},
		{"video_id,label,score\n", "s.csv: no score rows"},
		{"", "s.csv: no score rows"},
		{"a,0,\"0.1\n", "s.csv"}, // unterminated quote: encoding/csv's error, prefixed
	}
	for _, c := range cases {
		_, err := ReadCSV(strings.NewReader(c.in), "s.csv")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.want)
		}
	}
}

func TestWriteCSVRoundTrip(t *testing.T) {
	vs := []VideoScore{
		{Video: "x/1", Label: 0, Score: 0.1 + 0.2, Frames: 1},
		{Video: "y,2", Label: 1, Score: 1e-300, Frames: 1, AttackType: "replay"},
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, vs); err != nil {
		t.Fatal(err)
	}
	frames, err := ReadCSV(&buf, "w.csv")
	if err != nil {
		t.Fatal(err)
	}
	back, err := Videos(frames)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, vs) {
		t.Errorf("round trip %+v, want %+v", back, vs)
	}
}

func TestEvaluateCSVErrorsNameFiles(t *testing.T) {
	dir := t.TempDir()
	test := filepath.Join(dir, "test.csv")
	src := filepath.Join(dir, "val.csv")
	os.WriteFile(test, []byte("a,0,0.1\nb,1,0.9\na,1,0.3\n"), 0o644)
	os.WriteFile(src, []byte("a,0,0.1\nb,0,0.9\n"), 0o644)
	if _, _, err := EvaluateCSV(test, "", false); err == nil ||
		!strings.Contains(err.Error(), test+`:3: video "a" has label 1`) || !strings.Contains(err.Error(), test+":1") {
		t.Errorf("label disagreement: %v", err)
	}
	// At frame level the same rows are three units and the file is fine.
	r, _, err := EvaluateCSV(test, "", true)
	if err != nil || r.Level != "frame" || r.Live+r.Attacks != 3 {
		t.Errorf("frame level: %+v %v", r, err)
	}
	if _, _, err := EvaluateCSV(test, src, true); err == nil || !strings.Contains(err.Error(), "threshold from "+src) {
		t.Errorf("one-class source: %v", err)
	}
	if _, _, err := EvaluateCSV(filepath.Join(dir, "missing.csv"), "", false); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}
