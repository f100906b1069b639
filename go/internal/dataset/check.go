package dataset

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// Problem is one missing or corrupt record found by Check.
type Problem struct {
	List string
	Line int
	Key  string
	Kind string // "missing" or "corrupt"
	Err  error
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: key %q: %s: %v", p.List, p.Line, p.Key, p.Kind, p.Err)
}

// CheckStats counts what Check looked at.
type CheckStats struct {
	Entries, Images, DepthMaps int
}

// Check reads and decodes every entry's image and, for live entries when rule is set, its
// depth map, and returns the problems in list order.
func Check(ctx context.Context, db Store, entries []Entry, rule DepthRule, workers int) ([]Problem, CheckStats, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	found := make([][]Problem, len(entries))
	var st CheckStats
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	var fatal error
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m imgproc.Image
			for i := range next {
				ps, imgs, deps, err := checkEntry(db, &entries[i], rule, &m)
				mu.Lock()
				found[i] = ps
				st.Images += imgs
				st.DepthMaps += deps
				if err != nil && fatal == nil {
					fatal = err
				}
				mu.Unlock()
			}
		}()
	}
	for i := range entries {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if fatal == nil {
		fatal = ctx.Err()
	}
	var out []Problem
	for _, ps := range found {
		out = append(out, ps...)
	}
	st.Entries = len(entries)
	return out, st, fatal
}

// checkEntry returns the entry's problems and how many images and depth maps it read.
func checkEntry(db Store, e *Entry, rule DepthRule, m *imgproc.Image) ([]Problem, int, int, error) {
	var ps []Problem
	one := func(key string, gray bool) error {
		var derr error
		err := db.View(key, func(v []byte) error { derr = decodeAs(v, gray, m); return derr })
		switch {
		case err == nil:
		case derr != nil:
			ps = append(ps, Problem{e.List, e.Line, key, "corrupt", err})
		case errors.Is(err, lmdb.ErrNotFound):
			ps = append(ps, Problem{e.List, e.Line, key, "missing", err})
		default:
			return fmt.Errorf("%s: %w", e.Where(), err)
		}
		return nil
	}
	if err := one(e.Path, false); err != nil {
		return nil, 0, 0, err
	}
	if e.Label != Live || len(rule) == 0 {
		return ps, 1, 0, nil
	}
	dk, ok := rule.DepthKey(e.Path)
	if !ok {
		ps = append(ps, Problem{e.List, e.Line, e.Path, "missing", errors.New("no depth rule matches this live sample's key")})
		return ps, 1, 0, nil
	}
	if err := one(dk, true); err != nil {
		return nil, 0, 0, err
	}
	return ps, 1, 1, nil
}
