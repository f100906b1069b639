package metrics

import (
	"fmt"
	"sort"
)

// UntypedAttack names, in per-type APCER, the attacks without a type when others have one.
const UntypedAttack = "(untyped)"

// Rates are the error rates at one threshold. A sample is predicted attack when its score is
// >= Threshold, live otherwise.
type Rates struct {
	Threshold float64 `json:"threshold"`
	// APCER: attacks classified live / attacks.
	APCER float64 `json:"apcer"`
	// BPCER: live samples classified attack / live samples.
	BPCER float64 `json:"bpcer"`
	// ACER = HTER = (APCER + BPCER) / 2; both names are kept because papers use both.
	ACER     float64 `json:"acer"`
	HTER     float64 `json:"hter"`
	Accuracy float64 `json:"accuracy"`
	// Counts behind the rates.
	AttacksAccepted int `json:"attacks_accepted"`
	LiveRejected    int `json:"live_rejected"`
	// APCERByType is the APCER of each attack type; nil when no attack carries a type.
	APCERByType map[string]float64 `json:"apcer_by_type,omitempty"`
}

// At computes the rates of vs at threshold thr (attack when score >= thr).
func At(vs []VideoScore, thr float64) (Rates, error) {
	labels, scores := split(vs)
	if _, _, _, err := binaryCurve(labels, scores); err != nil {
		return Rates{}, err
	}
	var nLive, nAttack int
	r := Rates{Threshold: thr}
	type typeCount struct{ n, accepted int }
	types := map[string]*typeCount{}
	typed := false
	for _, v := range vs {
		attack := v.Score >= thr
		if v.Label == LabelLive {
			nLive++
			if attack {
				r.LiveRejected++
			}
			continue
		}
		nAttack++
		typed = typed || v.AttackType != ""
		name := v.AttackType
		if name == "" {
			name = UntypedAttack
		}
		tc := types[name]
		if tc == nil {
			tc = &typeCount{}
			types[name] = tc
		}
		tc.n++
		if !attack {
			r.AttacksAccepted++
			tc.accepted++
		}
	}
	r.APCER = float64(r.AttacksAccepted) / float64(nAttack)
	r.BPCER = float64(r.LiveRejected) / float64(nLive)
	r.ACER = (r.APCER + r.BPCER) / 2
	r.HTER = r.ACER
	r.Accuracy = float64(nLive-r.LiveRejected+nAttack-r.AttacksAccepted) / float64(nLive+nAttack)
	if typed {
		r.APCERByType = map[string]float64{}
		for name, tc := range types {
			r.APCERByType[name] = float64(tc.accepted) / float64(tc.n)
		}
	}
	return r, nil
}

// TPRPoint is the attack detection rate at a bound on the live rejection rate.
type TPRPoint struct {
	// TargetFPR bounds the live rejection rate (BPCER), e.g. 0.01.
	TargetFPR float64 `json:"target_fpr"`
	// TPR is the largest attack detection rate (1 - APCER) over the ROC points
	// (thresholds at the scores, no interpolation) whose FPR <= TargetFPR.
	TPR float64 `json:"tpr"`
	// FPR and Threshold are those of the chosen point; of several points with that TPR, the
	// one with the smallest FPR.
	FPR       float64 `json:"fpr"`
	Threshold float64 `json:"threshold"`
	// Coarse is true when there are fewer than 1/TargetFPR live samples, so that the only
	// admissible FPR is 0 and the number says little about the target.
	Coarse bool `json:"coarse"`
}

// TPRAtFPR picks, on a full ROC (RocCurve with dropIntermediate false), the point with the
// largest TPR among those with FPR <= target. nLive is the number of live samples.
func TPRAtFPR(full ROC, target float64, nLive int) (TPRPoint, error) {
	if !(target >= 0 && target <= 1) {
		return TPRPoint{}, fmt.Errorf("target FPR %v outside [0, 1]", target)
	}
	// FPR and TPR never decrease along the curve: the largest TPR is at the last point with
	// FPR <= target; of the points with that TPR take the first (the fewest live rejected).
	i := sort.Search(len(full.FPR), func(i int) bool { return full.FPR[i] > target }) - 1
	for i > 0 && full.TPR[i-1] == full.TPR[i] {
		i--
	}
	return TPRPoint{
		TargetFPR: target,
		TPR:       full.TPR[i],
		FPR:       full.FPR[i],
		Threshold: full.Thresholds[i],
		Coarse:    1/float64(nLive) > target,
	}, nil
}
