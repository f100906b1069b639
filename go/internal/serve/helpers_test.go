package serve

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/logging"
	"github.com/fasgo/fasgo/go/internal/shim"
	"github.com/fasgo/fasgo/go/liveness"
)

// testModel writes a small exported model (threshold 0.5) and returns its path.
func testModel(t testing.TB, size int, width float64, crop string) string {
	t.Helper()
	m, err := shim.NewModel(shim.Config{Method: "anrl", Size: size, Seed: 3, Threads: 1,
		Settings: shim.Settings{{Key: "width", Value: strconv.FormatFloat(width, 'g', -1, 64)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	spec := export.Spec{Input: export.InputRGBHSV, Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5},
		Crop: crop, Margin: 0.5, Threshold: &export.Threshold{Value: 0.5, From: "serve tests"}}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := export.Write(m, path, spec); err != nil {
		t.Fatal(err)
	}
	return path
}

// faceImage is a deterministic test picture.
func faceImage(w, h int, seed uint64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	s := seed*0x9E3779B97F4A7C15 + 1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			dx, dy := float64(x-w/2)/float64(w)*3, float64(y-h/2)/float64(h)*2.6
			v := 200 * math.Exp(-(dx*dx + dy*dy))
			n := float64(s%24) - 12
			img.Set(x, y, color.RGBA{c8(v + 40 + n + float64(seed%7)*9), c8(v*0.8 + 30 + n), c8(v*0.7 + 20 + n), 255})
		}
	}
	return img
}

func c8(v float64) uint8 { return uint8(math.Max(0, math.Min(255, v))) }

func pngBytes(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader is a PNG signature and IHDR chunk claiming w×h, with no pixels.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := []byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h), 8, 2, 0, 0, 0}
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write([]byte{0, 0, 0, 13})
	b.Write(chunk)
	c := ^uint32(0)
	for _, x := range chunk {
		c ^= uint32(x)
		for k := 0; k < 8; k++ {
			if c&1 != 0 {
				c = c>>1 ^ 0xEDB88320
			} else {
				c >>= 1
			}
		}
	}
	c = ^c
	b.Write([]byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)})
	return b.Bytes()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t testing.TB) (*zap.Logger, *syncBuffer) {
	var buf syncBuffer
	log, closeFn, err := logging.New(logging.Options{Quiet: true, JSON: &buf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeFn)
	return log, &buf
}

// running is a server on a loopback port.
type running struct {
	s      *Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

// start runs s on 127.0.0.1 (an ephemeral port) with the detector load returns.
func start(t testing.TB, s *Server, load func() (*liveness.Detector, error)) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx, ln, load) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(60 * time.Second):
			t.Error("server did not stop")
		}
	})
	return r
}

func (r *running) waitReady(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(r.url + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatal("server not ready")
}

// finder is a configurable fake face finder.
type finder struct {
	faces []liveness.Face
	block chan struct{} // when set, Find waits for it
	enter chan struct{} // when set, Find signals on it first
	panic bool
}

func (f *finder) Find(img image.Image) ([]liveness.Face, error) {
	if f.enter != nil {
		f.enter <- struct{}{}
	}
	if f.block != nil {
		<-f.block
	}
	if f.panic {
		panic("finder exploded")
	}
	return f.faces, nil
}
