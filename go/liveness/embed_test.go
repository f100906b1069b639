package liveness_test

import (
	"context"
	"debug/elf"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/liveness"
)

// goTool is the go command that runs this test.
func goTool(t *testing.T) string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command: ", err)
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func repoRoot(t *testing.T) string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil || !fileExists(filepath.Join(root, "Makefile")) {
		t.Fatalf("no repository root above the package (%s): %v", root, err)
	}
	return root
}

// A Go module outside this one (go/examples/liveness-service) imports the public package and
// builds against the shim installed by `make install PREFIX=...` through pkg-config (tag
// fasshim_installed); the binary links the installed library, not the tree's build/, and
// scores an image bit for bit as this process does.
func TestEmbedFromAnotherModule(t *testing.T) {
	root := repoRoot(t)
	prefix := t.TempDir()
	make := exec.Command("make", "install", "PREFIX="+prefix)
	make.Dir = root
	if out, err := make.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"lib/libfasshim.so", "include/fas/fas.h", "lib/pkgconfig/fasshim.pc"} {
		if !fileExists(filepath.Join(prefix, f)) {
			t.Errorf("make install did not install %s", f)
		}
	}
	pc := filepath.Join(prefix, "lib", "pkgconfig")
	flags, err := exec.Command("pkg-config", "--with-path="+pc, "--cflags", "--libs", "fasshim").CombinedOutput()
	if err != nil || !strings.Contains(string(flags), "-I"+prefix+"/include") || !strings.Contains(string(flags), "-L"+prefix+"/lib") {
		t.Fatalf("pkg-config fasshim: %v: %s", err, flags)
	}

	bin := filepath.Join(t.TempDir(), "liveness-service")
	build := exec.Command(goTool(t), "build", "-tags", "fasshim_installed", "-o", bin, ".")
	build.Dir = filepath.Join(root, "go", "examples", "liveness-service")
	// The go command does not key its build cache on pkg-config's answer, so a cached shim
	// package built against another prefix would be linked; flags naming the prefix make the
	// key differ (README: "Building against an installed shim").
	build.Env = append(os.Environ(), "PKG_CONFIG_PATH="+pc, "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=readonly -buildvcs=false",
		"CGO_ENABLED=1", "CGO_CFLAGS=-O2 -g -I"+filepath.Join(prefix, "include"), "CGO_LDFLAGS=-O2 -g -L"+filepath.Join(prefix, "lib"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build of the example module: %v\n%s", err, out)
	}
	// It links the installed library: its run path is the prefix's lib, never the tree's build.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	needed, _ := f.DynString(elf.DT_NEEDED)
	runpath, _ := f.DynString(elf.DT_RUNPATH)
	rpath, _ := f.DynString(elf.DT_RPATH)
	f.Close()
	paths := strings.Join(append(runpath, rpath...), ":")
	if !strings.Contains(strings.Join(needed, " "), "libfasshim.so") || !strings.Contains(paths, filepath.Join(prefix, "lib")) ||
		strings.Contains(paths, filepath.Join(root, "build")) {
		t.Errorf("the example links %v with run path %q (want %s/lib, not %s/build)", needed, paths, prefix, root)
	}

	dir := t.TempDir()
	model := liveness.WriteTestModel(t, dir, liveness.TestModel{Seed: 21, Threshold: liveness.Float64(0.5)})
	img := filepath.Join(dir, "face.png")
	im := liveness.FaceImage(50, 44, 4)
	if err := os.WriteFile(img, liveness.EncodePNG(t, im), 0o644); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(bin, "-model", model, "-face-crops", img)
	run.Env = append(os.Environ(), "LD_LIBRARY_PATH=")
	out, err := run.Output()
	if err != nil {
		t.Fatalf("running the example: %v\n%s", err, out)
	}
	var got struct {
		Decision    string  `json:"decision"`
		AttackScore float64 `json:"attack_score"`
		Faces       int     `json:"faces"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d := open(t, model, liveness.WithFaceCrops())
	want, err := d.Score(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(got.AttackScore) != math.Float64bits(want.AttackScore) || got.Decision != string(want.Decision) || got.Faces != 1 {
		t.Errorf("the example says %+v; in process: %v %s", got, want.AttackScore, want.Decision)
	}
}
