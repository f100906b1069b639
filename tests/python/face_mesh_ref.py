"""The triangulation of prep.ApproxDepth (go/internal/prep/depth.go, faceMesh): scipy's
Delaunay triangulation of the mean face layout read from stdin (JSON: {"layout": [x0, y0,
...], "flip": [mirror of each point]}) together with its mirror image, each triangle's
corners sorted, the list sorted. Prints it as JSON. Test helper (go/internal/prep) and the
generator of faceMesh."""
import json
import sys

import numpy as np
from scipy.spatial import Delaunay

req = json.load(sys.stdin)
pts = np.array(req["layout"], dtype=np.float64).reshape(-1, 2)
flip = np.array(req["flip"])
tris = {tuple(sorted(int(i) for i in t)) for t in Delaunay(pts).simplices}
tris |= {tuple(sorted(int(i) for i in flip[list(t)])) for t in tris}
json.dump(sorted(list(t) for t in tris), sys.stdout)
