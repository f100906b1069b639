package synth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// chunkVideos is how many videos render between two writes (one LMDB transaction).
// It is fixed, not derived from the worker count, so that the LMDB file itself (which
// records its transactions) is byte-identical for any number of workers.
const chunkVideos = 128

// Sink receives the benchmark's records (an *lmdb.Env in production).
type Sink interface {
	PutMany(kvs []lmdb.KV) error
}

// Splits, in list-file names.
var splits = []string{"train", "val", "test"}

// splitOf returns the split of subject s of n: the first 60 % train, the next 20 % val,
// the rest test (at least one subject each).
func splitOf(s, n int) string {
	test := max(1, (n+2)/5)
	val := max(1, (n+2)/5)
	switch {
	case s < n-test-val:
		return "train"
	case s < n-test:
		return "val"
	}
	return "test"
}

// DepthKey applies the benchmark's depth rule (the first "<domain>/" becomes
// "<domain>_depth/"), the same rule the generated configs declare.
func DepthKey(key string) string {
	dom, rest, ok := strings.Cut(key, "/")
	if !ok {
		return key
	}
	return dom + "_depth/" + rest
}

// plan lists every video of the benchmark in key order within each domain.
func plan(o Options) []video {
	var vs []video
	for d := 0; d < o.Domains; d++ {
		dom := domainAt(d, o.Seed)
		for s := 0; s < o.Subjects; s++ {
			for i := 0; i < 2*o.VideosPerSubject; i++ {
				kind := Live
				if i >= o.VideosPerSubject {
					r := newRNG(o.Seed, uint64(d), uint64(s), uint64(i), streamKind)
					kind = attackTypes[r.pick(dom.attackW)]
				}
				vs = append(vs, video{dom: d, subject: s, index: i, kind: kind})
			}
		}
	}
	return vs
}

// Summary describes a generated benchmark.
type Summary struct {
	Options Options        `json:"options"`
	Images  int            `json:"images"`
	Depths  int            `json:"depth_maps"`
	Counts  map[string]int `json:"counts"`  // "<domain>_<split>_<live|attack>" -> frames
	Attacks map[string]int `json:"attacks"` // attack type -> frames
	SHA256  string         `json:"sha256"`  // over every key and value in write order
}

// listLine is one line of a list file.
type listLine struct {
	file string
	text string
}

// Generate renders the benchmark into sink and writes its list files and protocol
// configs under dir. Videos render in parallel; records reach the sink in plan order,
// so the output does not depend on the number of workers. progress (may be nil) is
// called from the calling goroutine after each video.
func Generate(ctx context.Context, dir string, o Options, sink Sink, progress func(done, total int)) (*Summary, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	workers := o.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	vs := plan(o)
	doms := make([]domain, o.Domains)
	for d := range doms {
		doms[d] = domainAt(d, o.Seed)
	}
	sum := &Summary{Options: o, Counts: map[string]int{}, Attacks: map[string]int{}}
	h := sha256.New()
	lists := map[string][]string{}
	for lo := 0; lo < len(vs); lo += chunkVideos {
		part := vs[lo:min(lo+chunkVideos, len(vs))]
		frames, err := renderParallel(ctx, o, doms, part, workers, func(n int) {
			if progress != nil {
				progress(lo+n, len(vs))
			}
		})
		if err != nil {
			return nil, err
		}
		var kvs []lmdb.KV
		for i, v := range part {
			for _, f := range frames[i] {
				kvs = append(kvs, lmdb.KV{Key: f.key, Value: f.img})
				if f.depth != nil {
					kvs = append(kvs, lmdb.KV{Key: DepthKey(f.key), Value: f.depth})
					sum.Depths++
				}
				file, line := listEntry(v, o.Subjects, f)
				lists[file] = append(lists[file], line)
				sum.Counts[strings.TrimSuffix(file, ".txt")]++
				if v.kind != Live {
					sum.Attacks[v.kind]++
				}
				sum.Images++
			}
		}
		for _, kv := range kvs {
			fmt.Fprintf(h, "%d:%s%d:", len(kv.Key), kv.Key, len(kv.Value))
			h.Write(kv.Value)
		}
		if err := sink.PutMany(kvs); err != nil {
			return nil, fmt.Errorf("synth: writing %d records: %w", len(kvs), err)
		}
	}
	if err := writeLists(dir, o, lists, h); err != nil {
		return nil, err
	}
	if err := writeConfigs(dir, o, h); err != nil {
		return nil, err
	}
	sum.SHA256 = hex.EncodeToString(h.Sum(nil))
	return sum, nil
}

// renderParallel renders the videos with the given number of goroutines; done is
// called on the calling goroutine with the number finished so far.
func renderParallel(ctx context.Context, o Options, doms []domain, vs []video, workers int, done func(int)) ([][]frameOut, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([][]frameOut, len(vs))
	errs := make([]error, len(vs))
	jobs := make(chan int)
	fin := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, len(vs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				v := vs[i]
				out[i], errs[i] = renderVideo(o.Seed, &doms[v.dom], v, o.Frames, o.Size)
				fin <- i
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range vs {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(fin) }()
	n := 0
	for i := range fin {
		if errs[i] != nil {
			// Stop handing out work, let the workers finish, report the first failure.
			cancel()
			for range fin {
			}
			return nil, errs[i]
		}
		n++
		done(n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// listEntry is the list file and line of frame f of video v.
func listEntry(v video, subjects int, f frameOut) (string, string) {
	label, group, tag := 0, "live", ""
	if v.kind != Live {
		label, group, tag = 1, "attack", " attack="+v.kind
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d", f.key, label)
	for _, p := range f.lm {
		fmt.Fprintf(&b, " %.1f %.1f", p[0], p[1])
	}
	b.WriteString(tag)
	return fmt.Sprintf("%s_%s_%s.txt", domainName(v.dom), splitOf(v.subject, subjects), group), b.String()
}

// writeLists writes every list file (also the empty ones, so every protocol's files
// exist) and adds their bytes to the content hash.
func writeLists(dir string, o Options, lists map[string][]string, h hash.Hash) error {
	ld := filepath.Join(dir, "lists")
	if err := os.MkdirAll(ld, 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	var names []string
	for d := 0; d < o.Domains; d++ {
		for _, sp := range splits {
			for _, g := range []string{"live", "attack"} {
				names = append(names, fmt.Sprintf("%s_%s_%s.txt", domainName(d), sp, g))
			}
		}
	}
	sort.Strings(names)
	for _, name := range names {
		var b strings.Builder
		b.WriteString("# " + name + ": path label x1 y1 ... x5 y5 [attack=TYPE] (written by fas synth)\n")
		for _, l := range lists[name] {
			b.WriteString(l + "\n")
		}
		text := []byte(b.String())
		h.Write([]byte(name + "\n"))
		h.Write(text)
		if err := os.WriteFile(filepath.Join(ld, name), text, 0o644); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
	}
	return nil
}
