#!/usr/bin/python3
"""Independent check of a data set written by `fas synth` (python lmdb + OpenCV + PyYAML).

Usage: synth_check.py DIR
Prints one JSON object: counts, the mean pixel value of all images and of all depth maps
(as OpenCV decodes them), and a list of every problem found (empty when the data set is
consistent). Exit status 0 unless the script itself fails.
"""
import json
import os
import sys

import cv2
import numpy as np
import yaml

from common import imdecode, open_lmdb


def magic(b):
    if b[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if b[:3] == b"\xff\xd8\xff":
        return "jpg"
    return "?"


def depth_key(rules, key):
    for r in rules:
        if r["from"] in key:
            return key.replace(r["from"], r["to"], 1)
    return None


def main(root):
    errors = []
    err = errors.append
    manifest = json.load(open(os.path.join(root, "synth.json")))
    size = manifest["options"]["size"]
    with open_lmdb(os.path.join(root, "data.lmdb")).begin() as txn:
        db = {bytes(k).decode(): bytes(v) for k, v in txn.cursor()}

    configs = sorted(os.listdir(os.path.join(root, "configs")))
    rules = None
    for name in configs:
        cfg = yaml.safe_load(open(os.path.join(root, "configs", name)))
        ds = cfg["dataset"]
        if ds["root"] != ".." or not os.path.isdir(os.path.join(root, ds["lmdb"])):
            err(f"{name}: dataset root/lmdb do not lead to data.lmdb")
        if cfg["transform"]["image_size"] != size:
            err(f"{name}: image_size {cfg['transform']['image_size']} != {size}")
        # The held-out domain is tested whole: its train, val and test lists, in that order.
        target = sorted(set(e["name"] for e in ds["test"]))
        sources = [e["name"] for e in ds["train"]]
        if len(target) != 1 or target[0] in sources or len(sources) < 2 or len(ds["test"]) != 3:
            err(f"{name}: not leave-one-domain-out: train {sources} test {target}")
        if [e["name"] for e in ds["val"]] != sources:
            err(f"{name}: val domains differ from train domains")
        if name != f"lodo_{target[0]}.yaml":
            err(f"{name}: name does not match the test domain {target[0]}")
        for part in ("train", "val", "test"):
            splits = ("train", "val", "test") if part == "test" else (part,) * len(ds[part])
            for e, split in zip(ds[part], splits):
                for g in ("live", "attack"):
                    want = f"lists/{e['name']}_{split}_{g}.txt"
                    if e[g] != want or not os.path.isfile(os.path.join(root, e[g])):
                        err(f"{name}: dataset.{part} {e['name']} {g} = {e[g]}, want existing {want}")
        rules = ds["depth_rule"]

    out = {"images": 0, "depth_maps": 0, "live": 0, "attack": 0, "attacks": {}, "configs": len(configs)}
    used = set()
    subjects = {}  # (domain, subject) -> split
    img_sum, img_n, dep_sum, dep_n = 0.0, 0, 0.0, 0
    for lf in sorted(os.listdir(os.path.join(root, "lists"))):
        dom, split, group = lf[:-4].split("_")
        for ln, line in enumerate(open(os.path.join(root, "lists", lf)), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{lf}:{ln}"
            f = line.split()
            key, label = f[0], int(f[1])
            tags = [x for x in f[2:] if x.startswith("attack=")]
            nums = [float(x) for x in f[2:] if not x.startswith("attack=")]
            parts = key.split("/")
            if parts[0] != dom:
                err(f"{where}: key {key} not in domain {dom}")
            prev = subjects.setdefault((dom, parts[2].split("_")[0]), split)
            if prev != split:
                err(f"{where}: subject {parts[2]} in both {prev} and {split}")
            if len(nums) != 10 or not all(0 <= v <= size for v in nums):
                err(f"{where}: want 10 landmarks within the image, got {nums}")
            if key not in db:
                err(f"{where}: key {key} not in the LMDB")
                continue
            used.add(key)
            val = db[key]
            if magic(val) != key.rsplit(".", 1)[1]:
                err(f"{where}: {key} holds {magic(val)} bytes")
            img = imdecode(val, cv2.IMREAD_UNCHANGED)
            if img is None or img.shape != (size, size, 3):
                err(f"{where}: {key} does not decode to {size}x{size}x3")
                continue
            img_sum += float(img.astype(np.float64).sum())
            img_n += img.size
            out["images"] += 1
            dk = depth_key(rules, key)
            if label == 0:
                out["live"] += 1
                if group != "live" or parts[1] != "live" or tags:
                    err(f"{where}: live sample {key} in {group} list or tagged {tags}")
                if dk is None or dk not in db:
                    err(f"{where}: live sample {key} has no depth key {dk}")
                    continue
                used.add(dk)
                d = imdecode(db[dk], cv2.IMREAD_UNCHANGED)
                if magic(db[dk]) != dk.rsplit(".", 1)[1]:
                    err(f"{where}: depth {dk} holds {magic(db[dk])} bytes")
                if d is None or d.shape != (size, size):
                    err(f"{where}: depth {dk} does not decode to {size}x{size} grey")
                    continue
                if d.max() < 128 or d[0, 0] > 8 or d[0, -1] > 8:
                    err(f"{where}: depth {dk} is not a face (max {d.max()}, corners {d[0, 0]} {d[0, -1]})")
                dep_sum += float(d.astype(np.float64).sum())
                dep_n += d.size
                out["depth_maps"] += 1
            elif label == 1:
                out["attack"] += 1
                if group != "attack" or tags != ["attack=" + parts[1]]:
                    err(f"{where}: attack {key} in {group} list with tags {tags}")
                out["attacks"][parts[1]] = out["attacks"].get(parts[1], 0) + 1
                if dk in db:
                    err(f"{where}: attack {key} has a depth key {dk}")
            else:
                err(f"{where}: label {label}")
    orphans = sorted(set(db) - used)
    if orphans:
        err(f"{len(orphans)} LMDB keys in no list, e.g. {orphans[:3]}")
    out["keys"] = len(db)
    out["image_mean"] = img_sum / max(img_n, 1)
    out["depth_mean"] = dep_sum / max(dep_n, 1)
    out["errors"] = errors[:50]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
