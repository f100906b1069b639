package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// FromFloat32 builds an F32 tensor from values laid out in row-major order.
func FromFloat32(name string, shape []int64, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: shape, Data: b}
}

// FromFloat64 builds an F64 tensor.
func FromFloat64(name string, shape []int64, v []float64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return Tensor{Name: name, DType: F64, Shape: shape, Data: b}
}

// FromInt64 builds an I64 tensor.
func FromInt64(name string, shape []int64, v []int64) Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: I64, Shape: shape, Data: b}
}

// checkLen rejects a tensor whose bytes do not match its shape and dtype.
func (t *Tensor) checkLen() error {
	if t.DType.Size() == 0 || int64(len(t.Data)) != t.Numel()*int64(t.DType.Size()) {
		return fmt.Errorf("tensor %q: %d bytes for shape %v of %s", t.Name, len(t.Data), t.Shape, t.DType)
	}
	return nil
}

// Float32 returns the values as float32, converting from F64 when needed.
func (t *Tensor) Float32() ([]float32, error) {
	if err := t.checkLen(); err != nil {
		return nil, err
	}
	n := int(t.Numel())
	out := make([]float32, n)
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case F64:
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %q is %s, want a floating dtype", t.Name, t.DType)
	}
	return out, nil
}

// Float64 returns the values as float64, converting from F32 when needed.
func (t *Tensor) Float64() ([]float64, error) {
	if err := t.checkLen(); err != nil {
		return nil, err
	}
	n := int(t.Numel())
	out := make([]float64, n)
	switch t.DType {
	case F64:
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
	case F32:
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %q is %s, want a floating dtype", t.Name, t.DType)
	}
	return out, nil
}

// Int64 returns the values of an I64 or I32 tensor.
func (t *Tensor) Int64() ([]int64, error) {
	if err := t.checkLen(); err != nil {
		return nil, err
	}
	n := int(t.Numel())
	out := make([]int64, n)
	switch t.DType {
	case I64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
		}
	case I32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	default:
		return nil, fmt.Errorf("tensor %q is %s, want an integer dtype", t.Name, t.DType)
	}
	return out, nil
}
