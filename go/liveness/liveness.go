// Package liveness scores face images for presentation attacks (face anti-spoofing) with a
// model exported by `fas export`. It is the one stable import path of fasgo for Go services:
//
//	d, err := liveness.Open("model.safetensors", liveness.WithMaxBatch(8))
//	if err != nil { ... }
//	defer d.Close()
//	res, err := d.ScoreBytes(ctx, jpegBytes)
//	if err != nil { ... }                       // bad image, overload, cancelled, closed
//	switch res.Decision {
//	case liveness.Live: ...
//	case liveness.Attack: ...
//	case liveness.NoFace: ...                   // an explicit result, not an error
//	}
//
// A Detector is safe for concurrent use. Many goroutines call Score, ScoreBytes or ScoreBatch;
// each prepares its own input (decoding, face finding, crop, the model's colour transform and
// normalisation) and queues it; one owner goroutine takes up to WithMaxBatch queued inputs,
// waiting at most WithMaxWait for a batch to fill, and runs them through the network in one
// call. A score does not depend on what else was in its batch: by default the network runs
// batch-invariant kernels, so every input scores bit for bit as it would alone.
//
// The queue is bounded (WithQueueSize): when it is full a call fails at once with
// ErrOverloaded instead of holding memory. A context cancelled while its input waits in the
// queue ends the call with the context's error and the input is skipped. Close refuses new
// calls, fails the queued ones with ErrClosed, waits for the batch in flight and frees the
// network.
//
// Faces: the model scores one face. The detector needs either a face finder
// (WithFaceFinder) or the promise that every input already is a face crop, framed as the
// model's training images were (WithFaceCrops). Without either, Open fails: the package never
// guesses where a face is. An image in which the finder finds no face gives the explicit
// result NoFace; of several faces the largest is scored and Result.Faces counts them all.
//
// The decision is "attack" when the attack score is at or above the threshold. The
// threshold is the model's own, calibrated by `fas export` as the EER threshold of the
// source-domain validation lists (never the test lists); WithThreshold replaces it for a
// detector, AtThreshold for one call. A model exported without a calibrated threshold can
// only be opened with WithThreshold.
//
// Pretrained models: Open also takes the MiniFASNet models of `fas import silentface`
// (Silent-Face-Anti-Spoofing's published weights), alone or as an ensemble (a directory
// holding ensemble.json, or the manifest itself). Each member cuts its own scaled crop of the
// face; the members' softmaxes are summed and the argmax decides (live when the real class
// wins; ThresholdSource "argmax"); Liveness is the mean real probability, and WithThreshold or
// AtThreshold replace the rule (attack when 1 - Liveness >= t). Result.Class and
// Result.Members say what each member saw.
//
// The package imports no configuration, logging, data-set or training code and changes no
// process-wide state on import; the network's thread count is its own (WithThreads). Opening
// the first detector installs the shim's caching allocator as libtorch's CPU allocator: freed
// blocks of 1 MiB and more are kept for the next check (at most a quarter of physical memory,
// or FASGO_CPU_CACHE_MIB MiB; 0 leaves libtorch's allocator alone), and Close empties it.
package liveness

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/safetensors"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// Errors a caller can test with errors.Is.
var (
	// ErrClosed: the detector was closed before the call was served.
	ErrClosed = errors.New("liveness: detector is closed")
	// ErrOverloaded: the queue is full; try again later.
	ErrOverloaded = errors.New("liveness: queue is full")
	// ErrBadImage: the bytes are not a decodable JPEG or PNG image.
	ErrBadImage = errors.New("liveness: not a decodable JPEG or PNG image")
	// ErrImageTooLarge: the image's dimensions exceed the detector's limit (checked from the
	// header, before any pixel is decoded).
	ErrImageTooLarge = errors.New("liveness: image too large")
	// ErrEmptyImage: the image has no pixels.
	ErrEmptyImage = errors.New("liveness: image has no pixels")
	// ErrNoDetector: Open was given neither a face finder nor WithFaceCrops.
	ErrNoDetector = errors.New("liveness: no face detector")
	// ErrNoThreshold: the model has no calibrated threshold and none was given.
	ErrNoThreshold = errors.New("liveness: no decision threshold")
)

// Decision is the outcome of one image.
type Decision string

// The decisions.
const (
	Live   Decision = "live"    // bona fide: attack score below the threshold
	Attack Decision = "attack"  // presentation attack: attack score at or above the threshold
	NoFace Decision = "no_face" // the face finder found no face; nothing was scored
)

