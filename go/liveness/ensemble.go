package liveness

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/fasgo/fasgo/go/internal/export"
	"github.com/fasgo/fasgo/go/internal/imgproc"
	"github.com/fasgo/fasgo/go/internal/shim"
)

// An ensemble of argmax models (MiniFASNet, `fas import silentface`): every member cuts its
// own crop of the face (its crop scale) and scores it; the members' class probabilities are
// summed, the largest sum names the class, and the face is live when that is the real class
// (Silent-Face's rule). Liveness is the mean real probability, sum[real] / members.

// MemberScore is one ensemble member's part of a Result.
type MemberScore struct {
	Variant      string          // "MiniFASNetV2"
	Scale        float64         // its crop scale (0: the whole image)
	Crop         image.Rectangle // the region its input was cut from
	Probs        []float64       // its softmax over the classes (ModelInfo.Classes)
	ModelVersion string
}

// MemberInfo describes one ensemble member.
type MemberInfo struct {
	File, Variant, ModelVersion, Source string
	Scale                               float64
}

type member struct {
	model *shim.Model
	spec  export.Spec
	file  string
}

type ensemble struct {
	members []member
	size    int
	classes []string
	real    int
	xs      [][]float32 // the owner's per-member batch buffers
}

// isArgmax reports whether a single exported model decides by argmax (a one-member ensemble).
func isArgmax(s export.Spec) bool { return s.Decision == export.DecisionArgmax }

