//go:build !fasshim_installed

package shim

// The shim of this source tree: build/libfasshim.so (make shim), found through an rpath.

/*
#cgo CFLAGS: -I${SRCDIR}/../../../cpp/include
#cgo LDFLAGS: -L${SRCDIR}/../../../build -lfasshim -Wl,-rpath,${SRCDIR}/../../../build
*/
import "C"
