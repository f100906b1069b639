package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// writeTree writes images and depth maps as files and the list files naming them.
func writeTree(t *testing.T) (root string, lists [][]Entry, rule DepthRule) {
	root = t.TempDir()
	rule = DepthRule{{From: "siteA/", To: "siteA_depth/"}}
	img, dep := face(newRand(), 30, 20)
	var live, attack []string
	for i := 0; i < 5; i++ {
		for c, name := range []string{"real", "spoof"} {
			key := fmt.Sprintf("siteA/%s/v%d/%03d.png", name, i%2, i)
			write(t, filepath.Join(root, key), pngBytes(t, img))
			if c == 0 {
				dk, _ := rule.DepthKey(key)
				write(t, filepath.Join(root, dk), pngBytes(t, dep))
				live = append(live, key+" 0")
			} else {
				attack = append(attack, key+" 1 attack=replay")
			}
		}
	}
	for _, l := range []struct {
		name  string
		lines []string
	}{{"live.txt", live}, {"attack.txt", attack}} {
		p := filepath.Join(root, l.name)
		write(t, p, []byte(strings.Join(l.lines, "\n")))
		es, err := ReadList(p)
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, es)
	}
	return root, lists, rule
}

func write(t *testing.T, p string, b []byte) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackRoundTripAndResume(t *testing.T) {
	root, lists, rule := writeTree(t)
	items, err := ItemsFromLists(root, lists, rule)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 15 { // 5 live + 5 depth + 5 attack
		t.Fatalf("%d items, want 15", len(items))
	}
	dbPath := filepath.Join(t.TempDir(), "data.lmdb")
	db, err := lmdb.Open(dbPath, lmdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	st, err := Pack(context.Background(), db, items[:9], PackOptions{BatchBytes: 1, Progress: func(d, n int) { calls++ }})
	if err != nil || st.Written != 9 || calls != 9 {
		t.Fatalf("first pack: %+v, %v, %d progress calls", st, err, calls)
	}
	// Resume: the first 9 are present and verified, the rest are written; a damaged
	// record is rewritten.
	if err := db.PutMany([]lmdb.KV{{Key: items[0].Key, Value: []byte("junk")}}); err != nil {
		t.Fatal(err)
	}
	st, err = Pack(context.Background(), db, items, PackOptions{})
	if err != nil || st.Present != 8 || st.Replaced != 1 || st.Written != 7 {
		t.Fatalf("resumed pack: %+v, %v; want 8 present, 1 replaced, 7 written", st, err)
	}
	for _, it := range items {
		want, _ := os.ReadFile(it.File)
		got, err := db.Get(it.Key)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read back %d bytes, %v", it.Key, len(got), err)
		}
	}
	// Check the packed database against its lists: clean.
	all := append(append([]Entry{}, lists[0]...), lists[1]...)
	ps, cst, err := Check(context.Background(), db, all, rule, 2)
	if err != nil || len(ps) != 0 || cst.Images != 10 || cst.DepthMaps != 5 {
		t.Fatalf("check of a clean pack: %v %+v %v", ps, cst, err)
	}
	db.Close()

	// Python's lmdb reads the packed database.
	ro, err := lmdb.Open(dbPath, lmdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	n, _ := ro.Len()
	if n != 15 {
		t.Fatalf("%d records, want 15", n)
	}
}

// TestPackReportsEveryBadSource: a missing file, an undecodable image and an undecodable depth
// map are all reported in one *BadSourcesError, and every other item is packed.
func TestPackReportsEveryBadSource(t *testing.T) {
	root, lists, rule := writeTree(t)
	bad := lists[1][2]
	write(t, filepath.Join(root, bad.Path), []byte("not an image"))
	gone := lists[0][1]
	os.Remove(filepath.Join(root, gone.Path))
	depth, _ := rule.DepthKey(lists[0][3].Path)
	write(t, filepath.Join(root, depth), []byte{0x89, 'P', 'N', 'G'})
	items, _ := ItemsFromLists(root, lists, rule)
	db, err := lmdb.Open(filepath.Join(t.TempDir(), "db"), lmdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := Pack(context.Background(), db, items, PackOptions{BatchBytes: 1})
	var be *BadSourcesError
	if !errors.As(err, &be) || len(be.Bad) != 3 || be.Total != 15 || st.Bad != 3 || st.Written != 12 {
		t.Fatalf("Pack = %+v, %v; want 3 bad sources and the 12 others written", st, err)
	}
	msg := err.Error()
	for _, want := range []string{
		"3 of 15 source files cannot be packed",
		fmt.Sprintf("%s:%d: key %q: file %s: missing", gone.List, gone.Line, gone.Path, filepath.Join(root, gone.Path)),
		fmt.Sprintf("%s:%d (depth): key %q: file %s: not a decodable image", lists[0][3].List, lists[0][3].Line, depth, filepath.Join(root, depth)),
		fmt.Sprintf("%s:%d: key %q: file %s: not a decodable image", bad.List, bad.Line, bad.Path, filepath.Join(root, bad.Path)),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if be.AllMissing() {
		t.Error("AllMissing with decodable-image problems")
	}
	for _, it := range items {
		has, _ := db.Has(it.Key)
		if want := it.Key != bad.Path && it.Key != gone.Path && it.Key != depth; has != want {
			t.Errorf("%s: stored %v, want %v", it.Key, has, want)
		}
	}
}

func TestBadSourcesErrorCapsAndAllMissing(t *testing.T) {
	var e BadSourcesError
	for i := 0; i < 23; i++ {
		f := fmt.Sprintf("/data/%02d.png", i)
		e.Bad = append(e.Bad, BadSource{Item: PackItem{Key: f[6:], File: f, Where: f}, Err: &fs.PathError{Op: "open", Path: f, Err: fs.ErrNotExist}})
	}
	e.Total = 23
	msg := e.Error()
	if !strings.Contains(msg, "\n  /data/19.png: missing\n  and 3 more") || strings.Contains(msg, "20.png") || strings.Count(msg, "missing") != 20 {
		t.Fatalf("error:\n%s", msg)
	}
	if !e.AllMissing() {
		t.Fatal("AllMissing false for only missing files")
	}
	e.Total++
	if e.AllMissing() {
		t.Fatal("AllMissing true with a good item")
	}
}

func TestCheckFindsMissingAndCorrupt(t *testing.T) {
	fx := newFixture(t, []int{4}, []int{4})
	live, attack := fx.domains[0].Live, fx.domains[0].Attack
	dk, _ := fx.rule.DepthKey(live[1].Path)
	if err := fx.db.PutMany([]lmdb.KV{{Key: attack[3].Path, Value: []byte{0xFF, 0xD8, 0xFF, 0, 1}}, {Key: dk, Value: pngBytes(t, image.NewGray(image.Rect(0, 0, 9, 9)))[:40]}}); err != nil {
		t.Fatal(err)
	}
	gone := live[2]
	gone.Path = "dom0/live/nowhere.png"
	entries := []Entry{live[0], live[1], gone, attack[3]}
	ps, _, err := Check(context.Background(), fx.db, entries, fx.rule, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, fmt.Sprintf("%d %s %s", p.Line, p.Key, p.Kind))
	}
	want := []string{
		fmt.Sprintf("%d %s corrupt", live[1].Line, dk),
		fmt.Sprintf("%d %s missing", gone.Line, gone.Path),
		fmt.Sprintf("%d %s missing", gone.Line, strings.Replace(gone.Path, "dom0/", "dom0_depth/", 1)),
		fmt.Sprintf("%d %s corrupt", attack[3].Line, attack[3].Path),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
