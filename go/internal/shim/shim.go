// Package shim is the one cgo package of fasgo: it wraps the plain C ABI of libfasshim
// (cpp/include/fas/fas.h) in Go types. Every C status becomes a Go error at once (message
// copied, status freed); native objects are a few coarse handles (Model, and the trainer)
// with an explicit, idempotent Close that waits for calls in flight. A finalizer closes a
// forgotten handle only as a safety net.
//
// Thread safety: every exported type here is safe for concurrent use by many goroutines.
// A Model runs eval-mode forwards concurrently; its other calls (train-mode forward,
// Import, Export, trainer steps) serialise on the model's lock inside the shim.
//
// Build: `make shim` first; the library is found through an rpath to ./build, so a binary
// built with `go build` in this tree runs from any directory.
package shim

/*
#cgo CFLAGS: -I${SRCDIR}/../../../cpp/include
#cgo LDFLAGS: -L${SRCDIR}/../../../build -lfasshim -Wl,-rpath,${SRCDIR}/../../../build
#include "fas/fas.h"
*/
import "C"

import (
	"fmt"
	"runtime"
)

// VersionInfo describes the native library and the machine it sees.
type VersionInfo struct {
	Shim          string // libfasshim version
	Torch         string // libtorch version it was built against
	CUDAAvailable bool   // built with CUDA and a device is present
	CUDADevices   int
	Threads       int // intra-op threads now in use
}

// Version queries the native library.
func Version() (VersionInfo, error) {
	var v C.fas_version_info
	if err := statusError("version", C.fas_version(&v)); err != nil {
		return VersionInfo{}, err
	}
	return VersionInfo{
		Shim:          C.GoString(&v.shim_version[0]),
		Torch:         C.GoString(&v.torch_version[0]),
		CUDAAvailable: v.cuda_available != 0,
		CUDADevices:   int(v.cuda_device_count),
		Threads:       int(v.num_threads),
	}, nil
}

// Some libtorch builds (Debian's among them) start with one intra-op thread; a program that
// embeds the shim gets every usable core unless it calls SetNumThreads itself.
// A failure leaves libtorch's own default: slower, never wrong.
func init() { _ = SetNumThreads(runtime.NumCPU()) }

// SetNumThreads sets libtorch's intra-op thread count for the whole process (n >= 1).
// The default is runtime.NumCPU().
func SetNumThreads(n int) error {
	if n < 1 || n > 1<<16 {
		return fmt.Errorf("set threads: %d: %w", n, ErrInvalidArgument)
	}
	return statusError("set threads", C.fas_set_num_threads(C.int(n)))
}
