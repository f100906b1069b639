package liveness_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"path/filepath"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/shim"
	"github.com/fasgo/fasgo/go/liveness"
)

// exampleModel writes a small exported model, as `fas export --checkpoint runs/NAME --out
// model.safetensors` does for a trained one, and returns its path.
func exampleModel() string {
	dir, err := os.MkdirTemp("", "liveness-example-")
	if err != nil {
		log.Fatal(err)
	}
	m, err := shim.NewModel(shim.Config{Method: "anrl", Size: 32, Seed: 1, Threads: 1,
		Settings: shim.Settings{{Key: "width", Value: "0.25"}}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(dir, "model.safetensors")
	spec := export.Spec{Input: export.InputRGBHSV, Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.5, 0.5, 0.5},
		Crop: export.CropNone, Threshold: &export.Threshold{Value: 0.5, From: "example", Protocol: "example"}}
	if err := export.Write(m, path, spec); err != nil {
		log.Fatal(err)
	}
	return path
}

// exampleJPEG stands for an uploaded face crop.
func examplePNG() []byte {
	var b bytes.Buffer
	png.Encode(&b, liveness.FaceImage(64, 64, 1))
	return b.Bytes()
}

// Open a model and score a face crop given as encoded bytes.
func ExampleOpen() {
	path := exampleModel() // fas export --checkpoint runs/NAME --out model.safetensors
	defer os.RemoveAll(filepath.Dir(path))

	d, err := liveness.Open(path,
		liveness.WithFaceCrops(), // the inputs are face crops (no face detector is used)
		liveness.WithMaxBatch(8), // up to 8 concurrent calls share one network call
		liveness.WithThreads(1))  // intra-op threads of the network
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	res, err := d.ScoreBytes(context.Background(), examplePNG())
	if err != nil {
		log.Fatal(err) // undecodable image, overload, cancelled or closed
	}
	fmt.Printf("%s (attack score %.3f, threshold %.2f from the %s), %d face, %s\n",
		res.Decision, res.AttackScore, res.Threshold, res.ThresholdSource, res.Faces, res.Method)
	// Output: attack (attack score 0.593, threshold 0.50 from the model), 1 face, anrl
}

// The threshold can be replaced for one call (or, with WithThreshold, for a detector).
func ExampleAtThreshold() {
	path := exampleModel()
	defer os.RemoveAll(filepath.Dir(path))
	d, err := liveness.Open(path, liveness.WithFaceCrops(), liveness.WithThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	img, _ := png.Decode(bytes.NewReader(examplePNG()))
	for _, t := range []float64{0.5, 0.9} {
		res, err := d.Score(context.Background(), img, liveness.AtThreshold(t))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("at %.1f: %s (%s)\n", t, res.Decision, res.ThresholdSource)
	}
	// Output:
	// at 0.5: attack (call)
	// at 0.9: live (call)
}

// noFaces is a face finder that finds nothing (a real one is liveness.WithFaceFinder's
// argument: fasgo's detector, or any other).
type noFaces struct{}

func (noFaces) Find(image.Image) ([]liveness.Face, error) { return nil, nil }

// An image without a face is an explicit result, not an error.
func ExampleWithFaceFinder() {
	path := exampleModel()
	defer os.RemoveAll(filepath.Dir(path))
	d, err := liveness.Open(path, liveness.WithFaceFinder(noFaces{}), liveness.WithThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	res, err := d.ScoreBytes(context.Background(), examplePNG())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Decision, res.Faces)
	// Output: no_face 0
}

// Several images in one call share network calls; results come back in order.
func ExampleDetector_ScoreBatch() {
	path := exampleModel()
	defer os.RemoveAll(filepath.Dir(path))
	d, err := liveness.Open(path, liveness.WithFaceCrops(), liveness.WithThreads(1))
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	imgs := []image.Image{liveness.FaceImage(64, 64, 1), liveness.FaceImage(48, 60, 2)}
	rs, err := d.ScoreBatch(context.Background(), imgs)
	if err != nil {
		log.Fatal(err)
	}
	for i, r := range rs {
		fmt.Printf("image %d: %s, box %v\n", i, r.Decision, r.Box)
	}
	// Output:
	// image 0: attack, box (0,0)-(64,64)
	// image 1: attack, box (0,0)-(48,60)
}
