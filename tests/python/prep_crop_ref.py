"""Independent crop of prepared frames, for go/internal/prep's tests. stdin: JSON
{"margin": M, "size": S, "frames": [{"video": PATH, "index": I, "landmarks": [10 floats]}]}.
Each frame is decoded with OpenCV's VideoCapture, cropped with the reference's get_face_box
rule (TFace: the landmarks' bounding square, coordinates truncated, grown by int(side*M/2)
per side, clipped) and resized to S×S with cv2.INTER_LINEAR. stdout: JSON list of
{"box": [x0, y0, x1, y1], "pixels": S*S*3 RGB values}."""
import json
import sys

import cv2
import numpy as np


def face_box(lm, margin, w, h):
    xs = [int(x) for x in lm[0::2]]
    ys = [int(y) for y in lm[1::2]]
    x0, y0 = min(xs), min(ys)
    side = max(max(xs) - x0, max(ys) - y0)
    m = int(side * margin / 2)
    return [max(0, x0 - m), max(0, y0 - m), min(w, x0 + side + m), min(h, y0 + side + m)]


def frame(path, index):
    cap = cv2.VideoCapture(path)
    for i in range(index + 1):
        ok, img = cap.read()
        if not ok:
            raise SystemExit("%s: no frame %d" % (path, i))
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


req = json.load(sys.stdin)
out = []
for f in req["frames"]:
    img = frame(f["video"], f["index"])
    b = face_box(f["landmarks"], req["margin"], img.shape[1], img.shape[0])
    crop = cv2.resize(img[b[1]:b[3], b[0]:b[2]], (req["size"], req["size"]), interpolation=cv2.INTER_LINEAR)
    out.append({"box": b, "pixels": np.asarray(crop, dtype=np.uint8).reshape(-1).tolist()})
json.dump(out, sys.stdout)
