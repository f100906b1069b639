package logging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestConsoleLevelAndSink(t *testing.T) {
	var console bytes.Buffer
	file := filepath.Join(t.TempDir(), "log.jsonl")
	log, closeFn, err := New(Options{JSONFile: file, Console: &console, ConsoleLevel: zapcore.WarnLevel})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("routine")
	log.Warn("careful", zap.Int("rank", 2))
	log.Error("broken")
	closeFn()
	got := console.String()
	if strings.Contains(got, "routine") || !strings.Contains(got, "careful") || !strings.Contains(got, `"rank": 2`) ||
		!strings.Contains(got, "broken") {
		t.Errorf("console got %q, want the warning and the error only", got)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 3 {
		t.Fatalf("log file has %d lines, want all 3: %q", len(lines), raw)
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["msg"] != "routine" {
		t.Errorf("first file line %q (%v)", lines[0], err)
	}
}

func TestDefaultConsoleShowsInfo(t *testing.T) {
	var console bytes.Buffer
	log, closeFn, err := New(Options{Console: &console})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("shown")
	closeFn()
	if s := console.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "shown") {
		t.Errorf("console got %q", s)
	}
}
