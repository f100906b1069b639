package prep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sync"

	"go.uber.org/zap"

	"github.com/fasgo/fasgo/go/internal/dataset"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/lmdb"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// process runs the worker pool over the videos; records come back in the videos' order.
func process(ctx context.Context, o Options, db *lmdb.Env, dir string, videos []Video) ([]*Record, []Failure, error) {
	recs := make([]*Record, len(videos))
	failed := make([]string, len(videos))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	done := 0
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < max(1, o.Workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := &worker{o: o, db: db, dir: dir}
			for i := range jobs {
				r, why, err := wk.video(ctx, videos[i])
				if why != "" {
					o.Log.Warn("prep: video not read", zap.String("video", videos[i].Src), zap.String("why", why))
				}
				mu.Lock()
				recs[i], failed[i] = r, why
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				done++
				if o.Progress != nil {
					o.Progress(done, len(videos))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range videos {
		select {
		case jobs <- i:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var fails []Failure
	for i, why := range failed {
		if why != "" {
			fails = append(fails, Failure{Video: videos[i], Why: why})
		}
	}
	return recs, fails, nil
}

// worker holds one goroutine's scratch.
type worker struct {
	o                      Options
	db                     *lmdb.Env
	dir                    string
	rs                     imgproc.Resizer
	tmp, crop, dep, depSrc imgproc.Image
}

// video processes one video, or loads its record when it is done. why is non-empty for a
// missing or unreadable video; err is for failures that stop the run (output, context).
func (w *worker) video(ctx context.Context, v Video) (*Record, string, error) {
	rp := recordPath(w.dir, v)
	if b, err := os.ReadFile(rp); err == nil {
		var r Record
		if err := json.Unmarshal(b, &r); err == nil && r.Video == v && w.stored(&r) {
			return &r, "", nil
		}
	}
	if _, err := os.Stat(v.Src); err != nil {
		return nil, "missing", nil
	}
	scratch, err := os.MkdirTemp(filepath.Join(w.o.Out, "prep"), ".work-")
	if err != nil {
		if err = os.MkdirAll(filepath.Join(w.o.Out, "prep"), 0o755); err == nil {
			scratch, err = os.MkdirTemp(filepath.Join(w.o.Out, "prep"), ".work-")
		}
		if err != nil {
			return nil, "", fmt.Errorf("prep: %w", err)
		}
	}
	defer os.RemoveAll(scratch)
	r, why, err := w.frames(ctx, v, scratch)
	if err != nil || why != "" {
		return nil, why, err
	}
	if err := writeJSON(rp, r); err != nil {
		return nil, "", err
	}
	return r, "", nil
}

// stored reports whether the LMDB holds every record of r (a replaced database is refilled).
func (w *worker) stored(r *Record) bool {
	for _, f := range r.Frames {
		keys := []string{f.Key}
		if r.Video.Live {
			keys = append(keys, DepthKey(w.o.Domain, f.Key))
		}
		for _, k := range keys {
			if ok, err := w.db.Has(k); err != nil || !ok {
				return false
			}
		}
	}
	return true
}

// frames decodes the sampled frames of v, crops the faces and packs them into the LMDB.
func (w *worker) frames(ctx context.Context, v Video, scratch string) (*Record, string, error) {
	n, err := w.o.FFmpeg.Frames(ctx, v.Src)
	if err != nil {
		return nil, "cannot be read: " + err.Error(), ctx.Err()
	}
	var annot map[int]image.Rectangle
	if v.Faces != "" {
		if annot, err = readFaceLocations(v.Faces); err != nil {
			return nil, "face locations: " + err.Error(), nil
		}
	}
	r := &Record{Video: v, N: n, Sampled: union(w.o.listFrames(v.Split, n), w.o.allFrames(v.Split, n))}
	var items []dataset.PackItem
	var fatal error // stops the run
	var why string  // fails the video
	errStop := errors.New("stop")
	err = w.o.FFmpeg.Each(ctx, v.Src, r.Sampled, func(k int, m *imgproc.Image) error {
		idx := r.Sampled[k]
		var a *image.Rectangle
		if b, ok := annot[idx]; ok {
			a = &b
		}
		f, by, ok, err := findFace(w.o.Finder, w.o.Find, m, a)
		if err != nil {
			fatal = fmt.Errorf("prep: %s frame %d: %w", v.Src, idx, err)
			return errStop
		}
		if !ok {
			r.NoFace = append(r.NoFace, idx)
			return nil
		}
		fr, its, y, err := w.store(v, idx, m, f, by, scratch)
		if err != nil || y != "" {
			fatal, why = err, y
			return errStop
		}
		r.Frames, items = append(r.Frames, fr), append(items, its...)
		return nil
	})
	switch {
	case fatal != nil || why != "":
		return nil, why, fatal
	case ctx.Err() != nil:
		return nil, "", ctx.Err()
	case err != nil:
		return nil, "cannot be read: " + err.Error(), nil
	}
	if len(items) > 0 {
		if _, err := dataset.Pack(ctx, w.db, items, dataset.PackOptions{}); err != nil {
			return nil, "", fmt.Errorf("prep: %s: %w", v.Src, err)
		}
	}
	return r, "", nil
}

// store writes frame idx's crop (and a live frame's depth map) as PNG files for Pack.
func (w *worker) store(v Video, idx int, m *imgproc.Image, f shim.Face, by, scratch string) (Frame, []dataset.PackItem, string, error) {
	key := Key(w.o.Domain, v, idx)
	box, lm, pts, err := cropFace(&w.rs, m, f, w.o.Margin, w.o.Size, &w.tmp, &w.crop)
	if err != nil {
		return Frame{}, nil, "", fmt.Errorf("prep: %s frame %d: %w", v.Src, idx, err)
	}
	fr := Frame{Index: idx, Key: key, Box: box, By: by, Landmarks: lm, Points: pts, Score: f.Score}
	if f.HasLandmarks {
		l := f.Landmarks
		fr.InFrame = &l
	}
	file := filepath.Join(scratch, fmt.Sprintf("%06d.png", idx))
	if err := writePNG(file, &w.crop); err != nil {
		return fr, nil, "", err
	}
	items := []dataset.PackItem{{Key: key, File: file, Where: v.Src}}
	if !v.Live {
		return fr, items, "", nil
	}
	why, err := w.depth(v, idx, m, box, pts)
	if err != nil || why != "" {
		return fr, nil, why, err
	}
	dfile := filepath.Join(scratch, fmt.Sprintf("%06d_depth.png", idx))
	if err := writePNG(dfile, &w.dep); err != nil {
		return fr, nil, "", err
	}
	return fr, append(items, dataset.PackItem{Key: DepthKey(w.o.Domain, key), File: dfile, Where: v.Src + " (depth)", Gray: true}), "", nil
}

// depth fills w.dep: the precomputed map of the frame cropped like the image, or ApproxDepth.
func (w *worker) depth(v Video, idx int, m *imgproc.Image, box [4]int, pts *[2 * shim.FacePoints]float64) (string, error) {
	s := w.o.Size
	if w.o.DepthDir == "" {
		if pts == nil {
			return "", fmt.Errorf("prep: %s frame %d: the approximate depth map needs the face's 68 points (a landmark model)", v.Src, idx)
		}
		ApproxDepth(pts, s, &w.dep)
		return "", nil
	}
	base := filepath.Join(w.o.DepthDir, v.Split, filepath.FromSlash(v.ID), fmt.Sprintf("%04d", idx))
	var b []byte
	var err error
	for _, ext := range []string{".png", ".jpg"} {
		if b, err = os.ReadFile(base + ext); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Sprintf("depth map %s.png (or .jpg) of frame %d is missing", base, idx), nil
	}
	if err := imgproc.DecodeGray(b, &w.depSrc); err != nil {
		return fmt.Sprintf("depth map %s of frame %d: %v", base, idx, err), nil
	}
	sx, sy := float64(w.depSrc.W)/float64(m.W), float64(w.depSrc.H)/float64(m.H)
	x0, y0 := int(float64(box[0])*sx), int(float64(box[1])*sy)
	x1, y1 := max(x0+1, int(float64(box[2])*sx)), max(y0+1, int(float64(box[3])*sy))
	if err := imgproc.Crop(&w.depSrc, x0, y0, min(x1, w.depSrc.W), min(y1, w.depSrc.H), &w.tmp); err != nil {
		return fmt.Sprintf("depth map %s of frame %d: %v", base, idx, err), nil
	}
	w.rs.Linear(&w.tmp, s, s, &w.dep)
	return "", nil
}
