package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/liveness"
)

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func post(t testing.TB, url, contentType string, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func get(t testing.TB, url string) reply {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func form(t testing.TB, fields map[string]string, image []byte) (string, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if image != nil {
		p, _ := w.CreateFormFile("image", "face.png")
		p.Write(image)
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

func decode(t testing.TB, r reply) Response {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	var out Response
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return out
}

func errorCode(t testing.TB, r reply) string {
	t.Helper()
	var e ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("status %d: not a JSON error: %s", r.code, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error with Content-Type %q", ct)
	}
	return e.Error.Code
}

func openDetector(path string, opts ...liveness.Option) func() (*liveness.Detector, error) {
	return func() (*liveness.Detector, error) { return liveness.Open(path, opts...) }
}

func TestEndpoints(t *testing.T) {
	path := testModel(t, 32, 0.25, export.CropNone)
	log, logs := testLogger(t)
	s := New(log, Options{MaxBody: 1 << 20})
	release := make(chan struct{})
	r := start(t, s, func() (*liveness.Detector, error) {
		<-release // the model loads slowly
		return liveness.Open(path, liveness.WithFaceCrops(), liveness.WithBatchObserver(s.ObserveBatch))
	})
	img := faceImage(48, 40, 1)
	png := pngBytes(t, img)
	// Live but not ready while the model loads; requests get 503.
	if g := get(t, r.url+"/livez"); g.code != 200 {
		t.Errorf("livez while loading: %d", g.code)
	}
	if g := get(t, r.url+"/readyz"); g.code != 503 {
		t.Errorf("readyz while loading: %d %s", g.code, g.body)
	}
	if p := post(t, r.url+"/v1/liveness", "image/png", png); p.code != 503 || errorCode(t, p) != "not_ready" || p.header.Get("Retry-After") == "" {
		t.Errorf("scoring while loading: %d %s", p.code, p.body)
	}
	close(release)
	r.waitReady(t)

	ref, err := liveness.Open(path, liveness.WithFaceCrops())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want, err := ref.Score(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	// Raw body: the detector's result, the score exact through JSON.
	got := decode(t, post(t, r.url+"/v1/liveness", "image/png", png))
	if got.AttackScore == nil || math.Float64bits(*got.AttackScore) != math.Float64bits(want.AttackScore) ||
		*got.Liveness != want.Liveness || got.Decision != string(want.Decision) || got.Threshold != 0.5 ||
		got.ThresholdSource != "model" || got.Faces != 1 || *got.Box != (Box{0, 0, 48, 40}) || got.Method != "anrl" ||
		got.ModelVersion != want.ModelVersion {
		t.Errorf("raw body: %+v, want %+v", got, want)
	}
	// Multipart with a threshold field; the query parameter works too.
	for _, thr := range []float64{want.AttackScore, math.Nextafter(want.AttackScore, 2)} {
		ct, body := form(t, map[string]string{"threshold": fmt.Sprint(thr)}, png)
		got := decode(t, post(t, r.url+"/v1/liveness", ct, body))
		q := decode(t, post(t, fmt.Sprintf("%s/v1/liveness?threshold=%v", r.url, thr), "application/octet-stream", png))
		wantDec := "attack"
		if thr > want.AttackScore {
			wantDec = "live"
		}
		if got.Decision != wantDec || got.Threshold != thr || got.ThresholdSource != "call" || q.Decision != wantDec {
			t.Errorf("threshold %v: form %+v, query %+v", thr, got, q)
		}
	}
	if j := decode(t, post(t, r.url+"/v1/liveness", "image/jpeg", jpegBytes(t, img))); j.AttackScore == nil {
		t.Errorf("jpeg: %+v", j)
	}

	// Bad input: a 4xx with a JSON error naming it.
	ctNoImage, noImage := form(t, map[string]string{"x": "1"}, nil)
	ctTwo, two := func() (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for i := 0; i < 2; i++ {
			p, _ := w.CreateFormFile("image", "a.png")
			p.Write(png)
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}()
	cases := []struct {
		name, ct, query string
		body            []byte
		code            int
		err             string
	}{
		{"not an image", "image/jpeg", "", []byte("I am text, not a JPEG"), 400, "bad_image"},
		{"truncated JPEG", "image/jpeg", "", jpegBytes(t, img)[:300], 400, "bad_image"},
		{"empty body", "image/png", "", nil, 400, "bad_image"},
		{"decompression bomb header", "image/png", "", pngHeader(60000, 60000), 413, "image_too_large"},
		{"zero-size image", "image/png", "", pngHeader(0, 0), 400, "bad_image"},
		{"wrong content type", "text/plain", "", png, 415, "unsupported_media_type"},
		{"form-urlencoded (curl's default)", "application/x-www-form-urlencoded", "", png, 415, "unsupported_media_type"},
		{"no content type", "", "", png, 415, "unsupported_media_type"},
		{"unparsable content type", "image/;;", "", png, 415, "unsupported_media_type"},
		{"body over the limit", "image/png", "", make([]byte, 2<<20), 413, "body_too_large"},
		{"bad threshold", "image/png", "?threshold=abc", png, 400, "bad_threshold"},
		{"threshold above 1", "image/png", "?threshold=1.5", png, 400, "bad_threshold"},
		{"NaN threshold", "image/png", "?threshold=NaN", png, 400, "bad_threshold"},
		{"multipart without an image", ctNoImage, "", noImage, 400, "bad_multipart"},
		{"multipart with two images", ctTwo, "", two, 400, "bad_multipart"},
		{"multipart without a boundary", "multipart/form-data", "", png, 400, "bad_multipart"},
		{"broken multipart", "multipart/form-data; boundary=xyz", "", []byte("--xyz\r\nContent-Disp"), 400, "bad_multipart"},
	}
	for _, c := range cases {
		p := post(t, r.url+"/v1/liveness"+c.query, c.ct, c.body)
		if p.code != c.code || errorCode(t, p) != c.err {
			t.Errorf("%s: %d %s, want %d %s", c.name, p.code, p.body, c.code, c.err)
		}
	}
	if g := get(t, r.url+"/v1/liveness"); g.code != 405 || g.header.Get("Allow") != "POST" || errorCode(t, g) != "method_not_allowed" {
		t.Errorf("GET /v1/liveness: %d %s", g.code, g.body)
	}
	if g := get(t, r.url+"/nope"); g.code != 404 || errorCode(t, g) != "not_found" {
		t.Errorf("unknown path: %d", g.code)
	}
	// Still serving after all of that.
	if got := decode(t, post(t, r.url+"/v1/liveness", "image/png", png)); math.Float64bits(*got.AttackScore) != math.Float64bits(want.AttackScore) {
		t.Error("a different score after bad requests")
	}
	if g := get(t, r.url+"/readyz"); g.code != 200 || !strings.Contains(string(g.body), want.ModelVersion) {
		t.Errorf("readyz: %d %s", g.code, g.body)
	}

	// Metrics: requests by code, latency, batch sizes, queue depth, faces found.
	m := string(get(t, r.url+"/metrics").body)
	for _, want := range []string{
		`fas_http_requests_total{code="200",path="/v1/liveness"} 7`,
		`fas_http_requests_total{code="415",path="/v1/liveness"} 4`,
		`fas_http_requests_total{code="503",path="/v1/liveness"} 1`,
		`fas_http_requests_total{code="404",path="other"} 1`,
		`fas_http_request_duration_seconds_count{path="/v1/liveness"}`,
		`fas_batch_size_count 7`, `fas_batch_duration_seconds_count 7`, "fas_queue_depth 0",
		`fas_faces_found_bucket{le="1"} 7`, `fas_decisions_total{decision=`, "fas_ready 1", "process_resident_memory_bytes",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Access logs: one JSON line per request, with status and error code.
	var n200, n415 int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] != "request" {
			continue
		}
		switch rec["status"] {
		case float64(200):
			n200++
		case float64(415):
			n415++
			if rec["error"] != "unsupported_media_type" {
				t.Errorf("415 logged as %v", rec)
			}
		}
	}
	if n200 < 7 || n415 != 4 {
		t.Errorf("access log: %d lines with 200, %d with 415", n200, n415)
	}
}

func TestNoFaceAndSeveralFaces(t *testing.T) {
	path := testModel(t, 32, 0.25, export.Crop5Points)
	log, _ := testLogger(t)
	f := &finder{}
	s := New(log, Options{})
	r := start(t, s, openDetector(path, liveness.WithFaceFinder(f)))
	r.waitReady(t)
	png := pngBytes(t, faceImage(80, 60, 2))
	p := post(t, r.url+"/v1/liveness", "image/png", png)
	var raw map[string]any
	if err := json.Unmarshal(p.body, &raw); err != nil || p.code != 200 {
		t.Fatalf("%d %s", p.code, p.body)
	}
	if raw["decision"] != "no_face" || raw["faces"] != float64(0) || raw["attack_score"] != nil || raw["box"] != nil {
		t.Errorf("no face: %s", p.body)
	}
	f.faces = []liveness.Face{{Box: image.Rect(1, 1, 10, 10)}, {Box: image.Rect(20, 10, 60, 50), HasLandmarks: true,
		Landmarks: [5]liveness.Point{{X: 30, Y: 20}, {X: 50, Y: 20}, {X: 40, Y: 30}, {X: 32, Y: 40}, {X: 48, Y: 40}}}}
	got := decode(t, post(t, r.url+"/v1/liveness", "image/png", png))
	if got.Faces != 2 || *got.Box != (Box{20, 10, 40, 40}) || len(got.Landmarks) != 5 || got.Landmarks[2] != [2]float64{40, 30} ||
		*got.Crop != (Box{25, 15, 30, 30}) {
		t.Errorf("two faces: %+v box %+v crop %+v", got, *got.Box, *got.Crop)
	}
}

func TestOverloadAndShutdown(t *testing.T) {
	path := testModel(t, 32, 0.25, export.CropNone)
	log, _ := testLogger(t)
	f := &finder{faces: []liveness.Face{{Box: image.Rect(0, 0, 40, 40)}}, block: make(chan struct{}), enter: make(chan struct{}, 10)}
	s := New(log, Options{MaxInFlight: 1, RetryAfter: 2 * time.Second})
	r := start(t, s, openDetector(path, liveness.WithFaceFinder(f)))
	r.waitReady(t)
	png := pngBytes(t, faceImage(40, 40, 3))
	first := make(chan reply, 1)
	go func() { first <- post(t, r.url+"/v1/liveness", "image/png", png) }()
	<-f.enter // the first request holds the only in-flight slot
	p := post(t, r.url+"/v1/liveness", "image/png", png)
	if p.code != 503 || errorCode(t, p) != "overloaded" || p.header.Get("Retry-After") != "2" {
		t.Errorf("over the in-flight limit: %d %s (Retry-After %q)", p.code, p.body, p.header.Get("Retry-After"))
	}
	// Shutdown with the request in flight: not ready, then the request finishes, then Run returns.
	r.cancel()
	deadline := time.Now().Add(10 * time.Second)
	for !s.draining.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 503 {
		t.Errorf("readyz while draining: %d", rec.Code)
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned with a request in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(f.block)
	if got := <-first; got.code != 200 {
		t.Errorf("the request in flight during shutdown: %d %s", got.code, got.body)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the last request")
	}
	if _, err := s.det.Load().ScoreBytes(context.Background(), png); !errors.Is(err, liveness.ErrClosed) {
		t.Errorf("detector after shutdown: %v", err)
	}
}

// The errors of the detector map onto statuses; a panic in a handler is a JSON 500.
func TestErrorMappingAndPanics(t *testing.T) {
	log, _ := testLogger(t)
	s := New(log, Options{RetryAfter: 3 * time.Second})
	for _, c := range []struct {
		err  error
		code int
		name string
	}{
		{fmt.Errorf("x: %w", liveness.ErrOverloaded), 503, "overloaded"},
		{liveness.ErrClosed, 503, "shutting_down"},
		{fmt.Errorf("%w: 9x9", liveness.ErrImageTooLarge), 413, "image_too_large"},
		{liveness.ErrEmptyImage, 400, "empty_image"},
		{errors.New("the network broke"), 500, "internal"},
	} {
		rec := httptest.NewRecorder()
		s.scoreError(rec, httptest.NewRequest(http.MethodPost, "/v1/liveness", nil), c.err)
		r := reply{rec.Code, rec.Header(), rec.Body.Bytes()}
		if r.code != c.code || errorCode(t, r) != c.name || (c.code == 503 && r.header.Get("Retry-After") != "3") {
			t.Errorf("%v: %d %s", c.err, r.code, r.body)
		}
	}
	h := s.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != 500 || errorCode(t, reply{rec.Code, rec.Header(), rec.Body.Bytes()}) != "internal" {
		t.Errorf("panic: %d %s", rec.Code, rec.Body)
	}
	// A panicking face finder fails its request only.
	path := testModel(t, 32, 0.25, export.CropNone)
	s2 := New(log, Options{})
	r := start(t, s2, openDetector(path, liveness.WithFaceFinder(&finder{panic: true})))
	r.waitReady(t)
	p := post(t, r.url+"/v1/liveness", "image/png", pngBytes(t, faceImage(40, 40, 1)))
	if p.code != 500 || errorCode(t, p) != "internal" {
		t.Errorf("panicking finder: %d %s", p.code, p.body)
	}
	if g := get(t, r.url+"/readyz"); g.code != 200 {
		t.Errorf("server after a panicking finder: %d", g.code)
	}
}
