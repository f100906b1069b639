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

// Config describes a network to build.
type Config struct {
	Method string            // "anrl"
	Size   int               // input size S: a multiple of 8, >= 32 (the classifier max-pools F = S/8 twice)
	Width  float64           // channel-width multiplier (1 = the paper's network)
	Gate   string            // "1layer" (paper), "2layer" or "clamp"; "" = "1layer"
	DType  safetensors.DType // F32 (default when "") or F64
	Device string            // "cpu" (default when ""), "cuda", "cuda:N"
	Seed   uint64            // initialisation seed
}

// ModelInfo describes a built network. It never changes over the model's life.
type ModelInfo struct {
	Method, Gate, Device string
	Size                 int
	Width                float64
	DType                safetensors.DType
	FeatureChannels      int   // C of the N x C x F x F feature (384 at width 1)
	NumParams            int64 // trainable scalars
	NumParamTensors      int64
	NumTensors           int64 // parameters and buffers
}

// FeatureSize is F = S/8, the side of the depth map and of the features.
func (i ModelInfo) FeatureSize() int { return i.Size / 8 }

// Model is a network held by the shim. Safe for concurrent use: eval-mode forwards run in
// parallel; train-mode forwards, Import and Export serialise on the model's lock.
type Model struct {
	h    *handle[*C.fas_model]
	info ModelInfo
}

// NewModel builds and initialises a network (the spec's initialisation, seeded).
func NewModel(cfg Config) (*Model, error) {
	if cfg.DType == "" {
		cfg.DType = safetensors.F32
	}
	code, err := dtypeCode(cfg.DType)
	if err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	method, gate, device := C.CString(cfg.Method), C.CString(cfg.Gate), C.CString(cfg.Device)
	defer C.free(unsafe.Pointer(method))
	defer C.free(unsafe.Pointer(gate))
	defer C.free(unsafe.Pointer(device))
	c := C.fas_model_config{method: method, size: C.int(cfg.Size), width: C.double(cfg.Width),
		gate: gate, dtype: code, device: device, seed: C.uint64_t(cfg.Seed)}
	if cfg.Gate == "" {
		c.gate = nil
	}
	if cfg.Device == "" {
		c.device = nil
	}
	if cfg.Size < 0 || cfg.Size > math.MaxInt32 {
		return nil, fmt.Errorf("new model: input size %d out of range: %w", cfg.Size, ErrInvalidArgument)
	}
	var p *C.fas_model
	if err := statusError("new model", C.fas_model_new(&c, &p)); err != nil {
		return nil, err
	}
	m := &Model{h: newHandle(p, func(p *C.fas_model) { C.fas_model_free(p) })}
	if m.info, err = m.queryInfo(); err != nil {
		m.Close()
		return nil, err
	}
	runtime.AddCleanup(m, func(h *handle[*C.fas_model]) { h.close() }, m.h)
	return m, nil
}

// Close frees the native model after the calls in flight return. Idempotent; later calls
// return ErrClosed. A trainer built on the model keeps the network alive on its own.
func (m *Model) Close() error {
	if m != nil {
		m.h.close()
	}
	return nil
}

// use runs fn with the live native pointer (for the other files of this package).
func (m *Model) use(op string, fn func(p *C.fas_model) error) error {
	if m == nil {
		return fmt.Errorf("%s: nil model: %w", op, ErrClosed)
	}
	return m.h.use(op, fn)
}

// Info describes the network (cached at creation; valid after Close too).
func (m *Model) Info() ModelInfo {
	if m == nil {
		return ModelInfo{}
	}
	return m.info
}

func (m *Model) queryInfo() (ModelInfo, error) {
	var ci C.fas_model_info
	err := m.use("model info", func(p *C.fas_model) error {
		return statusError("model info", C.fas_model_get_info(p, &ci))
	})
	if err != nil {
		return ModelInfo{}, err
	}
	dt, err := dtypeFromCode(ci.dtype)
	if err != nil {
		return ModelInfo{}, err
	}
	return ModelInfo{
		Method: C.GoString(&ci.method[0]), Gate: C.GoString(&ci.gate[0]), Device: C.GoString(&ci.device[0]),
		Size: int(ci.size), Width: float64(ci.width), DType: dt,
		FeatureChannels: int(ci.feature_channels), NumParams: int64(ci.num_params),
		NumParamTensors: int64(ci.num_param_tensors), NumTensors: int64(ci.num_tensors),
	}, nil
}

