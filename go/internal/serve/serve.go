// Package serve is the HTTP face of the liveness package (`fas serve`): POST /v1/liveness
// scores one image, /livez and /readyz report health, /metrics exposes Prometheus metrics.
//
// Hardening: request bodies are limited (Options.MaxBody) and image dimensions are checked
// from the header before any pixel is decoded (the detector's limits); requests beyond
// Options.MaxInFlight, and any that find the detector's queue full, get 503 with Retry-After
// at once, so memory stays bounded under overload; the http.Server has read, write and idle
// timeouts; on shutdown the server stops accepting, lets the requests in flight finish and
// then closes the detector. Bad input gets a 4xx with a JSON error naming what is wrong; a
// face-less photo is the explicit no_face result (200).
package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/liveness"
)

// Options configure a Server. Zero fields take the defaults.
type Options struct {
	MaxBody           int64         // bytes of a request body (default 10 MiB)
	MaxInFlight       int           // /v1/liveness requests handled at once; more get 503 (default 64)
	RetryAfter        time.Duration // the Retry-After of a 503 (default 1 s)
	ReadHeaderTimeout time.Duration // default 5 s
	ReadTimeout       time.Duration // the whole request, body included (default 30 s)
	WriteTimeout      time.Duration // default 60 s
	IdleTimeout       time.Duration // keep-alive connections (default 120 s)
	ShutdownTimeout   time.Duration // how long requests in flight get to finish on shutdown (default 30 s)
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.MaxBody == 0 {
		o.MaxBody = 10 << 20
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 64
	}
	def(&o.RetryAfter, time.Second)
	def(&o.ReadHeaderTimeout, 5*time.Second)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.WriteTimeout, 60*time.Second)
	def(&o.IdleTimeout, 120*time.Second)
	def(&o.ShutdownTimeout, 30*time.Second)
}

// Server serves one detector.
type Server struct {
	o        Options
	log      *zap.Logger
	reg      *prometheus.Registry
	det      atomic.Pointer[liveness.Detector]
	draining atomic.Bool
	inflight chan struct{}

	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	batchSize prometheus.Histogram
	batchTime prometheus.Histogram
	faces     prometheus.Histogram
	decisions *prometheus.CounterVec
}

// New makes a server with its own metrics registry. It serves 503 on /v1/liveness and
// /readyz until SetDetector.
func New(log *zap.Logger, o Options) *Server {
	o.defaults()
	s := &Server{o: o, log: log, reg: prometheus.NewRegistry(), inflight: make(chan struct{}, o.MaxInFlight)}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fas_http_requests_total",
		Help: "HTTP requests by path and status code."}, []string{"path", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fas_http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by path.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"path"})
	s.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fas_batch_size",
		Help: "Inputs per network call.", Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64}})
	s.batchTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fas_batch_duration_seconds",
		Help: "Time of one network call.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	s.faces = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fas_faces_found",
		Help: "Faces found per scored image.", Buckets: []float64{0, 1, 2, 3, 5, 10}})
	s.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fas_decisions_total",
		Help: "Results by decision (live, attack, no_face)."}, []string{"decision"})
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fas_queue_depth",
		Help: "Inputs waiting for the network."}, func() float64 {
		if d := s.det.Load(); d != nil {
			return float64(d.QueueLen())
		}
		return 0
	})
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fas_inflight_requests",
		Help: "Liveness requests being handled."}, func() float64 { return float64(len(s.inflight)) })
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fas_ready",
		Help: "1 when the model is loaded and the server is not shutting down."}, func() float64 {
		if s.ready() {
			return 1
		}
		return 0
	})
	s.reg.MustRegister(s.requests, s.latency, s.batchSize, s.batchTime, s.faces, s.decisions, queue, inflight, ready,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return s
}

// ObserveBatch records one network call; give it to liveness.WithBatchObserver.
func (s *Server) ObserveBatch(b liveness.BatchInfo) {
	s.batchSize.Observe(float64(b.Size))
	s.batchTime.Observe(b.Duration.Seconds())
	if b.Err != nil {
		s.log.Error("network call failed", zap.Int("batch", b.Size), zap.Error(b.Err))
	}
}

// SetDetector makes the server ready with d.
func (s *Server) SetDetector(d *liveness.Detector) { s.det.Store(d) }

// Registry is the server's metrics registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

func (s *Server) ready() bool { return s.det.Load() != nil && !s.draining.Load() }