// Where a Result's threshold came from.
const (
	ThresholdModel    = "model"    // calibrated at export (source-domain validation lists)
	ThresholdDetector = "detector" // WithThreshold
	ThresholdCall     = "call"     // AtThreshold
	// ThresholdRule: an argmax model (MiniFASNet) decided by its own rule, no threshold:
	// live when the real class has the largest (summed) probability.
	ThresholdRule = "argmax"
)

// Point is an image position in pixels (x right, y down, from the top-left corner).
type Point struct{ X, Y float64 }

// Face is one face a FaceFinder found, in the coordinates of the image it was given.
type Face struct {
	Box          image.Rectangle
	Score        float64  // the finder's confidence
	Landmarks    [5]Point // eyes, nose tip, mouth corners (image-left first), when HasLandmarks
	HasLandmarks bool
}

// FaceFinder finds faces. It must be safe for concurrent use. Services may supply any
// detector through it (fasgo's own, shim.FaceFinder, is being built and will come with an
// adapter); Find gets the image as decoded (after EXIF orientation for bytes).
type FaceFinder interface {
	Find(img image.Image) ([]Face, error)
}

// Result is the outcome for one image.
type Result struct {
	Decision Decision
	// AttackScore is the method's attack score in [0, 1] (higher = more likely an attack);
	// Liveness = 1 - AttackScore. Both are 0 when Decision is NoFace.
	AttackScore float64
	Liveness    float64
	// Threshold is the threshold the decision used and ThresholdSource where it came from
	// (ThresholdModel, ThresholdDetector or ThresholdCall).
	Threshold       float64
	ThresholdSource string
	// Faces is the number of faces found (1 for a face crop); the largest was scored.
	Faces int
	// Box is the scored face in the image's pixel coordinates (after EXIF orientation for
	// bytes), and Crop the region the model's input was cut from. Landmarks are the face's
	// landmarks when the finder gave them (nil otherwise).
	Box       image.Rectangle
	Crop      image.Rectangle
	Landmarks []Point
	// Method and ModelVersion name the model (ModelVersion: a digest of its weights; of an
	// ensemble, a digest of its members' versions). Family is the model family ("anrl",
	// "fghv", "minifasnet").
	Method       string
	ModelVersion string
	Family       string
	// Of an argmax model or ensemble (MiniFASNet): Class is the winning class of the summed
	// probabilities (ModelInfo.Classes[Label]: "real", "attack_2d", "attack_3d") and
	// Members each member's crop and probabilities. Empty otherwise.
	Label   int
	Class   string
	Members []MemberScore
}

// ModelInfo describes the model a detector runs.
type ModelInfo struct {
	Method       string
	Settings     []shim.Setting
	Size         int // input size S
	Device       string
	Threads      int
	ModelVersion string
	Crop         string  // "none" or "5points"
	Margin       float64 // the 5-point crop's margin
	// Calibrated reports whether the model carries its own threshold (ModelThreshold, from
	// ThresholdFrom, protocol ThresholdProtocol).
	Calibrated        bool
	ModelThreshold    float64
	ThresholdFrom     string
	ThresholdProtocol string
	// Threshold is what a call without AtThreshold uses, from ThresholdSource.
	Threshold       float64
	ThresholdSource string
	FasVersion      string
	GitCommit       string
	// Family, Classes and Members describe an argmax model or ensemble (MiniFASNet); Crop
	// is then "scale" and Threshold 0 unless one was given (ThresholdSource "argmax").
	Family  string
	Classes []string
	Members []MemberInfo
}

// Option configures Open.
type Option func(*options) error

type options struct {
	device        string
	threads       int
	maxBatch      int
	maxWait       time.Duration
	queue         int
	threshold     *float64
	faceCrops     bool
	finder        FaceFinder
	maxPixels     int64
	maxSide       int
	prepLimit     int
	fastKernels   bool
	batchObserver func(BatchInfo)
	beforeBatch   func(n int) // tests: runs in the owner goroutine before each network call
}

// BatchInfo describes one network call, for WithBatchObserver.
type BatchInfo struct {
	Size     int           // inputs in the batch
	Duration time.Duration // time in the network
	Err      error         // the call's error, if it failed
}

// WithDevice runs the network on "cpu" (default), "cuda" or "cuda:N".
func WithDevice(device string) Option {
	return func(o *options) error { o.device = device; return nil }
}

// WithThreads sets the network's intra-op CPU threads (default: every usable core).
func WithThreads(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("WithThreads(%d): want at least 1", n)
		}
		o.threads = n
		return nil
	}
}

