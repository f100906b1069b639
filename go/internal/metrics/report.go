// Package metrics computes face anti-spoofing metrics on video-level (or frame-level) attack
// scores: ROC, AUC, EER and its threshold, APCER, BPCER, ACER = HTER, accuracy, TPR at fixed
// FPR, and APCER per attack type, under two threshold protocols.
//
// Conventions: label 0 = live (bona fide), 1 = attack; the score is the attack score (the
// class-1 softmax probability); the positive class of the ROC is attack; a sample is
// predicted attack when score >= threshold. The ROC, AUC, EER and EER threshold reproduce
// the reference (TFace) code, scikit-learn's roc_curve with SciPy's brentq and interp1d,
// to the last bit.
package metrics

import (
	"fmt"
)

// Convention is stored in every report so that a metrics.json explains itself.
const Convention = "label 0 = live, 1 = attack; score = attack probability; predicted attack when score >= threshold; " +
	"APCER = attacks predicted live / attacks; BPCER = live predicted attack / live; ACER = HTER = (APCER+BPCER)/2; " +
	"ROC positive class = attack (TPR = 1-APCER, FPR = BPCER)"

// targetFPRs are the default FPR bounds of the reported TPR@FPR values (1% and 0.1%).
var targetFPRs = [...]float64{0.01, 0.001}

// TargetFPRs returns the default FPR bounds of TPR@FPR (those of Evaluate, and of
// EvaluateWith when Options.TPRAtFPR is nil).
func TargetFPRs() []float64 { return append([]float64(nil), targetFPRs[:]...) }

// Protocol names.
const (
	ProtocolPaper     = "paper"
	ProtocolRealistic = "realistic"
)

// Protocols returns the names of the threshold protocols in report order.
func Protocols() []string { return []string{ProtocolPaper, ProtocolRealistic} }

// Options choose the parts of a report that are a matter of choice (config section eval).
type Options struct {
	// TPRAtFPR are the FPR targets of the TPR@FPR points, each in [0, 1], in report order;
	// nil means TargetFPRs() (1 % and 0.1 %), an empty non-nil list none. A selection
	// criterion tpr@fpr=T reads the point of target T (see SelectTarget).
	TPRAtFPR []float64
	// Protocols are the threshold protocols the tables show (Report.Protocols), in their
	// order; nil means both. Both are always computed and kept in the report.
	Protocols []string
}

func (o Options) resolve() (targets []float64, protocols []string, err error) {
	targets = o.TPRAtFPR
	if targets == nil {
		targets = TargetFPRs()
	}
	for i, t := range targets {
		if !(t >= 0 && t <= 1) {
			return nil, nil, fmt.Errorf("TPR@FPR target %v outside [0, 1]", t)
		}
		for _, u := range targets[:i] {
			if u == t {
				return nil, nil, fmt.Errorf("TPR@FPR target %v given twice", t)
			}
		}
	}
	protocols = o.Protocols
	if protocols == nil {
		protocols = Protocols()
	}
	for i, p := range protocols {
		if p != ProtocolPaper && p != ProtocolRealistic {
			return nil, nil, fmt.Errorf("protocol %q is neither %q nor %q", p, ProtocolPaper, ProtocolRealistic)
		}
		for _, q := range protocols[:i] {
			if q == p {
				return nil, nil, fmt.Errorf("protocol %q given twice", p)
			}
		}
	}
	return append([]float64{}, targets...), append([]string{}, protocols...), nil
}

// Threshold is a decision threshold fixed on some score set, with where it came from.
type Threshold struct {
	Value   float64 `json:"threshold"`
	From    string  `json:"from"` // e.g. "val.csv" or "source-domain validation lists"
	EER     float64 `json:"eer"`  // EER of that score set
	Live    int     `json:"live"`
	Attacks int     `json:"attacks"`
}

// EERThreshold fixes a threshold at the EER of scores, as the realistic protocol does on
// held-out source-domain data. from says where the scores came from.
func EERThreshold(scores []VideoScore, from string) (*Threshold, error) {
	labels, s := split(scores)
	roc, err := RocCurve(labels, s, true)
	if err != nil {
		return nil, fmt.Errorf("threshold from %s: %w", from, err)
	}
	eer, thr, err := roc.EER()
	if err != nil {
		return nil, fmt.Errorf("threshold from %s: %w", from, err)
	}
	live, attacks := count(scores)
	return &Threshold{Value: thr, From: from, EER: eer, Live: live, Attacks: attacks}, nil
}