// Handler routes the endpoints, with access logs, metrics and panic recovery around them.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/liveness", s.liveness)
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.draining.Load():
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		case s.det.Load() == nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading the model"})
		default:
			i := s.det.Load().Info()
			ready := map[string]any{"status": "ready", "method": i.Method, "model_version": i.ModelVersion,
				"threshold": i.Threshold, "threshold_source": i.ThresholdSource, "family": i.Family}
			if len(i.Members) > 0 {
				ready["members"], ready["classes"] = i.Members, i.Classes
			}
			writeJSON(w, http.StatusOK, ready)
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %s (POST /v1/liveness, GET /livez, /readyz, /metrics)", r.URL.Path))
	})
	return s.observe(mux)
}

// route is the metrics label of a path (a fixed set, so that scanners cannot blow up the
// label space).
func route(p string) string {
	switch p {
	case "/v1/liveness", "/livez", "/readyz", "/metrics":
		return p
	}
	return "other"
}

type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
	// what the liveness handler learnt, for the access log
	decision string
	faces    int
	errCode  string
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in a handler", zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
				if rec.code == 0 {
					writeError(rec, http.StatusInternalServerError, "internal", "internal error")
				}
			}
			code := rec.code
			if code == 0 {
				code = 499 // the client went away before an answer
			}
			took := time.Since(start)
			path := route(r.URL.Path)
			s.requests.WithLabelValues(path, strconv.Itoa(code)).Inc()
			s.latency.WithLabelValues(path).Observe(took.Seconds())
			fields := []zap.Field{zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Int("status", code),
				zap.Int64("bytes_in", r.ContentLength), zap.Int64("bytes_out", rec.bytes), zap.Duration("duration", took),
				zap.String("remote", r.RemoteAddr)}
			if rec.decision != "" {
				fields = append(fields, zap.String("decision", rec.decision), zap.Int("faces", rec.faces))
			}
			if rec.errCode != "" {
				fields = append(fields, zap.String("error", rec.errCode))
			}
			s.log.Info("request", fields...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// Box is a rectangle in pixels.
type Box struct {
	X      int `json:"x"`
	Y      int `json:"y"`
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Response is the JSON of a scored image: the fields of liveness.Result. Scores and boxes
// are null for no_face.
type Response struct {
	Decision        string       `json:"decision"`
	AttackScore     *float64     `json:"attack_score"`
	Liveness        *float64     `json:"liveness"`
	Threshold       float64      `json:"threshold"`
	ThresholdSource string       `json:"threshold_source"`
	Faces           int          `json:"faces"`
	Box             *Box         `json:"box"`
	Crop            *Box         `json:"crop"`
	Landmarks       [][2]float64 `json:"landmarks"`
	Method          string       `json:"method"`
	ModelVersion    string       `json:"model_version"`
	Family          string       `json:"family"`
	// Of an argmax model or ensemble (MiniFASNet): the winning class and every member's part.
	Class   string   `json:"class,omitempty"`
	Members []Member `json:"members,omitempty"`
}

// Member is one ensemble member's part of a Response.
type Member struct {
	Variant      string    `json:"variant"`
	Scale        float64   `json:"crop_scale"`
	Crop         Box       `json:"crop"`
	Probs        []float64 `json:"probs"`
	ModelVersion string    `json:"model_version"`
}

// ErrorResponse is the JSON of every error.
type ErrorResponse struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	var e ErrorResponse
	e.Error.Code, e.Error.Message = errCode, msg
	if rec, ok := w.(*recorder); ok {
		rec.errCode = errCode
	}
	writeJSON(w, code, e)
}

func (s *Server) unavailable(w http.ResponseWriter, errCode, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(s.o.RetryAfter.Seconds()))))
	writeError(w, http.StatusServiceUnavailable, errCode, msg)
}

