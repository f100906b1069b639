package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/prep"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

// The shipped protocol configs of the four public data sets (not the synthetic ones).
func shippedConfigs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range []string{"anrl", "fghv"} {
		for _, p := range []string{"OCI2M", "OMI2C", "OCM2I", "ICM2O"} {
			out = append(out, filepath.Join("..", "..", "..", "configs", m, p+".yaml"))
		}
	}
	return out
}

// TestShippedConfigsReadPrep: every list, domain name, depth rule and the database name the
// shipped protocol configs read are the ones `fas prep` writes with its defaults (domain =
// --dataset name; CASIA-FASD and MSU-MFSD with their default val subjects), and their root
// is data/ocim of the repository, as their comments and the README say.
func TestShippedConfigsReadPrep(t *testing.T) {
	repo, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	for _, file := range shippedConfigs(t) {
		c, err := config.Load(file, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		d := c.Dataset
		if d.Root != filepath.Join(repo, "data", "ocim") || d.LMDB != prep.LMDB {
			t.Errorf("%s: root %s, lmdb %s; want %s/data/ocim, %s", file, d.Root, d.LMDB, repo, prep.LMDB)
		}
		rules := map[string]string{}
		for _, r := range d.DepthRule {
			rules[r.From] = r.To
		}
		domains := map[string]bool{}
		for split, ls := range map[string][]config.DomainList{prep.Train: d.Train, prep.Val: d.Val, prep.Test: d.Test} {
			for _, l := range ls {
				domains[l.Name] = true
				if _, ok := prep.Walkers[l.Name]; !ok {
					t.Errorf("%s: domain %q is not a `fas prep --dataset` name (%s)", file, l.Name, strings.Join(prep.Names(), ", "))
				}
				if l.Live != prep.ListName(l.Name, split, "live") || l.Attack != prep.ListName(l.Name, split, "attack") {
					t.Errorf("%s: %s %s lists %s, %s; prep writes %s, %s", file, split, l.Name, l.Live, l.Attack,
						prep.ListName(l.Name, split, "live"), prep.ListName(l.Name, split, "attack"))
				}
				if split == prep.Val && prep.DefaultValSubjects[l.Name] == 0 && l.Name != "oulu" && l.Name != "replay" {
					t.Errorf("%s: val list of %s, which has no development split and no default val subjects", file, l.Name)
				}
			}
		}
		for dom := range domains {
			from, to := prep.DepthRule(dom)
			if rules[from] != to {
				t.Errorf("%s: no depth rule {from: %q, to: %q} for domain %s (rules %v)", file, from, to, dom, d.DepthRule)
			}
		}
	}
}

// TestPrepShippedConfigs: fake trees of the four data sets (each video the same 8-frame clip
// of Grace Hopper), each prepared by `fas prep` with its defaults into one directory, pass
// `fas data check` with every shipped protocol config, only the root moved there. CASIA-FASD's
// and MSU-MFSD's val lists come from the default held-out subjects, recorded in the manifest.
func TestPrepShippedConfigs(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	clip := filepath.Join(t.TempDir(), "clip.avi")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-loop", "1", "-i", pyref.Photo(t, pyref.GraceHopper), "-frames:v", "8",
		"-vf", "scale=256:256", "-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg (`make deps` installs it): %v %s", err, b)
	}
	body, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	put := func(set, path string) {
		p := filepath.Join(src, set, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A live and an attack video in every split. CASIA subjects 2-4 and MSU clients 3, 4
	// have none (reported missing); CASIA 5 and MSU 5 are the highest, held out as val.
	for _, v := range []string{"Train_files/1_1_01_1.avi", "Train_files/1_1_01_2.avi", "Dev_files/1_1_21_1.avi",
		"Dev_files/1_1_21_4.avi", "Test_files/1_1_36_1.avi", "Test_files/1_1_36_5.avi"} {
		put("oulu", v)
	}
	for _, v := range []string{"train_release/1/1.avi", "train_release/1/3.avi", "train_release/5/HR_1.avi",
		"train_release/5/7.avi", "test_release/1/2.avi", "test_release/1/HR_3.avi"} {
		put("casia", v)
	}
	for _, s := range []string{"2", "3", "4"} {
		os.MkdirAll(filepath.Join(src, "casia", "train_release", s), 0o755)
	}
	for _, s := range []struct{ split, client string }{{"train", "001"}, {"devel", "003"}, {"test", "009"}} {
		put("replay", s.split+"/real/client"+s.client+"_session01_webcam_authenticate_adverse_1.mov")
		put("replay", s.split+"/attack/hand/attack_print_client"+s.client+"_session01_highdef_photo_adverse.mov")
		os.MkdirAll(filepath.Join(src, "replay", s.split, "attack", "fixed"), 0o755)
	}
	for _, c := range []string{"001", "002", "005"} {
		put("msu", "scene01/real/real_client"+c+"_android_SD_scene01.mp4")
		put("msu", "scene01/attack/attack_client"+c+"_android_SD_printed_photo_scene01.mp4")
	}
	os.WriteFile(filepath.Join(src, "msu", "train_sub_list.txt"), []byte("2\n3\n4\n5\n"), 0o644)
	os.WriteFile(filepath.Join(src, "msu", "test_sub_list.txt"), []byte("1\n"), 0o644)

	for _, ds := range []string{"oulu", "casia", "replay", "msu"} {
		got, err := runFasData(t, "prep", "--dataset", ds, "--src", filepath.Join(src, ds), "--out", out,
			"--size", "64", "--workers", "2", "--train-sample", "every:4", "--map-size", "0.25")
		var fe *prep.FailedError
		if err != nil && !(errors.As(err, &fe) && (ds == "casia" || ds == "msu")) {
			t.Fatalf("prep %s: %v\n%s", ds, err, got)
		}
		if err != nil && strings.Contains(err.Error(), "unreadable") {
			t.Errorf("prep %s: %v", ds, err)
		}
	}
	for ds, ids := range map[string][]int{"casia": {2, 3, 4, 5}, "msu": {3, 4, 5}} {
		b, err := os.ReadFile(filepath.Join(out, "prep", ds, "manifest.json"))
		m := prep.Manifest{Splits: map[string]*prep.SplitSummary{prep.Val: {}}}
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil || m.Settings.ValSubj != prep.DefaultValSubjects[ds] || !reflect.DeepEqual(m.ValIDs, ids) || m.Splits[prep.Val].Frames == 0 {
			t.Errorf("%s manifest (%v): val subjects %d %v, want %d %v; val summary %+v", ds, err,
				m.Settings.ValSubj, m.ValIDs, prep.DefaultValSubjects[ds], ids, m.Splits[prep.Val])
		}
	}
	for _, file := range shippedConfigs(t) {
		if got, err := runFasData(t, "data", "check", "--config", file, "--set", "dataset.root="+out); err != nil {
			t.Errorf("%s: data check: %v\n%s", file, err, got)
		}
	}
}
