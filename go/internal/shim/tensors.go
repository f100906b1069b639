package shim

/*
#include <stdlib.h>
#include "fas/fas.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// StateTensor is a tensor exported from the shim with its role.
type StateTensor struct {
	safetensors.Tensor
	IsParam bool // trainable parameter (false: a buffer such as BN running statistics)
}

func dtypeCode(d safetensors.DType) (C.int, error) {
	switch d {
	case safetensors.F32:
		return C.FAS_F32, nil
	case safetensors.F64:
		return C.FAS_F64, nil
	case safetensors.I64:
		return C.FAS_I64, nil
	case safetensors.U8:
		return C.FAS_U8, nil
	}
	return 0, fmt.Errorf("dtype %q cannot cross the shim (F32, F64, I64, U8): %w", d, ErrInvalidArgument)
}

func dtypeFromCode(c C.int) (safetensors.DType, error) {
	switch c {
	case C.FAS_F32:
		return safetensors.F32, nil
	case C.FAS_F64:
		return safetensors.F64, nil
	case C.FAS_I64:
		return safetensors.I64, nil
	case C.FAS_U8:
		return safetensors.U8, nil
	}
	return "", fmt.Errorf("unknown dtype code %d from the shim: %w", int(c), ErrInternal)
}

// withViews lends ts to C as an array of fas_tensor_view for the duration of fn. Names,
// shapes and the array live in C memory; tensor bytes stay in Go memory, pinned.
func withViews(ts []safetensors.Tensor, fn func(v *C.fas_tensor_view, n C.int64_t) error) error {
	if len(ts) == 0 {
		return fn(nil, 0)
	}
	for i := range ts {
		t := &ts[i]
		if len(t.Shape) > C.FAS_MAX_DIMS {
			return fmt.Errorf("tensor %q: %d dimensions (at most %d): %w", t.Name, len(t.Shape), C.FAS_MAX_DIMS, ErrInvalidArgument)
		}
		if t.DType.Size() == 0 || int64(len(t.Data)) != t.Numel()*int64(t.DType.Size()) {
			return fmt.Errorf("tensor %q: %d bytes for shape %v of %s: %w", t.Name, len(t.Data), t.Shape, t.DType, ErrInvalidArgument)
		}
	}
	n := len(ts)
	views := unsafe.Slice((*C.fas_tensor_view)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.fas_tensor_view{})))), n)
	shapes := unsafe.Slice((*C.int64_t)(C.calloc(C.size_t(n*C.FAS_MAX_DIMS+1), 8)), n*C.FAS_MAX_DIMS+1)
	var pin runtime.Pinner
	defer func() {
		pin.Unpin()
		for i := range views {
			C.free(unsafe.Pointer(views[i].name))
		}
		C.free(unsafe.Pointer(&views[0]))
		C.free(unsafe.Pointer(&shapes[0]))
	}()
	for i := range ts {
		t := &ts[i]
		code, err := dtypeCode(t.DType)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		sh := shapes[i*C.FAS_MAX_DIMS : (i+1)*C.FAS_MAX_DIMS]
		for d, v := range t.Shape {
			sh[d] = C.int64_t(v)
		}
		views[i] = C.fas_tensor_view{name: C.CString(t.Name), dtype: code, ndim: C.int(len(t.Shape)), shape: &sh[0]}
		if len(t.Data) > 0 {
			pin.Pin(&t.Data[0])
			views[i].data = unsafe.Pointer(&t.Data[0])
		}
	}
	err := fn(&views[0], C.int64_t(n))
	runtime.KeepAlive(ts)
	return err
}

// takeList copies a shim tensor list into Go memory and frees it.
func takeList(op string, l *C.fas_tensor_list) ([]StateTensor, error) {
	defer C.fas_tensor_list_free(l)
	n := int(C.fas_tensor_list_len(l))
	out := make([]StateTensor, 0, n)
	for i := 0; i < n; i++ {
		var info C.fas_tensor_info
		var data unsafe.Pointer
		if err := statusError(op, C.fas_tensor_list_get(l, C.int64_t(i), &info, &data)); err != nil {
			return nil, err
		}
		dt, err := dtypeFromCode(info.dtype)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		shape := make([]int64, int(info.ndim))
		for d := range shape {
			shape[d] = int64(info.shape[d])
		}
		t := safetensors.Tensor{Name: C.GoString(&info.name[0]), DType: dt, Shape: shape}
		if info.nbytes > 0 {
			t.Data = append([]byte(nil), unsafe.Slice((*byte)(data), int(info.nbytes))...)
		}
		if int64(len(t.Data)) != t.Numel()*int64(dt.Size()) {
			return nil, fmt.Errorf("%s: tensor %q: %d bytes for shape %v: %w", op, t.Name, len(t.Data), shape, ErrInternal)
		}
		out = append(out, StateTensor{Tensor: t, IsParam: info.is_param != 0})
	}
	return out, nil
}
