package synth

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg" // decodes the JPEG frames shown on the sheet
	"image/png"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// previewColumns are the sheet's columns: two live faces, the depth map of the first,
// then each attack type.
var previewColumns = []string{"live", "live", "depth", Print, Replay, Mask + " (cut)", Mask + " (rigid)"}

// Preview renders a contact sheet: one row per domain, the columns of previewColumns,
// each tile the stored bytes of a sample decoded and enlarged to at least 96 pixels.
func Preview(o Options) ([]byte, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	zoom := max(1, (96+o.Size-1)/o.Size)
	tile, pad, left, top := o.Size*zoom, 4, 44, 18
	sheet := image.NewRGBA(image.Rect(0, 0, left+len(previewColumns)*(tile+pad), top+o.Domains*(tile+pad)))
	draw.Draw(sheet, sheet.Bounds(), image.NewUniform(color.RGBA{250, 250, 250, 255}), image.Point{}, draw.Src)
	for c, name := range previewColumns {
		label(sheet, left+c*(tile+pad)+2, 13, name)
	}
	for d := 0; d < o.Domains; d++ {
		dom := domainAt(d, o.Seed)
		y := top + d*(tile+pad)
		label(sheet, 2, y+tile/2, domainName(d))
		tiles, err := previewRow(o, &dom, d)
		if err != nil {
			return nil, err
		}
		for c, b := range tiles {
			img, _, err := image.Decode(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("synth: preview tile %s/%s: %w", domainName(d), previewColumns[c], err)
			}
			blitZoom(sheet, img, left+c*(tile+pad), y, zoom)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sheet); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// previewRow renders the encoded tiles of one domain's row.
func previewRow(o Options, dom *domain, d int) ([][]byte, error) {
	one := func(subject, index int, kind string) (frameOut, error) {
		fs, err := renderVideo(o.Seed, dom, video{dom: d, subject: subject, index: index, kind: kind}, 1, o.Size)
		if err != nil {
			return frameOut{}, err
		}
		return fs[0], nil
	}
	var tiles [][]byte
	a, err := one(0, 0, Live)
	if err != nil {
		return nil, err
	}
	b, err := one(1, 0, Live)
	if err != nil {
		return nil, err
	}
	tiles = append(tiles, a.img, b.img, a.depth)
	for i, kind := range []string{Print, Replay} {
		f, err := one(2+i, 1, kind)
		if err != nil {
			return nil, err
		}
		tiles = append(tiles, f.img)
	}
	for i, variant := range []int{1, 2} {
		fs, err := renderVideo(o.Seed, dom, video{dom: d, subject: 4 + i, index: 1, kind: Mask, variant: variant}, 1, o.Size)
		if err != nil {
			return nil, err
		}
		tiles = append(tiles, fs[0].img)
	}
	return tiles, nil
}

func label(img draw.Image, x, y int, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.RGBA{20, 20, 20, 255}), Face: basicfont.Face7x13,
		Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func blitZoom(dst *image.RGBA, src image.Image, x0, y0, zoom int) {
	b := src.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(src.At(x, y))
			for dy := 0; dy < zoom; dy++ {
				for dx := 0; dx < zoom; dx++ {
					dst.Set(x0+(x-b.Min.X)*zoom+dx, y0+(y-b.Min.Y)*zoom+dy, c)
				}
			}
		}
	}
}
