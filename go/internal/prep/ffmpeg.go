package prep

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/fasgo/fasgo/go/internal/imgproc"
)

// FFmpeg runs the ffmpeg and ffprobe programs (Debian package ffmpeg).
type FFmpeg struct{ ffmpeg, ffprobe string }

// FindFFmpeg looks both programs up on PATH.
func FindFFmpeg() (*FFmpeg, error) {
	var f FFmpeg
	for _, p := range []struct {
		name string
		dst  *string
	}{{"ffmpeg", &f.ffmpeg}, {"ffprobe", &f.ffprobe}} {
		path, err := exec.LookPath(p.name)
		if err != nil {
			return nil, fmt.Errorf("%s is not on PATH: fas prep reads videos with it; install the Debian package ffmpeg (apt-get install ffmpeg)", p.name)
		}
		*p.dst = path
	}
	return &f, nil
}

func (f *FFmpeg) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 400 {
			msg = msg[len(msg)-400:]
		}
		return nil, fmt.Errorf("%s: %v: %s", filepath.Base(prog), err, msg)
	}
	return out, nil
}

// Frames counts the decoded frames of the first video stream (ffprobe -count_frames: the
// whole stream is decoded, as container frame counts are often absent or wrong).
func (f *FFmpeg) Frames(ctx context.Context, src string) (int, error) {
	out, err := f.run(ctx, f.ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", src)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(strings.Split(strings.TrimSpace(string(out)), "\n")[0])
	n, err := strconv.Atoi(strings.TrimSuffix(s, ","))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("ffprobe: no video frames (read %q)", s)
	}
	return n, nil
}

// Each decodes the frames with the given 0-based indices (sorted, distinct) as RGB, turned
// upright by the stream's rotation metadata (ffmpeg's autorotation), and calls fn with each
// in order; the frame is valid during the call only. The frames stream through a pipe, one
// in memory at a time. It fails unless every index was decoded.
func (f *FFmpeg) Each(ctx context.Context, src string, idx []int, fn func(k int, m *imgproc.Image) error) error {
	if !sort.IntsAreSorted(idx) || len(idx) == 0 {
		return errors.New("prep: frame indices must be sorted and non-empty")
	}
	terms := make([]string, len(idx))
	for i, n := range idx {
		terms[i] = "eq(n\\," + strconv.Itoa(n) + ")"
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.ffmpeg, "-v", "error", "-nostdin", "-autorotate", "1", "-i", src,
		"-map", "0:v:0", "-vf", "select='"+strings.Join(terms, "+")+"'", "-fps_mode", "passthrough",
		"-pix_fmt", "rgb24", "-f", "image2pipe", "-c:v", "ppm", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	r := bufio.NewReaderSize(out, 1<<20)
	var m imgproc.Image
	var rerr, ferr error // reading a frame, fn
	k := 0
	for ; k < len(idx); k++ {
		if rerr = readPPM(r, &m); rerr != nil {
			break
		}
		if ferr = fn(k, &m); ferr != nil {
			break
		}
	}
	if ferr != nil || k == len(idx) {
		cancel() // ffmpeg has given what was asked for, or the rest is not wanted
	}
	io.Copy(io.Discard, r)
	werr := cmd.Wait()
	switch {
	case ferr != nil:
		return ferr
	case k == len(idx):
		return nil // (ffmpeg may exit killed after the last frame)
	case parent.Err() != nil:
		return parent.Err()
	case werr != nil:
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 400 {
			msg = msg[len(msg)-400:]
		}
		return fmt.Errorf("ffmpeg: %v: %s", werr, msg)
	case !errors.Is(rerr, io.EOF):
		return fmt.Errorf("frame %d: %w", idx[k], rerr)
	}
	return fmt.Errorf("ffmpeg decoded %d of the %d sampled frames (frame %d missing)", k, len(idx), idx[k])
}

// Extract is Each keeping a copy of every frame (for few frames).
func (f *FFmpeg) Extract(ctx context.Context, src string, idx []int) ([]*imgproc.Image, error) {
	var out []*imgproc.Image
	err := f.Each(ctx, src, idx, func(_ int, m *imgproc.Image) error {
		c := &imgproc.Image{}
		c.CopyFrom(m)
		out = append(out, c)
		return nil
	})
	return out, err
}

// readPPM reads one binary RGB PPM ("P6 W H 255", one whitespace, the pixels), as ffmpeg's
// ppm encoder writes it, into m; io.EOF when r is at its end.
func readPPM(r *bufio.Reader, m *imgproc.Image) error {
	var f [4]string
	for i := range f {
		t, err := token(r)
		if err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return io.EOF
			}
			return errors.New("truncated PPM header")
		}
		f[i] = t
	}
	w, e1 := strconv.Atoi(f[1])
	h, e2 := strconv.Atoi(f[2])
	if f[0] != "P6" || f[3] != "255" || e1 != nil || e2 != nil || w <= 0 || h <= 0 || w*h > 1<<26 {
		return fmt.Errorf("not an 8-bit RGB PPM (header %q)", f)
	}
	m.Reshape(w, h, 3)
	if _, err := io.ReadFull(r, m.Pix); err != nil {
		return fmt.Errorf("PPM of %dx%d: %w", w, h, err)
	}
	return nil
}

// token skips whitespace and reads up to and including the next whitespace byte.
func token(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if len(b) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		space := c == ' ' || c == '\t' || c == '\r' || c == '\n'
		switch {
		case space && len(b) > 0:
			return string(b), nil
		case !space:
			if len(b) > 16 {
				return "", errors.New("PPM header field too long")
			}
			b = append(b, c)
		}
	}
}