func (s *Server) liveness(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "POST an image to /v1/liveness")
		return
	}
	d := s.det.Load()
	switch {
	case s.draining.Load():
		s.unavailable(w, "shutting_down", "the server is shutting down")
		return
	case d == nil:
		s.unavailable(w, "not_ready", "the model is still loading")
		return
	}
	select {
	case s.inflight <- struct{}{}:
		defer func() { <-s.inflight }()
	default:
		s.unavailable(w, "overloaded", fmt.Sprintf("%d requests are being handled; try again later", s.o.MaxInFlight))
		return
	}
	data, threshold, code, errCode, msg := s.readRequest(w, r)
	if errCode != "" {
		writeError(w, code, errCode, msg)
		return
	}
	var opts []liveness.ScoreOption
	if threshold != nil {
		opts = append(opts, liveness.AtThreshold(*threshold))
	}
	res, err := d.ScoreBytes(r.Context(), data, opts...)
	if err != nil {
		s.scoreError(w, r, err)
		return
	}
	s.faces.Observe(float64(res.Faces))
	s.decisions.WithLabelValues(string(res.Decision)).Inc()
	if rec, ok := w.(*recorder); ok {
		rec.decision, rec.faces = string(res.Decision), res.Faces
	}
	writeJSON(w, http.StatusOK, response(res))
}

func (s *Server) scoreError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, liveness.ErrBadImage):
		writeError(w, http.StatusBadRequest, "bad_image", err.Error())
	case errors.Is(err, liveness.ErrEmptyImage):
		writeError(w, http.StatusBadRequest, "empty_image", err.Error())
	case errors.Is(err, liveness.ErrImageTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "image_too_large", err.Error())
	case errors.Is(err, liveness.ErrOverloaded):
		s.unavailable(w, "overloaded", err.Error())
	case errors.Is(err, liveness.ErrClosed):
		s.unavailable(w, "shutting_down", err.Error())
	case r.Context().Err() != nil: // the client went away; nobody reads an answer
		s.log.Debug("client gone", zap.String("remote", r.RemoteAddr), zap.Error(err))
	default:
		s.log.Error("scoring failed", zap.Error(err))
		writeError(w, http.StatusInternalServerError, "internal", "scoring failed")
	}
}

func response(res liveness.Result) Response {
	out := Response{Decision: string(res.Decision), Threshold: res.Threshold, ThresholdSource: res.ThresholdSource,
		Faces: res.Faces, Method: res.Method, ModelVersion: res.ModelVersion, Family: res.Family}
	if res.Decision == liveness.NoFace {
		return out
	}
	out.Class = res.Class
	for _, m := range res.Members {
		c := m.Crop
		out.Members = append(out.Members, Member{Variant: m.Variant, Scale: m.Scale, Crop: Box{c.Min.X, c.Min.Y, c.Dx(), c.Dy()},
			Probs: m.Probs, ModelVersion: m.ModelVersion})
	}
	a, l := res.AttackScore, res.Liveness
	out.AttackScore, out.Liveness = &a, &l
	out.Box = &Box{res.Box.Min.X, res.Box.Min.Y, res.Box.Dx(), res.Box.Dy()}
	out.Crop = &Box{res.Crop.Min.X, res.Crop.Min.Y, res.Crop.Dx(), res.Crop.Dy()}
	for _, p := range res.Landmarks {
		out.Landmarks = append(out.Landmarks, [2]float64{p.X, p.Y})
	}
	return out
}

// readRequest takes the image (a raw body, or the "image" part of a multipart form) and the
// optional threshold (query parameter, or a "threshold" form field). errCode is set on failure.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (data []byte, threshold *float64, code int, errCode, msg string) {
	if v := r.URL.Query().Get("threshold"); v != "" {
		t, c, e, m := parseThreshold(v)
		if e != "" {
			return nil, nil, c, e, m
		}
		threshold = t
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, nil, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"no Content-Type: send image/jpeg, image/png, application/octet-stream or multipart/form-data"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, nil, http.StatusUnsupportedMediaType, "unsupported_media_type", fmt.Sprintf("Content-Type %q: %v", ct, err)
	}
	body := http.MaxBytesReader(w, r.Body, s.o.MaxBody)
	switch mt {
	case "image/jpeg", "image/png", "application/octet-stream":
		data, err = readAll(body, r.ContentLength, s.o.MaxBody)
	case "multipart/form-data":
		var t *float64
		data, t, code, errCode, msg = s.readMultipart(body, params["boundary"])
		if errCode != "" {
			return nil, nil, code, errCode, msg
		}
		if t != nil {
			threshold = t
		}
	default:
		return nil, nil, http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %s is not an image: send image/jpeg, image/png, application/octet-stream or multipart/form-data", mt)
	}
	if err != nil {
		return bodyError(err, s.o.MaxBody)
	}
	return data, threshold, 0, "", ""
}