// WithMaxBatch sets the most inputs one network call takes (default 8).
func WithMaxBatch(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 4096 {
			return fmt.Errorf("WithMaxBatch(%d): want 1..4096", n)
		}
		o.maxBatch = n
		return nil
	}
}

// WithMaxWait sets how long the first input of a batch waits for others (default 2 ms; 0
// takes whatever is queued at that moment).
func WithMaxWait(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("WithMaxWait(%v): want >= 0", d)
		}
		o.maxWait = d
		return nil
	}
}

// WithQueueSize bounds the inputs waiting for the network (default 4 × the maximum batch);
// a call that finds the queue full fails with ErrOverloaded.
func WithQueueSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("WithQueueSize(%d): want at least 1", n)
		}
		o.queue = n
		return nil
	}
}

// WithThreshold replaces the model's threshold for every call of the detector (a model
// without a calibrated threshold needs it). For an argmax model it replaces the rule: attack
// when 1 - liveness >= t.
func WithThreshold(t float64) Option {
	return func(o *options) error {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("WithThreshold(%v): want a finite number", t)
		}
		o.threshold = &t
		return nil
	}
}

// WithFaceCrops declares that every input already is a face crop framed as the model's
// training images were: the whole image is the face (Faces = 1) and nothing is detected.
func WithFaceCrops() Option {
	return func(o *options) error { o.faceCrops = true; return nil }
}

// WithFaceFinder finds the faces of every input with f.
func WithFaceFinder(f FaceFinder) Option {
	return func(o *options) error {
		if f == nil {
			return errors.New("WithFaceFinder(nil)")
		}
		o.finder = f
		return nil
	}
}

// WithMaxImage limits the images ScoreBytes decodes: at most maxSide pixels on either side
// and maxPixels in all (defaults 8192 and 40 000 000). The header is checked before any pixel
// is decoded.
func WithMaxImage(maxSide int, maxPixels int64) Option {
	return func(o *options) error {
		if maxSide < 1 || maxPixels < 1 {
			return fmt.Errorf("WithMaxImage(%d, %d): want positive limits", maxSide, maxPixels)
		}
		o.maxSide, o.maxPixels = maxSide, maxPixels
		return nil
	}
}

// WithPrepareLimit bounds how many calls decode and prepare their images at once (default:
// the number of usable cores); the others wait for a slot (honouring their context). It
// bounds the memory that decoding takes.
func WithPrepareLimit(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("WithPrepareLimit(%d): want at least 1", n)
		}
		o.prepLimit = n
		return nil
	}
}

// WithFastKernels lets the network use libtorch's batch-blocked fastest kernels. Scores then
// depend in their last bits on the other inputs of their batch (about 1e-7), so the same image
// may score differently under different load; the default is batch-invariant scoring.
func WithFastKernels() Option {
	return func(o *options) error { o.fastKernels = true; return nil }
}

// WithBatchObserver calls f after every network call (from the owner goroutine; keep it quick).
func WithBatchObserver(f func(BatchInfo)) Option {
	return func(o *options) error { o.batchObserver = f; return nil }
}

// ScoreOption configures one call.
type ScoreOption func(*callOptions)

type callOptions struct {
	threshold *float64
}

// AtThreshold decides this call with threshold t instead of the detector's.
func AtThreshold(t float64) ScoreOption {
	return func(c *callOptions) { c.threshold = &t }
}

// Detector scores images with one model. Safe for concurrent use.
type Detector struct {
	model     *shim.Model // nil for an ensemble
	ens       *ensemble
	per       int // floats of one prepared input
	spec      export.Spec
	info      ModelInfo
	o         options
	threshold float64
	thrSource string
	finder    FaceFinder
	own       *shim.FaceFinder // the default finder, owned; nil otherwise
	prep      chan struct{}    // prepare slots
	pool      sync.Pool        // *prepWork
	inputs    sync.Pool        // *[]float32 of 6*S*S

	mu        sync.RWMutex
	closed    bool
	queue     chan *request
	closing   chan struct{}
	ownerDone chan struct{}
	closeOnce sync.Once
}

