package synth

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// memSink collects records in memory.
type memSink struct {
	kvs []lmdb.KV
	m   map[string][]byte
}

func (s *memSink) PutMany(kvs []lmdb.KV) error {
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	for _, kv := range kvs {
		if _, dup := s.m[kv.Key]; dup {
			return &dupError{kv.Key}
		}
		s.m[kv.Key] = kv.Value
	}
	s.kvs = append(s.kvs, kvs...)
	return nil
}

type dupError struct{ key string }

func (e *dupError) Error() string { return "duplicate key " + e.key }

// small is a benchmark that renders in well under a second.
func small() Options {
	return Options{Domains: 3, Subjects: 5, VideosPerSubject: 1, Frames: 2, Size: 32, Seed: 7}
}

func generate(t *testing.T, o Options) (*Summary, *memSink, string) {
	t.Helper()
	dir := t.TempDir()
	sink := &memSink{}
	sum, err := Generate(context.Background(), dir, o, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sum, sink, dir
}

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDeterministicAcrossRunsAndWorkers(t *testing.T) {
	o := small()
	o.Workers = 1
	s1, k1, d1 := generate(t, o)
	o.Workers = 5
	s2, k2, d2 := generate(t, o)
	if s1.SHA256 != s2.SHA256 {
		t.Errorf("content hash differs between 1 and 5 workers: %s vs %s", s1.SHA256, s2.SHA256)
	}
	if len(k1.kvs) != len(k2.kvs) {
		t.Fatalf("record counts differ: %d vs %d", len(k1.kvs), len(k2.kvs))
	}
	for i := range k1.kvs {
		if k1.kvs[i].Key != k2.kvs[i].Key || !bytes.Equal(k1.kvs[i].Value, k2.kvs[i].Value) {
			t.Fatalf("record %d differs: %s vs %s", i, k1.kvs[i].Key, k2.kvs[i].Key)
		}
	}
	f1, f2 := readTree(t, d1), readTree(t, d2)
	if len(f1) != 3*3*2+3 || len(f1) != len(f2) {
		t.Fatalf("want 18 lists and 3 configs, got %d and %d files", len(f1), len(f2))
	}
	for name, b := range f1 {
		if !bytes.Equal(b, f2[name]) {
			t.Errorf("%s differs between runs", name)
		}
	}
	o.Seed++
	s3, k3, _ := generate(t, o)
	if s3.SHA256 == s1.SHA256 || bytes.Equal(k3.kvs[0].Value, k1.kvs[0].Value) {
		t.Error("a different seed gave the same data")
	}
}

func TestSamplesAreIndependentOfTheRest(t *testing.T) {
	// A sample's bytes depend only on (seed, domain, subject, video, frame): rendering one
	// video alone gives the bytes it has inside a whole benchmark, and a bigger benchmark
	// (more subjects) leaves the common subjects' videos unchanged.
	o := small()
	_, sink, _ := generate(t, o)
	o2 := o
	o2.Subjects = 6
	_, sink2, _ := generate(t, o2)
	for _, v := range plan(o)[:8] {
		d := domainAt(v.dom, o.Seed)
		fs, err := renderVideo(o.Seed, &d, v, o.Frames, o.Size)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if !bytes.Equal(sink.m[f.key], f.img) || !bytes.Equal(sink2.m[f.key], f.img) {
				t.Errorf("%s: rendered alone differs from the benchmark's bytes", f.key)
			}
		}
	}
}

// listSample is one parsed list line.
type listSample struct {
	file, key string
	label     int
	lm        []float64
	attack    string
}

func readLists(t *testing.T, dir string) []listSample {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "lists"))
	if err != nil {
		t.Fatal(err)
	}
	var out []listSample
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, "lists", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fs := strings.Fields(line)
			s := listSample{file: e.Name(), key: fs[0]}
			s.label, err = strconv.Atoi(fs[1])
			if err != nil {
				t.Fatalf("%s: %q: %v", e.Name(), line, err)
			}
			for _, x := range fs[2:] {
				if a, ok := strings.CutPrefix(x, "attack="); ok {
					s.attack = a
					continue
				}
				v, err := strconv.ParseFloat(x, 64)
				if err != nil {
					t.Fatalf("%s: %q: %v", e.Name(), line, err)
				}
				s.lm = append(s.lm, v)
			}
			out = append(out, s)
		}
		f.Close()
	}
	return out
}

