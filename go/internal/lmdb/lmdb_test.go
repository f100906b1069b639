package lmdb

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

func randomRecords(n int, seed uint64) []KV {
	r := rand.New(rand.NewPCG(seed, 1))
	kvs := make([]KV, n)
	for i := range kvs {
		v := make([]byte, r.IntN(3000))
		for j := range v {
			v[j] = byte(r.UintN(256))
		}
		kvs[i] = KV{Key: fmt.Sprintf("dom%d/video_%03d/frame_%04d.png", i%3, i/7, i), Value: v}
	}
	return kvs
}

func mustOpen(t *testing.T, path string, o Options) *Env {
	t.Helper()
	e, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db.lmdb")
	kvs := randomRecords(200, 1)
	w := mustOpen(t, dir, Options{})
	if err := w.PutMany(kvs[:120]); err != nil {
		t.Fatal(err)
	}
	if err := w.PutMany(kvs[120:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, dir, Options{ReadOnly: true})
	for _, kv := range kvs {
		got, err := r.Get(kv.Key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, kv.Value) {
			t.Fatalf("%s: value differs (%d vs %d bytes)", kv.Key, len(got), len(kv.Value))
		}
	}
	n, err := r.Len()
	if err != nil || n != int64(len(kvs)) {
		t.Fatalf("Len = %d, %v; want %d", n, err, len(kvs))
	}
	var keys []string
	if err := r.Keys(func(k string) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	want := make([]string, len(kvs))
	for i, kv := range kvs {
		want[i] = kv.Key
	}
	sort.Strings(want)
	if strings.Join(keys, "\n") != strings.Join(want, "\n") {
		t.Fatalf("Keys gave %d keys not in byte order of the %d written", len(keys), len(want))
	}
}

func TestMissingAndBadKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	e := mustOpen(t, dir, Options{})
	if err := e.PutMany([]KV{{Key: "a", Value: []byte("x")}, {Key: "empty", Value: nil}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get("nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound naming the key", err)
	}
	if ok, err := e.Has("nope"); ok || err != nil {
		t.Fatalf("Has(missing) = %v, %v", ok, err)
	}
	if ok, err := e.Has("a"); !ok || err != nil {
		t.Fatalf("Has(a) = %v, %v", ok, err)
	}
	if v, err := e.Get("empty"); err != nil || len(v) != 0 {
		t.Fatalf("Get(empty value) = %q, %v", v, err)
	}
	if _, err := e.Get(""); err == nil {
		t.Fatal("Get(\"\") succeeded")
	}
	long := strings.Repeat("k", 600) // over LMDB's 511-byte key limit
	err := e.PutMany([]KV{{Key: "b", Value: []byte("y")}, {Key: long, Value: []byte("z")}})
	if err == nil || !strings.Contains(err.Error(), "kkkk") {
		t.Fatalf("PutMany(too long key) = %v, want an error naming the key", err)
	}
	if ok, _ := e.Has("b"); ok {
		t.Fatal("a failed PutMany left part of its records behind")
	}
}

func TestReadOnlyAndLifecycle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	if _, err := Open(dir, Options{ReadOnly: true}); err == nil {
		t.Fatal("opening a missing database read-only succeeded")
	}
	w := mustOpen(t, dir, Options{})
	if _, err := Open(dir, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "already open") {
		t.Fatalf("second Open in one process = %v, want 'already open'", err)
	}
	if err := w.PutMany([]KV{{Key: "k", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Get("k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	r := mustOpen(t, dir, Options{ReadOnly: true})
	if err := r.PutMany([]KV{{Key: "k2", Value: []byte("v")}}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("PutMany on a reader = %v", err)
	}
}

// TestMapFull: a write over the map size is ErrMapFull (callers name their own remedy), its
// message says what happened without Go API names, and nothing of it is stored.
func TestMapFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	e := mustOpen(t, dir, Options{MapSize: 1 << 20})
	big := make([]byte, 2<<20)
	err := e.PutMany([]KV{{Key: "small", Value: []byte("v")}, {Key: "big", Value: big}})
	if !errors.Is(err, ErrMapFull) {
		t.Fatalf("PutMany over the map size = %v, want ErrMapFull", err)
	}
	var le *Error
	if !errors.As(err, &le) || le.Code == 0 {
		t.Fatalf("%v is not an *Error with the LMDB code", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "map size") || strings.Contains(msg, "Options") || strings.Contains(msg, "MapSize") {
		t.Fatalf("message %q: want the cause in words and no Go API names", msg)
	}
	if ok, _ := e.Has("small"); ok {
		t.Fatal("a failed write transaction stored a record")
	}
	if errors.Is(lmdbErr("put", 22), ErrMapFull) || errors.Is(ErrNotFound, ErrMapFull) {
		t.Fatal("other errors match ErrMapFull")
	}
}

// TestPathKindMessages: opening a file as a directory environment (and the reverse) says so
// without naming Options fields.
func TestPathKindMessages(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.mdb")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		o    Options
		want string
	}{
		{file, Options{ReadOnly: true}, "is a file, not a database directory"},
		{dir, Options{ReadOnly: true, NoSubdir: true}, "is a directory, not a single-file database"},
	} {
		_, err := Open(c.path, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "NoSubdir") {
			t.Errorf("Open(%s, %+v) = %v, want %q", c.path, c.o, err, c.want)
		}
	}
}

// TestConcurrentReaders reads from many goroutines (more than OS threads), while a writer
// commits and Close waits for everything in flight.
func TestConcurrentReaders(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	kvs := randomRecords(300, 2)
	e := mustOpen(t, dir, Options{})
	if err := e.PutMany(kvs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 4*runtime.GOMAXPROCS(0)+8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(kvs); i += 3 {
				v, err := e.Get(kvs[i].Key)
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(v, kvs[i].Value) {
					errs <- fmt.Errorf("%s: wrong value", kvs[i].Key)
					return
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			if err := e.PutMany([]KV{{Key: fmt.Sprintf("extra/%d", i), Value: []byte{byte(i)}}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	// Keys with a nested Get must not deadlock (the in-flight count is reentrant).
	if err := e.Keys(func(k string) error { _, err := e.Get(k); return err }); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := e.Len(); n != int64(len(kvs)+20) {
		t.Fatalf("Len = %d, want %d", n, len(kvs)+20)
	}
}

// python runs tests/python/data_lmdb.py (python3 with the lmdb module).
func python(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	return pyref.Run(t, stdin, "data_lmdb.py", args...)
}

func TestPythonReadsOurs(t *testing.T) {
	for _, nosub := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "db")
		kvs := randomRecords(50, 3)
		kvs = append(kvs, KV{Key: "ünïcode/päth.jpg", Value: []byte{0, 1, 2}})
		e := mustOpen(t, path, Options{NoSubdir: nosub})
		if err := e.PutMany(kvs); err != nil {
			t.Fatal(err)
		}
		e.Close()
		args := []string{"dump", path}
		if nosub {
			args = append(args, "--nosubdir")
		}
		var got map[string]string
		if err := json.Unmarshal(python(t, nil, args...), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(kvs) {
			t.Fatalf("python saw %d records, want %d", len(got), len(kvs))
		}
		for _, kv := range kvs {
			if got[kv.Key] != hex.EncodeToString(kv.Value) {
				t.Fatalf("python read a different value for %q", kv.Key)
			}
		}
	}
}

func TestWeReadPythons(t *testing.T) {
	for _, nosub := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "db")
		kvs := randomRecords(50, 4)
		spec := map[string]string{}
		for _, kv := range kvs {
			spec[kv.Key] = hex.EncodeToString(kv.Value)
		}
		js, _ := json.Marshal(spec)
		args := []string{"write", path}
		if nosub {
			args = append(args, "--nosubdir")
		}
		python(t, js, args...)
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		e := mustOpen(t, path, Options{ReadOnly: true, NoSubdir: nosub})
		for _, kv := range kvs {
			v, err := e.Get(kv.Key)
			if err != nil || !bytes.Equal(v, kv.Value) {
				t.Fatalf("%s: %v (value equal: %v)", kv.Key, err, bytes.Equal(v, kv.Value))
			}
		}
		if n, _ := e.Len(); n != int64(len(kvs)) {
			t.Fatalf("Len = %d, want %d", n, len(kvs))
		}
		e.Close()
	}
}

func TestView(t *testing.T) {
	e := mustOpen(t, filepath.Join(t.TempDir(), "db"), Options{})
	if err := e.PutMany([]KV{{Key: "k", Value: []byte("value")}}); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := e.View("k", func(v []byte) error { got = string(v); return nil }); err != nil || got != "value" {
		t.Fatalf("View = %q, %v", got, err)
	}
	sentinel := errors.New("stop")
	if err := e.View("k", func([]byte) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("View did not return fn's error: %v", err)
	}
	if err := e.View("missing", func([]byte) error { t.Fatal("fn called for a missing key"); return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("View(missing) = %v", err)
	}
}

// TestNoLockFallback: Open retries without the lock table when the lock file cannot be
// created (EACCES, EROFS); that path reads the data as usual.
func TestNoLockFallback(t *testing.T) {
	for code, want := range map[int]bool{int(syscall.EACCES): true, int(syscall.EROFS): true, int(syscall.ENOENT): false} {
		if got := lockDenied(fmt.Errorf("wrapped: %w", &Error{Code: code, Op: "env_open"})); got != want {
			t.Errorf("lockDenied(errno %d) = %v", code, got)
		}
	}
	dir := filepath.Join(t.TempDir(), "db")
	w := mustOpen(t, dir, Options{})
	if err := w.PutMany([]KV{{Key: "k", Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	os.Remove(filepath.Join(dir, "lock.mdb"))
	r, err := openNoLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, err := r.Get("k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lock.mdb")); err == nil {
		t.Error("the no-lock open created a lock file")
	}
}
