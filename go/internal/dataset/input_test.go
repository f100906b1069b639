package dataset

import (
	"math"
	"testing"

	"github.com/fasgo/fasgo/go/internal/imgproc"
)

// stepByStep is the reference's order of the input steps, one whole image each, with the
// imgproc functions the cv2 golden tests check: Processor.input fuses them and must give
// the same floats bit for bit.
func stepByStep(p *Processor, src *imgproc.Image, box [4]int, aug Aug, out []float32) error {
	var crop, hsv, rgbS, hsvS imgproc.Image
	if err := imgproc.Crop(src, box[0], box[1], box[2], box[3], &crop); err != nil {
		return err
	}
	imgproc.RGBToHSV(&crop, &hsv)
	var rs imgproc.Resizer
	s := p.t.Size
	rs.Linear(&crop, s, s, &rgbS)
	rs.Linear(&hsv, s, s, &hsvS)
	if aug.Flip {
		imgproc.FlipH(&rgbS)
		imgproc.FlipH(&hsvS)
	}
	if aug.Jitter {
		imgproc.ShiftHSV(&rgbS, aug.Shift)
	}
	p.norm.CHW(&rgbS, out[:3*s*s])
	p.norm.CHW(&hsvS, out[3*s*s:6*s*s])
	return nil
}

func TestInputFusedEqualsStepByStep(t *testing.T) {
	fx := newFixture(t, []int{4, 2}, []int{3, 1})
	augs := []Aug{{}, {Flip: true}, {Jitter: true, Shift: imgproc.HSVShift{Hue: 11.3, Sat: -25.2, Val: 14.9}},
		{Flip: true, Jitter: true, Shift: imgproc.HSVShift{Hue: -17.5, Sat: 8.8, Val: -3.1}}}
	n := 0
	for _, s := range []int{16, 64, 128} { // down, mixed and up-scaling of the 40..90-pixel frames
		for _, crop := range []bool{false, true} {
			tr := fx.transform(s)
			tr.CropFace = crop
			p, err := NewProcessor(tr)
			if err != nil {
				t.Fatal(err)
			}
			got, want := make([]float32, 6*s*s), make([]float32, 6*s*s)
			for _, d := range fx.domains {
				for _, e := range append(append([]Entry(nil), d.Live...), d.Attack...) {
					if err := p.load(fx.db, &e, e.Path, false, &p.img); err != nil {
						t.Fatal(err)
					}
					box, err := p.cropBox(&e, p.img.W, p.img.H)
					if err != nil {
						t.Fatal(err)
					}
					var src imgproc.Image
					src.CopyFrom(&p.img)
					for _, a := range augs {
						if err := p.input(&src, box, a, got); err != nil {
							t.Fatal(err)
						}
						if err := stepByStep(p, &src, box, a, want); err != nil {
							t.Fatal(err)
						}
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("S=%d crop=%v %s %+v: value %d = %v, step by step %v", s, crop, e.Path, a, i, got[i], want[i])
							}
						}
						n++
					}
				}
			}
		}
	}
	// The crop's own size: the resize is a copy.
	p, _ := NewProcessor(fx.transform(48))
	src := &imgproc.Image{}
	src.Reshape(48, 48, 3)
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	got, want := make([]float32, 6*48*48), make([]float32, 6*48*48)
	for _, a := range augs {
		p.input(src, [4]int{0, 0, 48, 48}, a, got)
		stepByStep(p, src, [4]int{0, 0, 48, 48}, a, want)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("48x48 -> S=48 %+v: value %d = %v, step by step %v", a, i, got[i], want[i])
			}
		}
	}
	t.Logf("%d samples identical", n)
}
