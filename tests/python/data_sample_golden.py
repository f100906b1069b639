"""Reference input pipeline (the TFace ANRL DG_Dataset steps) re-implemented with cv2,
numpy, torch and python-lmdb, for go/dataset's golden test (run with /usr/bin/python3).

  data_sample_golden.py LMDB_DIR < cases.json

Each case: {"key", "label", "depth_key", "landmarks" (10 numbers or null), "margin",
"size", "flip", "shift" ([h, s, v] or null), "out_image", "out_depth"}. Writes the 6xSxS
image and FxF depth as raw little-endian float32.
"""
import json
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from common import imdecode, open_lmdb, shift_hsv


def face_box(img, lm, margin):
    xs = [int(float(lm[2 * i])) for i in range(5)]
    ys = [int(float(lm[2 * i + 1])) for i in range(5)]
    x, y = min(xs), min(ys)
    w, h = max(xs) - x, max(ys) - y
    side = w if w > h else h
    m = int(side * margin / 2)
    x1, x2, y1, y2 = x - m, x + side + m, y - m, y + side + m
    max_h, max_w = img.shape[:2]
    return max(0, x1), min(max_w, x2), max(0, y1), min(max_h, y2)


def normalize(img):
    x = img.astype(np.float32)
    return (x - np.float32(127.5)) * np.float32(1 / 127.5)


def main():
    txn = open_lmdb(sys.argv[1]).begin()
    for c in json.load(sys.stdin):
        s = c["size"]
        img = imdecode(txn.get(c["key"].encode()), cv2.IMREAD_COLOR)
        depth = None
        if c["label"] == 0:
            depth = imdecode(txn.get(c["depth_key"].encode()), cv2.IMREAD_GRAYSCALE)
        if c["landmarks"] is not None:
            x1, x2, y1, y2 = face_box(img, c["landmarks"], c["margin"])
            img = img[y1:y2, x1:x2]
            if depth is not None:
                depth = depth[y1:y2, x1:x2]
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        rgb = cv2.resize(rgb, (s, s), interpolation=cv2.INTER_LINEAR)
        hsv = cv2.resize(hsv, (s, s), interpolation=cv2.INTER_LINEAR)
        if c["flip"]:
            rgb, hsv = np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(hsv[:, ::-1])
        if c["shift"] is not None:
            rgb = shift_hsv(rgb, *c["shift"])
        out = np.concatenate([normalize(rgb).transpose(2, 0, 1), normalize(hsv).transpose(2, 0, 1)])
        out.astype(np.float32).tofile(c["out_image"])
        f = s // 8
        if depth is None:
            d = np.zeros((f, f), np.float32)
        else:
            depth = cv2.resize(depth, (s, s), interpolation=cv2.INTER_NEAREST)
            if c["flip"]:
                depth = np.ascontiguousarray(depth[:, ::-1])
            t = torch.from_numpy(depth).view(1, 1, s, s).type(torch.float32)
            d = (F.interpolate(t, (f, f), mode="bilinear") / 255).view(f, f).numpy()
        d.astype(np.float32).tofile(c["out_depth"])


if __name__ == "__main__":
    main()
