"""The authors' Silent-Face pipeline in PyTorch for the benchmark beside fasgo's (see
bench/minifasnet.sh): per image and member, the crop rule, cv2.resize to 80x80, BGR float
tensor, the network in eval mode, softmax; the members' softmaxes summed and the argmax
taken. Batch 1 runs one image at a time (as their demo); batch N stacks N crops into one
forward per member. The face box is fixed (the detector is not compared).

usage: minifasnet.py --data DIR --image image_T1.jpg --box 134,154,180,180 --batch 16
                     --threads 1 --seconds 3
       -> prints {"images_per_s": ..., "cpu_ms_per_image": ...} (process CPU time per image)
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
import minifasnet_ref as ref  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--image", default="image_T1.jpg")
    ap.add_argument("--box", default="134,154,180,180")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    members = [(ref.load_net(os.path.join(a.data, "2.7_80x80_MiniFASNetV2.pth"), "MiniFASNetV2"), 2.7),
               (ref.load_net(os.path.join(a.data, "4_0_0_80x80_MiniFASNetV1SE.pth"), "MiniFASNetV1SE"), 4.0)]
    img = cv2.imread(os.path.join(a.data, a.image))
    box = [int(v) for v in a.box.split(",")]
    H, W = img.shape[:2]

    def run(n):
        total = np.zeros((n, 3))
        for net, scale in members:
            xs = []
            for _ in range(n):
                l, t, r, b = ref.crop_rect(W, H, box, scale)
                crop = cv2.resize(img[t:b + 1, l:r + 1], (80, 80))
                xs.append(torch.from_numpy(crop.transpose(2, 0, 1).astype(np.float32)))
            with torch.no_grad():
                total += F.softmax(net(torch.stack(xs)), dim=1).numpy()
        return np.argmax(total, axis=1)

    run(a.batch)  # warm-up
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < a.seconds:
        run(a.batch)
        n += a.batch
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"images_per_s": n / wall, "cpu_ms_per_image": 1000 * cpu / n, "batch": a.batch,
                      "threads": a.threads}))


if __name__ == "__main__":
    main()
