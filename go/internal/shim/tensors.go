package shim

/*
#include <stdlib.h>
#include "fas/fas.h"
*/
import "C"

import (
	"fmt"
	"math"
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

// View is a borrowed tensor handed to the shim for one call: a name, a shape and typed data.
// Make one with F32, F64, I64 or FromFile; the data is not copied.
type View struct {
	Name  string
	Shape []int64
	dtype safetensors.DType
	ptr   unsafe.Pointer // first element; nil when empty
	n     int64          // elements
	keep  any            // the slice that owns ptr
}

func viewOf[T any](name string, dtype safetensors.DType, shape []int64, v []T) View {
	w := View{Name: name, Shape: shape, dtype: dtype, n: int64(len(v)), keep: v}
	if len(v) > 0 {
		w.ptr = unsafe.Pointer(&v[0])
	}
	return w
}

// F32 views float32 data.
func F32(name string, shape []int64, v []float32) View {
	return viewOf(name, safetensors.F32, shape, v)
}

// F64 views float64 data.
func F64(name string, shape []int64, v []float64) View {
	return viewOf(name, safetensors.F64, shape, v)
}

// I64 views int64 data.
func I64(name string, shape []int64, v []int64) View { return viewOf(name, safetensors.I64, shape, v) }

// FromFile views a decoded safetensors tensor's bytes.
func FromFile(t *safetensors.Tensor) (View, error) {
	if t.DType.Size() == 0 || int64(len(t.Data)) != t.Numel()*int64(t.DType.Size()) {
		return View{}, fmt.Errorf("tensor %q: %d bytes for shape %v of %s: %w", t.Name, len(t.Data), t.Shape, t.DType, ErrInvalidArgument)
	}
	w := viewOf(t.Name, t.DType, t.Shape, t.Data)
	w.n = t.Numel()
	return w, nil
}

func fileViews(ts []safetensors.Tensor) ([]View, error) {
	out := make([]View, len(ts))
	for i := range ts {
		v, err := FromFile(&ts[i])
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// check validates a view's shape against its data.
func (v *View) check() error {
	if len(v.Shape) > C.FAS_MAX_DIMS {
		return fmt.Errorf("tensor %q: %d dimensions (at most %d): %w", v.Name, len(v.Shape), C.FAS_MAX_DIMS, ErrInvalidArgument)
	}
	want := int64(1)
	for _, d := range v.Shape {
		if d < 0 || (d > 0 && want > math.MaxInt64/8/d) {
			return fmt.Errorf("tensor %q: bad shape %v: %w", v.Name, v.Shape, ErrInvalidArgument)
		}
		want *= d
	}
	if want != v.n {
		return fmt.Errorf("tensor %q has %d values, its shape %v needs %d: %w", v.Name, v.n, v.Shape, want, ErrInvalidArgument)
	}
	return nil
}

// withViews lends vs to C as an array of fas_tensor_view for the duration of fn. Names,
// shapes and the array live in C memory; tensor data stays in Go memory, pinned.
func withViews(vs []View, fn func(v *C.fas_tensor_view, n C.int64_t) error) error {
	if len(vs) == 0 {
		return fn(nil, 0)
	}
	for i := range vs {
		if err := vs[i].check(); err != nil {
			return err
		}
	}
	n := len(vs)
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
	for i := range vs {
		v := &vs[i]
		code, err := dtypeCode(v.dtype)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", v.Name, err)
		}
		sh := shapes[i*C.FAS_MAX_DIMS : (i+1)*C.FAS_MAX_DIMS]
		for d, x := range v.Shape {
			sh[d] = C.int64_t(x)
		}
		views[i] = C.fas_tensor_view{name: C.CString(v.Name), dtype: code, ndim: C.int(len(v.Shape)), shape: &sh[0]}
		if v.ptr != nil {
			pin.Pin(v.ptr)
			views[i].data = v.ptr
		}
	}
	err := fn(&views[0], C.int64_t(n))
	runtime.KeepAlive(vs)
	return err
}

func tensorsOf(st []StateTensor) []safetensors.Tensor {
	out := make([]safetensors.Tensor, len(st))
	for i := range st {
		out[i] = st[i].Tensor
	}
	return out
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
