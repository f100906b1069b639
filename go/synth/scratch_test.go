package synth

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"testing"
	"time"
)

func TestScratchPreview(t *testing.T) {
	o := DefaultOptions()
	if s := os.Getenv("SIZE"); s != "" {
		o.Size = 128
	}
	b, err := Preview(o)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/synth_preview.png", b, 0o644)
}

func TestScratchFaces(t *testing.T) {
	d := domainAt(0, 1)
	d.res, d.ss = 192, 2
	d.noise, d.chroma, d.blur = span{0, 0}, span{0, 0}, span{0, 0}
	d.jpegQ = 0
	sheet := image.NewRGBA(image.Rect(0, 0, 4*192, 2*192))
	kinds := []string{Live, Live, Live, Live, Live, Print, Replay, Mask}
	for i, k := range kinds {
		fs, err := renderVideo(7, &d, video{dom: 0, subject: i, index: 0, kind: k, variant: i%2 + 1}, 1, 192)
		if err != nil {
			t.Fatal(err)
		}
		img, _, _ := image.Decode(bytes.NewReader(fs[0].img))
		blitZoom(sheet, img, (i%4)*192, (i/4)*192, 1)
	}
	var buf bytes.Buffer
	png.Encode(&buf, sheet)
	os.WriteFile("/tmp/synth_faces.png", buf.Bytes(), 0o644)
}

func TestScratchWrite(t *testing.T) {
	o := DefaultOptions()
	st := time.Now()
	s, err := Write(context.Background(), "/tmp/synthout", o, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(time.Since(st), s.Images, s.Depths, s.SHA256)
}

func BenchmarkScratchVideo(b *testing.B) {
	o := DefaultOptions()
	vs := plan(o)
	doms := []domain{domainAt(0, 1), domainAt(1, 1), domainAt(2, 1), domainAt(3, 1)}
	for i := 0; i < b.N; i++ {
		v := vs[(i*37)%len(vs)]
		renderVideo(1, &doms[v.dom], v, 4, 64)
	}
}
