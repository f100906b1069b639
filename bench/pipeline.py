#!/usr/bin/env python3
"""The Python side of `make bench` for the data pipeline: what a PyTorch user runs instead of
fasgo's loader. LMDB -> cv2.imdecode -> HSV + RGB -> cv2.resize -> random flip and HSV jitter
-> normalise, depth map -> nearest resize -> F.interpolate, batched by
torch.utils.data.DataLoader (the per-sample steps of tests/python/data_sample_golden.py, the
reference's DG_Dataset). Run with /usr/bin/python3.

  pipeline.py --lmdb DIR --keys FILE --size S --batch N [--workers W] [--min-time SEC]

FILE is JSON: a list of [image_key, depth_key or null, label]. Flip with p = 0.5, jitter with
p = 0.1 (hue +-20, saturation +-30, value +-20), as fasgo's DefaultTransform. One batch to warm up
(worker start-up), then batches until --min-time seconds. Prints one JSON line
{"side": "python", "batches", "images", "seconds", "images_per_s", "workers"}.
"""
import argparse
import json
import os
import random
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from common import imdecode, open_lmdb, shift_hsv  # noqa: E402


def normalize(img):
    return (img.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 127.5)


class Frames(Dataset):
    def __init__(self, path, keys, size):
        self.path, self.keys, self.size, self.txn = path, keys, size, None

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        if self.txn is None:  # one environment per worker process, opened after the fork
            self.txn = open_lmdb(self.path).begin()
        key, depth_key, label = self.keys[i]
        s, f = self.size, self.size // 8
        img = imdecode(self.txn.get(key.encode()), cv2.IMREAD_COLOR)
        hsv = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2HSV), (s, s), interpolation=cv2.INTER_LINEAR)
        rgb = cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (s, s), interpolation=cv2.INTER_LINEAR)
        flip = random.random() < 0.5
        if flip:
            rgb, hsv = np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(hsv[:, ::-1])
        if random.random() < 0.1:
            rgb = shift_hsv(rgb, random.uniform(-20, 20), random.uniform(-30, 30), random.uniform(-20, 20))
        x = np.concatenate([normalize(rgb).transpose(2, 0, 1), normalize(hsv).transpose(2, 0, 1)])
        if depth_key is None:
            d = torch.zeros(f, f)
        else:
            dep = imdecode(self.txn.get(depth_key.encode()), cv2.IMREAD_GRAYSCALE)
            dep = cv2.resize(dep, (s, s), interpolation=cv2.INTER_NEAREST)
            if flip:
                dep = np.ascontiguousarray(dep[:, ::-1])
            t = torch.from_numpy(dep).view(1, 1, s, s).float()
            d = (F.interpolate(t, (f, f), mode="bilinear") / 255).view(f, f)
        return torch.from_numpy(x), d, label


def one_thread(_):
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmdb", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=30)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--min-time", type=float, default=3.0)
    a = ap.parse_args()
    with open(a.keys) as fh:
        keys = json.load(fh)
    one_thread(None)
    ds = Frames(a.lmdb, keys, a.size)
    dl = DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=True, num_workers=a.workers,
                    worker_init_fn=one_thread, persistent_workers=a.workers > 0)
    it, batches, images = iter(dl), 0, 0

    def next_batch():
        nonlocal it
        try:
            return next(it)
        except StopIteration:
            it = iter(dl)
            return next(it)

    next_batch()  # warm-up: worker start-up
    t0 = time.perf_counter()
    while True:
        x, _, _ = next_batch()
        batches, images = batches + 1, images + x.shape[0]
        dt = time.perf_counter() - t0
        if dt >= a.min_time:
            break
    print(json.dumps({"side": "python", "batches": batches, "images": images, "seconds": dt,
                      "images_per_s": images / dt, "workers": a.workers}))


if __name__ == "__main__":
    main()
