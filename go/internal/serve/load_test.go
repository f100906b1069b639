package serve

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/liveness"
)

// loadStats summarises a load run.
type loadStats struct {
	requests   int
	wall       time.Duration
	p50, p99   time.Duration
	throughput float64 // requests per second
	codes      map[int]int
	meanBatch  float64
}

func (s loadStats) String() string {
	return fmt.Sprintf("%d requests in %.2fs: %.1f req/s, p50 %.1f ms, p99 %.1f ms, mean batch %.2f, codes %v",
		s.requests, s.wall.Seconds(), s.throughput, ms(s.p50), ms(s.p99), s.meanBatch, s.codes)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type loadBody struct {
	contentType string
	body        []byte
	check       func(code int, body []byte) error // nil: any 200
}

// load sends requests bodies (chosen round robin) from clients goroutines to url, stopping at
// maxRequests or after maxTime, whichever comes first.
func load(tb testing.TB, url string, clients, maxRequests int, maxTime time.Duration, bodies []loadBody) loadStats {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, maxRequests)
	codes := map[int]int{}
	var firstErr error
	deadline := time.Now().Add(maxTime)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= maxRequests || time.Now().After(deadline) {
					return
				}
				b := bodies[i%len(bodies)]
				t0 := time.Now()
				resp, err := client.Post(url, b.contentType, bytes.NewReader(b.body))
				var body []byte
				code := 0
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				took := time.Since(t0)
				if err == nil {
					if b.check != nil {
						err = b.check(code, body)
					} else if code != 200 {
						err = fmt.Errorf("status %d: %s", code, body)
					}
				}
				mu.Lock()
				lat = append(lat, took)
				codes[code]++
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("request %d: %w", i, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if firstErr != nil {
		tb.Error(firstErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)]
	}
	return loadStats{requests: len(lat), wall: wall, p50: q(0.5), p99: q(0.99), throughput: float64(len(lat)) / wall.Seconds(), codes: codes}
}

// batchCounter counts network calls and inputs.
type batchCounter struct{ calls, inputs atomic.Int64 }

func (b *batchCounter) observe(i liveness.BatchInfo) {
	b.calls.Add(1)
	b.inputs.Add(int64(i.Size))
}

func (b *batchCounter) mean() float64 {
	if b.calls.Load() == 0 {
		return 0
	}
	return float64(b.inputs.Load()) / float64(b.calls.Load())
}

// loadSetup serves a model with maximum batch maxBatch on loopback and returns its URL, the
// request bodies (face crops, each checked against its score alone) and the batch counter.
func loadSetup(tb testing.TB, path string, maxBatch, threads int) (string, []loadBody, *batchCounter) {
	tb.Helper()
	log, _ := testLogger(tb)
	bc := &batchCounter{}
	s := New(log, Options{MaxInFlight: 256})
	r := start(tb, s, openDetector(path, liveness.WithFaceCrops(), liveness.WithMaxBatch(maxBatch), liveness.WithThreads(threads),
		liveness.WithMaxWait(5*time.Millisecond), liveness.WithQueueSize(64), liveness.WithBatchObserver(bc.observe)))
	r.waitReady(tb)
	ref, err := liveness.Open(path, liveness.WithFaceCrops(), liveness.WithThreads(threads))
	if err != nil {
		tb.Fatal(err)
	}
	defer ref.Close()
	var bodies []loadBody
	for i := 0; i < 8; i++ {
		img := faceImage(96, 96, uint64(i))
		want, err := ref.Score(tb.Context(), img)
		if err != nil {
			tb.Fatal(err)
		}
		bodies = append(bodies, loadBody{contentType: "image/png", body: pngBytes(tb, img), check: scoreIs(want.AttackScore)})
	}
	return r.url + "/v1/liveness", bodies, bc
}

// scoreIs checks a 200 whose attack score is want, bit for bit.
func scoreIs(want float64) func(int, []byte) error {
	return func(code int, body []byte) error {
		if code != 200 {
			return fmt.Errorf("status %d: %s", code, body)
		}
		i := bytes.Index(body, []byte(`"attack_score":`))
		if i < 0 {
			return fmt.Errorf("no attack_score: %s", body)
		}
		rest := body[i+len(`"attack_score":`):]
		j := bytes.IndexByte(rest, ',')
		got, err := strconv.ParseFloat(string(rest[:j]), 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			return fmt.Errorf("attack score %s, alone %v", rest[:j], want)
		}
		return nil
	}
}

// Under concurrent load every answer is the image's score alone, bit for bit, whatever the
// maximum batch; the batches really form. (No timing assertion: figures are logged; the
// benchmark below measures them.)
func TestHTTPLoad(t *testing.T) {
	path := testModel(t, 32, 0.25, export.CropNone)
	for _, mb := range []int{1, 4, 16} {
		url, bodies, bc := loadSetup(t, path, mb, 2)
		st := load(t, url, 16, 96, time.Minute, bodies)
		st.meanBatch = bc.mean()
		t.Logf("max batch %2d: %s", mb, st)
		if st.codes[200] != st.requests {
			t.Errorf("max batch %d: codes %v", mb, st.codes)
		}
		if mb > 1 && st.meanBatch <= 1 {
			t.Errorf("max batch %d: the owner never batched (mean batch %.2f)", mb, st.meanBatch)
		}
	}
}

// BenchmarkHTTPLoad: 16 concurrent clients on loopback, maximum batch 1, 4 and 16; reports
// p50 and p99 latency, throughput and the mean batch. Bounded: b.N requests (use
// -benchtime Nx) or 2 minutes. Model size from FAS_LOAD_SIZE and FAS_LOAD_WIDTH (default 64, 0.5).
func BenchmarkHTTPLoad(b *testing.B) {
	size, width := 64, 0.5
	if v, err := strconv.Atoi(os.Getenv("FAS_LOAD_SIZE")); err == nil {
		size = v
	}
	if v, err := strconv.ParseFloat(os.Getenv("FAS_LOAD_WIDTH"), 64); err == nil {
		width = v
	}
	threads := 0
	if v, err := strconv.Atoi(os.Getenv("FAS_LOAD_THREADS")); err == nil {
		threads = v
	}
	if threads == 0 {
		threads = max(1, min(16, numCPU()))
	}
	path := testModel(b, size, width, export.CropNone)
	var base float64
	for _, mb := range []int{1, 4, 16} {
		b.Run("maxbatch="+strconv.Itoa(mb), func(b *testing.B) {
			url, bodies, bc := loadSetup(b, path, mb, threads)
			load(b, url, 16, 32, time.Minute, bodies) // warm up
			bc.calls.Store(0)
			bc.inputs.Store(0)
			b.ResetTimer()
			st := load(b, url, 16, b.N, 2*time.Minute, bodies)
			b.StopTimer()
			st.meanBatch = bc.mean()
			b.ReportMetric(ms(st.p50), "p50-ms")
			b.ReportMetric(ms(st.p99), "p99-ms")
			b.ReportMetric(st.throughput, "req/s")
			b.ReportMetric(st.meanBatch, "batch")
			if mb == 1 {
				base = st.throughput
			} else if base > 0 {
				b.ReportMetric(st.throughput/base, "x-vs-batch1")
			}
			b.Logf("S=%d width %g threads %d, max batch %d: %s", size, width, threads, mb, st)
		})
	}
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 1
	}
	return max(1, strings.Count(string(b), "processor\t:"))
}
