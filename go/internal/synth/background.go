package synth

// Background kinds: the look of the room behind the person.
const (
	bgWall    = iota // plain painted wall with a soft gradient
	bgOffice         // wall with doors, shelves, posters
	bgClutter        // busy, textured, colourful
	bgDark           // dim room with a lamp
)

type rect struct {
	x0, y0, x1, y1 float64
	c              vec3
}

// background is the room seen behind a person or around an attack medium.
type background struct {
	kind      int
	base, alt vec3
	gx, gy    float64 // gradient direction and strength
	rects     []rect
	lampX     float64
	lampY     float64
	texScale  float64
	seed      uint64
}

func newBackground(kind int, palette []vec3, r *rng) *background {
	bg := &background{kind: kind, seed: r.next()}
	bg.base = palette[r.intn(len(palette))].scale(r.uniform(0.85, 1.1))
	bg.alt = palette[r.intn(len(palette))].scale(r.uniform(0.6, 1))
	bg.gx, bg.gy = r.uniform(-0.15, 0.15), r.uniform(-0.2, 0.1)
	bg.texScale = r.uniform(2, 6)
	n := 0
	switch kind {
	case bgOffice:
		n = 2 + r.intn(3)
	case bgClutter:
		n = 5 + r.intn(5)
	}
	for i := 0; i < n; i++ {
		x0, y0 := r.uniform(-1.2, 0.9), r.uniform(-1.2, 0.6)
		c := v3(r.float(), r.float(), r.float()).saturate(r.uniform(0.2, 0.8)).scale(r.uniform(0.3, 0.9))
		bg.rects = append(bg.rects, rect{x0, y0, x0 + r.uniform(0.15, 0.7), y0 + r.uniform(0.2, 1.2), c})
	}
	bg.lampX, bg.lampY = r.uniform(-0.9, 0.9), r.uniform(-1, -0.3)
	return bg
}

func (bg *background) at(x, y, aa float64) vec3 {
	c := bg.base.scale(1 + bg.gx*x + bg.gy*y)
	switch bg.kind {
	case bgWall:
		c = c.scale(0.96 + 0.08*fbm(x*bg.texScale, y*bg.texScale, 2, bg.seed))
	case bgOffice, bgClutter:
		for _, r := range bg.rects {
			d := fmax(fmax(r.x0-x, x-r.x1), fmax(r.y0-y, y-r.y1))
			if a := cover(d, aa*2); a > 0 {
				c = mixv(c, r.c, a)
			}
		}
		if bg.kind == bgClutter {
			n := fbm(x*bg.texScale*2, y*bg.texScale*2, 3, bg.seed)
			c = mixv(c, bg.alt, 0.5*smoothstep(0.45, 0.7, n)).scale(0.8 + 0.4*n)
		}
	case bgDark:
		c = c.scale(0.35).add(v3(1, 0.85, 0.6).scale(0.6 * gauss2(x-bg.lampX, y-bg.lampY, 0.25)))
	}
	return c
}
