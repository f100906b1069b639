package shim

/*
#include "fas/fas.h"
*/
import "C"

import (
	"errors"
	"fmt"
)

// Code classifies a shim error (fas_code in fas.h).
type Code int

// The codes of fas.h.
const (
	CodeOK              Code = C.FAS_OK
	CodeInvalidArgument Code = C.FAS_ERR_INVALID_ARGUMENT
	CodeNotFound        Code = C.FAS_ERR_NOT_FOUND
	CodeOutOfMemory     Code = C.FAS_ERR_OUT_OF_MEMORY
	CodeTorch           Code = C.FAS_ERR_TORCH
	CodeNonFinite       Code = C.FAS_ERR_NONFINITE
	CodeInternal        Code = C.FAS_ERR_INTERNAL
	CodeUnsupported     Code = C.FAS_ERR_UNSUPPORTED
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeInvalidArgument:
		return "invalid argument"
	case CodeNotFound:
		return "not found"
	case CodeOutOfMemory:
		return "out of memory"
	case CodeTorch:
		return "libtorch error"
	case CodeNonFinite:
		return "non-finite value"
	case CodeInternal:
		return "internal error"
	case CodeUnsupported:
		return "not built"
	}
	return fmt.Sprintf("code %d", int(c))
}

// Error is a failed shim call: the operation, the code and the native message.
type Error struct {
	Op   string
	Code Code
	Msg  string
}

func (e *Error) Error() string {
	if e.Op == "" && e.Msg == "" {
		return "shim: " + e.Code.String()
	}
	return fmt.Sprintf("%s: %s (%s)", e.Op, e.Msg, e.Code)
}

// Is matches the code-only sentinels below: errors.Is(err, shim.ErrNonFinite).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is, one per code.
var (
	ErrInvalidArgument = &Error{Code: CodeInvalidArgument}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrOutOfMemory     = &Error{Code: CodeOutOfMemory}
	ErrTorch           = &Error{Code: CodeTorch}
	ErrNonFinite       = &Error{Code: CodeNonFinite}
	ErrInternal        = &Error{Code: CodeInternal}
	ErrUnsupported     = &Error{Code: CodeUnsupported} // a feature this build of the shim lacks
)

// ErrClosed is returned (wrapped) by every call on a closed or nil handle.
var ErrClosed = errors.New("handle is closed")

// statusError turns a fas_status into an *Error (nil for success) and frees the status.
func statusError(op string, s *C.fas_status) error {
	if s == nil {
		return nil
	}
	defer C.fas_status_free(s)
	return &Error{Op: op, Code: Code(C.fas_status_code(s)), Msg: C.GoString(C.fas_status_message(s))}
}
