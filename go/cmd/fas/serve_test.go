package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fas serve on a loopback port: ready after loading, scores a posted image, and on SIGTERM
// finishes and returns without an error.
func TestServeCommand(t *testing.T) {
	run, _ := tinyRun(t)
	model := filepath.Join(t.TempDir(), "m.safetensors")
	if _, stderr, err := runFas(t, "export", "--checkpoint", run, "--out", model); err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	if _, _, err := runFas(t, "serve", "--model", filepath.Join(t.TempDir(), "none"), "--addr", "127.0.0.1:0", "--face-crops"); err == nil {
		t.Error("a missing model was accepted")
	}

	var stdout lockedBuffer
	app := buildApp()
	app.Writer, app.ErrWriter = &stdout, io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- app.RunContext(ctx, []string{"fas", "serve", "--model", model, "--addr", "127.0.0.1:0", "--face-crops",
			"--log-json", "-", "--threads", "1", "--max-batch", "4"})
	}()
	addr := regexp.MustCompile(`"addr":"(127\.0\.0\.1:\d+)"`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			url = "http://" + m[1]
		}
	}
	if url == "" {
		t.Fatalf("no listening line: %s", stdout.String())
	}
	ready := false
	for deadline := time.Now().Add(30 * time.Second); !ready && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			ready = resp.StatusCode == 200
			resp.Body.Close()
		}
	}
	if !ready {
		t.Fatal("not ready")
	}
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.RGBA{1, 2, 3, 255})
	var b bytes.Buffer
	png.Encode(&b, img)
	resp, err := http.Post(url+"/v1/liveness", "image/png", &b)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || out["threshold_source"] != "model" || out["faces"] != float64(1) {
		t.Errorf("%d %v", resp.StatusCode, out)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil { // caught by fas serve's handler
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve ended with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stdout.String(), `"msg":"request"`) || !strings.Contains(stdout.String(), `"msg":"shutting down"`) {
		t.Errorf("JSON log: %s", stdout.String())
	}
}