// openEnsemble loads an ensemble manifest (or directory), or one argmax model file.
func openEnsemble(path string, o options) (*ensemble, error) {
	files := []string{path}
	if export.IsEnsemble(path) {
		var err error
		if _, files, err = export.ReadManifest(path); err != nil {
			return nil, err
		}
	}
	e := &ensemble{}
	for i, f := range files {
		tf, spec, err := export.Read(f)
		if err != nil {
			e.close()
			return nil, fmt.Errorf("member %d: %w", i, err)
		}
		if err := e.check(f, spec); err != nil {
			e.close()
			return nil, err
		}
		m, err := shim.NewModel(shim.Config{Method: spec.Method, Size: spec.Size, Device: o.device, Threads: o.threads,
			Settings: spec.Settings})
		if err == nil {
			if err = m.Import(tf.Tensors); err != nil {
				m.Close()
			}
		}
		if err != nil {
			e.close()
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if c := m.Info().Channels; c != 3 {
			m.Close()
			e.close()
			return nil, fmt.Errorf("%s: a %s network takes %d input planes, the %s input has 3", f, spec.Method, c, spec.Input)
		}
		e.members = append(e.members, member{model: m, spec: spec, file: f})
	}
	return e, nil
}

// check accepts a member that fits the ones before it.
func (e *ensemble) check(file string, s export.Spec) error {
	if !isArgmax(s) || s.Input != export.InputBGR255 || (s.Crop != export.CropScale && s.Crop != export.CropNone) {
		return fmt.Errorf("%s: an ensemble member must be an argmax model with input %s and a scale crop (have decision %q, input %s, crop %s)",
			file, export.InputBGR255, s.Decision, s.Input, s.Crop)
	}
	if len(e.members) == 0 {
		e.size, e.classes, e.real = s.Size, s.ClassNames, s.RealClass
		return nil
	}
	if s.Size != e.size || strings.Join(s.ClassNames, ",") != strings.Join(e.classes, ",") || s.RealClass != e.real {
		return fmt.Errorf("%s: input %d, classes %v (real %d) differ from the first member's %d, %v (real %d)",
			file, s.Size, s.ClassNames, s.RealClass, e.size, e.classes, e.real)
	}
	return nil
}

func (e *ensemble) close() {
	for _, m := range e.members {
		m.model.Close()
	}
}

// per is the input of one face: every member's 3×S×S planes, member after member.
func (e *ensemble) per() int { return len(e.members) * 3 * e.size * e.size }

// version digests the members' model versions, in order.
func (e *ensemble) version() string {
	if len(e.members) == 1 {
		return e.members[0].spec.ModelVersion
	}
	h := sha256.New()
	for _, m := range e.members {
		h.Write([]byte(m.spec.ModelVersion + "\n"))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

func (e *ensemble) info() []MemberInfo {
	out := make([]MemberInfo, len(e.members))
	for i, m := range e.members {
		v, _ := m.spec.Settings.Get("variant")
		out[i] = MemberInfo{File: m.file, Variant: v, ModelVersion: m.spec.ModelVersion, Source: m.spec.Source, Scale: m.spec.Scale}
	}
	return out
}

// prepare writes every member's input for face into x and returns the member parts of the
// result (crops; probabilities come later).
func (e *ensemble) prepare(w *prepWork, face image.Rectangle, x []float32) ([]MemberScore, error) {
	plane := e.size * e.size
	out := make([]MemberScore, len(e.members))
	for k, m := range e.members {
		crop := image.Rect(0, 0, w.rgb.W, w.rgb.H)
		if m.spec.Crop == export.CropScale {
			var err error
			if crop, err = ScaleCrop(face, w.rgb.W, w.rgb.H, m.spec.Scale); err != nil {
				return nil, err
			}
		}
		src := &w.rgb
		if crop != image.Rect(0, 0, w.rgb.W, w.rgb.H) {
			if err := imgproc.Crop(&w.rgb, crop.Min.X, crop.Min.Y, crop.Max.X, crop.Max.Y, &w.crop); err != nil {
				return nil, fmt.Errorf("liveness: %w", err)
			}
			src = &w.crop
		}
		w.rs.Linear(src, e.size, e.size, &w.rgbS)
		bgrPlanes(&w.rgbS, x[k*3*plane:(k+1)*3*plane])
		v, _ := m.spec.Settings.Get("variant")
		out[k] = MemberScore{Variant: v, Scale: m.spec.Scale, Crop: crop, ModelVersion: m.spec.ModelVersion}
	}
	return out, nil
}

// bgrPlanes writes an RGB image as the planes B, G, R of its raw 0..255 values.
func bgrPlanes(m *imgproc.Image, out []float32) {
	n := m.W * m.H
	for i := 0; i < n; i++ {
		p := m.Pix[3*i : 3*i+3]
		out[i], out[n+i], out[2*n+i] = float32(p[2]), float32(p[1]), float32(p[0])
	}
}

// ScaleCrop is Silent-Face's crop of a face box for a crop scale (the spec's _get_new_box):
// the box scaled around its centre, the scale reduced so that the crop fits the w×h image,
// the window shifted inside at the border, corners truncated; the result's Max is exclusive.
func ScaleCrop(box image.Rectangle, w, h int, scale float64) (image.Rectangle, error) {
	if box.Dx() <= 0 || box.Dy() <= 0 || w < 2 || h < 2 {
		return image.Rectangle{}, fmt.Errorf("liveness: no scale crop of box %v in a %dx%d image", box, w, h)
	}
	bx, by, bw, bh := float64(box.Min.X), float64(box.Min.Y), float64(box.Dx()), float64(box.Dy())
	W, H := float64(w), float64(h)
	s := math.Min((H-1)/bh, math.Min((W-1)/bw, scale))
	nw, nh := bw*s, bh*s
	cx, cy := bw/2+bx, bh/2+by
	l, t, r, b := cx-nw/2, cy-nh/2, cx+nw/2, cy+nh/2
	if l < 0 {
		r -= l
		l = 0
	}
	if t < 0 {
		b -= t
		t = 0
	}
	if r > W-1 {
		l -= r - W + 1
		r = W - 1
	}
	if b > H-1 {
		t -= b - H + 1
		b = H - 1
	}
	c := image.Rect(int(l), int(t), int(r)+1, int(b)+1) // int(): truncation toward zero, as the C cast
	if c.Min.X < 0 || c.Min.Y < 0 || c.Max.X > w || c.Max.Y > h || c.Empty() {
		return image.Rectangle{}, fmt.Errorf("liveness: scale crop %v of box %v leaves the %dx%d image", c, box, w, h)
	}
	return c, nil
}

// run scores n prepared faces (x: n × per) through every member: probs[i][k] is member k's
// softmax for face i.
func (e *ensemble) run(x []float32, n int, invariant bool) ([][][]float64, error) {
	per, one := e.per(), 3*e.size*e.size
	if e.xs == nil {
		e.xs = make([][]float32, len(e.members))
	}
	probs := make([][][]float64, n)
	for i := range probs {
		probs[i] = make([][]float64, len(e.members))
	}
	for k, m := range e.members {
		if cap(e.xs[k]) < n*one {
			e.xs[k] = make([]float32, n*one)
		}
		xk := e.xs[k][:n*one]
		for i := 0; i < n; i++ {
			copy(xk[i*one:(i+1)*one], x[i*per+k*one:i*per+(k+1)*one])
		}
		out, err := m.model.ForwardWith(xk, n, e.size, shim.ForwardOptions{BatchInvariant: invariant}, "probs")
		if err != nil {
			return nil, fmt.Errorf("member %d (%s): %w", k, m.file, err)
		}
		p, err := out[0].Float32()
		if err != nil || len(p) != n*len(e.classes) {
			return nil, fmt.Errorf("member %d (%s): probs %v, want %d×%d: %v", k, m.file, out[0].Shape, n, len(e.classes), err)
		}
		c := len(e.classes)
		for i := 0; i < n; i++ {
			probs[i][k] = make([]float64, c)
			for j := 0; j < c; j++ {
				probs[i][k][j] = float64(p[i*c+j])
			}
		}
	}
	return probs, nil
}

// decide fills the scores and the decision of res from the members' probabilities: the sum,
// its argmax (first on ties), liveness = sum[real]/members; by the rule unless a threshold
// was given (attack when 1 - liveness >= it).
func (e *ensemble) decide(res *Result, probs [][]float64, thr float64, thrSource string) {
	sum := make([]float64, len(e.classes))
	for k, p := range probs {
		res.Members[k].Probs = p
		for j, v := range p {
			sum[j] += v
		}
	}
	label := 0
	for j, v := range sum {
		if v > sum[label] {
			label = j
		}
	}
	res.Label, res.Class = label, e.classes[label]
	res.Liveness = sum[e.real] / float64(len(probs))
	res.AttackScore = 1 - res.Liveness
	switch {
	case thrSource == ThresholdRule && label == e.real:
		res.Decision = Live
	case thrSource == ThresholdRule:
		res.Decision = Attack
	case res.AttackScore >= thr:
		res.Decision = Attack
	default:
		res.Decision = Live
	}
}
