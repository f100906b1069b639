package dataset

import (
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

func TestParseList(t *testing.T) {
	in := "# comment\n\nreplayattack/train/real/v1/f001.jpg 0\n" +
		"  casia/attack/v2/f9.png 1 attack=replay \n" +
		"oulu/1_1_01_1/0001.png 0 10 20 30 20.5 25 30 12 40 28 40\n" +
		"msu/p/v/x.png 1 1 2 3 4 5 6 7 8 9 10 attack=print\n"
	es, err := ParseList(strings.NewReader(in), "l.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 {
		t.Fatalf("%d entries, want 4", len(es))
	}
	if e := es[0]; e.Path != "replayattack/train/real/v1/f001.jpg" || e.Label != Live || e.Line != 3 || e.Landmarks != nil || e.VideoID() != "replayattack/train/real/v1" {
		t.Errorf("entry 0: %+v", e)
	}
	if e := es[1]; e.Label != Attack || e.Attack != "replay" || e.Line != 4 {
		t.Errorf("entry 1: %+v", e)
	}
	if e := es[2]; e.Landmarks == nil || e.Landmarks[3] != 20.5 || e.Landmarks[9] != 40 {
		t.Errorf("entry 2 landmarks: %+v", e.Landmarks)
	}
	if e := es[3]; e.Attack != "print" || e.Landmarks == nil || e.Landmarks[0] != 1 {
		t.Errorf("entry 3: %+v", e)
	}
}

func TestParseListErrorsNameLineAndKey(t *testing.T) {
	cases := map[string]string{
		"a.png\n":                          "l.txt:1:",
		"ok.png 0\nb.png 2\n":              `l.txt:2: key "b.png": label "2"`,
		"c.png 0 1 2 3\n":                  `l.txt:1: key "c.png": 3 extra fields`,
		"d.png 1 1 2 3 4 5 6 7 8 9 x\n":    `l.txt:1: key "d.png": landmark 10 "x"`,
		"e.png 1 attack=\n":                `l.txt:1: key "e.png": empty attack=`,
		"f.png 0 NaN 2 3 4 5 6 7 8 9 10\n": `landmark 1 "NaN"`,
	}
	for in, want := range cases {
		_, err := ParseList(strings.NewReader(in), "l.txt")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want it to contain %q", in, err, want)
		}
	}
}

func TestDepthRule(t *testing.T) {
	r, err := ParseDepthRule([]string{"replayattack/=replayattack_depth/", "casia/=casia_depth/"})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := r.DepthKey("data/replayattack/train/replayattack/f.jpg"); !ok || k != "data/replayattack_depth/train/replayattack/f.jpg" {
		t.Errorf("DepthKey = %q, %v (the first match applies once)", k, ok)
	}
	if k, ok := r.DepthKey("casia/x.png"); !ok || k != "casia_depth/x.png" {
		t.Errorf("DepthKey = %q, %v", k, ok)
	}
	if _, ok := r.DepthKey("msu/x.png"); ok {
		t.Error("DepthKey matched a key no rule covers")
	}
	if _, err := ParseDepthRule([]string{"noequals"}); err == nil {
		t.Error("accepted a rule without '='")
	}
}

// FuzzParseList: no input panics; every parsed entry is well formed.
func FuzzParseList(f *testing.F) {
	f.Add("a/b.png 0\n")
	f.Add("a/b.png 1 1 2 3 4 5 6 7 8 9 10 attack=print\n# c\n\n")
	f.Add("x 0 1e309 2 3 4 5 6 7 8 9 10")
	f.Add("\xff\xfe 1 attack=\x00")
	f.Fuzz(func(t *testing.T, s string) {
		es, err := ParseList(strings.NewReader(s), "fuzz")
		if err != nil {
			return
		}
		for _, e := range es {
			if e.Path == "" || (e.Label != Live && e.Label != Attack) || e.Line < 1 {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}

// TestTFaceDepthRule: the tface preset gives the depth key the TFace reference's
// _convert_to_depth gives (run in Python), for keys with none, one, several and repeated
// data set names; a key none matches has no depth key (TFace read the image itself).
func TestTFaceDepthRule(t *testing.T) {
	keys := []string{
		"replayattack/train/real/client001/0006.png",
		"/data/replayattack/replayattack_x/f.jpg",
		"CASIA_database/train_release/1/HR_1/0006.png",
		"MSU-MFSD/scene01/real/real_client002_android_SD_scene01/0012.png",
		"Oulu_NPU/Train_files/1_1_01_1/0006.png",
		"root/Oulu_NPU/CASIA_database/MSU-MFSD/replayattack/f.png",
		"Oulu_NPU_depth/already/f.png",
	}
	want := strings.Split(strings.TrimSpace(string(pyref.Run(t, []byte(strings.Join(keys, "\n")), "tface_depth.py"))), "\n")
	for _, src := range [][]string{{"tface"}, {"oulu/=x/", "tface"}} {
		r, err := ParseDepthRule(src)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			got, ok := r.DepthKey(k)
			if !ok || got != want[i] {
				t.Errorf("%v: DepthKey(%q) = %q, %v; TFace gives %q", src, k, got, ok, want[i])
			}
		}
	}
	if k, ok := TFaceDepthRule.DepthKey("msu/x.png"); ok {
		t.Errorf("tface matched a key without a data set name: %q", k)
	}
	if _, err := ParseDepthRule([]string{"tfac"}); err == nil || !strings.Contains(err.Error(), "tface") {
		t.Errorf("an unknown preset: error %v, want one naming the known presets", err)
	}
	// A chained step followed by a plain one: the plain one sees the chained result.
	r := DepthRule{{From: "a", To: "b", All: true}, {From: "bb", To: "c"}}
	if k, ok := r.DepthKey("aab/aa"); !ok || k != "cb/bb" {
		t.Errorf("chain then first-match: %q, %v; want cb/bb", k, ok)
	}
}