// State copies every parameter and buffer out, under the reference's state-dict names and
// in its order.
func (m *Model) State() ([]StateTensor, error) {
	var l *C.fas_tensor_list
	err := m.use("export model", func(p *C.fas_model) error {
		return statusError("export model", C.fas_model_export(p, &l))
	})
	if err != nil {
		return nil, err
	}
	return takeList("export model", l)
}

// Export is State without the roles: the tensors to save.
func (m *Model) Export() ([]safetensors.Tensor, error) {
	st, err := m.State()
	if err != nil {
		return nil, err
	}
	out := make([]safetensors.Tensor, len(st))
	for i := range st {
		out[i] = st[i].Tensor
	}
	return out, nil
}

// Import replaces the whole state, all or nothing: a missing, extra, duplicate, mis-shaped
// or mistyped tensor fails with an error listing every one, and leaves the model unchanged.
// Floating tensors may be F32 or F64 (converted); counters must be I64.
func (m *Model) Import(ts []safetensors.Tensor) error {
	return m.use("import model", func(p *C.fas_model) error {
		return withViews(ts, func(v *C.fas_tensor_view, n C.int64_t) error {
			return statusError("import model", C.fas_model_import(p, v, n))
		})
	})
}

// Output holds forward results, row-major float32: Logits N×2, Depth N×F×F and
// Features N×C×F×F with F = S/8.
type Output struct {
	Logits, Depth, Features []float32
}

// Forward runs the network on x (N×6×S×S, row-major). S may differ from the size the model
// was built for (the network is fully convolutional) but must be a multiple of 8, >= 32.
// train: normalise with batch statistics and update the BN running statistics (needs N >= 2).
// Each non-nil slice of out must have exactly the output's length; nil ones are skipped.
// NaN or Inf in x fails with ErrNonFinite.
func (m *Model) Forward(x []float32, n, s int, train bool, out *Output) error {
	const op = "forward"
	if m == nil {
		return fmt.Errorf("%s: nil model: %w", op, ErrClosed)
	}
	if out == nil {
		return fmt.Errorf("%s: nil output: %w", op, ErrInvalidArgument)
	}
	if n < 1 || s < 1 || s > 1<<16 || n > math.MaxInt32 {
		return fmt.Errorf("%s: batch %d of size %d: %w", op, n, s, ErrInvalidArgument)
	}
	if want := int64(n) * 6 * int64(s) * int64(s); int64(len(x)) != want {
		return fmt.Errorf("%s: input has %d values, want N×6×S×S = %d×6×%d×%d = %d: %w", op, len(x), n, s, s, want, ErrInvalidArgument)
	}
	f := int64(s / 8)
	c := int64(m.Info().FeatureChannels)
	lp, err := outPtr("logits", out.Logits, int64(n)*2)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	dp, err := outPtr("depth", out.Depth, int64(n)*f*f)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	fp, err := outPtr("features", out.Features, int64(n)*c*f*f)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	tr := C.int(0)
	if train {
		tr = 1
	}
	err = m.use(op, func(p *C.fas_model) error {
		return statusError(op, C.fas_model_forward(p, (*C.float)(&x[0]), C.int64_t(n), C.int64_t(s), tr, lp, dp, fp))
	})
	runtime.KeepAlive(x)
	runtime.KeepAlive(out)
	return err
}

// Run is Forward into freshly allocated outputs.
func (m *Model) Run(x []float32, n, s int, train bool) (*Output, error) {
	if n < 1 || s < 8 || s > 1<<16 {
		return nil, fmt.Errorf("forward: batch %d of size %d: %w", n, s, ErrInvalidArgument)
	}
	f, c := s/8, m.Info().FeatureChannels
	out := &Output{Logits: make([]float32, n*2), Depth: make([]float32, n*f*f), Features: make([]float32, n*c*f*f)}
	if err := m.Forward(x, n, s, train, out); err != nil {
		return nil, err
	}
	return out, nil
}

func outPtr(name string, buf []float32, want int64) (*C.float, error) {
	if buf == nil {
		return nil, nil
	}
	if int64(len(buf)) != want || want == 0 {
		return nil, fmt.Errorf("%s buffer has %d values, want %d: %w", name, len(buf), want, ErrInvalidArgument)
	}
	return (*C.float)(&buf[0]), nil
}
