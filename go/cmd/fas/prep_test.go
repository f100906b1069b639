package main

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

// TestPrepCLI: `fas prep` on a two-video MSU-MFSD tree prints the per-split summary and writes
// an LMDB and lists that `fas data check` passes with the depth rule it prints; without ffmpeg
// on PATH it names the Debian package.
func TestPrepCLI(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	photo := pyref.Photo(t, pyref.GraceHopper)
	for _, f := range []string{"train_sub_list.txt:2\n", "test_sub_list.txt:1\n"} {
		name, body, _ := strings.Cut(f, ":")
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"real_client002_android_SD_scene01.mp4", "real_client001_android_SD_scene01.mp4"} {
		dst := filepath.Join(src, "scene01", "real", v)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if b, err := exec.Command("ffmpeg", "-v", "error", "-loop", "1", "-i", photo, "-frames:v", "8",
			"-vf", "scale=256:256", "-c:v", "mpeg4", "-pix_fmt", "yuv420p", dst).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg (`make deps` installs it): %v %s", err, b)
		}
	}
	os.MkdirAll(filepath.Join(src, "scene01", "attack"), 0o755)
	args := []string{"prep", "--dataset", "msu", "--src", src, "--out", out, "--size", "64", "--workers", "1", "--train-sample", "every:4", "--val-subjects", "0"}
	got, err := runFasData(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, got)
	}
	for _, w := range []string{"train        1       1        2", "test         1       1        2", "msu/=msu_depth/"} {
		if !strings.Contains(got, w) {
			t.Errorf("summary lacks %q:\n%s", w, got)
		}
	}
	// A second domain into the same output; then a config over both passes `fas data check`.
	if got, err := runFasData(t, append(args, "--domain", "msu2")...); err != nil {
		t.Fatalf("second domain: %v\n%s", err, got)
	}
	cfg := filepath.Join(out, "c.yaml")
	if err := os.WriteFile(cfg, []byte(`dataset:
  root: .
  depth_rule: [{from: "msu/", to: "msu_depth/"}, {from: "msu2/", to: "msu2_depth/"}]
  train:
    - {name: msu, live: lists/msu_train_live.txt, attack: lists/msu_train_attack.txt}
    - {name: msu2, live: lists/msu2_train_live.txt, attack: lists/msu2_train_attack.txt}
  val:
    - {name: msu, live: lists/msu_test_live.txt, attack: lists/msu_test_attack.txt}
  test:
    - {name: msu2, live: lists/msu2_test_live.txt, attack: lists/msu2_test_attack.txt}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := runFasData(t, "data", "check", "--config", cfg, "--set", "anrl.metasize=1"); err != nil {
		t.Errorf("data check: %v\n%s", err, got)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := runFasData(t, args...); err == nil || !strings.Contains(err.Error(), "Debian package ffmpeg") {
		t.Errorf("without ffmpeg: %v", err)
	}
}

// TestTFaceLayout: a database in TFace's layout (replayattack/…, CASIA_database/…, depth
// maps under the _depth names, every occurrence renamed) packs with --depth-rule tface and
// checks with a config whose dataset.depth_rule is tface; first-occurrence rules miss the maps.
func TestTFaceLayout(t *testing.T) {
	root := t.TempDir()
	img := image.NewNRGBA(image.Rect(0, 0, 24, 24))
	dep := image.NewGray(image.Rect(0, 0, 24, 24))
	lists := map[string][]string{}
	for _, d := range []string{"replayattack", "CASIA_database", "MSU-MFSD"} {
		for _, split := range []string{"train", "test"} {
			for c, cls := range []string{"live", "attack"} {
				key := fmt.Sprintf("data/%s/%s/%s/%s_v0/1.png", d, split, cls, d) // the name twice
				packTestPNG(t, filepath.Join(root, key), img)
				if c == 0 {
					packTestPNG(t, filepath.Join(root, strings.ReplaceAll(key, d, d+"_depth")), dep)
				}
				name := fmt.Sprintf("lists/%s_%s_%s.txt", d, split, cls)
				lists[name] = append(lists[name], fmt.Sprintf("%s %d", key, c))
			}
		}
	}
	args := []string{"pack", "--out", filepath.Join(root, "data.lmdb"), "--root", root, "--depth-rule", "tface"}
	for name, lines := range lists {
		os.MkdirAll(filepath.Join(root, "lists"), 0o755)
		if err := os.WriteFile(filepath.Join(root, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--list", filepath.Join(root, name))
	}
	if out, err := runFasData(t, args...); err != nil {
		t.Fatalf("pack: %v\n%s", err, out)
	}
	cfg := filepath.Join(root, "c.yaml")
	body := "dataset:\n  root: .\n  depth_rule: tface\n  train:\n"
	for _, d := range []string{"replayattack", "CASIA_database"} {
		body += fmt.Sprintf("    - {name: %s, live: lists/%s_train_live.txt, attack: lists/%s_train_attack.txt}\n", d, d, d)
	}
	body += "  val:\n    - {name: replayattack, live: lists/replayattack_test_live.txt, attack: lists/replayattack_test_attack.txt}\n" +
		"  test:\n    - {name: MSU-MFSD, live: lists/MSU-MFSD_test_live.txt, attack: lists/MSU-MFSD_test_attack.txt}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	check := []string{"data", "check", "--config", cfg, "--set", "anrl.metasize=1"}
	if out, err := runFasData(t, check...); err != nil {
		t.Fatalf("data check: %v\n%s", err, out)
	}
	// Rules that rename only the first occurrence miss these depth maps.
	var rules string
	for _, d := range []string{"replayattack", "CASIA_database", "MSU-MFSD"} {
		rules += fmt.Sprintf("{from: %q, to: %q}, ", d, d+"_depth")
	}
	plain := strings.Replace(body, "depth_rule: tface", "depth_rule: ["+strings.TrimSuffix(rules, ", ")+"]", 1)
	if err := os.WriteFile(cfg, []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runFasData(t, check...)
	if err == nil || !strings.Contains(out, "missing") {
		t.Errorf("first-occurrence rules: %v\n%s", err, out)
	}
}
