package runinfo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A named run that died before its first checkpoint does not block its name: the error
// says what happened and how to start over, and --restart does.
func TestRunThatDiedEarly(t *testing.T) {
	c := testConfig(t, "run.name=early")
	r := create(t, c, false)
	r.Fail(errors.New(`opening data: lmdb "x": no such file`))
	r.Fail(errors.New("CUDA error: out of memory")) // the last one is quoted
	r.Close()
	for name, o := range map[string]Options{"plain": {}, "resume": {Resume: true}} {
		_, err := createErr(c, o)
		if err == nil {
			t.Fatalf("%s: Create of a dead run's directory succeeded", name)
		}
		msg := err.Error()
		for _, want := range []string{r.Dir, "stopped before its first checkpoint", `"run failed: CUDA error: out of memory"`, "--restart"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q lacks %q", name, msg, want)
			}
		}
	}
	logs := readJSONL(t, filepath.Join(r.Dir, "log.jsonl"))
	if last := logs[len(logs)-1]; last["level"] != "error" || last["msg"] != "run failed" || last["error"] != "CUDA error: out of memory" {
		t.Errorf("Fail logged %v", last)
	}

	// Restart: the old contents go, a fresh run starts in the same directory.
	os.WriteFile(filepath.Join(r.Dir, "notes.txt"), []byte("old"), 0o644)
	r2, err := createErr(c, Options{Restart: true})
	if err != nil {
		t.Fatal(err)
	}
	if r2.Dir != r.Dir {
		t.Errorf("restart in %s, want %s", r2.Dir, r.Dir)
	}
	r2.Close()
	if _, err := os.Stat(filepath.Join(r.Dir, "notes.txt")); !os.IsNotExist(err) {
		t.Errorf("restart kept an old file: %v", err)
	}
	for _, l := range readJSONL(t, filepath.Join(r.Dir, "log.jsonl")) {
		if l["level"] == "error" {
			t.Errorf("restarted run's log holds the old error %v", l)
		}
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "config.yaml")); err != nil {
		t.Errorf("restarted run: %v", err)
	}
	// With no error recorded, the error says so.
	_, err = createErr(c, Options{})
	if err == nil || !strings.Contains(err.Error(), "records no error") {
		t.Errorf("run without a recorded error: %v", err)
	}
	// A restart of a directory that does not exist yet simply starts.
	r3, err := createErr(testConfig(t, "run.name=new"), Options{Restart: true})
	if err != nil {
		t.Fatal(err)
	}
	r3.Close()
}

// Restart never deletes a directory that is not a run directory.
func TestRestartSparesForeignDirectories(t *testing.T) {
	c := testConfig(t, "run.name=photos")
	foreign := filepath.Join(c.Run.Dir, "photos")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "me.jpg"), []byte("x"), 0o644)
	for name, o := range map[string]Options{"plain": {}, "restart": {Restart: true}} {
		if _, err := createErr(c, o); err == nil || !strings.Contains(err.Error(), "not a run directory") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(foreign, "me.jpg")); err != nil {
		t.Errorf("foreign file: %v", err)
	}
	if _, err := createErr(c, Options{Resume: true, Restart: true}); err == nil {
		t.Error("resume and restart together accepted")
	}
}

func TestLastError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log.jsonl")
	os.WriteFile(p, []byte(`{"level":"info","msg":"start"}
{"level":"error","msg":"validation","error":"bad"}
not json
{"level":"warn","msg":"later warning"}
{"level":"error","msg":"no error field"}
{"level":"info","msg":"torn`), 0o644)
	if got := lastError(p); got != "no error field" {
		t.Errorf("lastError = %q", got)
	}
	if got := lastError(filepath.Join(t.TempDir(), "absent")); got != "" {
		t.Errorf("lastError of a missing file = %q", got)
	}
}
