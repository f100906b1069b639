package dataset

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/lmdb"
)

// fixture is a small multi-domain data set in a real LMDB.
type fixture struct {
	dir     string
	db      *lmdb.Env
	domains []Domain
	rule    DepthRule
}

func pngBytes(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// face draws a colourful picture of size w×h; the depth map is a gray radial blob.
func face(r *rand.Rand, w, h int) (*image.NRGBA, *image.Gray) {
	img, dep := image.NewNRGBA(image.Rect(0, 0, w, h)), image.NewGray(image.Rect(0, 0, w, h))
	base := [3]int{r.IntN(256), r.IntN(256), r.IntN(256)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(base[0] + x*3), uint8(base[1] + y*5), uint8(base[2] + r.IntN(40)), 255})
			dx, dy := x-w/2, y-h/2
			dep.SetGray(x, y, color.Gray{uint8(max(0, 255-(dx*dx+dy*dy)/8))})
		}
	}
	return img, dep
}

// newFixture writes nLive[k]/nAttack[k] frames for each domain k (3 frames per video),
// their depth maps for live frames, and the list files.
func newFixture(t testing.TB, nLive, nAttack []int) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := lmdb.Open(filepath.Join(dir, "data.lmdb"), lmdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fx := &fixture{dir: dir, db: db}
	r := rand.New(rand.NewPCG(1, 2))
	var kvs []lmdb.KV
	for k := range nLive {
		name := fmt.Sprintf("dom%d", k)
		fx.rule = append(fx.rule, Replace{From: name + "/", To: name + "_depth/"})
		d := Domain{Name: name}
		for c, n := range []int{nLive[k], nAttack[k]} {
			var lines []string
			for i := 0; i < n; i++ {
				w, h := 40+r.IntN(50), 40+r.IntN(50)
				img, dep := face(r, w, h)
				cls := []string{"live", "attack"}[c]
				key := fmt.Sprintf("%s/%s/video%02d/frame%03d.png", name, cls, i/3, i)
				kvs = append(kvs, lmdb.KV{Key: key, Value: pngBytes(t, img)})
				line := fmt.Sprintf("%s %d", key, c)
				if i%2 == 0 { // landmarks on every other frame, inside the picture
					line += fmt.Sprintf(" %d %d %d %d %d %d %d %d %d %d", w/3, h/3, 2*w/3, h/3, w/2, h/2, w/3+1, 2*h/3, 2*w/3-1, 2*h/3)
				}
				if c == Live {
					kvs = append(kvs, lmdb.KV{Key: strings.Replace(key, name+"/", name+"_depth/", 1), Value: pngBytes(t, dep)})
				} else {
					line += " attack=print"
				}
				lines = append(lines, line)
			}
			file := filepath.Join(dir, fmt.Sprintf("%s_train_%s.txt", name, []string{"live", "attack"}[c]))
			if err := os.WriteFile(file, []byte("# generated\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			entries, err := ReadList(file)
			if err != nil {
				t.Fatal(err)
			}
			if c == Live {
				d.Live = entries
			} else {
				d.Attack = entries
			}
		}
		fx.domains = append(fx.domains, d)
	}
	if err := db.PutMany(kvs); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) transform(s int) Transform {
	t := DefaultTransform()
	t.Size, t.DepthRule = s, fx.rule
	return t
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(3, 4)) }
