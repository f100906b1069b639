package synth

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/modecheck"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

// pyCheck is the report of tests/python/synth_check.py.
type pyCheck struct {
	Images, DepthMaps, Live, Attack, Keys, Configs int
	Attacks                                        map[string]int
	ImageMean, DepthMean                           float64
	Errors                                         []string
}

func runPyCheck(t *testing.T, dir string) pyCheck {
	t.Helper()
	out := pyref.Run(t, nil, "synth_check.py", dir)
	var raw struct {
		Images    int            `json:"images"`
		DepthMaps int            `json:"depth_maps"`
		Live      int            `json:"live"`
		Attack    int            `json:"attack"`
		Keys      int            `json:"keys"`
		Configs   int            `json:"configs"`
		Attacks   map[string]int `json:"attacks"`
		ImageMean float64        `json:"image_mean"`
		DepthMean float64        `json:"depth_mean"`
		Errors    []string       `json:"errors"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("synth_check.py output %q: %v", out, err)
	}
	return pyCheck{raw.Images, raw.DepthMaps, raw.Live, raw.Attack, raw.Keys, raw.Configs, raw.Attacks,
		raw.ImageMean, raw.DepthMean, raw.Errors}
}

// meanPixels is the mean 8-bit value over every image (RGB) and every depth map in env,
// decoded with Go's decoders.
func meanPixels(t *testing.T, env *lmdb.Env) (img, depth float64) {
	t.Helper()
	var is, in, ds, dn float64
	err := env.Keys(func(k string) error {
		b, err := env.Get(k)
		if err != nil {
			return err
		}
		m, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			return err
		}
		isDepth := strings.Contains(strings.SplitN(k, "/", 2)[0], "_depth")
		r := m.Bounds()
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cr, cg, cb, _ := m.At(x, y).RGBA()
				if isDepth {
					ds += float64(cr >> 8)
					dn++
				} else {
					is += float64(cr>>8) + float64(cg>>8) + float64(cb>>8)
					in += 3
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return is / in, ds / dn
}

func TestWriteDataSet(t *testing.T) {
	o := small()
	o.Domains, o.Subjects = 4, 9 // 144 videos: two write transactions
	o.Workers = 1
	root := t.TempDir()
	dir := filepath.Join(root, "bench")
	sum, err := Write(context.Background(), dir, o, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	py := runPyCheck(t, dir)
	if len(py.Errors) > 0 {
		t.Errorf("synth_check.py found problems:\n%s", strings.Join(py.Errors, "\n"))
	}
	live := o.Domains * o.Subjects * o.VideosPerSubject * o.Frames
	if py.Images != sum.Images || py.Live != live || py.Attack != live || py.DepthMaps != sum.Depths ||
		sum.Depths != live || py.Keys != sum.Images+sum.Depths || py.Configs != o.Domains {
		t.Errorf("python counts %+v, Go summary %+v", py, sum)
	}
	for k, n := range sum.Attacks {
		if py.Attacks[k] != n {
			t.Errorf("attack %s: python %d, Go %d", k, py.Attacks[k], n)
		}
	}
	env, err := lmdb.Open(filepath.Join(dir, "data.lmdb"), lmdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	img, depth := meanPixels(t, env)
	env.Close()
	// OpenCV's libjpeg and Go's decoder may differ by a level on some JPEG pixels.
	if d := img - py.ImageMean; d > 0.3 || d < -0.3 || depth-py.DepthMean > 0.3 || py.DepthMean-depth > 0.3 {
		t.Errorf("mean pixel: Go %.3f / depth %.3f, OpenCV %.3f / %.3f", img, depth, py.ImageMean, py.DepthMean)
	}
	if depth < 5 {
		t.Errorf("depth maps are nearly empty: mean %.2f", depth)
	}

	// The same seed gives the same LMDB file, byte for byte, and the same manifest, with
	// any number of workers. (Enough videos for several write transactions.)
	again := filepath.Join(root, "again")
	o.Workers = 3
	if _, err := Write(context.Background(), again, o, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"data.lmdb/data.mdb", ManifestName, "lists/dom1_test_attack.txt", "configs/lodo_dom2.yaml"} {
		a, err1 := os.ReadFile(filepath.Join(dir, f))
		b, err2 := os.ReadFile(filepath.Join(again, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with the same seed (%v, %v)", f, err1, err2)
		}
	}

	// Refusals: an existing synth output without replace, a foreign non-empty directory.
	if _, err := Write(context.Background(), dir, o, false, nil); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("overwrote without replace: %v", err)
	}
	foreign := filepath.Join(root, "foreign")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("keep"), 0o644)
	if _, err := Write(context.Background(), foreign, o, true, nil); err == nil || !strings.Contains(err.Error(), "not made by fas synth") {
		t.Errorf("replaced a foreign directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(foreign, "notes.txt")); string(b) != "keep" {
		t.Error("foreign directory was touched")
	}
	o.Seed++
	o.Subjects = 3
	if _, err := Write(context.Background(), dir, o, true, nil); err != nil {
		t.Fatalf("replace: %v", err)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".synth-tmp-") {
			t.Errorf("temporary directory %s left behind", e.Name())
		}
	}
}

// The data set directory and everything in it get the usual modes under umask 022: the
// temporary build directory renamed into place must not stay 0700.
func TestWriteModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bench")
	old := syscall.Umask(0o022)
	_, err := Write(context.Background(), dir, small(), false, nil)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if n := modecheck.Tree(t, dir); n < 5 {
		t.Errorf("only %d entries under %s", n, dir)
	}
}