func decode(t *testing.T, key string, b []byte) image.Image {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if want := map[string]string{"png": "png", "jpg": "jpeg"}[key[strings.LastIndex(key, ".")+1:]]; format != want {
		t.Errorf("%s holds %s bytes", key, format)
	}
	return img
}

func TestLabelsDepthAndLists(t *testing.T) {
	o := small()
	o.Domains = 4 // dom1 and dom3 store JPEG, dom0 and dom2 PNG
	sum, sink, dir := generate(t, o)
	samples := readLists(t, dir)
	if len(samples) != sum.Images || sum.Images != o.Domains*o.Subjects*2*o.VideosPerSubject*o.Frames {
		t.Fatalf("%d list lines, summary says %d images", len(samples), sum.Images)
	}
	used := map[string]bool{}
	splitOfSubject := map[string]string{}
	for _, s := range samples {
		parts := strings.Split(s.key, "/")
		dom, split, group := func() (string, string, string) {
			f := strings.Split(strings.TrimSuffix(s.file, ".txt"), "_")
			return f[0], f[1], f[2]
		}()
		if parts[0] != dom || len(parts) != 4 {
			t.Errorf("%s: key %s", s.file, s.key)
		}
		subj := dom + "/" + strings.Split(parts[2], "_")[0]
		if prev, ok := splitOfSubject[subj]; ok && prev != split {
			t.Errorf("subject %s in both %s and %s", subj, prev, split)
		}
		splitOfSubject[subj] = split
		b, ok := sink.m[s.key]
		if !ok {
			t.Errorf("%s: key %s not in the LMDB", s.file, s.key)
			continue
		}
		used[s.key] = true
		if img := decode(t, s.key, b); img.Bounds().Dx() != o.Size || img.Bounds().Dy() != o.Size {
			t.Errorf("%s: %v, want %d square", s.key, img.Bounds(), o.Size)
		}
		if len(s.lm) != 10 {
			t.Errorf("%s: %d landmark numbers", s.key, len(s.lm))
		}
		for _, v := range s.lm {
			if v < 0 || v > float64(o.Size) {
				t.Errorf("%s: landmark %v outside the image", s.key, v)
			}
		}
		dk := DepthKey(s.key)
		db, hasDepth := sink.m[dk]
		if s.label == 1 {
			if group != "attack" || s.attack != parts[1] || s.attack == Live || hasDepth {
				t.Errorf("attack %s: list %s, tag %q, depth key %v", s.key, s.file, s.attack, hasDepth)
			}
			continue
		}
		if s.label != 0 || group != "live" || parts[1] != Live || s.attack != "" || !hasDepth {
			t.Errorf("live %s: label %d, list %s, tag %q, depth key %v", s.key, s.label, s.file, s.attack, hasDepth)
			continue
		}
		used[dk] = true
		checkDepth(t, dk, decode(t, dk, db), s.lm, o.Size)
	}
	for k := range sink.m {
		if !used[k] {
			t.Errorf("LMDB key %s is in no list", k)
		}
	}
	for d := 0; d < o.Domains; d++ {
		n := map[string]int{}
		for subj, sp := range splitOfSubject {
			if strings.HasPrefix(subj, domainName(d)+"/") {
				n[sp]++
			}
		}
		if n["train"] != 3 || n["val"] != 1 || n["test"] != 1 {
			t.Errorf("%s: subjects per split %v, want 3/1/1 of 5", domainName(d), n)
		}
	}
}

// checkDepth asserts a live depth map is a face: black corners, bright at the nose
// landmark, brighter at the nose than at the eyes.
func checkDepth(t *testing.T, key string, img image.Image, lm []float64, size int) {
	t.Helper()
	g := func(x, y float64) uint8 {
		return color.GrayModel.Convert(img.At(int(x), int(y))).(color.Gray).Y
	}
	if img.Bounds().Dx() != size {
		t.Errorf("%s: size %v", key, img.Bounds())
	}
	last := float64(size - 1)
	for _, c := range [][2]float64{{0, 0}, {last, 0}, {0, last}, {last, last}} {
		if v := g(c[0], c[1]); v > 8 {
			t.Errorf("%s: corner %v = %d, want background 0", key, c, v)
		}
	}
	nose := g(lm[4], lm[5])
	eyes := (int(g(lm[0], lm[1])) + int(g(lm[2], lm[3]))) / 2
	if nose < 150 || int(nose) <= eyes || eyes < 60 {
		t.Errorf("%s: depth at nose %d, at eyes %d: want a near nose on a visible face", key, nose, eyes)
	}
}

