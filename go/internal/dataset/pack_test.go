package dataset

import (
	"bytes"
	"context"
	"fmt"
	"image"
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

func TestPackRejectsUndecodableSource(t *testing.T) {
	root, lists, rule := writeTree(t)
	bad := lists[1][2]
	write(t, filepath.Join(root, bad.Path), []byte("not an image"))
	items, _ := ItemsFromLists(root, lists, rule)
	db, err := lmdb.Open(filepath.Join(t.TempDir(), "db"), lmdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Pack(context.Background(), db, items, PackOptions{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s:%d", bad.List, bad.Line)) || !strings.Contains(err.Error(), bad.Path) {
		t.Fatalf("error %v does not name %s:%d and the key", err, bad.List, bad.Line)
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
