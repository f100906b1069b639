package prep

import (
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"testing"

	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/pyref"
)

// layoutAt places the mean face in a size² map: eye distance scale px, eyes' midpoint at
// (cx, cy), turned by angle radians.
func layoutAt(cx, cy, scale, angle float64) *[136]float64 {
	var p [136]float64
	c, s := math.Cos(angle), math.Sin(angle)
	for i := 0; i < 136; i += 2 {
		x, y := faceLayout[i], faceLayout[i+1]
		p[i], p[i+1] = cx+scale*(c*x-s*y), cy+scale*(s*x+c*y)
	}
	return &p
}

// hull is the convex hull of the points (Andrew's monotone chain), counter-clockwise in
// y-down coordinates turned clockwise; inHull tests a point against it with a margin.
func hull(p *[136]float64) [][2]float64 {
	pts := make([][2]float64, 68)
	for i := range pts {
		pts[i] = [2]float64{p[2*i], p[2*i+1]}
	}
	sort.Slice(pts, func(i, j int) bool {
		return pts[i][0] < pts[j][0] || (pts[i][0] == pts[j][0] && pts[i][1] < pts[j][1])
	})
	cross := func(o, a, b [2]float64) float64 { return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0]) }
	var h [][2]float64
	for pass := 0; pass < 2; pass++ {
		start := len(h)
		for _, q := range pts {
			for len(h) >= start+2 && cross(h[len(h)-2], h[len(h)-1], q) <= 0 {
				h = h[:len(h)-1]
			}
			h = append(h, q)
		}
		h = h[:len(h)-1]
		for i, j := 0, len(pts)-1; i < j; i, j = i+1, j-1 {
			pts[i], pts[j] = pts[j], pts[i]
		}
	}
	return h
}

// hullDist is the signed distance of (x, y) inside the hull h (> 0 inside).
func hullDist(h [][2]float64, x, y float64) float64 {
	d := math.Inf(1)
	for i := range h {
		a, b := h[i], h[(i+1)%len(h)]
		ex, ey := b[0]-a[0], b[1]-a[1]
		d = math.Min(d, ((x-a[0])*ey-(y-a[1])*ex)/-math.Hypot(ex, ey))
	}
	return d
}

// TestFaceMeshSymmetric: the heights, the mirror map and the mesh are mirror-symmetric, and
// the mesh's triangles use each point.
func TestFaceMeshSymmetric(t *testing.T) {
	tris := map[[3]int]bool{}
	used := map[int]bool{}
	for _, tr := range faceMesh {
		s := tr
		sort.Ints(s[:])
		tris[s] = true
		for _, i := range tr {
			used[i] = true
		}
	}
	for _, tr := range faceMesh {
		m := [3]int{faceFlip[tr[0]], faceFlip[tr[1]], faceFlip[tr[2]]}
		sort.Ints(m[:])
		if !tris[m] {
			t.Errorf("triangle %v has no mirror %v", tr, m)
		}
	}
	for i := range 68 {
		if faceFlip[faceFlip[i]] != i || faceHeight[i] != faceHeight[faceFlip[i]] || !used[i] {
			t.Errorf("point %d: mirror %d (of the mirror %d), heights %v %v, in the mesh %v",
				i, faceFlip[i], faceFlip[faceFlip[i]], faceHeight[i], faceHeight[faceFlip[i]], used[i])
		}
		if faceHeight[i] >= faceHeight[30] && i != 30 || faceHeight[i] <= 0 {
			t.Errorf("point %d height %v: want 0 < height < the nose tip's %v", i, faceHeight[i], faceHeight[30])
		}
		if x, mx := faceLayout[2*i], faceLayout[2*faceFlip[i]]; x != -mx || faceLayout[2*i+1] != faceLayout[2*faceFlip[i]+1] {
			t.Errorf("layout point %d (%v) is not the mirror of %d", i, x, faceFlip[i])
		}
	}
}