func TestSplitOf(t *testing.T) {
	for _, n := range []int{3, 4, 5, 10, 11, 40, 999} {
		c := map[string]int{}
		last := ""
		for s := 0; s < n; s++ {
			sp := splitOf(s, n)
			if last == "test" && sp != "test" || last == "val" && sp == "train" {
				t.Errorf("n=%d: splits out of order at %d", n, s)
			}
			last = sp
			c[sp]++
		}
		want := math.Max(1, math.Round(0.2*float64(n)))
		if float64(c["test"]) != want || float64(c["val"]) != want || c["train"] != n-2*int(want) {
			t.Errorf("n=%d: %v, want val = test = %v", n, c, want)
		}
	}
}

func TestDepthKey(t *testing.T) {
	for in, want := range map[string]string{
		"dom0/live/s001_v00/00.png":  "dom0_depth/live/s001_v00/00.png",
		"dom12/live/s001_v00/03.jpg": "dom12_depth/live/s001_v00/03.jpg",
	} {
		if got := DepthKey(in); got != want {
			t.Errorf("DepthKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Options)
		want string
	}{
		{func(o *Options) { o.Domains = 2 }, "domains = 2"},
		{func(o *Options) { o.Subjects = 2 }, "subjects = 2"},
		{func(o *Options) { o.VideosPerSubject = 0 }, "videos-per-subject = 0"},
		{func(o *Options) { o.Frames = 0 }, "frames = 0"},
		{func(o *Options) { o.Size = 8 }, "size = 8"},
		{func(o *Options) { o.Workers = -1 }, "workers = -1"},
	} {
		o := small()
		c.mod(&o)
		_, err := Generate(context.Background(), t.TempDir(), o, &memSink{}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
		if _, err := Preview(o); err == nil {
			t.Errorf("Preview accepted %q", c.want)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Generate(ctx, t.TempDir(), small(), &memSink{}, nil); err == nil {
		t.Fatal("a cancelled context still generated")
	}
}

func TestCos2pi(t *testing.T) {
	worst := 0.0
	for u := -3.0; u < 3; u += 0.0007 {
		worst = math.Max(worst, math.Abs(cos2pi(u)-math.Cos(2*math.Pi*u)))
	}
	if worst > 1e-3 {
		t.Errorf("cos2pi max error %g", worst)
	}
}

func TestDomainsBeyondThePresets(t *testing.T) {
	o := small()
	o.Domains, o.Subjects, o.Frames = 7, 3, 1
	sum, sink, dir := generate(t, o)
	for d := 0; d < o.Domains; d++ {
		name := domainName(d)
		if sum.Counts[name+"_train_live"] != 1 || sum.Counts[name+"_test_attack"] != 1 {
			t.Errorf("%s: counts %v", name, sum.Counts)
		}
		if _, err := os.Stat(filepath.Join(dir, "configs", ProtocolName(d)+".yaml")); err != nil {
			t.Error(err)
		}
	}
	// The extra domains are drawn from the seed, so they are fixed per seed and differ
	// between seeds, and each is a valid camera set-up.
	a, b := domainAt(5, 1), domainAt(5, 1)
	if a.res != b.res || a.jpegQ != b.jpegQ || a.attackW[0] != b.attackW[0] {
		t.Error("domainAt is not deterministic")
	}
	differ := false
	for s := uint64(2); s < 10 && !differ; s++ {
		c := domainAt(5, s)
		differ = c.res != a.res || c.attackW[0] != a.attackW[0]
	}
	if !differ {
		t.Error("extra domains do not depend on the seed")
	}
	for k, v := range sink.m {
		if strings.HasPrefix(k, "dom6/") {
			decode(t, k, v)
		}
	}
}