func bodyError(err error, limit int64) (data []byte, threshold *float64, code int, errCode, msg string) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, nil, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body exceeds %d bytes", limit)
	}
	return nil, nil, http.StatusBadRequest, "bad_body", fmt.Sprintf("reading the body: %v", err)
}

func parseThreshold(v string) (*float64, int, string, string) {
	t, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(t) || t < 0 || t > 1 {
		return nil, http.StatusBadRequest, "bad_threshold", fmt.Sprintf("threshold %q is not a number in [0, 1]", v)
	}
	return &t, 0, "", ""
}

// readAll reads a body of at most limit bytes (the MaxBytesReader enforces it), sized from
// Content-Length when it is known.
func readAll(r io.Reader, n, limit int64) ([]byte, error) {
	var b bytes.Buffer
	if n > 0 && n <= limit {
		b.Grow(int(n) + 1)
	}
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

func (s *Server) readMultipart(body io.Reader, boundary string) (data []byte, threshold *float64, code int, errCode, msg string) {
	if boundary == "" {
		return nil, nil, http.StatusBadRequest, "bad_multipart", "multipart/form-data without a boundary"
	}
	mr := multipart.NewReader(body, boundary)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, _, c, e, m := bodyError(err, s.o.MaxBody); e == "body_too_large" {
				return nil, nil, c, e, m
			}
			return nil, nil, http.StatusBadRequest, "bad_multipart", fmt.Sprintf("multipart body: %v", err)
		}
		switch p.FormName() {
		case "image":
			if data != nil {
				return nil, nil, http.StatusBadRequest, "bad_multipart", "more than one image part"
			}
			if data, err = readAll(p, 0, s.o.MaxBody); err != nil {
				return bodyError(err, s.o.MaxBody)
			}
			if data == nil {
				data = []byte{}
			}
		case "threshold":
			v, err := io.ReadAll(io.LimitReader(p, 64))
			if err != nil {
				return bodyError(err, s.o.MaxBody)
			}
			t, c, e, m := parseThreshold(string(bytes.TrimSpace(v)))
			if e != "" {
				return nil, nil, c, e, m
			}
			threshold = t
		default: // other fields are ignored, but read within the body limit
			if _, err := io.Copy(io.Discard, p); err != nil {
				return bodyError(err, s.o.MaxBody)
			}
		}
	}
	if data == nil {
		return nil, nil, http.StatusBadRequest, "bad_multipart", `no "image" part in the form`
	}
	return data, threshold, 0, "", ""
}

// HTTPServer is an http.Server for s with the configured timeouts.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.Handler(), ReadHeaderTimeout: s.o.ReadHeaderTimeout, ReadTimeout: s.o.ReadTimeout,
		WriteTimeout: s.o.WriteTimeout, IdleTimeout: s.o.IdleTimeout, MaxHeaderBytes: 64 << 10,
		ErrorLog: zap.NewStdLog(s.log.Named("http"))}
}

// Run serves on ln until ctx ends, loading the detector with load in the meantime (/readyz
// answers 503 until it is loaded). When ctx ends: /readyz and new requests get 503, the
// listener closes, requests in flight finish (up to Options.ShutdownTimeout), then the
// detector is closed.
func (s *Server) Run(ctx context.Context, ln net.Listener, load func() (*liveness.Detector, error)) error {
	srv := s.HTTPServer()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	loaded := make(chan error, 1)
	go func() {
		d, err := load()
		if err == nil {
			s.SetDetector(d)
			s.log.Info("model loaded", zap.String("method", d.Info().Method), zap.String("family", d.Info().Family),
				zap.Int("members", len(d.Info().Members)), zap.String("model_version", d.Info().ModelVersion),
				zap.Float64("threshold", d.Info().Threshold), zap.String("threshold_source", d.Info().ThresholdSource))
		}
		loaded <- err
	}()
	var runErr error
	loadDone := false
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case err := <-served:
		runErr = fmt.Errorf("serve: %w", err)
	case err := <-loaded:
		loadDone = true
		if err != nil {
			runErr = err
		} else {
			select {
			case <-ctx.Done():
				s.log.Info("shutting down")
			case err := <-served:
				runErr = fmt.Errorf("serve: %w", err)
			}
		}
	}
	s.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("shutdown: %w", err)
	}
	if !loadDone {
		<-loaded // a model still loading is freed once it is there
	}
	if d := s.det.Load(); d != nil {
		d.Close()
	}
	return runErr
}
