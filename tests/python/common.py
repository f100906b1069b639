"""Helpers shared by the golden-value scripts of tests/python (run by the Go tests through
go/internal/pyref with /usr/bin/python3; each script's own directory is on sys.path, so
`from common import ...` works from any of them). Imports are lazy, so a script only needs
the modules of the helpers it uses.
"""


def open_lmdb(path, subdir=True):
    """A read-only python-lmdb environment without the lock table: the Go side may hold the
    database open, and a reader must not need write access to its directory."""
    import lmdb

    return lmdb.open(path, readonly=True, lock=False, subdir=subdir)


def imdecode(buf, flags):
    """cv2.imdecode of bytes (None when they do not decode), BGR for colour as OpenCV gives it."""
    import cv2
    import numpy as np

    return cv2.imdecode(np.frombuffer(buf, np.uint8), flags)


def shift_hsv(img, dh, ds, dv):
    """albumentations' shift_hsv_uint8 on an RGB uint8 image (H in [0,180))."""
    import cv2
    import numpy as np

    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    h, s, v = cv2.split(hsv)
    lut = np.arange(0, 256, dtype=np.int16)
    if dh != 0:
        h = cv2.LUT(h, np.mod(lut + dh, 180).astype(np.uint8))
    if ds != 0:
        s = cv2.LUT(s, np.clip(lut + ds, 0, 255).astype(np.uint8))
    if dv != 0:
        v = cv2.LUT(v, np.clip(lut + dv, 0, 255).astype(np.uint8))
    return cv2.cvtColor(cv2.merge((h, s, v)), cv2.COLOR_HSV2RGB)
