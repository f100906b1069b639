#!/usr/bin/python3
"""The OpenCV side of the face-detector comparison in docs/readme/45-face.md: OpenCV 4.6's
cascades (Debian opencv-data) on the test photos, one thread, the best of N runs per image.
The dlib side is `go test -run '^$' -bench FaceFind ./go/internal/shim`.

usage: /usr/bin/python3 scripts/bench_face_opencv.py [DIR (default build/testdata/faces)] [N]
"""
import os
import sys
import time

import cv2

DIR = sys.argv[1] if len(sys.argv) > 1 else "build/testdata/faces"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 10
PHOTOS = ["grace_hopper_512x512.jpg", "astronaut.png", "640px-IceBlockNearJoekullsarlon.jpg", "coffee.png"]
CASCADES = [
    "haarcascades/haarcascade_frontalface_default.xml",
    "haarcascades/haarcascade_frontalface_alt2.xml",
    "lbpcascades/lbpcascade_frontalface_improved.xml",
]

cv2.setNumThreads(1)
for name in CASCADES:
    c = cv2.CascadeClassifier(os.path.join("/usr/share/opencv4", name))
    for photo in PHOTOS:
        img = cv2.imread(os.path.join(DIR, photo))
        gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
        for min_size in (30, 80):
            best = float("inf")
            for _ in range(N):
                t = time.perf_counter()
                faces = c.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(min_size, min_size))
                best = min(best, time.perf_counter() - t)
            boxes = [[int(x), int(y), int(x + w), int(y + h)] for x, y, w, h in faces]
            print(f"{os.path.basename(name):40s} {photo:38s} min {min_size:3d} px  {best * 1e3:6.1f} ms  {boxes}")
