package prep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
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

// Extract decodes the frames with the given 0-based indices (sorted, distinct) as RGB,
// turned upright by the stream's rotation metadata (ffmpeg's autorotation), using dir for
// the temporary frame files. It fails unless every index was decoded.
func (f *FFmpeg) Extract(ctx context.Context, src string, idx []int, dir string) ([]*imgproc.Image, error) {
	if !sort.IntsAreSorted(idx) || len(idx) == 0 {
		return nil, errors.New("prep: frame indices must be sorted and non-empty")
	}
	terms := make([]string, len(idx))
	for i, n := range idx {
		terms[i] = "eq(n\\," + strconv.Itoa(n) + ")"
	}
	pattern := filepath.Join(dir, "%06d.ppm")
	if _, err := f.run(ctx, f.ffmpeg, "-v", "error", "-nostdin", "-autorotate", "1", "-i", src,
		"-map", "0:v:0", "-vf", "select='"+strings.Join(terms, "+")+"'", "-fps_mode", "passthrough",
		"-pix_fmt", "rgb24", "-f", "image2", "-c:v", "ppm", pattern); err != nil {
		return nil, err
	}
	out := make([]*imgproc.Image, 0, len(idx))
	for i := range idx {
		p := filepath.Join(dir, fmt.Sprintf("%06d.ppm", i+1))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("ffmpeg decoded %d of the %d sampled frames (frame %d missing)", i, len(idx), idx[i])
		}
		m, err := readPPM(b)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", idx[i], err)
		}
		out = append(out, m)
		os.Remove(p)
	}
	return out, nil
}

// readPPM reads the binary RGB PPM ("P6 W H 255" and the pixels) ffmpeg writes.
func readPPM(b []byte) (*imgproc.Image, error) {
	var f [4]string
	rest := b
	for i := range f {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		j := bytes.IndexAny(rest, " \t\r\n")
		if j < 0 {
			return nil, errors.New("truncated PPM header")
		}
		f[i], rest = string(rest[:j]), rest[j+1:]
	}
	w, e1 := strconv.Atoi(f[1])
	h, e2 := strconv.Atoi(f[2])
	if f[0] != "P6" || f[3] != "255" || e1 != nil || e2 != nil || w <= 0 || h <= 0 || len(rest) != w*h*3 {
		return nil, fmt.Errorf("not an 8-bit RGB PPM of its stated size (header %q, %d pixel bytes)", f, len(rest))
	}
	return &imgproc.Image{W: w, H: h, C: 3, Pix: rest}, nil
}
