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
	"strings"
	"unsafe"

	"github.com/fasgo/fasgo/go/internal/safetensors"
)

// Setting is one method setting, key = value as text.
type Setting struct {
	Key, Value string
}

// Settings is an ordered list of settings.
type Settings []Setting

// Get returns the value of key ("" and false when absent).
func (s Settings) Get(key string) (string, bool) {
	for _, kv := range s {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return "", false
}

func (s Settings) String() string {
	parts := make([]string, len(s))
	for i, kv := range s {
		parts[i] = kv.Key + "=" + kv.Value
	}
	return strings.Join(parts, " ")
}

// Config describes a network to build.
type Config struct {
	Method   string            // "anrl"
	Size     int               // input size S: a multiple of 8, >= 32
	DType    safetensors.DType // F32 (default when "") or F64
	Device   string            // "cpu" (default when ""), "cuda", "cuda:N"
	Seed     uint64            // initialisation seed
	Threads  int               // intra-op threads for this model's calls; 0 = DefaultThreads()
	Settings Settings          // the method's own settings (anrl: width, gate)
}

// ModelInfo describes a built network. It never changes over the model's life.
type ModelInfo struct {
	Method, Device  string
	Size            int
	Channels        int // input planes C of x (N×C×S×S): 6 (RGB + HSV) for anrl and fghv, 3 for minifasnet
	DType           safetensors.DType
	Threads         int
	Settings        Settings // the settings that rebuild it, defaults filled in
	Outputs         []string // the names Forward can return
	NumParams       int64    // trainable scalars
	NumParamTensors int64
	NumTensors      int64 // parameters and buffers
}

// Model is a network held by the shim. Safe for concurrent use: eval-mode forwards and
// scores run in parallel; train-mode forwards, Import and Export serialise on the model's lock.
type Model struct {
	h      *handle[*C.fas_model]
	thread *threadRef // every call runs there, the creation included; shared with its trainers
	info   ModelInfo
}

// owned is what a Model or Trainer frees: its native object, then its hold on the thread.
type owned[P any] struct {
	h      *handle[P]
	thread *threadRef
}

func (o owned[P]) free() {
	o.h.close()
	o.thread.drop()
}

// cSettings lends settings to C for the duration of fn.
func cSettings(s Settings, fn func(p *C.fas_setting, n C.int64_t) error) error {
	if len(s) == 0 {
		return fn(nil, 0)
	}
	arr := unsafe.Slice((*C.fas_setting)(C.calloc(C.size_t(len(s)), C.size_t(unsafe.Sizeof(C.fas_setting{})))), len(s))
	defer func() {
		for i := range arr {
			C.free(unsafe.Pointer(arr[i].key))
			C.free(unsafe.Pointer(arr[i].value))
		}
		C.free(unsafe.Pointer(&arr[0]))
	}()
	for i, kv := range s {
		arr[i] = C.fas_setting{key: C.CString(kv.Key), value: C.CString(kv.Value)}
	}
	return fn(&arr[0], C.int64_t(len(s)))
}

// NewModel builds and initialises a network (the method's seeded initialisation).
func NewModel(cfg Config) (*Model, error) {
	if err := checkABI(); err != nil {
		return nil, err
	}
	if cfg.DType == "" {
		cfg.DType = safetensors.F32
	}
	if cfg.Threads == 0 {
		cfg.Threads = DefaultThreads()
	}
	code, err := dtypeCode(cfg.DType)
	if err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	if cfg.Size < 0 || cfg.Size > math.MaxInt32 || cfg.Threads < 0 || cfg.Threads > 1<<16 {
		return nil, fmt.Errorf("new model: input size %d, threads %d: %w", cfg.Size, cfg.Threads, ErrInvalidArgument)
	}
	method, device := C.CString(cfg.Method), C.CString(cfg.Device)
	defer C.free(unsafe.Pointer(method))
	defer C.free(unsafe.Pointer(device))
	var p *C.fas_model
	thread := &threadRef{t: newOSThread()}
	thread.t.run(func() {
		err = cSettings(cfg.Settings, func(sp *C.fas_setting, n C.int64_t) error {
			c := C.fas_model_config{method: method, size: C.int(cfg.Size), dtype: code, device: device,
				seed: C.uint64_t(cfg.Seed), threads: C.int(cfg.Threads), settings: sp, num_settings: n}
			if cfg.Device == "" {
				c.device = nil
			}
			return statusError("new model", C.fas_model_new(&c, &p))
		})
	})
	if err != nil {
		thread.drop()
		return nil, err
	}
	m := &Model{h: newHandle(p, func(p *C.fas_model) { C.fas_model_free(p) }), thread: thread}
	if m.info, err = m.queryInfo(); err != nil {
		m.Close()
		return nil, err
	}
	m.info.Threads = cfg.Threads
	runtime.AddCleanup(m, owned[*C.fas_model].free, owned[*C.fas_model]{m.h, m.thread})
	return m, nil
}

// Close frees the native model after the calls in flight return. Idempotent; later calls
// return ErrClosed. A trainer built on the model keeps the network alive on its own.
func (m *Model) Close() error {
	if m != nil {
		owned[*C.fas_model]{m.h, m.thread}.free()
	}
	return nil
}

// use runs fn with the live native pointer (for the other files of this package).
func (m *Model) use(op string, fn func(p *C.fas_model) error) error {
	if m == nil {
		return fmt.Errorf("%s: nil model: %w", op, ErrClosed)
	}
	var err error
	m.run(func() { err = m.h.use(op, fn) })
	return err
}

// run calls f on the model's thread.
func (m *Model) run(f func()) { m.thread.t.run(f) }

// Info describes the network (cached at creation; valid after Close too).
func (m *Model) Info() ModelInfo {
	if m == nil {
		return ModelInfo{}
	}
	return m.info
}

func (m *Model) queryInfo() (ModelInfo, error) {
	var info ModelInfo
	err := m.use("model info", func(p *C.fas_model) error {
		var ci C.fas_model_info
		if err := statusError("model info", C.fas_model_get_info(p, &ci)); err != nil {
			return err
		}
		dt, err := dtypeFromCode(ci.dtype)
		if err != nil {
			return err
		}
		info = ModelInfo{Method: C.GoString(&ci.method[0]), Device: C.GoString(&ci.device[0]),
			Size: int(ci.size), Channels: int(ci.channels), DType: dt, NumParams: int64(ci.num_params),
			NumParamTensors: int64(ci.num_param_tensors), NumTensors: int64(ci.num_tensors)}
		for i := range int64(ci.num_settings) {
			var si C.fas_setting_info
			if err := statusError("model setting", C.fas_model_get_setting(p, C.int64_t(i), &si)); err != nil {
				return err
			}
			info.Settings = append(info.Settings, Setting{C.GoString(&si.key[0]), C.GoString(&si.value[0])})
		}
		var name [C.FAS_MAX_NAME]C.char
		for i := range int64(ci.num_outputs) {
			if err := statusError("model output", C.fas_model_get_output_name(p, C.int64_t(i), &name[0])); err != nil {
				return err
			}
			info.Outputs = append(info.Outputs, C.GoString(&name[0]))
		}
		return nil
	})
	return info, err
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
	return tensorsOf(st), nil
}

// Import replaces the whole state, all or nothing: a missing, extra, duplicate, mis-shaped
// or mistyped tensor fails with an error listing every one, and leaves the model unchanged.
// Floating tensors may be F32 or F64 (converted); counters must be I64.
func (m *Model) Import(ts []safetensors.Tensor) error {
	views, err := fileViews(ts)
	if err != nil {
		return fmt.Errorf("import model: %w", err)
	}
	return m.use("import model", func(p *C.fas_model) error {
		return withViews(views, func(v *C.fas_tensor_view, n C.int64_t) error {
			return statusError("import model", C.fas_model_import(p, v, n))
		})
	})
}

// checkInput checks x against N×C×S×S, C the model's input planes.
func (m *Model) checkInput(op string, x []float32, n, s int) error {
	if m == nil {
		return fmt.Errorf("%s: nil model: %w", op, ErrClosed)
	}
	if n < 1 || s < 1 || s > 1<<16 || n > math.MaxInt32 {
		return fmt.Errorf("%s: batch %d of size %d: %w", op, n, s, ErrInvalidArgument)
	}
	c := int64(m.Info().Channels)
	if want := int64(n) * c * int64(s) * int64(s); int64(len(x)) != want {
		return fmt.Errorf("%s: input has %d values, want N×C×S×S = %d×%d×%d×%d = %d: %w", op, len(x), n, c, s, s, want, ErrInvalidArgument)
	}
	return nil
}

// Forward runs the network on x (N×C×S×S, row-major, C = Info().Channels) and returns the named outputs asked
// for (all of Info().Outputs when names is empty), as F32 tensors. S may differ from the size
// the model was built for (the network is fully convolutional) but must be a multiple of 8,
// >= 32. train: normalise with batch statistics and update the BN running statistics (needs
// N >= 2). NaN or Inf in x fails with ErrNonFinite. Stochastic outputs (FGHV's latent draws)
// use seed 0; ForwardSeed chooses it.
func (m *Model) Forward(x []float32, n, s int, train bool, names ...string) ([]safetensors.Tensor, error) {
	return m.ForwardSeed(x, n, s, train, 0, names...)
}

// ForwardSeed is Forward with the seed of the method's stochastic outputs: an eval-mode
// forward with seed s gives exactly the parts that Score with seed s combines.
func (m *Model) ForwardSeed(x []float32, n, s int, train bool, seed uint64, names ...string) ([]safetensors.Tensor, error) {
	return m.forward(x, n, s, train, seed, nil, names)
}

// ForwardOptions steer ForwardWith.
type ForwardOptions struct {
	Seed uint64
	// BatchInvariant: every input's outputs are the bits it gets alone (ScoreOptions).
	BatchInvariant bool
}

// ForwardWith is an eval-mode Forward with options.
func (m *Model) ForwardWith(x []float32, n, s int, o ForwardOptions, names ...string) ([]safetensors.Tensor, error) {
	flags := batchFlags(o.BatchInvariant)
	return m.forward(x, n, s, false, o.Seed, &flags, names)
}

// cStrings copies names into a C array of C strings (nil when empty), freed by free.
func cStrings(names []string) (arr **C.char, free func()) {
	if len(names) == 0 {
		return nil, func() {}
	}
	arr = (**C.char)(C.calloc(C.size_t(len(names)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	cs := unsafe.Slice(arr, len(names))
	for i, nm := range names {
		cs[i] = C.CString(nm)
	}
	return arr, func() {
		for _, c := range cs {
			C.free(unsafe.Pointer(c))
		}
		C.free(unsafe.Pointer(arr))
	}
}

// forward calls fas_model_forward, or fas_model_forward_flags when flags is not nil.
func (m *Model) forward(x []float32, n, s int, train bool, seed uint64, flags *C.uint32_t, names []string) ([]safetensors.Tensor, error) {
	const op = "forward"
	if err := m.checkInput(op, x, n, s); err != nil {
		return nil, err
	}
	pnames, free := cStrings(names)
	defer free()
	var l *C.fas_tensor_list
	err := m.use(op, func(p *C.fas_model) error {
		if flags != nil {
			return statusError(op, C.fas_model_forward_flags(p, (*C.float)(&x[0]), C.int64_t(n), C.int64_t(s),
				C.uint64_t(seed), *flags, pnames, C.int64_t(len(names)), &l))
		}
		return statusError(op, C.fas_model_forward(p, (*C.float)(&x[0]), C.int64_t(n), C.int64_t(s), cbool(train),
			C.uint64_t(seed), pnames, C.int64_t(len(names)), &l))
	})
	runtime.KeepAlive(x)
	if err != nil {
		return nil, err
	}
	st, err := takeList(op, l)
	if err != nil {
		return nil, err
	}
	return tensorsOf(st), nil
}

// ForwardView is ForwardSeed with the input as a view (F32 or F64, N×C×S×S): it reaches the
// network in the model's dtype, unrounded for an F64 model, and the outputs come back in the
// model's dtype.
func (m *Model) ForwardView(x View, train bool, seed uint64, names ...string) ([]safetensors.Tensor, error) {
	const op = "forward"
	pnames, free := cStrings(names)
	defer free()
	var l *C.fas_tensor_list
	err := m.use(op, func(p *C.fas_model) error {
		return withViews([]View{x}, func(v *C.fas_tensor_view, _ C.int64_t) error {
			return statusError(op, C.fas_model_forward_view(p, v, cbool(train), C.uint64_t(seed), pnames,
				C.int64_t(len(names)), &l))
		})
	})
	if err != nil {
		return nil, err
	}
	st, err := takeList(op, l)
	if err != nil {
		return nil, err
	}
	return tensorsOf(st), nil
}

// ScoreView is ScoreWith with the input as a view (F32 or F64, N×C×S×S) in the model's dtype.
func (m *Model) ScoreView(x View, o ScoreOptions, out []float64) error {
	const op = "score"
	if len(x.Shape) != 4 || int64(len(out)) != x.Shape[0] {
		return fmt.Errorf("%s: %d score slots for input %v: %w", op, len(out), x.Shape, ErrInvalidArgument)
	}
	flags := batchFlags(o.BatchInvariant)
	err := m.use(op, func(p *C.fas_model) error {
		return withViews([]View{x}, func(v *C.fas_tensor_view, _ C.int64_t) error {
			return statusError(op, C.fas_model_score_view(p, v, C.uint64_t(o.Seed), flags, (*C.double)(&out[0])))
		})
	})
	runtime.KeepAlive(out)
	return err
}

// Score returns N attack scores in [0, 1] (higher = attack) for x (N×C×S×S) in eval mode, into
// out (len N). seed makes a stochastic score deterministic; ANRL's does not use it.
func (m *Model) Score(x []float32, n, s int, seed uint64, out []float64) error {
	return m.ScoreWith(x, n, s, ScoreOptions{Seed: seed}, out)
}

// ScoreOptions steer ScoreWith.
type ScoreOptions struct {
	// Seed makes a stochastic score deterministic (ANRL's does not use it).
	Seed uint64
	// BatchInvariant makes every input's score bit for bit the score it gets alone (N = 1),
	// whatever else is in the batch: libtorch's fastest kernels block over the whole batch,
	// so without it a score can change in its last bits with its batch companions. Costs some
	// speed (per-sample convolution kernels); a server batching unrelated requests wants it.
	BatchInvariant bool
}

// ScoreWith is Score with options.
func (m *Model) ScoreWith(x []float32, n, s int, o ScoreOptions, out []float64) error {
	const op = "score"
	if err := m.checkInput(op, x, n, s); err != nil {
		return err
	}
	if len(out) != n {
		return fmt.Errorf("%s: %d score slots for %d inputs: %w", op, len(out), n, ErrInvalidArgument)
	}
	flags := batchFlags(o.BatchInvariant)
	err := m.use(op, func(p *C.fas_model) error {
		return statusError(op, C.fas_model_score_flags(p, (*C.float)(&x[0]), C.int64_t(n), C.int64_t(s), C.uint64_t(o.Seed),
			flags, (*C.double)(&out[0])))
	})
	runtime.KeepAlive(x)
	runtime.KeepAlive(out)
	return err
}

// batchFlags are the C flags of a forward or score: FAS_SCORE_BATCH_INVARIANT or none.
func batchFlags(invariant bool) C.uint32_t {
	if invariant {
		return C.FAS_SCORE_BATCH_INVARIANT
	}
	return 0
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
