#!/usr/bin/python3
"""Golden values for go/metrics, computed the way the reference (TFace) code does.

Usage:
  metrics_golden.py cases IN.json OUT.json
      IN: [{"labels": [...], "scores": [...], "thresholds": [...]}, ...]
      OUT: per case the ROC (drop_intermediate True and False), AUC, EER and its threshold
      (brentq + interp1d as in TFace's cal_metrics), the rates at the EER threshold and at
      each extra threshold, and TPR@FPR for 1% and 0.1%.
  metrics_golden.py csv SCORES.csv [THRESHOLD_FROM.csv] [--frame-level] OUT.json
      Reads `video_id,label,score[,attack_type]` rows (header optional), averages the frames
      of each video (sum in file order / count) unless --frame-level, and writes the report
      numbers `fas metrics` prints.

Decision rule: attack when score >= threshold (the Go convention). The TFace rule
(score > threshold) is reported next to it as tface_* so tests can check both.
"""
import csv
import json
import sys

import numpy as np
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import auc, confusion_matrix, roc_curve

TARGETS = [0.01, 0.001]


def rates(y, s, thr, types=None):
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    pred = (s >= thr).astype(int)
    attack, live = y == 1, y == 0
    apcer = float(np.sum(attack & (pred == 0)) / np.sum(attack))
    bpcer = float(np.sum(live & (pred == 1)) / np.sum(live))
    out = {
        "threshold": float(thr),
        "apcer": apcer,
        "bpcer": bpcer,
        "hter": (apcer + bpcer) / 2,
        "accuracy": float(np.sum(pred == y) / len(y)),
        "tie": bool(np.any(s == thr)),
    }
    # TFace security/common/utils/metrics.py cal_metrics, verbatim logic (score > threshold).
    prediction = (s > thr).astype(int)
    res = confusion_matrix(y, prediction, labels=[0, 1])
    TP, FN = res[0, :]
    FP, TN = res[1, :]
    out["tface_apcer"] = float(FP / (TN + FP))
    out["tface_bpcer"] = float(FN / (FN + TP))
    out["tface_acer"] = (out["tface_apcer"] + out["tface_bpcer"]) / 2
    out["tface_accuracy"] = float((TP + TN) / len(y))
    if types is not None and any(t for t, l in zip(types, y) if l == 1):
        by = {}
        for name in sorted(set(t or "(untyped)" for t, l in zip(types, y) if l == 1)):
            m = np.array([(t or "(untyped)") == name and l == 1 for t, l in zip(types, y)])
            by[name] = float(np.sum(m & (pred == 0)) / np.sum(m))
        out["apcer_by_type"] = by
    return out


def tpr_at(y, s, target):
    fpr, tpr, thr = roc_curve(y, s, pos_label=1, drop_intermediate=False)
    ok = np.flatnonzero(fpr <= target)
    best = tpr[ok].max()
    i = ok[tpr[ok] == best][np.argmin(fpr[ok][tpr[ok] == best])]
    return {"target_fpr": target, "tpr": float(tpr[i]), "fpr": float(fpr[i]),
            "threshold": float(thr[i]), "coarse": bool(1.0 / np.sum(np.asarray(y) == 0) > target)}


def eer_threshold(y, s):
    fpr, tpr, thresholds = roc_curve(y, s, pos_label=1)
    eer = brentq(lambda x: 1. - x - interp1d(fpr, tpr)(x), 0., 1.)
    return float(eer), float(interp1d(fpr, thresholds)(eer))


def one_case(c):
    y, s = c["labels"], np.asarray(c["scores"], dtype=np.float64)
    fpr, tpr, thr = roc_curve(y, s, pos_label=1)
    ffpr, ftpr, fthr = roc_curve(y, s, pos_label=1, drop_intermediate=False)
    eer, t = eer_threshold(y, s)
    return {
        "fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thr.tolist(),
        "fpr_full": ffpr.tolist(), "tpr_full": ftpr.tolist(), "thresholds_full": fthr.tolist(),
        "auc": float(auc(fpr, tpr)), "eer": eer, "eer_threshold": t,
        "rates": [rates(y, s, x) for x in [t] + list(c.get("thresholds", []))],
        "tpr_at_fpr": [tpr_at(y, s, x) for x in TARGETS],
    }


def read_units(path, frame_level):
    videos, order = {}, []
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    first = rows[0]
    try:
        int(first[1])
    except ValueError:
        try:
            float(first[2])
        except ValueError:
            rows = rows[1:]  # header
    units = []
    for r in rows:
        vid, label, score = r[0].strip(), int(r[1]), float(r[2])
        typ = r[3].strip() if len(r) > 3 else ""
        if frame_level:
            units.append((label, score, typ))
            continue
        if vid not in videos:
            videos[vid] = [label, [], typ]
            order.append(vid)
        videos[vid][1].append(score)
    if frame_level:
        return units
    return [(videos[v][0], sum(videos[v][1]) / len(videos[v][1]), videos[v][2]) for v in order]


def csv_report(args):
    frame_level = "--frame-level" in args
    args = [a for a in args if a != "--frame-level"]
    units = read_units(args[0], frame_level)
    y = [u[0] for u in units]
    s = [u[1] for u in units]
    types = [u[2] for u in units]
    eer, t = eer_threshold(y, s)
    fpr, tpr, _ = roc_curve(y, s, pos_label=1)
    out = {"live": y.count(0), "attacks": y.count(1), "auc": float(auc(fpr, tpr)), "eer": eer,
           "eer_threshold": t, "paper": rates(y, s, t, types),
           "tpr_at_fpr": [tpr_at(y, s, x) for x in TARGETS], "scores": s}
    if len(args) > 2:
        src = read_units(args[1], frame_level)
        seer, st = eer_threshold([u[0] for u in src], [u[1] for u in src])
        out["realistic"] = rates(y, s, st, types)
        out["source_eer"] = seer
    with open(args[-1], "w") as f:
        json.dump(out, f)


def main():
    if sys.argv[1] == "cases":
        with open(sys.argv[2]) as f:
            cases = json.load(f)
        with open(sys.argv[3], "w") as f:
            json.dump([one_case(c) for c in cases], f)
    elif sys.argv[1] == "csv":
        csv_report(sys.argv[2:])
    else:
        sys.exit("unknown mode %r" % sys.argv[1])


if __name__ == "__main__":
    main()
