package imgproc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/pyref"
)

// pyBatch runs the argument lists through tests/python/data_cv2_golden.py in one
// interpreter (imports are the slow part) and returns each one's stdout.
func pyBatch(t *testing.T, jobs ...[]string) []string {
	t.Helper()
	js, _ := json.Marshal(jobs)
	out, err := pyref.Try(t, js, "data_cv2_golden.py", "batch")
	if err != nil {
		t.Fatalf("%d jobs, first %s: %v\n(needs python3-opencv, python3-numpy, python3-torch: run `make deps`)",
			len(jobs), strings.Join(jobs[0], " "), err)
	}
	var outs []string
	if err := json.Unmarshal(out, &outs); err != nil || len(outs) != len(jobs) {
		t.Fatalf("data_cv2_golden.py batch: bad reply %q: %v", out, err)
	}
	return outs
}

// py runs one job.
func py(t *testing.T, args ...string) string {
	t.Helper()
	return pyBatch(t, args)[0]
}

func writeRaw(t *testing.T, m *Image) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.raw")
	if err := os.WriteFile(p, m.Pix, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readRaw(t *testing.T, p string, w, h, c int) *Image {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != w*h*c {
		t.Fatalf("%s: %d bytes, want %dx%dx%d", p, len(b), w, h, c)
	}
	return &Image{W: w, H: h, C: c, Pix: b}
}

func itoa(v ...int) []string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return s
}

// testImage mixes smooth gradients, noise, saturated and gray pixels.
func testImage(w, h, c int, seed uint64) *Image {
	r := rand.New(rand.NewPCG(seed, 7))
	m := &Image{}
	m.Reshape(w, h, c)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for k := 0; k < c; k++ {
				var v int
				switch (x/7 + y/5) % 4 {
				case 0:
					v = (x*255/max(w-1, 1) + k*60) % 256
				case 1:
					v = r.IntN(256)
				case 2:
					v = []int{0, 255}[r.IntN(2)]
				default:
					v = (y*255/max(h-1, 1)*(k+1) + x) % 256
				}
				m.Pix[(y*w+x)*c+k] = uint8(v)
			}
		}
	}
	return m
}

// diffStats returns the largest absolute difference and the fraction of equal values.
func diffStats(a, b []uint8) (int, float64) {
	worst, same := 0, 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		worst = max(worst, d)
		if d == 0 {
			same++
		}
	}
	return worst, float64(same) / float64(len(a))
}

func TestResizeMatchesOpenCV(t *testing.T) {
	cases := []struct{ w, h, c, dw, dh int }{
		{97, 61, 3, 256, 256}, {300, 211, 3, 256, 256}, {256, 256, 1, 32, 32}, {640, 480, 3, 256, 256},
		{5, 3, 3, 17, 9}, {31, 47, 1, 30, 11}, {256, 256, 3, 128, 200}, {1, 1, 3, 4, 4},
	}
	type job struct {
		tc   int
		op   string
		src  *Image
		out  string
		args []string
	}
	var jobs []job
	for i, tc := range cases {
		src := testImage(tc.w, tc.h, tc.c, uint64(i))
		in := writeRaw(t, src)
		for _, op := range []string{"resize_linear", "resize_nearest"} {
			out := filepath.Join(t.TempDir(), "out.raw")
			jobs = append(jobs, job{i, op, src, out, append(append([]string{op, in}, itoa(tc.w, tc.h, tc.c, tc.dw, tc.dh)...), out)})
		}
	}
	var all [][]string
	for _, j := range jobs {
		all = append(all, j.args)
	}
	pyBatch(t, all...)
	var rs Resizer
	for _, j := range jobs {
		tc := cases[j.tc]
		want := readRaw(t, j.out, tc.dw, tc.dh, tc.c)
		var got Image
		if j.op == "resize_linear" {
			rs.Linear(j.src, tc.dw, tc.dh, &got)
		} else {
			rs.Nearest(j.src, tc.dw, tc.dh, &got)
		}
		worst, same := diffStats(got.Pix, want.Pix)
		t.Logf("%s %dx%dx%d -> %dx%d: max diff %d, %.4f%% identical", j.op, tc.w, tc.h, tc.c, tc.dw, tc.dh, worst, 100*same)
		if worst > 1 || (j.op == "resize_nearest" && worst != 0) {
			t.Errorf("%s %dx%dx%d -> %dx%d: max diff %d levels vs cv2.resize", j.op, tc.w, tc.h, tc.c, tc.dw, tc.dh, worst)
		}
	}
}

