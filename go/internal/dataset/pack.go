package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// PackItem is one file to store under Key; Where names its origin for errors.
type PackItem struct {
	Key   string
	File  string
	Where string // "list:line" or the file itself
	Gray  bool   // a depth map (decoded as gray when verifying)
}

// ItemsFromLists maps list entries to files under root (file = root/key); live entries also
// bring their depth map's key through rule when rule is non-empty.
func ItemsFromLists(root string, lists [][]Entry, rule DepthRule) ([]PackItem, error) {
	var items []PackItem
	seen := map[string]bool{}
	add := func(it PackItem) {
		if !seen[it.Key] {
			seen[it.Key] = true
			items = append(items, it)
		}
	}
	for _, l := range lists {
		for _, e := range l {
			where := fmt.Sprintf("%s:%d", e.List, e.Line)
			add(PackItem{Key: e.Path, File: filepath.Join(root, filepath.FromSlash(e.Path)), Where: where})
			if e.Label != Live || len(rule) == 0 {
				continue
			}
			dk, ok := rule.DepthKey(e.Path)
			if !ok {
				return nil, fmt.Errorf("%s: key %q: no depth rule matches this live sample", where, e.Path)
			}
			add(PackItem{Key: dk, File: filepath.Join(root, filepath.FromSlash(dk)), Where: where + " (depth)", Gray: true})
		}
	}
	return items, nil
}

// ItemsFromTree lists every .jpg, .jpeg and .png file under dir, keyed by its slash-separated
// path relative to dir, in lexical order.
func ItemsFromTree(dir string) ([]PackItem, error) {
	var items []PackItem
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		if d.IsDir() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		items = append(items, PackItem{Key: filepath.ToSlash(rel), File: p, Where: p})
		return nil
	})
	return items, err
}

// PackStats counts what Pack did.
type PackStats struct {
	Written  int // records stored (and verified) in this run
	Present  int // records already present, identical to their file and decodable: skipped
	Replaced int // records present but different or undecodable: rewritten
	Bad      int // source files that cannot be read or decoded: not stored (see BadSourcesError)
}

// BadSource is a source file Pack could not store, and why.
type BadSource struct {
	Item        PackItem
	Err         error // the read error (errors.Is(Err, fs.ErrNotExist) for a missing file) or the decoding error
	Undecodable bool  // the file was read but does not decode
}

func (b BadSource) String() string {
	var pe *fs.PathError
	err := b.Err
	if errors.As(err, &pe) && pe.Path == b.Item.File {
		err = pe.Err // the file is named already
	}
	what := "cannot be read: " + err.Error()
	switch {
	case b.Undecodable:
		what = "not a decodable image: " + err.Error()
	case errors.Is(err, fs.ErrNotExist):
		what = "missing"
	}
	if b.Item.Where == b.Item.File {
		return fmt.Sprintf("%s: %s", b.Item.File, what)
	}
	return fmt.Sprintf("%s: key %q: file %s: %s", b.Item.Where, b.Item.Key, b.Item.File, what)
}

// BadSourcesError lists every source file of a Pack call that could not be stored. The other
// items were packed; re-running after fixing the files adds them.
type BadSourcesError struct {
	Bad   []BadSource
	Total int // items given to Pack
}

// maxListed bounds the files BadSourcesError.Error names one by one.
const maxListed = 20

func (e *BadSourcesError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d source files cannot be packed:", len(e.Bad), e.Total)
	for i, s := range e.Bad {
		if i == maxListed {
			fmt.Fprintf(&b, "\n  and %d more", len(e.Bad)-maxListed)
			break
		}
		b.WriteString("\n  " + s.String())
	}
	return b.String()
}

// AllMissing reports whether every item was a missing file (a wrong root, usually).
func (e *BadSourcesError) AllMissing() bool {
	if len(e.Bad) != e.Total {
		return false
	}
	for _, s := range e.Bad {
		if !errors.Is(s.Err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// PackOptions tunes Pack.
type PackOptions struct {
	BatchBytes int                   // bytes per write transaction; 0 = 64 MiB
	Progress   func(done, total int) // called after each item, if set
}

// Pack stores the items' files in db. It is resumable: a key already present with the
// same bytes that still decode is skipped. Every source is decoded before it is written,
// and every record written is read back, compared and decoded again.
//
// A source file that cannot be read or decoded does not stop the run: it is left out, the
// rest is packed, and the error is then a *BadSourcesError naming every such file. Any other
// error (a failed write or read-back check, ctx's) stops Pack at once.
func Pack(ctx context.Context, db *lmdb.Env, items []PackItem, opt PackOptions) (PackStats, error) {
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = 64 << 20
	}
	var st PackStats
	var batch []lmdb.KV
	var batchItems []PackItem
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := db.PutMany(batch); err != nil {
			return fmt.Errorf("writing %d records (first %q): %w", len(batch), batch[0].Key, err)
		}
		for i, kv := range batch {
			if err := verifyRecord(db, batchItems[i], kv.Value); err != nil {
				return fmt.Errorf("%s: key %q: read-back check failed: %w", batchItems[i].Where, kv.Key, err)
			}
		}
		st.Written += len(batch)
		batch, batchItems, size = batch[:0], batchItems[:0], 0
		return nil
	}
	var scratch imgproc.Image
	var bad []BadSource
	for n, it := range items {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if opt.Progress != nil && n > 0 {
			opt.Progress(n, len(items))
		}
		b, err := os.ReadFile(it.File)
		undecodable := false
		if err == nil {
			err = decodeAs(b, it.Gray, &scratch)
			undecodable = err != nil
		}
		if err != nil {
			bad = append(bad, BadSource{Item: it, Err: err, Undecodable: undecodable})
			st.Bad++
			continue
		}
		switch verifyRecord(db, it, b) {
		case nil:
			st.Present++
		default:
			if ok, _ := db.Has(it.Key); ok {
				st.Replaced++
			}
			batch, batchItems = append(batch, lmdb.KV{Key: it.Key, Value: b}), append(batchItems, it)
			size += len(b)
		}
		if size >= opt.BatchBytes {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	if opt.Progress != nil && len(items) > 0 {
		opt.Progress(len(items), len(items))
	}
	if len(bad) > 0 {
		return st, &BadSourcesError{Bad: bad, Total: len(items)}
	}
	return st, nil
}

// verifyRecord checks that key holds exactly want and decodes.
func verifyRecord(db Store, it PackItem, want []byte) error {
	return db.View(it.Key, func(v []byte) error {
		if !bytes.Equal(v, want) {
			return fmt.Errorf("stored %d bytes differ from the %d bytes of %s", len(v), len(want), it.File)
		}
		var m imgproc.Image
		return decodeAs(v, it.Gray, &m)
	})
}

func decodeAs(b []byte, gray bool, m *imgproc.Image) error {
	if gray {
		return imgproc.DecodeGray(b, m)
	}
	return imgproc.DecodeRGB(b, m)
}
