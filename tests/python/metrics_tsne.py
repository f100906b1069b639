#!/usr/bin/python3
"""Golden t-SNE affinities for go/report: scikit-learn's joint probabilities P.

Usage: metrics_tsne.py IN.json OUT.json
  IN: {"x": [[...], ...], "perplexity": 30}
  OUT: {"p": n x n matrix (zero diagonal)} from sklearn.manifold._t_sne._joint_probabilities
  (perplexity-calibrated Gaussian conditionals by binary search, symmetrised, normalised).
"""
import json
import sys

import numpy as np
from scipy.spatial.distance import squareform
from sklearn.manifold import _t_sne
from sklearn.metrics import pairwise_distances


def main():
    with open(sys.argv[1]) as f:
        inp = json.load(f)
    x = np.asarray(inp["x"], dtype=np.float64)
    d = pairwise_distances(x, metric="euclidean", squared=True)
    p = squareform(_t_sne._joint_probabilities(d, inp["perplexity"], 0))
    with open(sys.argv[2], "w") as f:
        json.dump({"p": p.tolist()}, f)


if __name__ == "__main__":
    main()