// TestApproxDepth: the map of the mean face is 0 outside the points' hull and > 0 inside,
// highest at the nose tip, mirror-symmetric for the (symmetric) mean face; turned faces keep
// the hull and the nose; and the rasteriser reproduces a plane exactly (a linear height
// field interpolates to itself).
func TestApproxDepth(t *testing.T) {
	const size = 64
	for _, c := range []struct {
		name   string
		pts    *[136]float64
		mirror bool
	}{
		{"frontal", layoutAt(32, 20, 16, 0), true},
		{"turned 25°", layoutAt(33, 22, 15, 25*math.Pi/180), false},
		{"larger than the map", layoutAt(32, 16, 40, 0), true},
	} {
		var dep imgproc.Image
		ApproxDepth(c.pts, size, &dep)
		h := hull(c.pts)
		best, bx, by := -1, 0, 0
		for y := range size {
			for x := range size {
				v := int(dep.Pix[y*size+x])
				d := hullDist(h, float64(x)+0.5, float64(y)+0.5)
				if (d < -0.01 && v != 0) || (d > 0.01 && v == 0) {
					t.Errorf("%s: pixel (%d, %d) is %d, %.2f px inside the hull", c.name, x, y, v, d)
				}
				if v > best {
					best, bx, by = v, x, y
				}
			}
		}
		if nx, ny := c.pts[60], c.pts[61]; nx < size && ny < size {
			if d := math.Hypot(float64(bx)+0.5-nx, float64(by)+0.5-ny); d > 1.5 || best < 230 {
				t.Errorf("%s: highest %d at (%d, %d), %.1f px from the nose tip (%.1f, %.1f)", c.name, best, bx, by, d, nx, ny)
			}
		}
		if !c.mirror {
			continue
		}
		for y := range size {
			for x := range size / 2 {
				if a, b := dep.Pix[y*size+x], dep.Pix[y*size+size-1-x]; a != b {
					t.Errorf("%s: pixel (%d, %d) is %d, its mirror %d", c.name, x, y, a, b)
				}
			}
		}
	}
	// A plane through the points: every pixel inside the hull is on it.
	pts := layoutAt(32, 20, 16, 0.1)
	var z [68]float64
	plane := func(x, y float64) float64 { return 0.1 + 0.006*x + 0.004*y }
	for i := range z {
		z[i] = plane(pts[2*i], pts[2*i+1])
	}
	var dep imgproc.Image
	surface(pts, &z, size, &dep)
	h := hull(pts)
	for y := range size {
		for x := range size {
			px, py := float64(x)+0.5, float64(y)+0.5
			if hullDist(h, px, py) > 0.01 {
				if w := math.Round(255 * plane(px, py)); math.Abs(float64(dep.Pix[y*size+x])-w) > 0 {
					t.Errorf("plane: pixel (%d, %d) is %d, the plane %v", x, y, dep.Pix[y*size+x], w)
				}
			}
		}
	}
}

// TestFaceMeshDelaunay: faceMesh is scipy's Delaunay triangulation of faceLayout with its
// mirror image (tests/python/face_mesh_ref.py, which also generated it).
func TestFaceMeshDelaunay(t *testing.T) {
	in, _ := json.Marshal(map[string]any{"layout": faceLayout, "flip": faceFlip})
	var ref [][3]int
	if err := json.Unmarshal(pyref.Run(t, in, "face_mesh_ref.py"), &ref); err != nil {
		t.Fatal(err)
	}
	var got [][3]int
	for _, tr := range faceMesh {
		sort.Ints(tr[:])
		got = append(got, tr)
	}
	sort.Slice(got, func(i, j int) bool {
		a, b := got[i], got[j]
		return a[0] < b[0] || a[0] == b[0] && (a[1] < b[1] || a[1] == b[1] && a[2] < b[2])
	})
	if !reflect.DeepEqual(got, ref) {
		t.Errorf("faceMesh (%d triangles) is not the Delaunay triangulation of faceLayout with its mirror (%d):\n%v\n%v", len(got), len(ref), got, ref)
	}
}
