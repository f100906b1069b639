// Package shim is the one cgo package of fasgo: it wraps the plain C ABI of libfasshim
// (cpp/include/fas/fas.h) in Go types. Every C status becomes a Go error at once (message
// copied, status freed); native objects are a few coarse handles (Model, and the trainer)
// with an explicit, idempotent Close that waits for calls in flight. A finalizer closes a
// forgotten handle only as a safety net.
//
// The shim is method-neutral: a model is a method name with its settings, a training batch
// is a list of named tensors, a step returns named statistics. What the names mean belongs
// to the method's Go registration (package method).
//
// Thread safety: every exported type here is safe for concurrent use by many goroutines.
// A Model runs eval-mode forwards and scores concurrently; its other calls (train-mode
// forward, Import, Export, trainer steps) serialise on the model's lock inside the shim.
//
// Importing the package changes no process-wide state: each model runs libtorch with its own
// thread count (Config.Threads, default every core); SetNumThreads is explicit. Creating the
// first model installs the shim's caching CPU allocator for libtorch (FASGO_CPU_CACHE_MIB;
// README, "Threads"), and creating a trainer sets glibc's malloc thresholds.
//
// Build: `make shim` first; the library is found through an rpath to ./build, so a binary
// built with `go build` in this tree runs from any directory. With the build tag
// fasshim_installed the package builds against an installed shim instead (`make install
// PREFIX=DIR`), found through pkg-config (PKG_CONFIG_PATH=DIR/lib/pkgconfig): what a Go module
// outside this tree that imports the liveness package uses (cgo_tree.go, cgo_installed.go).
package shim

/*
#include "fas/fas.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
)

// VersionInfo describes the native library and the machine it sees.
type VersionInfo struct {
	Shim          string   // libfasshim version
	Torch         string   // libtorch version it was built against
	CUDAAvailable bool     // built with CUDA and a device is present
	CUDADevices   int      // CUDA devices libtorch sees
	Threads       int      // intra-op threads of the calling thread now
	Methods       []string // the methods this shim builds
	ABI           int      // the C ABI version of the library
}

// checkABI fails when the library was built from another version of fas.h than this package.
func checkABI() error {
	if got := int(C.fas_abi_version()); got != C.FAS_ABI_VERSION {
		return fmt.Errorf("libfasshim has C ABI version %d, this Go package wants %d: rebuild the shim (make shim): %w",
			got, C.FAS_ABI_VERSION, ErrInternal)
	}
	return nil
}

// Version queries the native library.
func Version() (VersionInfo, error) {
	if err := checkABI(); err != nil {
		return VersionInfo{}, err
	}
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
		Methods:       strings.Split(C.GoString(&v.methods[0]), ","),
		ABI:           int(C.fas_abi_version()),
	}, nil
}

// SetNumThreads sets libtorch's intra-op thread count for every later call of the process
// (n >= 1) that does not run with a model's own count.
func SetNumThreads(n int) error {
	if n < 1 || n > 1<<16 {
		return fmt.Errorf("set threads: %d: %w", n, ErrInvalidArgument)
	}
	return statusError("set threads", C.fas_set_num_threads(C.int(n)))
}

// DefaultThreads is the thread count a model gets when Config.Threads is 0: every core the
// process may use.
func DefaultThreads() int { return runtime.NumCPU() }