// Open loads an exported model (`fas export`, `fas import silentface`) or an ensemble (a
// manifest, or a directory holding ensemble.json) and starts its owner goroutine.
func Open(path string, opts ...Option) (*Detector, error) {
	o := options{maxBatch: 8, maxWait: 2 * time.Millisecond, maxSide: 8192, maxPixels: 40_000_000,
		prepLimit: runtime.GOMAXPROCS(0)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("liveness: %w", err)
		}
	}
	if o.queue == 0 {
		o.queue = 4 * o.maxBatch
	}
	if o.faceCrops && o.finder != nil {
		return nil, errors.New("liveness: WithFaceCrops and WithFaceFinder exclude each other (crops need no finder)")
	}
	var finder FaceFinder
	var own *shim.FaceFinder // fasgo's own detector, closed with the Detector
	switch {
	case o.faceCrops:
		finder = wholeImage{}
	case o.finder != nil:
		finder = o.finder
	default:
		var err error
		if own, err = shim.NewFaceFinder(""); err != nil {
			return nil, fmt.Errorf("%w: fasgo's face detector is not available (%v); give liveness.WithFaceFinder(f), or liveness.WithFaceCrops() when every input is already a face crop", ErrNoDetector, err)
		}
		finder = nativeFinder{own}
	}
	var f *safetensors.File
	var spec export.Spec
	var ens *ensemble
	var err error
	if !export.IsEnsemble(path) {
		if f, spec, err = export.Read(path); err != nil {
			own.Close()
			return nil, fmt.Errorf("liveness: open %w", err)
		}
	}
	if export.IsEnsemble(path) || isArgmax(spec) {
		if ens, err = openEnsemble(path, o); err != nil {
			own.Close()
			return nil, fmt.Errorf("liveness: open %s: %w", path, err)
		}
		return startEnsemble(ens, o, finder, own), nil
	}
	d := &Detector{spec: spec, o: o, finder: finder, own: own, prep: make(chan struct{}, o.prepLimit),
		queue: make(chan *request, o.queue), closing: make(chan struct{}), ownerDone: make(chan struct{})}
	switch {
	case o.threshold != nil:
		d.threshold, d.thrSource = *o.threshold, ThresholdDetector
	case spec.Threshold != nil:
		d.threshold, d.thrSource = spec.Threshold.Value, ThresholdModel
	default:
		return nil, fmt.Errorf("%w: %s was exported without a calibrated threshold; give liveness.WithThreshold(t) (or export it with calibration: fas export --config)", ErrNoThreshold, path)
	}
	m, err := shim.NewModel(shim.Config{Method: spec.Method, Size: spec.Size, Device: o.device, Threads: o.threads,
		Settings: spec.Settings})
	if err != nil {
		return nil, fmt.Errorf("liveness: open %s: %w", path, err)
	}
	if err := m.Import(f.Tensors); err != nil {
		m.Close()
		return nil, fmt.Errorf("liveness: open %s: %w", path, err)
	}
	d.model = m
	mi := m.Info()
	d.info = ModelInfo{Method: mi.Method, Settings: mi.Settings, Size: mi.Size, Device: mi.Device, Threads: mi.Threads,
		ModelVersion: spec.ModelVersion, Crop: spec.Crop, Margin: spec.Margin, Threshold: d.threshold,
		ThresholdSource: d.thrSource, FasVersion: spec.FasVersion, GitCommit: spec.GitCommit}
	if t := spec.Threshold; t != nil {
		d.info.Calibrated, d.info.ModelThreshold, d.info.ThresholdFrom, d.info.ThresholdProtocol = true, t.Value, t.From, t.Protocol
	}
	d.info.Family = spec.FamilyOf()
	d.start(6 * spec.Size * spec.Size)
	return d, nil
}

// startEnsemble is Open's end for an argmax model or ensemble.
func startEnsemble(e *ensemble, o options, finder FaceFinder, own *shim.FaceFinder) *Detector {
	first := e.members[0]
	spec := first.spec
	d := &Detector{ens: e, spec: spec, o: o, finder: finder, own: own, prep: make(chan struct{}, o.prepLimit),
		queue: make(chan *request, o.queue), closing: make(chan struct{}), ownerDone: make(chan struct{})}
	d.thrSource = ThresholdRule
	if o.threshold != nil {
		d.threshold, d.thrSource = *o.threshold, ThresholdDetector
	}
	mi := first.model.Info()
	d.info = ModelInfo{Method: mi.Method, Settings: mi.Settings, Size: e.size, Device: mi.Device, Threads: mi.Threads,
		ModelVersion: e.version(), Crop: spec.Crop, Threshold: d.threshold, ThresholdSource: d.thrSource,
		FasVersion: spec.FasVersion, GitCommit: spec.GitCommit, Family: spec.FamilyOf(), Classes: e.classes,
		Members: e.info()}
	d.start(e.per())
	return d
}

func (d *Detector) start(per int) {
	d.per = per
	d.inputs.New = func() any { x := make([]float32, per); return &x }
	d.pool.New = func() any { return newPrepWork(d.spec) }
	go d.owner()
}

