package serve

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/liveness"
)

var (
	fuzzOnce   sync.Once
	fuzzServer *Server
	fuzzErr    error
)

// fuzzHandler is one ready server for every fuzz input (in process, no network), with small
// limits so that a hostile input cannot take much memory.
func fuzzHandler(tb testing.TB) http.Handler {
	fuzzOnce.Do(func() {
		path := testModel(tb, 32, 0.25, export.CropNone)
		log, _ := testLogger(tb)
		fuzzServer = New(log, Options{MaxBody: 1 << 20})
		var d *liveness.Detector
		d, fuzzErr = liveness.Open(path, liveness.WithFaceCrops(), liveness.WithMaxImage(1024, 1<<20), liveness.WithThreads(1))
		fuzzServer.SetDetector(d)
	})
	if fuzzErr != nil {
		tb.Fatal(fuzzErr)
	}
	return fuzzServer.Handler()
}

var fuzzContentTypes = []string{"image/png", "image/jpeg", "application/octet-stream", "multipart/form-data; boundary=BOUNDARY",
	"text/plain", "", "multipart/form-data", "image/png; charset=\"", "IMAGE/PNG"}

// FuzzLiveness: whatever the body, content type and threshold, the handler answers a JSON
// 200 (a valid result), 4xx (a JSON error) or, never, a 5xx; and it does not crash. The seed
// corpus (run by every `go test`) holds valid images, truncated and hostile ones, forms.
func FuzzLiveness(f *testing.F) {
	img := faceImage(40, 30, 1)
	png, jpg := pngBytes(f, img), jpegBytes(f, img)
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	w.SetBoundary("BOUNDARY")
	w.WriteField("threshold", "0.3")
	p, _ := w.CreateFormFile("image", "x.png")
	p.Write(png)
	w.Close()
	seeds := []struct {
		body []byte
		ct   uint8
		thr  string
	}{
		{png, 0, ""}, {jpg, 1, "0.5"}, {png, 2, "1"}, {form.Bytes(), 3, ""}, {png, 4, ""}, {png, 5, ""},
		{jpg[:len(jpg)/3], 1, ""}, {png[:40], 0, ""}, {pngHeader(1<<20, 1<<20), 0, ""}, {pngHeader(0, 7), 0, ""},
		{[]byte("GIF89a"), 0, ""}, {nil, 0, ""}, {png, 0, "-1"}, {png, 0, "NaN"}, {png, 0, "1e309"}, {form.Bytes()[:60], 3, ""},
		{[]byte("--BOUNDARY\r\n\r\n--BOUNDARY--"), 3, ""}, {png, 6, ""}, {png, 7, ""}, {jpg, 8, "0x1p-2"},
		{append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}, jpg...), 1, ""},
	}
	for _, s := range seeds {
		f.Add(s.body, s.ct, s.thr)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct uint8, thr string) {
		h := fuzzHandler(t)
		target := "/v1/liveness"
		if thr != "" {
			target += "?threshold=" + url.QueryEscape(thr)
		}
		req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		if c := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusOK:
			var r Response
			if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatalf("200 with a body that is not a Response: %v: %s", err, rec.Body)
			}
			switch r.Decision {
			case "live", "attack":
				if r.AttackScore == nil || *r.AttackScore < 0 || *r.AttackScore > 1 || r.Box == nil {
					t.Fatalf("bad result %s", rec.Body)
				}
				if (*r.AttackScore >= r.Threshold) != (r.Decision == "attack") {
					t.Fatalf("decision against the threshold: %s", rec.Body)
				}
			case "no_face":
			default:
				t.Fatalf("decision %q", r.Decision)
			}
		case rec.Code >= 400 && rec.Code < 500:
			var e ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%d without a JSON error: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
