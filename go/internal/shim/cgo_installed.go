//go:build fasshim_installed

package shim

// An installed shim (make install PREFIX=DIR), found through pkg-config: build with
// -tags fasshim_installed and PKG_CONFIG_PATH=DIR/lib/pkgconfig.

/*
#cgo pkg-config: fasshim
*/
import "C"