// Info describes the model and the threshold a call without AtThreshold uses.
func (d *Detector) Info() ModelInfo { return d.info }

// QueueLen is the number of inputs waiting for the network now.
func (d *Detector) QueueLen() int { return len(d.queue) }

// Score scores the face in img (see the package documentation for faces and thresholds).
func (d *Detector) Score(ctx context.Context, img image.Image, opts ...ScoreOption) (Result, error) {
	rs, err := d.score(ctx, []source{{img: img}}, opts)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// ScoreBytes decodes a JPEG or PNG (applying a JPEG's EXIF orientation) and scores its face.
// The header is checked against the image limits (WithMaxImage) before any pixel is decoded.
func (d *Detector) ScoreBytes(ctx context.Context, data []byte, opts ...ScoreOption) (Result, error) {
	rs, err := d.score(ctx, []source{{data: data, bytes: true}}, opts)
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// ScoreBatch scores the face of every image, in order. All of them are queued together, so
// they share network calls. An image that cannot be scored fails the call, naming its index;
// an image without a face gives its NoFace result.
func (d *Detector) ScoreBatch(ctx context.Context, imgs []image.Image, opts ...ScoreOption) ([]Result, error) {
	src := make([]source, len(imgs))
	for i, im := range imgs {
		src[i] = source{img: im}
	}
	return d.score(ctx, src, opts)
}

// Close refuses new calls, fails the queued ones with ErrClosed, waits for the batch in
// flight and frees the network. Idempotent; safe to call concurrently with scoring.
func (d *Detector) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		close(d.closing)
		d.drain(nil) // the queued calls fail now, not after the batch in flight
		<-d.ownerDone
		d.model.Close()
		if d.ens != nil {
			d.ens.close()
		}
		d.own.Close()
	})
	return nil
}

func (d *Detector) isClosed() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.closed
}

// source is one input of a call: a decoded image or encoded bytes.
type source struct {
	img   image.Image
	data  []byte
	bytes bool
}

func (d *Detector) callThreshold(opts []ScoreOption) (float64, string, error) {
	var co callOptions
	for _, o := range opts {
		o(&co)
	}
	if co.threshold == nil {
		return d.threshold, d.thrSource, nil
	}
	if t := *co.threshold; math.IsNaN(t) || math.IsInf(t, 0) {
		return 0, "", fmt.Errorf("liveness: AtThreshold(%v): want a finite number", t)
	}
	return *co.threshold, ThresholdCall, nil
}

func (d *Detector) score(ctx context.Context, src []source, opts []ScoreOption) ([]Result, error) {
	thr, thrSource, err := d.callThreshold(opts)
	if err != nil {
		return nil, err
	}
	if d.isClosed() {
		return nil, ErrClosed
	}
	if len(src) > cap(d.queue) {
		return nil, fmt.Errorf("liveness: %d images in one call exceed the queue of %d (WithQueueSize): %w", len(src), cap(d.queue), ErrOverloaded)
	}
	results := make([]Result, len(src))
	reqs := make([]*request, len(src))
	release := func() { // queued inputs of a failed call are skipped (the owner frees them)
		for _, r := range reqs {
			if r != nil {
				r.cancel()
			}
		}
	}
	for i, s := range src {
		res, x, err := d.prepare(ctx, s)
		if err != nil {
			release()
			if len(src) > 1 {
				return nil, fmt.Errorf("image %d: %w", i, err)
			}
			return nil, err
		}
		res.Threshold, res.ThresholdSource = thr, thrSource
		res.Method, res.ModelVersion, res.Family = d.info.Method, d.info.ModelVersion, d.info.Family
		results[i] = res
		if x == nil { // no face
			continue
		}
		r := &request{ctx: ctx, x: x, done: make(chan struct{})}
		if err := d.enqueue(r); err != nil {
			d.putInput(x)
			release()
			return nil, err
		}
		reqs[i] = r
	}
	for i, r := range reqs {
		if r == nil {
			continue
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
		if r.err != nil {
			release()
			if len(src) > 1 {
				return nil, fmt.Errorf("image %d: %w", i, r.err)
			}
			return nil, r.err
		}
		res := &results[i]
		if d.ens != nil {
			d.ens.decide(res, r.probs, thr, thrSource)
			continue
		}
		res.AttackScore, res.Liveness = r.score, 1-r.score
		res.Decision = Live
		if r.score >= thr {
			res.Decision = Attack
		}
	}
	return results, nil
}

func (d *Detector) getInput() []float32  { return *d.inputs.Get().(*[]float32) }
func (d *Detector) putInput(x []float32) { d.inputs.Put(&x) }
