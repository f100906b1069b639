#!/usr/bin/python3
"""Independent fit of the synthetic benchmark's linear probe (scikit-learn).

Reads JSON {"x": [[...], ...], "y": [0|1, ...], "l2": L, "test": [[...], ...]} on stdin;
standardises the features as the probe does (population std), fits
mean(log-loss) + L/2 |w|^2 with an unpenalised intercept (sklearn's C = 1 / (L n)), and
prints JSON {"prob": [P(y = 1) for each test row]}.
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

d = json.load(sys.stdin)
x, y, t = np.array(d["x"]), np.array(d["y"]), np.array(d["test"])
s = StandardScaler().fit(x)
m = LogisticRegression(C=1.0 / (d["l2"] * len(y)), solver="newton-cg", tol=1e-12, max_iter=1000).fit(s.transform(x), y)
print(json.dumps({"prob": m.predict_proba(s.transform(t))[:, 1].tolist()}))
