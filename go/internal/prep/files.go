package prep

import (
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/imgproc"
)

// writePNG writes m (RGB or gray) as a PNG file.
func writePNG(file string, m *imgproc.Image) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	var img image.Image = m
	if m.C == 1 {
		img = &image.Gray{Pix: m.Pix, Stride: m.W, Rect: image.Rect(0, 0, m.W, m.H)}
	} else {
		rgba := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
		for i, j := 0, 0; i < len(m.Pix); i, j = i+3, j+4 {
			rgba.Pix[j], rgba.Pix[j+1], rgba.Pix[j+2], rgba.Pix[j+3] = m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255
		}
		img = rgba
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("prep: %s: %w", file, err)
	}
	return f.Close()
}

// writeJSON writes v atomically (temp file + rename).
func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(file, append(b, '\n'))
}

func writeAtomic(file string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(file), ".tmp-"+filepath.Base(file)+"-")
	if err != nil {
		return fmt.Errorf("prep: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), file)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("prep: writing %s: %w", file, err)
	}
	return nil
}
