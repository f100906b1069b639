package main

import (
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
	args := []string{"prep", "--dataset", "msu", "--src", src, "--out", out, "--size", "64", "--workers", "1", "--train-sample", "every:4"}
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
