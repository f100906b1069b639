package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/liveness"
)

// rss is the resident set size of this process in bytes.
func rss(tb testing.TB) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func errorIs(code int, name string) func(int, []byte) error {
	return func(c int, body []byte) error {
		var e ErrorResponse
		if c != code || json.Unmarshal(body, &e) != nil || e.Error.Code != name {
			return fmt.Errorf("status %d %s, want %d %s", c, body, code, name)
		}
		return nil
	}
}

// jpegHeader is a JPEG SOI, a JFIF APP0 and a baseline SOF0 claiming w×h, then nothing.
func jpegHeader(w, h int) []byte {
	return []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
		0xFF, 0xC0, 0, 17, 8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
}

// Hostile bodies mixed with good ones from 16 clients: every answer is the right one, the
// good images keep their exact scores, and the resident memory stays bounded (recorded).
func TestHostileLoad(t *testing.T) {
	path := testModel(t, 32, 0.25, export.CropNone)
	log, _ := testLogger(t)
	s := New(log, Options{MaxBody: 2 << 20, MaxInFlight: 32})
	r := start(t, s, openDetector(path, liveness.WithFaceCrops(), liveness.WithMaxImage(2048, 4<<20), liveness.WithThreads(2),
		liveness.WithMaxBatch(8), liveness.WithQueueSize(32)))
	r.waitReady(t)
	ref, err := liveness.Open(path, liveness.WithFaceCrops(), liveness.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	good := faceImage(64, 64, 9)
	want, err := ref.Score(t.Context(), good)
	if err != nil {
		t.Fatal(err)
	}
	big := image.NewRGBA(image.Rect(0, 0, 1800, 1800)) // 3.2 Mpixel, 12 MB decoded: allowed
	rnd := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < 1800; y++ {
		for x := 0; x < 1800; x++ {
			i := big.PixOffset(x, y)
			big.Pix[i], big.Pix[i+1], big.Pix[i+2], big.Pix[i+3] = uint8(x/7), uint8(y/7), uint8((x+y)/15+rnd.IntN(3)), 255
		}
	}
	var bigPNG bytes.Buffer
	(&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&bigPNG, big)
	if bigPNG.Len() > 2<<20 {
		t.Fatalf("test image of %d bytes is over the body limit", bigPNG.Len())
	}
	bigWant, err := ref.ScoreBytes(t.Context(), bigPNG.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]byte, 3<<20)
	for i := range noise {
		noise[i] = byte(rnd.Uint32())
	}
	truncBig := append([]byte{}, pngHeader(2048, 2048)...)
	jpg := jpegBytes(t, good)
	bodies := []loadBody{
		{"image/png", pngBytes(t, good), scoreIs(want.AttackScore)},
		{"image/png", pngHeader(60000, 60000), errorIs(413, "image_too_large")},   // a decompression bomb's header
		{"image/jpeg", jpegHeader(30000, 30000), errorIs(413, "image_too_large")}, // the same as JPEG
		{"image/png", truncBig, errorIs(400, "bad_image")},                        // allowed size, no pixel data
		{"application/octet-stream", noise, errorIs(413, "body_too_large")},       // over the body limit
		{"image/jpeg", jpg[:len(jpg)*2/3], errorIs(400, "bad_image")},             // truncated
		{"image/jpeg", noise[:4096], errorIs(400, "bad_image")},                   // random bytes
		{"text/plain", []byte("<html>hello</html>"), errorIs(415, "unsupported_media_type")},
		{"image/png", bigPNG.Bytes(), scoreIs(bigWant.AttackScore)}, // large but legal
		{"image/png", pngHeader(0, 0), errorIs(400, "bad_image")},   // zero-size
	}
	base := rss(t)
	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if v := rss(t); v > peak {
					peak = v
				}
			}
		}
	}()
	st := load(t, r.url+"/v1/liveness", 16, 400, 3*time.Minute, bodies)
	close(stop)
	wg.Wait()
	after := rss(t)
	t.Logf("hostile load: %s", st)
	t.Logf("RSS: before %.0f MiB, peak %.0f MiB, after %.0f MiB", mib(base), mib(peak), mib(after))
	if st.codes[200] == 0 || st.codes[413] == 0 || st.codes[400] == 0 || st.codes[415] == 0 {
		t.Errorf("codes %v", st.codes)
	}
	// Decoding what the bombs claim would take 60000²×4 bytes = 13 GiB; the limits keep the
	// peak within what 16 legal requests need.
	if peak-base > 1<<30 {
		t.Errorf("resident memory grew by %.0f MiB under hostile load", mib(peak-base))
	}
	if g := get(t, r.url+"/readyz"); g.code != 200 {
		t.Errorf("readyz after the load: %d", g.code)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
