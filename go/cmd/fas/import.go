package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/silentface"
)

func init() { register("import", importSilentFaceCommand) }

func importSilentFaceCommand() *cli.Command {
	return &cli.Command{
		Name:  "silentface",
		Usage: "convert Silent-Face-Anti-Spoofing's published MiniFASNet weights (.pth) into exported models",
		Description: "Download the weights from the resources/anti_spoof_models folder of\n" +
			"github.com/minivision-ai/Silent-Face-Anti-Spoofing (Apache-2.0): 2.7_80x80_MiniFASNetV2.pth and\n" +
			"4_0_0_80x80_MiniFASNetV1SE.pth. The crop scale and input size come from the file name\n" +
			"(<scale>_<H>x<W>_<ModelType>.pth), the variant from the weights (checked against the name).\n" +
			"One --weights: --out is the exported model file. Several: --out is a directory that gets one\n" +
			"model per file and ensemble.json, the ensemble the authors run (sum of softmaxes, argmax);\n" +
			"serve it with fas serve --model DIR. Reading the pickles needs PyTorch: Debian's python3-torch\n" +
			"with /usr/bin/python3 (--python to use another interpreter).",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "weights", Aliases: []string{"w"}, Required: true, Usage: "a published .pth file (repeatable: an ensemble)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "model file (one --weights) or ensemble directory"},
			&cli.StringFlag{Name: "python", Value: silentface.DefaultPython, Usage: "Python interpreter with torch"},
			&cli.Float64Flag{Name: "scale", Usage: "crop scale instead of the file name's (one --weights only)"},
			&cli.IntFlag{Name: "size", Usage: "input size instead of the file name's (one --weights only)"},
		},
		Action: runImportSilentFace,
	}
}

func runImportSilentFace(c *cli.Context) error {
	ws := c.StringSlice("weights")
	o := silentface.Options{Python: c.String("python"), Scale: c.Float64("scale"), Size: c.Int("size")}
	if len(ws) > 1 && (o.Scale != 0 || o.Size != 0) {
		return fmt.Errorf("--scale and --size apply to one --weights file; the ensemble's files say theirs in their names")
	}
	var specs []export.Spec
	if len(ws) == 1 {
		s, err := silentface.Import(ws[0], c.String("out"), o)
		if err != nil {
			return err
		}
		specs = append(specs, s)
	} else {
		var err error
		if specs, err = silentface.ImportEnsemble(ws, c.String("out"), o); err != nil {
			return err
		}
	}
	for i, s := range specs {
		v, _ := s.Settings.Get("variant")
		fmt.Fprintf(c.App.Writer, "%s: %s, crop scale %g, input %dx%d, %s (from %s)\n", ws[i], v, s.Scale, s.Size, s.Size, s.ModelVersion, s.Source)
	}
	fmt.Fprintf(c.App.Writer, "wrote %s\n", c.String("out"))
	return nil
}
