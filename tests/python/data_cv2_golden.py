"""Golden values for go/imgproc, computed with OpenCV, numpy and torch (run by Go tests
with /usr/bin/python3). Images travel as raw bytes (HWC uint8) with their size on argv.

  resize_linear IN W H C DW DH OUT     cv2.resize(..., INTER_LINEAR)
  resize_nearest IN W H C DW DH OUT    cv2.resize(..., INTER_NEAREST)
  rgb2hsv IN W H OUT                   cv2.cvtColor(RGB2HSV)
  hsv2rgb IN W H OUT                   cv2.cvtColor(HSV2RGB)
  shift_hsv IN W H DH DS DV OUT        albumentations' shift_hsv_uint8, re-implemented
  interp IN W H DW DH OUT              torch F.interpolate(bilinear, align_corners=False), float32
  imdecode_color FILE OUT              cv2.imdecode(IMREAD_COLOR) -> RGB; prints "W H"
  imdecode_gray FILE OUT               cv2.imdecode(IMREAD_GRAYSCALE); prints "W H"
  imread_color FILE OUT                cv2.imread(IMREAD_COLOR) -> RGB (the reference pipeline's
                                       call); prints "W H"
  encode FMT IN W H C OUT [QUALITY [OPTS]]
                                       cv2.imencode of an RGB/gray raw image (FMT = .png or .jpg);
                                       OPTS, comma-separated: progressive, 444 (chroma quality
                                       one below luma, which makes OpenCV write 4:4:4), rst
  batch                                run the JSON list of argument lists on stdin in one
                                       process; prints the JSON list of their outputs
"""
import contextlib
import io
import json
import sys

import cv2
import numpy as np

from common import shift_hsv


def load(path, w, h, c):
    a = np.fromfile(path, dtype=np.uint8)
    return a.reshape((int(h), int(w), int(c))) if int(c) > 1 else a.reshape((int(h), int(w)))


def main():
    if sys.argv[1] == "batch":
        outs = []
        for args in json.load(sys.stdin):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                run(args[0], args[1:])
            outs.append(buf.getvalue())
        json.dump(outs, sys.stdout)
    else:
        run(sys.argv[1], sys.argv[2:])


def run(op, a):
    if op in ("resize_linear", "resize_nearest"):
        img = load(a[0], a[1], a[2], a[3])
        interp = cv2.INTER_LINEAR if op == "resize_linear" else cv2.INTER_NEAREST
        out = cv2.resize(img, (int(a[4]), int(a[5])), interpolation=interp)
        out.tofile(a[6])
    elif op in ("rgb2hsv", "hsv2rgb"):
        img = load(a[0], a[1], a[2], 3)
        code = cv2.COLOR_RGB2HSV if op == "rgb2hsv" else cv2.COLOR_HSV2RGB
        cv2.cvtColor(img, code).tofile(a[3])
    elif op == "shift_hsv":
        img = load(a[0], a[1], a[2], 3)
        shift_hsv(img, float(a[3]), float(a[4]), float(a[5])).tofile(a[6])
    elif op == "interp":
        import torch
        import torch.nn.functional as F
        img = load(a[0], a[1], a[2], 1)
        t = torch.from_numpy(img.copy()).view(1, 1, img.shape[0], img.shape[1]).type(torch.float32)
        out = F.interpolate(t, (int(a[4]), int(a[3])), mode="bilinear", align_corners=False)
        out.numpy().astype(np.float32).tofile(a[5])
    elif op == "imread_color":
        img = cv2.cvtColor(cv2.imread(a[0], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        img.tofile(a[1])
        print(img.shape[1], img.shape[0])
    elif op in ("imdecode_color", "imdecode_gray"):
        buf = np.fromfile(a[0], dtype=np.uint8)
        if op == "imdecode_color":
            img = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        else:
            img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        img.tofile(a[1])
        print(img.shape[1], img.shape[0])
    elif op == "encode":
        img = load(a[1], a[2], a[3], a[4])
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        params = [cv2.IMWRITE_JPEG_QUALITY, int(a[6])] if len(a) > 6 else []
        for opt in (a[7].split(",") if len(a) > 7 and a[7] else []):
            if opt == "progressive":
                params += [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
            elif opt == "444":  # grfmt_jpeg.cpp turns subsampling off when the qualities differ
                params += [cv2.IMWRITE_JPEG_LUMA_QUALITY, int(a[6]), cv2.IMWRITE_JPEG_CHROMA_QUALITY, int(a[6]) - 1]
            elif opt == "rst":
                params += [cv2.IMWRITE_JPEG_RST_INTERVAL, 3]
            else:
                sys.exit("unknown encode option " + opt)
        ok, enc = cv2.imencode(a[0], img, params)
        assert ok
        enc.tofile(a[5])
    else:
        sys.exit("unknown op " + op)


if __name__ == "__main__":
    main()
