package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// runFasData runs the CLI in-process and returns its stdout and error.
func runFasData(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := buildApp()
	var out bytes.Buffer
	app.Writer = &out
	app.ErrWriter = &out
	err := app.Run(append([]string{"fas"}, args...))
	return out.String(), err
}

// packTestTree writes three domains of PNG frames and depth maps plus their train/val/test lists.
func packTestTree(t *testing.T) string {
	root := t.TempDir()
	for d := 0; d < 3; d++ {
		dom := fmt.Sprintf("dom%d", d)
		for _, split := range []string{"train", "val", "test"} {
			for c, cls := range []string{"live", "attack"} {
				var lines []string
				for i := 0; i < 4; i++ {
					key := fmt.Sprintf("%s/%s/%s/v%d/%d.png", dom, split, cls, i/2, i)
					img := image.NewNRGBA(image.Rect(0, 0, 24+i, 20))
					dep := image.NewGray(image.Rect(0, 0, 24+i, 20))
					for y := 0; y < 20; y++ {
						for x := 0; x < 24+i; x++ {
							img.SetNRGBA(x, y, color.NRGBA{uint8(10*x + d*40), uint8(12 * y), uint8(x * y), 255})
							dep.SetGray(x, y, color.Gray{uint8(x*y + i)})
						}
					}
					packTestPNG(t, filepath.Join(root, key), img)
					if c == 0 {
						packTestPNG(t, filepath.Join(root, strings.Replace(key, dom+"/", dom+"_depth/", 1)), dep)
					}
					lines = append(lines, fmt.Sprintf("%s %d", key, c))
				}
				os.MkdirAll(filepath.Join(root, "lists"), 0o755)
				list := filepath.Join(root, "lists", fmt.Sprintf("%s_%s_%s.txt", dom, split, cls))
				if err := os.WriteFile(list, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return root
}

func packTestPNG(t *testing.T, p string, img image.Image) {
	os.MkdirAll(filepath.Dir(p), 0o755)
	var buf bytes.Buffer
	png.Encode(&buf, img)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackCheckDump(t *testing.T) {
	root := packTestTree(t)
	lists, _ := filepath.Glob(filepath.Join(root, "lists", "*.txt"))
	db := filepath.Join(root, "data.lmdb")
	rules := []string{"--depth-rule", "dom0/=dom0_depth/", "--depth-rule", "dom1/=dom1_depth/", "--depth-rule", "dom2/=dom2_depth/"}
	args := append([]string{"pack", "--out", db, "--root", root}, rules...)
	for _, l := range lists {
		args = append(args, "--list", l)
	}
	if _, err := runFasData(t, args...); err != nil {
		t.Fatal(err)
	}
	if _, err := runFasData(t, args...); err != nil { // resume: everything present
		t.Fatal(err)
	}
	checkArgs := append([]string{"data", "check", "--lmdb", db}, rules...)
	for _, l := range lists {
		checkArgs = append(checkArgs, "--list", l)
	}
	if out, err := runFasData(t, checkArgs...); err != nil || out != "" {
		t.Fatalf("check of a fresh pack: %v\n%s", err, out)
	}

	// dump: explicit flags vs --config for the same entry; both equal Processor.Sample.
	cfgPath := filepath.Join(root, "cfg.yaml")
	cfg := "dataset:\n  root: .\n  lmdb: data.lmdb\n  depth_rule: [{from: dom0/, to: dom0_depth/}, {from: dom1/, to: dom1_depth/}, {from: dom2/, to: dom2_depth/}]\n" +
		"  train:\n    - {name: dom0, live: lists/dom0_train_live.txt, attack: lists/dom0_train_attack.txt}\n" +
		"    - {name: dom1, live: lists/dom1_train_live.txt, attack: lists/dom1_train_attack.txt}\n" +
		"    - {name: dom2, live: lists/dom2_train_live.txt, attack: lists/dom2_train_attack.txt}\n" +
		"  val:\n    - {name: dom0, live: lists/dom0_val_live.txt, attack: lists/dom0_val_attack.txt}\n" +
		"  test:\n    - {name: dom2, live: lists/dom2_test_live.txt, attack: lists/dom2_test_attack.txt}\n" +
		"transform: {image_size: 32}\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(root, "a.safetensors"), filepath.Join(root, "b.safetensors")
	if _, err := runFasData(t, append([]string{"data", "dump", "--lmdb", db, "--list", filepath.Join(root, "lists/dom1_train_live.txt"),
		"--index", "1", "--size", "32", "--out", a}, rules...)...); err != nil {
		t.Fatal(err)
	}
	// The train split concatenates dom0 live (0-3), dom0 attack (4-7), dom1 live (8-11), ...:
	// entry 9 is dom1's live entry 1.
	if _, err := runFasData(t, "data", "dump", "--config", cfgPath, "--split", "train", "--no-augment", "--index", "9", "--out", b); err != nil {
		t.Fatal(err)
	}
	fa, err := safetensors.Read(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := safetensors.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if fa.Metadata["key"] != "dom1/train/live/v0/1.png" || fb.Metadata["key"] != fa.Metadata["key"] {
		t.Fatalf("dumped keys %q and %q", fa.Metadata["key"], fb.Metadata["key"])
	}
	for _, name := range []string{"image", "depth", "label"} {
		ta, _ := fa.Get(name)
		tb, _ := fb.Get(name)
		if ta == nil || tb == nil || !bytes.Equal(ta.Data, tb.Data) || fmt.Sprint(ta.Shape) != fmt.Sprint(tb.Shape) {
			t.Fatalf("tensor %s differs between explicit and --config dumps", name)
		}
	}
	img, _ := fa.Get("image")
	dep, _ := fa.Get("depth")
	if fmt.Sprint(img.Shape) != "[6 32 32]" || fmt.Sprint(dep.Shape) != "[4 4]" {
		t.Fatalf("shapes %v %v", img.Shape, dep.Shape)
	}
	env, _ := lmdb.Open(db, lmdb.Options{ReadOnly: true})
	tr := dataset.DefaultTransform()
	tr.Size, tr.DepthRule = 32, dataset.DepthRule{{From: "dom1/", To: "dom1_depth/"}}
	proc, _ := dataset.NewProcessor(tr)
	es, _ := dataset.ReadList(filepath.Join(root, "lists/dom1_train_live.txt"))
	want, wantDep := make([]float32, 6*32*32), make([]float32, 16)
	err = proc.Sample(env, &es[1], dataset.Aug{}, want, wantDep)
	env.Close()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := img.Float32()
	gotDep, _ := dep.Float32()
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(gotDep) != fmt.Sprint(wantDep) {
		t.Fatal("dumped tensors differ from Processor.Sample")
	}

	// Corrupt one record and list a frame that was never packed: check fails and names both.
	w, _ := lmdb.Open(db, lmdb.Options{})
	w.PutMany([]lmdb.KV{{Key: "dom2/test/attack/v1/3.png", Value: []byte("broken")}})
	w.Close()
	extra := filepath.Join(root, "extra.txt")
	os.WriteFile(extra, []byte("dom2/test/live/v9/missing.png 0\n"), 0o644)
	out, err := runFasData(t, append(checkArgs, "--list", extra)...)
	if err == nil {
		t.Fatal("check passed a corrupt database")
	}
	for _, want := range []string{"dom2_test_attack.txt:4: key \"dom2/test/attack/v1/3.png\": corrupt", "extra.txt:1: key \"dom2/test/live/v9/missing.png\": missing", "dom2_depth/test/live/v9/missing.png\": missing"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}