// TestHSVMatchesOpenCV checks every 8-bit RGB colour, and every valid HSV triple back.
func TestHSVMatchesOpenCV(t *testing.T) {
	all := &Image{}
	all.Reshape(4096, 4096, 3)
	for i := 0; i < 1<<24; i++ {
		all.Pix[3*i], all.Pix[3*i+1], all.Pix[3*i+2] = uint8(i>>16), uint8(i>>8), uint8(i)
	}
	out := filepath.Join(t.TempDir(), "hsv.raw")
	py(t, "rgb2hsv", writeRaw(t, all), "4096", "4096", out)
	want := readRaw(t, out, 4096, 4096, 3)
	var got Image
	RGBToHSV(all, &got)
	if worst, same := diffStats(got.Pix, want.Pix); worst != 0 {
		t.Errorf("RGB->HSV over all 2^24 colours: max diff %d, %.5f%% identical", worst, 100*same)
	}

	hsv := &Image{}
	hsv.Reshape(256*256, 180, 3)
	for h := 0; h < 180; h++ {
		for sv := 0; sv < 65536; sv++ {
			i := 3 * (h*65536 + sv)
			hsv.Pix[i], hsv.Pix[i+1], hsv.Pix[i+2] = uint8(h), uint8(sv>>8), uint8(sv)
		}
	}
	py(t, "hsv2rgb", writeRaw(t, hsv), "65536", "180", out)
	want = readRaw(t, out, 65536, 180, 3)
	HSVToRGB(hsv, &got)
	worst, same := diffStats(got.Pix, want.Pix)
	t.Logf("HSV->RGB over all valid triples: max diff %d, %.5f%% identical", worst, 100*same)
	if worst > 1 {
		t.Errorf("HSV->RGB: max diff %d levels vs cv2", worst)
	}
}

func TestShiftHSVMatchesAlbumentationsFormula(t *testing.T) {
	src := testImage(64, 48, 3, 11)
	in := writeRaw(t, src)
	shifts := []HSVShift{{12.7, -20.3, 5.5}, {-19.9, 29.4, -18.2}, {0, 0, 7}, {3.2, 0, 0}}
	var jobs [][]string
	var outs []string
	for _, s := range shifts {
		out := filepath.Join(t.TempDir(), "out.raw")
		outs = append(outs, out)
		jobs = append(jobs, []string{"shift_hsv", in, "64", "48", fmt.Sprint(s.Hue), fmt.Sprint(s.Sat), fmt.Sprint(s.Val), out})
	}
	pyBatch(t, jobs...)
	for i, s := range shifts {
		want := readRaw(t, outs[i], 64, 48, 3)
		got := &Image{}
		got.CopyFrom(src)
		ShiftHSV(got, s)
		worst, same := diffStats(got.Pix, want.Pix)
		t.Logf("shift %+v: max diff %d, %.3f%% identical", s, worst, 100*same)
		if worst > 1 {
			t.Errorf("shift %+v: max diff %d", s, worst)
		}
	}
}

func TestBilinearFloatMatchesTorch(t *testing.T) {
	cases := []struct{ w, h, dw, dh int }{{256, 256, 32, 32}, {37, 53, 32, 32}, {10, 7, 33, 20}}
	var jobs [][]string
	var srcs []*Image
	for i, tc := range cases {
		src := testImage(tc.w, tc.h, 1, uint64(20+i))
		srcs = append(srcs, src)
		out := filepath.Join(t.TempDir(), "out.raw")
		jobs = append(jobs, append(append([]string{"interp", writeRaw(t, src)}, itoa(tc.w, tc.h, tc.dw, tc.dh)...), out))
	}
	pyBatch(t, jobs...)
	for i, tc := range cases {
		b, err := os.ReadFile(jobs[i][len(jobs[i])-1])
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, tc.dw*tc.dh)
		if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, want); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(want))
		BilinearFloat(srcs[i], tc.dw, tc.dh, 1, got)
		for j := range got {
			if math.Abs(float64(got[j]-want[j])) > 1e-3 { // float32 rounding order differs from ATen
				t.Fatalf("%v: value %d = %v, torch %v", tc, j, got[j], want[j])
			}
		}
	}
}
