package metrics

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ROC is a receiver operating characteristic in scikit-learn's roc_curve layout: point i is
// the (FPR, TPR) of the rule "attack if score >= Thresholds[i]". FPR is the fraction of live
// samples rejected (BPCER), TPR the fraction of attacks detected (1 - APCER). Thresholds
// decrease; Thresholds[0] is max(score)+1 (no sample predicted attack), as in
// scikit-learn < 1.3 which the reference code ran with.
type ROC struct {
	FPR, TPR, Thresholds []float64
}

// ErrOneClass reports a score set without both live and attack samples.
var ErrOneClass = errors.New("need at least one live and one attack sample")

// RocCurve computes the ROC of labels (0 live, 1 attack) and attack scores exactly as
// sklearn.metrics.roc_curve(labels, scores, pos_label=1, drop_intermediate=drop) does.
// dropIntermediate removes the inner points of straight runs; it changes no FPR/TPR
// interpolation but it does change threshold interpolation, so the EER uses it like the
// reference. Scores must be finite.
func RocCurve(labels []int, scores []float64, dropIntermediate bool) (ROC, error) {
	fps, tps, thr, err := binaryCurve(labels, scores)
	if err != nil {
		return ROC{}, err
	}
	if dropIntermediate && len(fps) > 2 {
		fps, tps, thr = dropStraight(fps, tps, thr)
	}
	r := ROC{
		FPR:        make([]float64, len(fps)+1),
		TPR:        make([]float64, len(fps)+1),
		Thresholds: append([]float64{thr[0] + 1}, thr...),
	}
	nNeg, nPos := fps[len(fps)-1], tps[len(tps)-1]
	for i := range fps {
		r.FPR[i+1] = fps[i] / nNeg
		r.TPR[i+1] = tps[i] / nPos
	}
	return r, nil
}

// binaryCurve is sklearn's _binary_clf_curve: cumulative false and true positive counts at
// each distinct score, scores taken in decreasing order.
func binaryCurve(labels []int, scores []float64) (fps, tps, thr []float64, err error) {
	if len(labels) != len(scores) {
		return nil, nil, nil, fmt.Errorf("%d labels but %d scores", len(labels), len(scores))
	}
	if len(scores) == 0 {
		return nil, nil, nil, errors.New("no samples")
	}
	idx := make([]int, len(scores))
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, nil, nil, fmt.Errorf("sample %d: score %v is not finite", i, s)
		}
		if labels[i] != LabelLive && labels[i] != LabelAttack {
			return nil, nil, nil, fmt.Errorf("sample %d: label %d is neither 0 (live) nor 1 (attack)", i, labels[i])
		}
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	var pos, neg float64
	for k, i := range idx {
		if labels[i] == LabelAttack {
			pos++
		} else {
			neg++
		}
		if k == len(idx)-1 || scores[idx[k+1]] != scores[i] {
			fps, tps, thr = append(fps, neg), append(tps, pos), append(thr, scores[i])
		}
	}
	if pos == 0 || neg == 0 {
		return nil, nil, nil, fmt.Errorf("%d live and %d attack samples: %w", int(neg), int(pos), ErrOneClass)
	}
	return fps, tps, thr, nil
}

// dropStraight keeps the end points and every point where either count changes its step,
// i.e. numpy's np.diff(x, 2) != 0 test of roc_curve(drop_intermediate=True).
func dropStraight(fps, tps, thr []float64) ([]float64, []float64, []float64) {
	var f, t, h []float64
	last := len(fps) - 1
	for i := range fps {
		keep := i == 0 || i == last ||
			(fps[i+1]-fps[i])-(fps[i]-fps[i-1]) != 0 ||
			(tps[i+1]-tps[i])-(tps[i]-tps[i-1]) != 0
		if keep {
			f, t, h = append(f, fps[i]), append(t, tps[i]), append(h, thr[i])
		}
	}
	return f, t, h
}

// AUC is the area under the ROC by the trapezoidal rule (sklearn.metrics.auc).
func (r ROC) AUC() float64 {
	var a float64
	for i := 1; i < len(r.FPR); i++ {
		a += float64(r.FPR[i]-r.FPR[i-1]) * float64(r.TPR[i]+r.TPR[i-1]) / 2
	}
	return a
}

// EER returns the equal error rate and its threshold as the reference computes them:
//
//	eer = brentq(lambda x: 1. - x - interp1d(fpr, tpr)(x), 0., 1.)
//	thr = interp1d(fpr, thresholds)(eer)
//
// interp1d on float64 vectors delegates to numpy.interp and brentq is SciPy's C routine;
// both are reproduced operation for operation, so the results match bit for bit, including
// where the ROC is vertical and the threshold jumps.
func (r ROC) EER() (eer, threshold float64, err error) {
	if len(r.FPR) < 2 {
		return 0, 0, errors.New("ROC has fewer than two points")
	}
	f := func(x float64) float64 { return float64(1-x) - interp(x, r.FPR, r.TPR) }
	eer, err = brentq(f, 0, 1, brentXTol, brentRTol, brentMaxIter)
	if err != nil {
		return 0, 0, fmt.Errorf("EER: %w", err)
	}
	return eer, interp(eer, r.FPR, r.Thresholds), nil
}

// interp is numpy.interp(x, xp, fp) for one x and increasing (possibly repeated) xp: at a
// repeated xp value it returns the fp of the last repeat, outside the range the end values.
func interp(x float64, xp, fp []float64) float64 {
	n := len(xp)
	if math.IsNaN(x) {
		return x
	}
	if x < xp[0] {
		return fp[0]
	}
	if x > xp[n-1] {
		return fp[n-1]
	}
	j := sort.Search(n, func(i int) bool { return xp[i] > x }) - 1
	if j == n-1 || xp[j] == x {
		return fp[j]
	}
	slope := float64(fp[j+1]-fp[j]) / float64(xp[j+1]-xp[j])
	y := float64(slope*float64(x-xp[j])) + fp[j]
	if math.IsNaN(y) { // numpy retries from the right end, then falls back to a flat segment
		y = float64(slope*float64(x-xp[j+1])) + fp[j+1]
		if math.IsNaN(y) && fp[j] == fp[j+1] {
			y = fp[j]
		}
	}
	return y
}
