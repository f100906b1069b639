"""Reference faces from OpenCV (an implementation independent of the dlib detector under
test): the Haar cascade haarcascade_frontalface_alt2 (Debian opencv-data) on the equalised
gray image, and haarcascade_eye inside the upper half of each face for the eye centres.

usage: face_ref.py IMAGE...   (cv2.imread: a JPEG's EXIF orientation is applied)
prints JSON: {"IMAGE": {"size": [w, h], "faces": [{"box": [x0, y0, x1, y1], "eyes": [[x, y], ...]}]}}
(boxes in pixel edges, x1 exclusive; eyes sorted left to right)
"""
import json
import os
import sys

import cv2

CASCADES = "/usr/share/opencv4/haarcascades"


def cascade(name):
    path = os.path.join(CASCADES, name)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run `make deps` (package opencv-data)")
    c = cv2.CascadeClassifier(path)
    if c.empty():
        sys.exit(f"{path}: not a cascade")
    return c


def main():
    faces_c = cascade("haarcascade_frontalface_alt2.xml")
    eyes_c = cascade("haarcascade_eye.xml")
    out = {}
    for path in sys.argv[1:]:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            sys.exit(f"{path}: cv2 cannot read it")
        gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
        faces = []
        for x, y, w, h in faces_c.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(30, 30)):
            x, y, w, h = int(x), int(y), int(w), int(h)
            roi = gray[y : y + h // 2 + h // 8, x : x + w]
            eyes = [
                [x + ex + ew / 2, y + ey + eh / 2]
                for ex, ey, ew, eh in eyes_c.detectMultiScale(roi, 1.1, 3, minSize=(w // 8, w // 8))
            ]
            faces.append({"box": [x, y, x + w, y + h], "eyes": sorted(eyes)})
        out[path] = {"size": [img.shape[1], img.shape[0]], "faces": faces}
    json.dump(out, sys.stdout)


main()