// Protocol is one threshold protocol's rates and where its threshold came from.
type Protocol struct {
	Name          string `json:"name"`
	ThresholdFrom string `json:"threshold_from"`
	Rates
}

// Report holds every metric of one score set.
type Report struct {
	Level      string `json:"level"` // "video" or "frame"
	Convention string `json:"convention"`
	// Protocols are the threshold protocols the Markdown tables show (Options.Protocols);
	// paper and realistic below are both computed whatever it says. Nil (a report written
	// before this field existed) shows both.
	Protocols    []string   `json:"protocols"`
	Live         int        `json:"live"`
	Attacks      int        `json:"attacks"`
	AUC          float64    `json:"auc"`
	EER          float64    `json:"eer"`
	EERThreshold float64    `json:"eer_threshold"`
	TPRAtFPR     []TPRPoint `json:"tpr_at_fpr"`
	// Paper: the threshold is the EER threshold of this score set itself (what published
	// tables report; not available to a deployed system).
	Paper Protocol `json:"paper"`
	// Realistic: the threshold was fixed on held-out source-domain data only. Nil when no
	// such data was given.
	Realistic *Protocol `json:"realistic"`
	// RealisticSource describes the data the realistic threshold came from.
	RealisticSource *Threshold `json:"realistic_source,omitempty"`
}

// Evaluate computes the report of scores, whose units are videos or frames as level ("video"
// or "frame") says, with TPR@FPR at TargetFPRs() and both protocols shown. realistic, when
// not nil, is the threshold of the realistic protocol (see EERThreshold).
func Evaluate(scores []VideoScore, level string, realistic *Threshold) (*Report, error) {
	return EvaluateWith(scores, level, realistic, Options{})
}

// EvaluateWith is Evaluate with the TPR@FPR targets and the shown protocols of o.
func EvaluateWith(scores []VideoScore, level string, realistic *Threshold, o Options) (*Report, error) {
	if level != "video" && level != "frame" {
		return nil, fmt.Errorf("level %q is neither \"video\" nor \"frame\"", level)
	}
	targets, protocols, err := o.resolve()
	if err != nil {
		return nil, err
	}
	labels, s := split(scores)
	roc, err := RocCurve(labels, s, true)
	if err != nil {
		return nil, err
	}
	full, err := RocCurve(labels, s, false)
	if err != nil {
		return nil, err
	}
	r := &Report{Level: level, Convention: Convention, Protocols: protocols, AUC: roc.AUC(), TPRAtFPR: []TPRPoint{}}
	r.Live, r.Attacks = count(scores)
	if r.EER, r.EERThreshold, err = roc.EER(); err != nil {
		return nil, err
	}
	for _, t := range targets {
		p, err := TPRAtFPR(full, t, r.Live)
		if err != nil {
			return nil, err
		}
		r.TPRAtFPR = append(r.TPRAtFPR, p)
	}
	paper, err := At(scores, r.EERThreshold)
	if err != nil {
		return nil, err
	}
	r.Paper = Protocol{Name: ProtocolPaper, ThresholdFrom: "EER of this score set", Rates: paper}
	if realistic != nil {
		rates, err := At(scores, realistic.Value)
		if err != nil {
			return nil, err
		}
		r.Realistic = &Protocol{Name: ProtocolRealistic, ThresholdFrom: "EER of " + realistic.From, Rates: rates}
		r.RealisticSource = realistic
	}
	return r, nil
}

// Shows reports whether the Markdown tables show protocol name (see Report.Protocols).
func (r *Report) Shows(name string) bool {
	if r.Protocols == nil {
		return name == ProtocolPaper || name == ProtocolRealistic
	}
	for _, p := range r.Protocols {
		if p == name {
			return true
		}
	}
	return false
}

// TPR returns the TPR@FPR point for target, or false when the report lacks it.
func (r *Report) TPR(target float64) (TPRPoint, bool) {
	for _, p := range r.TPRAtFPR {
		if p.TargetFPR == target {
			return p, true
		}
	}
	return TPRPoint{}, false
}

func count(vs []VideoScore) (live, attacks int) {
	for _, v := range vs {
		if v.Label == LabelLive {
			live++
		} else {
			attacks++
		}
	}
	return live, attacks
}
