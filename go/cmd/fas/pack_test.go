package main

import (
	"fmt"
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// packArgs are the pack flags for the lists of packTestTree.
func packArgs(t *testing.T, root, out string) []string {
	t.Helper()
	lists, err := filepath.Glob(filepath.Join(root, "lists", "*.txt"))
	if err != nil || len(lists) == 0 {
		t.Fatalf("lists: %v %v", lists, err)
	}
	args := []string{"pack", "--out", out, "--root", root,
		"--depth-rule", "dom0/=dom0_depth/", "--depth-rule", "dom1/=dom1_depth/", "--depth-rule", "dom2/=dom2_depth/"}
	for _, l := range lists {
		args = append(args, "--list", l)
	}
	return args
}

func records(t *testing.T, db string) int64 {
	t.Helper()
	env, err := lmdb.Open(db, lmdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	n, err := env.Len()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPackNamesEveryBadFile: one missing and two undecodable sources are all named (list, line,
// key, file, what is wrong) in one error, the other files are packed, and a re-run after the
// fix adds exactly the three.
func TestPackNamesEveryBadFile(t *testing.T) {
	root := packTestTree(t)
	missing := "dom0/train/live/v0/1.png"
	garbled := []string{"dom1/val/attack/v1/3.png", "dom2_depth/test/live/v0/0.png"}
	keep := map[string][]byte{}
	for _, k := range append([]string{missing}, garbled...) {
		b, err := os.ReadFile(filepath.Join(root, k))
		if err != nil {
			t.Fatal(err)
		}
		keep[k] = b
	}
	os.Remove(filepath.Join(root, missing))
	for _, k := range garbled {
		os.WriteFile(filepath.Join(root, k), []byte("not an image"), 0o644)
	}
	db := filepath.Join(t.TempDir(), "data.lmdb")
	_, err := runFasData(t, packArgs(t, root, db)...)
	if err == nil {
		t.Fatal("pack accepted bad source files")
	}
	msg := err.Error()
	for _, want := range []string{
		"3 of 108 source files cannot be packed",
		fmt.Sprintf("dom0_train_live.txt:2: key %q: file %s: missing", missing, filepath.Join(root, missing)),
		fmt.Sprintf("dom1_val_attack.txt:4: key %q: file %s: not a decodable image", garbled[0], filepath.Join(root, garbled[0])),
		fmt.Sprintf("dom2_test_live.txt:1 (depth): key %q: file %s: not a decodable image", garbled[1], filepath.Join(root, garbled[1])),
		"re-run",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if n := records(t, db); n != 105 {
		t.Fatalf("%d records packed, want the 105 good ones", n)
	}
	for k, b := range keep {
		os.WriteFile(filepath.Join(root, k), b, 0o644)
	}
	if out, err := runFasData(t, packArgs(t, root, db)...); err != nil {
		t.Fatalf("re-run after the fix: %v\n%s", err, out)
	}
	if n := records(t, db); n != 108 {
		t.Fatalf("%d records after the fix, want 108", n)
	}
}

// TestPackCapsTheList: past 20 bad files the error counts the rest.
func TestPackCapsTheList(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 25; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("bad%02d.png", i)), []byte("junk"), 0o644)
	}
	packTestPNG(t, filepath.Join(dir, "good.png"), image.NewGray(image.Rect(0, 0, 4, 4)))
	_, err := runFasData(t, "pack", "--dir", dir, "--out", filepath.Join(t.TempDir(), "db"))
	if err == nil {
		t.Fatal("pack accepted bad files")
	}
	msg := err.Error()
	if !strings.Contains(msg, "25 of 26 source files cannot be packed") || !strings.Contains(msg, "and 5 more") ||
		!strings.Contains(msg, filepath.Join(dir, "bad19.png")+": not a decodable image") || strings.Contains(msg, "bad20.png") {
		t.Fatalf("error:\n%s", msg)
	}
	if strings.Count(msg, "not a decodable image") != 20 {
		t.Fatalf("want 20 files named one by one:\n%s", msg)
	}
}

// TestPackLeavesNoEmptyDatabase: a pack that stores nothing removes the database and the
// directories it created, and never an existing database or directory.
func TestPackLeavesNoEmptyDatabase(t *testing.T) {
	root := packTestTree(t)
	base := t.TempDir()

	// A wrong --root: every file is missing. The new directories go again; the hint names --root.
	out := filepath.Join(base, "new", "sub", "data.lmdb")
	args := packArgs(t, root, out)
	for i, a := range args {
		if a == "--root" {
			args[i+1] = filepath.Join(root, "lists")
		}
	}
	_, err := runFasData(t, args...)
	if err == nil || !strings.Contains(err.Error(), "108 of 108 source files cannot be packed") || !strings.Contains(err.Error(), "--root") {
		t.Fatalf("pack with a wrong --root: %v", err)
	}
	if _, serr := os.Stat(filepath.Join(base, "new")); !os.IsNotExist(serr) {
		t.Fatalf("pack left %s behind (%v)", filepath.Join(base, "new"), serr)
	}

	// An existing empty directory stays, without database files.
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	if _, err := runFasData(t, replaceOut(args, empty)...); err == nil {
		t.Fatal("pack with a wrong --root succeeded")
	}
	if ents, err := os.ReadDir(empty); err != nil || len(ents) != 0 {
		t.Fatalf("existing directory: %v %v, want it kept and empty", ents, err)
	}

	// An existing database, even an empty one, is never removed.
	db := filepath.Join(base, "db")
	env, err := lmdb.Open(db, lmdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env.Close()
	if _, err := runFasData(t, replaceOut(args, db)...); err == nil {
		t.Fatal("pack with a wrong --root succeeded")
	}
	if _, err := os.Stat(filepath.Join(db, "data.mdb")); err != nil {
		t.Fatalf("an existing database was removed: %v", err)
	}

	// A database that got records stays.
	good := filepath.Join(base, "good.lmdb")
	if _, err := runFasData(t, packArgs(t, root, good)...); err != nil {
		t.Fatal(err)
	}
	if _, err := runFasData(t, replaceOut(args, good)...); err == nil {
		t.Fatal("pack with a wrong --root succeeded")
	}
	if n := records(t, good); n != 108 {
		t.Fatalf("existing database holds %d records after a failed pack, want 108", n)
	}
}

func replaceOut(args []string, out string) []string {
	a := append([]string(nil), args...)
	for i := range a {
		if a[i] == "--out" {
			a[i+1] = out
		}
	}
	return a
}

// TestPackMapFullNamesTheFlag: a database over --map-size says which flag to raise, in CLI
// terms, and the empty database it created is gone.
func TestPackMapFullNamesTheFlag(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3; i++ {
		img := image.NewNRGBA(image.Rect(0, 0, 200, 200))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(rng.UintN(256)), uint8(rng.UintN(256)), uint8(rng.UintN(256)), 255
		}
		packTestPNG(t, filepath.Join(dir, fmt.Sprintf("%d.png", i)), img)
	}
	out := filepath.Join(t.TempDir(), "db")
	_, err := runFasData(t, "pack", "--dir", dir, "--out", out, "--map-size", "0.0001")
	if err == nil {
		t.Fatal("360 KB of images fit a 105 KiB map")
	}
	msg := err.Error()
	if !strings.Contains(msg, "--map-size") || strings.Contains(msg, "Options") || strings.Contains(msg, "MapSize") {
		t.Fatalf("error %q: want the --map-size flag and no Go API names", msg)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Fatalf("the empty database is still there (%v)", serr)
	}
}

func TestPackRefusesEmptyInput(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "empty.txt")
	os.WriteFile(list, []byte("# nothing\n\n"), 0o644)
	out := filepath.Join(dir, "db")
	for _, args := range [][]string{
		{"pack", "--list", list, "--out", out},
		{"pack", "--dir", filepath.Join(dir), "--out", out},
		{"pack", "--dir", dir, "--out", out, "--map-size", "0"},
	} {
		_, err := runFasData(t, args...)
		if err == nil {
			t.Fatalf("%v succeeded", args)
		}
		if _, serr := os.Stat(out); !os.IsNotExist(serr) {
			t.Fatalf("%v created %s", args, out)
		}
	}
}

func TestDumpRefusesSmallOrOddSize(t *testing.T) {
	root := packTestTree(t)
	db := filepath.Join(t.TempDir(), "data.lmdb")
	if _, err := runFasData(t, packArgs(t, root, db)...); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(root, "lists/dom1_train_live.txt")
	for _, s := range []string{"8", "12", "24", "0"} {
		out := filepath.Join(t.TempDir(), "x.safetensors")
		_, err := runFasData(t, "data", "dump", "--lmdb", db, "--list", list, "--index", "0", "--size", s, "--out", out, "--depth-rule", "dom1/=dom1_depth/")
		if err == nil || !strings.Contains(err.Error(), "--size "+s+": the image size must be a multiple of 8 and at least 32") {
			t.Errorf("--size %s: %v", s, err)
		}
		if _, serr := os.Stat(out); !os.IsNotExist(serr) {
			t.Errorf("--size %s wrote %s", s, out)
		}
	}
	out := filepath.Join(t.TempDir(), "x.safetensors")
	if _, err := runFasData(t, "data", "dump", "--lmdb", db, "--list", list, "--index", "0", "--size", "32", "--out", out, "--depth-rule", "dom1/=dom1_depth/"); err != nil {
		t.Fatalf("--size 32: %v", err)
	}
}
