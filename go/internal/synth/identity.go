package synth

// identity is what stays fixed for one subject: the shape and colours of the face.
// Lengths are in face units: u runs across the face (-1..1 ear to ear), v from the crown
// (-1) to the chin (+1).
type identity struct {
	a, bOverA, cOverA float64 // head half-width, height/width and depth/width ratios
	jaw               float64 // narrowing of the lower face (0 = ellipse)
	skin              vec3
	skinDetail        float64 // amplitude of pore/blotch texture
	blush             float64

	eyeU, eyeV, eyeW, eyeH float64 // eye centre, half-width, opening (relative to eyeW)
	eyeTilt                float64
	iris                   vec3
	irisR                  float64 // relative to eyeW

	browGap, browThick, browArch, browTilt float64
	browColor                              vec3

	noseLen, noseW, noseOut float64

	mouthV, mouthW, lipUp, lipLow float64
	lip                           vec3

	hairStyle  int // 0 shaved, 1 short, 2 medium, 3 long, 4 fringe
	hair       vec3
	hairline   float64 // v of the hairline at the centre
	hairVolume float64
	beard      float64 // 0 none .. 1 full
	glasses    bool
	frame      vec3
	shirt      vec3
}

var skinTones = []vec3{
	{0.96, 0.80, 0.69}, {0.90, 0.70, 0.56}, {0.80, 0.59, 0.44},
	{0.66, 0.46, 0.32}, {0.50, 0.33, 0.22}, {0.35, 0.23, 0.16},
}

var irisColors = []vec3{
	{0.30, 0.18, 0.08}, {0.18, 0.10, 0.05}, {0.30, 0.45, 0.65},
	{0.35, 0.45, 0.30}, {0.45, 0.35, 0.18}, {0.45, 0.50, 0.55},
}

var hairColors = []vec3{
	{0.06, 0.05, 0.05}, {0.16, 0.10, 0.06}, {0.30, 0.19, 0.10},
	{0.55, 0.40, 0.22}, {0.78, 0.64, 0.40}, {0.50, 0.22, 0.10}, {0.62, 0.60, 0.58},
}

// newIdentity draws a subject's face.
func newIdentity(r *rng) *identity {
	id := &identity{}
	id.a = r.uniform(0.37, 0.45)
	id.bOverA = r.uniform(1.22, 1.42)
	id.cOverA = r.uniform(0.9, 1.1)
	id.jaw = r.uniform(0.05, 0.35)

	t := r.uniform(0, float64(len(skinTones)-1))
	i := int(t)
	if i >= len(skinTones)-1 {
		i = len(skinTones) - 2
	}
	id.skin = mixv(skinTones[i], skinTones[i+1], t-float64(i)).mul(v3(r.uniform(0.97, 1.03), r.uniform(0.97, 1.03), r.uniform(0.95, 1.05)))
	id.skinDetail = r.uniform(0.03, 0.08)
	id.blush = r.uniform(0, 0.12)

	id.eyeU = r.uniform(0.36, 0.43)
	id.eyeV = r.uniform(-0.08, 0.02)
	id.eyeW = r.uniform(0.18, 0.23)
	id.eyeH = r.uniform(0.32, 0.48)
	id.eyeTilt = r.uniform(-0.12, 0.15)
	id.iris = irisColors[r.intn(len(irisColors))].scale(r.uniform(0.8, 1.15))
	id.irisR = r.uniform(0.36, 0.46)

	id.hairStyle = r.pick([]float64{0.1, 0.3, 0.25, 0.25, 0.1})
	id.hair = hairColors[r.intn(len(hairColors))].scale(r.uniform(0.85, 1.15))
	if id.skin.luma() < 0.45 && r.chance(0.8) {
		id.hair = hairColors[r.intn(2)]
	}
	id.browGap = r.uniform(0.14, 0.22)
	id.browThick = r.uniform(0.05, 0.09)
	id.browArch = r.uniform(0.02, 0.09)
	id.browTilt = r.uniform(-0.06, 0.08)
	id.browColor = mixv(id.hair, gray(0.05), r.uniform(0.2, 0.6))

	id.noseLen = r.uniform(0.26, 0.36)
	id.noseW = r.uniform(0.12, 0.18)
	id.noseOut = r.uniform(0.1, 0.17)

	id.mouthV = r.uniform(0.5, 0.6)
	id.mouthW = r.uniform(0.3, 0.42)
	id.lipUp = r.uniform(0.035, 0.06)
	id.lipLow = r.uniform(0.045, 0.08)
	id.lip = mixv(id.skin, v3(0.65, 0.25, 0.28).mul(id.skin.scale(1.4)), r.uniform(0.35, 0.7))

	id.hairline = r.uniform(-0.62, -0.45)
	id.hairVolume = r.uniform(0.04, 0.18)
	if r.chance(0.22) {
		id.beard = r.uniform(0.25, 1)
	}
	id.glasses = r.chance(0.15)
	id.frame = gray(r.uniform(0.03, 0.3)).mul(v3(1, r.uniform(0.8, 1), r.uniform(0.7, 1)))
	id.shirt = v3(r.float(), r.float(), r.float()).saturate(r.uniform(0.2, 0.9)).scale(r.uniform(0.3, 1))
	return id
}
