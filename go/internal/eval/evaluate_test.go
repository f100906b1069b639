package eval

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/fasgo/fasgo/go/internal/config"
	"github.com/fasgo/fasgo/go/internal/metrics"
	"github.com/fasgo/fasgo/go/internal/report"
)

func TestOptionsFromConfig(t *testing.T) {
	c := config.Default()
	c.Seed = 77
	o := OptionsFromConfig(c)
	want := Options{Protocols: []string{"paper", "realistic"}, TPRAtFPR: []float64{0.01, 0.001}, Seed: 77}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("defaults: %+v, want %+v", o, want)
	}
	c.Eval = config.Eval{Protocols: []string{"realistic"}, VideoLevel: false, TPRAtFPR: []float64{0.05}}
	o = OptionsFromConfig(c)
	if !o.FrameLevel || !reflect.DeepEqual(o.Protocols, []string{"realistic"}) || !reflect.DeepEqual(o.TPRAtFPR, []float64{0.05}) {
		t.Errorf("eval section %+v mapped to %+v", c.Eval, o)
	}
	c.Eval.Protocols[0] = "paper"
	if o.Protocols[0] != "realistic" {
		t.Error("Options share the config's list")
	}
	// An empty target list stays empty (no TPR@FPR), not nil (the defaults).
	c.Eval.TPRAtFPR = nil
	if o := OptionsFromConfig(c); o.TPRAtFPR == nil || len(o.TPRAtFPR) != 0 {
		t.Errorf("tpr_at_fpr: [] mapped to %#v", o.TPRAtFPR)
	}
}

// frames are 3 frames per video, 20 live and 20 attack videos, with frame scores spread so
// that frame-level and video-level metrics differ.
func frames() []metrics.FrameScore {
	var fs []metrics.FrameScore
	for v := 0; v < 40; v++ {
		label := v % 2
		for f := 0; f < 3; f++ {
			s := 0.3 + 0.4*float64(label) + 0.25*float64(f-1) + 0.01*float64(v%7)
			fs = append(fs, metrics.FrameScore{Video: fmt.Sprintf("v%02d", v), Label: label, Score: s,
				Where: fmt.Sprintf("list.txt:%d", 3*v+f+1)})
		}
	}
	return fs
}

// TestEvaluateFollowsTheEvalSection: the level, the TPR@FPR targets and the shown protocols
// of the config reach the report that Validate and Run compute.
func TestEvaluateFollowsTheEvalSection(t *testing.T) {
	c := config.Default()
	thr := &metrics.Threshold{Value: 0.5, From: "val"}

	units, rep, err := OptionsFromConfig(c).evaluate(frames(), thr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Level != "video" || len(units) != 40 || len(rep.TPRAtFPR) != 2 || rep.Realistic == nil {
		t.Errorf("defaults: level %s, %d units, %d TPR points, realistic %v", rep.Level, len(units), len(rep.TPRAtFPR), rep.Realistic)
	}

	c.Eval = config.Eval{Protocols: []string{"paper"}, VideoLevel: false, TPRAtFPR: []float64{0.1, 0.25, 0.5}}
	units, rep, err = OptionsFromConfig(c).evaluate(frames(), thr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Level != "frame" || len(units) != 120 || rep.Live != 60 {
		t.Errorf("video_level false: level %s, %d units, %d live; want frames", rep.Level, len(units), rep.Live)
	}
	var targets []float64
	for _, p := range rep.TPRAtFPR {
		targets = append(targets, p.TargetFPR)
	}
	if !reflect.DeepEqual(targets, []float64{0.1, 0.25, 0.5}) {
		t.Errorf("TPR@FPR targets %v, want eval.tpr_at_fpr", targets)
	}
	if rep.Realistic == nil {
		t.Error("the realistic protocol is no longer computed")
	}
	md := report.Markdown(rep)
	if strings.Contains(md, "| realistic |") || !strings.Contains(md, "| paper |") || !strings.Contains(md, "| FPR ≤ 25 % |") {
		t.Errorf("Markdown does not follow eval.protocols [paper] and the targets:\n%s", md)
	}
}
