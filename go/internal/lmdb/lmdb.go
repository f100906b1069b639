// Package lmdb is a small cgo binding on Debian's liblmdb: concurrent read-only access
// for training and a batched writer for packing. Databases are plain LMDB environments,
// readable and writable by Python's `lmdb` module as well.
//
// Thread rules. Environments are opened with MDB_NOTLS, so a read transaction is not
// tied to the OS thread that began it; reads may run on any goroutine, and read
// transactions are recycled through a small pool (mdb_txn_reset / mdb_txn_renew). A
// write transaction must begin, run and commit on one OS thread, so PutMany locks its
// goroutine to its thread for the length of the transaction. An *Env is safe for
// concurrent use; Close waits for the calls in flight.
package lmdb

/*
#cgo LDFLAGS: -llmdb
#include <errno.h>
#include <stdlib.h>
#include <lmdb.h>

// One thin C function per call that needs an MDB_val: the values point at Go memory,
// and cgo forbids Go memory that holds Go pointers, so MDB_val is built on the C side.
static int fas_get(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, void **v, size_t *vn) {
	MDB_val key = {kn, (void *)k}, val = {0, NULL};
	int rc = mdb_get(txn, dbi, &key, &val);
	*v = val.mv_data;
	*vn = val.mv_size;
	return rc;
}

static int fas_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kn, const void *v, size_t vn) {
	MDB_val key = {kn, (void *)k}, val = {vn, (void *)v};
	return mdb_put(txn, dbi, &key, &val, 0);
}

static int fas_cursor_get(MDB_cursor *c, MDB_cursor_op op, void **k, size_t *kn) {
	MDB_val key = {0, NULL}, val = {0, NULL};
	int rc = mdb_cursor_get(c, &key, &val, op);
	*k = key.mv_data;
	*kn = key.mv_size;
	return rc;
}

static size_t fas_entries(MDB_txn *txn, MDB_dbi dbi, int *rc) {
	MDB_stat st;
	*rc = mdb_stat(txn, dbi, &st);
	return st.ms_entries;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"
)

// ErrNotFound is returned (wrapped) by Get when a key is absent.
var ErrNotFound = errors.New("lmdb: key not found")

// ErrClosed is returned by every call on a closed Env.
var ErrClosed = errors.New("lmdb: environment is closed")

// ErrMapFull matches (errors.Is) a write that failed because the database outgrew its map
// size (MDB_MAP_FULL). Nothing of that write transaction is stored; reopen the environment
// with a larger Options.MapSize and write again.
var ErrMapFull = errors.New("lmdb: the database is larger than its map size")

// Options chooses how an environment is opened.
type Options struct {
	ReadOnly bool
	MapSize  int64 // bytes; 0 = 64 GiB (sparse) for writers, the file's own size for readers
	NoSubdir bool  // path is the data file itself (python lmdb subdir=False)
}

// KV is one record for PutMany.
type KV struct {
	Key   string
	Value []byte
}

// defaultMapSize is sparse: LMDB only reserves address space, the file grows as written.
const defaultMapSize = 64 << 30

// maxReaders bounds concurrent read transactions (one per goroutine inside a read).
const maxReaders = 1024

// poolCap bounds the idle read transactions kept for reuse.
const poolCap = 64

// Env is an open LMDB environment with its unnamed (main) database.
type Env struct {
	mu       sync.Mutex // guards closed and inflight
	idle     *sync.Cond // signalled when inflight drops to zero
	inflight int        // calls running; Close waits for zero (reentrant, unlike an RWMutex)
	env      *C.MDB_env
	dbi      C.MDB_dbi
	closed   bool
	readOnly bool
	path     string
	key      string // registry key (resolved path)

	writeMu sync.Mutex // one write transaction at a time

	poolMu sync.Mutex
	pool   []*C.MDB_txn // reset read transactions ready for renew
}

// open guards against opening one environment twice in a process, which LMDB forbids
// (closing either handle would drop the process's file locks for both).
var (
	openMu sync.Mutex
	opened = map[string]bool{}
)

// Error is an LMDB return code with the library's message.
type Error struct {
	Code int
	Op   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("lmdb: %s: %s", e.Op, C.GoString(C.mdb_strerror(C.int(e.Code))))
}

// Is makes errors.Is(err, ErrMapFull) true for MDB_MAP_FULL.
func (e *Error) Is(target error) bool {
	return target == ErrMapFull && e.Code == int(C.MDB_MAP_FULL)
}

func lmdbErr(op string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	if rc == C.MDB_NOTFOUND {
		return ErrNotFound
	}
	return &Error{Code: int(rc), Op: op}
}

// Open opens (and for a writer, creates) the environment at path.
func Open(path string, o Options) (*Env, error) {
	key, err := prepare(path, o)
	if err != nil {
		return nil, err
	}
	openMu.Lock()
	defer openMu.Unlock()
	if opened[key] {
		return nil, fmt.Errorf("lmdb: %s is already open in this process; share the *Env instead", path)
	}
	e := &Env{readOnly: o.ReadOnly, path: path, key: key}
	e.idle = sync.NewCond(&e.mu)
	if err := e.open(o); err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	opened[key] = true
	return e, nil
}

// prepare checks or creates the path and returns its resolved form.
func prepare(path string, o Options) (string, error) {
	if path == "" {
		return "", errors.New("lmdb: empty path")
	}
	if !o.ReadOnly && !o.NoSubdir {
		if err := os.MkdirAll(path, 0o755); err != nil {
			return "", fmt.Errorf("lmdb: creating %s: %w", path, err)
		}
	}
	st, err := os.Stat(path)
	switch {
	case err == nil && !o.NoSubdir && !st.IsDir():
		return "", fmt.Errorf("lmdb: %s is a file, not a database directory", path)
	case err == nil && o.NoSubdir && st.IsDir():
		return "", fmt.Errorf("lmdb: %s is a directory, not a single-file database", path)
	case err != nil && (o.ReadOnly || !os.IsNotExist(err)):
		return "", fmt.Errorf("lmdb: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	return abs, nil
}

func (e *Env) open(o Options) error {
	err := e.openFlags(o, 0)
	if o.ReadOnly && lockDenied(err) {
		// A read-only mount or directory cannot hold the lock file; reading without the
		// lock table is safe as long as nobody writes the database meanwhile.
		err = e.openFlags(o, C.MDB_NOLOCK)
	}
	return err
}

// lockDenied reports an open that failed because the lock file cannot be created.
func lockDenied(err error) bool {
	var le *Error
	return errors.As(err, &le) && (le.Code == int(C.EACCES) || le.Code == int(C.EROFS))
}

// openNoLock opens read-only without the lock table (the fallback path of Open).
func openNoLock(path string) (*Env, error) {
	e := &Env{readOnly: true, path: path}
	e.idle = sync.NewCond(&e.mu)
	return e, e.openFlags(Options{ReadOnly: true}, C.MDB_NOLOCK)
}

func (e *Env) openFlags(o Options, extra C.uint) error {
	if rc := C.mdb_env_create(&e.env); rc != 0 {
		return lmdbErr("env_create", rc)
	}
	fail := func(op string, rc C.int) error {
		C.mdb_env_close(e.env)
		e.env = nil
		return lmdbErr(op, rc)
	}
	size := o.MapSize
	if size == 0 && !o.ReadOnly {
		size = defaultMapSize
	}
	if size > 0 {
		if rc := C.mdb_env_set_mapsize(e.env, C.size_t(size)); rc != 0 {
			return fail("set_mapsize", rc)
		}
	}
	if rc := C.mdb_env_set_maxreaders(e.env, maxReaders); rc != 0 {
		return fail("set_maxreaders", rc)
	}
	flags := C.MDB_NOTLS | extra
	if o.ReadOnly {
		flags |= C.MDB_RDONLY
	}
	if o.NoSubdir {
		flags |= C.MDB_NOSUBDIR
	}
	cpath := C.CString(e.path)
	defer C.free(unsafe.Pointer(cpath))
	if rc := C.mdb_env_open(e.env, cpath, flags, 0o644); rc != 0 {
		return fail("env_open", rc)
	}
	// The unnamed database's handle, opened once and valid for the env's life.
	var txn *C.MDB_txn
	tflags := C.uint(0)
	if o.ReadOnly {
		tflags = C.MDB_RDONLY
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if rc := C.mdb_txn_begin(e.env, nil, tflags, &txn); rc != 0 {
		return fail("txn_begin", rc)
	}
	if rc := C.mdb_dbi_open(txn, nil, 0, &e.dbi); rc != 0 {
		C.mdb_txn_abort(txn)
		return fail("dbi_open", rc)
	}
	if rc := C.mdb_txn_commit(txn); rc != 0 {
		return fail("txn_commit", rc)
	}
	return nil
}

// Path is the path the environment was opened with.
func (e *Env) Path() string { return e.path }

// Close waits for the calls in flight, then releases the environment. Closing twice is a no-op.
func (e *Env) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	for e.inflight > 0 {
		e.idle.Wait()
	}
	for _, t := range e.pool {
		C.mdb_txn_abort(t)
	}
	e.pool = nil
	C.mdb_env_close(e.env)
	e.env = nil
	openMu.Lock()
	delete(opened, e.key)
	openMu.Unlock()
	return nil
}

// enter counts a call in flight and reports ErrClosed after Close; exit ends it.
func (e *Env) enter() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.inflight++
	return nil
}

func (e *Env) exit() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inflight--; e.inflight == 0 {
		e.idle.Broadcast()
	}
}

// readTxn takes a read transaction from the pool (renewed to the latest snapshot) or begins one.
func (e *Env) readTxn() (*C.MDB_txn, error) {
	e.poolMu.Lock()
	if n := len(e.pool); n > 0 {
		t := e.pool[n-1]
		e.pool = e.pool[:n-1]
		e.poolMu.Unlock()
		if rc := C.mdb_txn_renew(t); rc != 0 {
			C.mdb_txn_abort(t)
			return nil, lmdbErr("txn_renew", rc)
		}
		return t, nil
	}
	e.poolMu.Unlock()
	var t *C.MDB_txn
	if rc := C.mdb_txn_begin(e.env, nil, C.MDB_RDONLY, &t); rc != 0 {
		return nil, lmdbErr("txn_begin", rc)
	}
	return t, nil
}

// doneTxn resets a read transaction (releasing its snapshot) and keeps it for reuse.
func (e *Env) doneTxn(t *C.MDB_txn) {
	C.mdb_txn_reset(t)
	e.poolMu.Lock()
	defer e.poolMu.Unlock()
	if len(e.pool) < poolCap {
		e.pool = append(e.pool, t)
		return
	}
	C.mdb_txn_abort(t)
}

// keyPtr returns the C view of a key. LMDB rejects empty keys, so they are an error here.
func keyPtr(key string) (unsafe.Pointer, C.size_t, error) {
	if key == "" {
		return nil, 0, errors.New("lmdb: empty key")
	}
	return unsafe.Pointer(unsafe.StringData(key)), C.size_t(len(key)), nil
}

// Get returns a copy of the value stored under key; errors.Is(err, ErrNotFound) when absent.
func (e *Env) Get(key string) ([]byte, error) {
	var out []byte
	err := e.view(key, func(v unsafe.Pointer, n C.size_t) {
		out = make([]byte, int(n))
		copy(out, unsafe.Slice((*byte)(v), int(n)))
	})
	return out, err
}

// View calls fn with the stored value of key without copying it; fn must not keep v (or any
// slice of it) after it returns. errors.Is(err, ErrNotFound) when absent.
func (e *Env) View(key string, fn func(v []byte) error) error {
	var ferr error
	err := e.view(key, func(v unsafe.Pointer, n C.size_t) {
		ferr = fn(unsafe.Slice((*byte)(v), int(n)))
	})
	if err != nil {
		return err
	}
	return ferr
}

// Has reports whether key is present.
func (e *Env) Has(key string) (bool, error) {
	err := e.view(key, func(unsafe.Pointer, C.size_t) {})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// view runs fn on the value of key while the read transaction still holds its snapshot.
func (e *Env) view(key string, fn func(unsafe.Pointer, C.size_t)) error {
	kp, kn, err := keyPtr(key)
	if err != nil {
		return err
	}
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	t, err := e.readTxn()
	if err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	defer e.doneTxn(t)
	var v unsafe.Pointer
	var n C.size_t
	rc := C.fas_get(t, e.dbi, kp, kn, &v, &n)
	runtime.KeepAlive(key)
	if rc != 0 {
		return fmt.Errorf("key %q: %w", key, lmdbErr("get", rc))
	}
	fn(v, n)
	return nil
}

// PutMany stores all records in one write transaction (all or nothing); a key already
// present is overwritten.
func (e *Env) PutMany(kvs []KV) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	if e.readOnly {
		return fmt.Errorf("lmdb: %s was opened read-only", e.path)
	}
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	runtime.LockOSThread() // LMDB write transactions belong to one OS thread
	defer runtime.UnlockOSThread()
	var t *C.MDB_txn
	if rc := C.mdb_txn_begin(e.env, nil, 0, &t); rc != 0 {
		return lmdbErr("txn_begin", rc)
	}
	for i := range kvs {
		if err := e.put(t, &kvs[i]); err != nil {
			C.mdb_txn_abort(t)
			return err
		}
	}
	if rc := C.mdb_txn_commit(t); rc != 0 {
		return fmt.Errorf("committing %d records: %w", len(kvs), mapFullHint(lmdbErr("txn_commit", rc)))
	}
	return nil
}

func (e *Env) put(t *C.MDB_txn, kv *KV) error {
	kp, kn, err := keyPtr(kv.Key)
	if err != nil {
		return err
	}
	var vp unsafe.Pointer
	if len(kv.Value) > 0 {
		vp = unsafe.Pointer(&kv.Value[0])
	}
	rc := C.fas_put(t, e.dbi, kp, kn, vp, C.size_t(len(kv.Value)))
	runtime.KeepAlive(kv)
	if rc != 0 {
		return fmt.Errorf("key %q: %w", kv.Key, mapFullHint(lmdbErr("put", rc)))
	}
	return nil
}

// mapFullHint says in words what MDB_MAP_FULL means; the remedy (a larger map size) is the
// caller's to name in its own terms (a flag, a config key), after errors.Is(err, ErrMapFull).
func mapFullHint(err error) error {
	if errors.Is(err, ErrMapFull) {
		return fmt.Errorf("%w (the database is larger than its map size)", err)
	}
	return err
}

// Keys calls fn with every key in byte order, inside one read snapshot; an error from fn
// stops the walk and is returned.
func (e *Env) Keys(fn func(key string) error) error {
	if err := e.enter(); err != nil {
		return err
	}
	defer e.exit()
	t, err := e.readTxn()
	if err != nil {
		return err
	}
	defer e.doneTxn(t)
	var cur *C.MDB_cursor
	if rc := C.mdb_cursor_open(t, e.dbi, &cur); rc != 0 {
		return lmdbErr("cursor_open", rc)
	}
	defer C.mdb_cursor_close(cur)
	op := C.MDB_cursor_op(C.MDB_FIRST)
	for {
		var k unsafe.Pointer
		var n C.size_t
		rc := C.fas_cursor_get(cur, op, &k, &n)
		if rc == C.MDB_NOTFOUND {
			return nil
		}
		if rc != 0 {
			return lmdbErr("cursor_get", rc)
		}
		if err := fn(string(unsafe.Slice((*byte)(k), int(n)))); err != nil {
			return err
		}
		op = C.MDB_NEXT
	}
}

// Len is the number of records.
func (e *Env) Len() (int64, error) {
	if err := e.enter(); err != nil {
		return 0, err
	}
	defer e.exit()
	t, err := e.readTxn()
	if err != nil {
		return 0, err
	}
	defer e.doneTxn(t)
	var rc C.int
	n := C.fas_entries(t, e.dbi, &rc)
	if rc != 0 {
		return 0, lmdbErr("stat", rc)
	}
	return int64(n), nil
}
