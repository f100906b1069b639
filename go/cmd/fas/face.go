package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/face"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/shim"
)

func init() {
	groupUsage["face"] = "find faces in photos (cross-checking tools)"
	register("face", faceFindCommand)
}

func faceFindCommand() *cli.Command {
	return &cli.Command{
		Name:  "find",
		Usage: "print the faces found in a photo: box, score, 5 landmarks, the crop",
		Description: "The photo is decoded as serving decodes it (JPEG EXIF orientation applied), searched with\n" +
			"dlib's HOG frontal-face detector, and each face's 5 landmarks come from dlib's 68-point shape\n" +
			"predictor (left eye, right eye, nose tip, left and right mouth corner: the order of the list\n" +
			"files). The crop is the training rule (dataset.crop_face_from_5points) with --margin;\n" +
			"--crop writes the crop of the subject (the largest face scoring at least 0.3) as PNG.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image", Required: true, Usage: "the photo (JPEG or PNG) `FILE`"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"},
			&cli.StringFlag{Name: "landmarks", Usage: "dlib 68-point shape predictor `FILE` (default: libdlib-data's; \"none\": boxes only)"},
			&cli.IntFlag{Name: "upsample", Usage: "double the photo this many times first, 0..2 (faces from ~80 px, ~40, ~20)"},
			&cli.IntFlag{Name: "max-side", Usage: fmt.Sprintf("search a copy scaled down to this longer side (0: %d, -1: never)", shim.DefaultMaxSide)},
			&cli.Float64Flag{Name: "min-score", Usage: "keep detections scoring at least this (dlib's threshold 0)"},
			&cli.Float64Flag{Name: "margin", Value: config.Default().Dataset.Margin, Usage: "crop margin, as dataset.margin"},
			&cli.StringFlag{Name: "crop", Usage: "write the subject's crop (the largest face scoring >= 0.3) to this PNG `FILE`"},
		},
		Action: runFaceFind,
	}
}

type faceJSON struct {
	Box       [4]int       `json:"box"` // x0, y0, x1, y1: pixel edges, x1 and y1 exclusive
	Score     float64      `json:"score"`
	Landmarks *[10]float64 `json:"landmarks"` // null without a landmark model
	Crop      [4]int       `json:"crop"`
}

type faceFindJSON struct {
	Image         string     `json:"image"`
	Width         int        `json:"width"`
	Height        int        `json:"height"`
	Orientation   int        `json:"exif_orientation"` // applied before the search; 1 = as stored
	Detector      string     `json:"detector"`
	LandmarkModel string     `json:"landmark_model"`
	Margin        float64    `json:"margin"`
	Faces         []faceJSON `json:"faces"`
	CropFile      string     `json:"crop_file,omitempty"`
}

func runFaceFind(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	if u := c.Int("upsample"); u < 0 || u > 2 {
		return fmt.Errorf("--upsample %d: want 0, 1 or 2", u)
	}
	margin := c.Float64("margin")
	if !(margin >= 0) {
		return fmt.Errorf("--margin %v: want a margin >= 0", margin)
	}
	path := c.String("image")
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	model := c.String("landmarks")
	fd, err := shim.NewFaceFinder(model)
	if err != nil {
		if errors.Is(err, shim.ErrUnsupported) {
			return fmt.Errorf("%w: this fas was built without dlib; run `make deps` and `make build`", err)
		}
		if model != "" {
			return fmt.Errorf("--landmarks %s: %w", model, err)
		}
		return err
	}
	defer fd.Close()
	ph, err := face.Find(fd, b, shim.FindOptions{Upsample: c.Int("upsample"), MaxSide: c.Int("max-side"), MinScore: c.Float64("min-score")})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := faceFindJSON{Image: path, Width: ph.Image.W, Height: ph.Image.H, Orientation: ph.Orientation, Detector: shim.FaceBackend(),
		LandmarkModel: fd.LandmarkModel(), Margin: margin, Faces: []faceJSON{}}
	for _, f := range ph.Faces {
		j := faceJSON{Box: [4]int{f.Box.Min.X, f.Box.Min.Y, f.Box.Max.X, f.Box.Max.Y}, Score: f.Score}
		if f.HasLandmarks {
			lm := f.Landmarks
			j.Landmarks = &lm
		}
		if j.Crop, err = face.Box(f, margin, ph.Image.W, ph.Image.H); err != nil {
			return fmt.Errorf("%s: face at %v: %w", path, f.Box, err)
		}
		out.Faces = append(out.Faces, j)
	}
	if dst := c.String("crop"); dst != "" {
		if err := writeCrop(ph, margin, dst); err != nil {
			return fmt.Errorf("--crop %s: %w", dst, err)
		}
		out.CropFile = dst
	}
	w := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	orient := ""
	if out.Orientation != 1 {
		orient = fmt.Sprintf(", EXIF orientation %d applied", out.Orientation)
	}
	fmt.Fprintf(w, "image      %s (%dx%d%s)\n", path, out.Width, out.Height, orient)
	lmName := out.LandmarkModel
	if lmName == "" {
		lmName = "none (boxes only)"
	}
	fmt.Fprintf(w, "detector   %s\nlandmarks  %s\nfaces      %d\n", out.Detector, lmName, len(out.Faces))
	names := [5]string{"left eye", "right eye", "nose tip", "left mouth", "right mouth"}
	for i, f := range out.Faces {
		bx := f.Box
		fmt.Fprintf(w, "face %d     box (%d,%d)-(%d,%d) %dx%d  score %.3f  crop (%d,%d)-(%d,%d) margin %g\n",
			i, bx[0], bx[1], bx[2], bx[3], bx[2]-bx[0], bx[3]-bx[1], f.Score, f.Crop[0], f.Crop[1], f.Crop[2], f.Crop[3], margin)
		if f.Landmarks != nil {
			fmt.Fprint(w, "          ")
			for k, n := range names {
				fmt.Fprintf(w, " %s (%.1f, %.1f)", n, f.Landmarks[2*k], f.Landmarks[2*k+1])
			}
			fmt.Fprintln(w)
		}
	}
	if out.CropFile != "" {
		fmt.Fprintf(w, "crop       %s (the subject: the largest face scoring >= 0.3)\n", out.CropFile)
	}
	return nil
}

// writeCrop writes the crop of the photo's subject as PNG (atomically: temp file, rename).
func writeCrop(ph *face.Photo, margin float64, dst string) error {
	f, err := ph.Subject()
	if err != nil {
		return err
	}
	var crop imgproc.Image
	if _, err := face.Crop(ph.Image, f, margin, &crop); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".crop-*.png")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := png.Encode(tmp, &crop); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
