#!/usr/bin/env python3
"""The PyTorch side of `make bench` for the network: the ANRL meta step (the spec's training
step, docs/anrl.md, as tests/python/anrl_step_ref.py implements it, with torch.optim.Adam) or
the eval-mode forward, timed on random inputs. Run with /usr/bin/python3 (Debian
python3-torch, the libtorch the shim links).

  anrl_bench.py step    --size S --batch B [--domains K] [--width W] [--threads T] [--min-time SEC]
  anrl_bench.py forward --size S --batch N [--width W] [--threads T] [--min-time SEC]

One warm-up iteration, then iterations until --min-time seconds have passed (at least one).
Prints one JSON line: {"side": "pytorch", "mode", "iters", "seconds", "images", "images_per_s",
"torch", "threads"}. The step's batch has K domains of B live + B attack images (K*2B per step).
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from anrl_ref import ANRL  # noqa: E402
from anrl_step_ref import DEFAULTS, Step  # noqa: E402


def step_fn(a):
    k, n, s, f = a.domains, 2 * a.batch, a.size, a.size // 8
    model = ANRL(a.width, a.gate)
    model.train()
    g = torch.Generator().manual_seed(1)
    images = torch.randn(k, n, 6, s, s, generator=g)
    depth = torch.rand(k, n, f, f, generator=g)
    labels = torch.tensor([0] * a.batch + [1] * a.batch).repeat(k, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    order = list(range(k))

    def run():
        total, _, _ = Step(model, images, depth, labels, dict(DEFAULTS)).run(order)
        opt.zero_grad()
        total.backward()
        opt.step()

    return run, k * n


def forward_fn(a):
    model = ANRL(a.width, a.gate)
    model.eval()
    x = torch.randn(a.batch, 6, a.size, a.size, generator=torch.Generator().manual_seed(1))

    def run():
        with torch.no_grad():
            logits, _, _ = model(x)
            torch.softmax(logits, 1)

    return run, a.batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["step", "forward"])
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--domains", type=int, default=3)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--gate", default="1layer")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=3.0)
    a = ap.parse_args()
    if a.size % 8 or a.size < 32 or a.batch < 1 or a.domains < 2:
        sys.exit("anrl_bench.py: size must be a multiple of 8 >= 32, batch >= 1, domains >= 2")
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    run, per = (step_fn if a.mode == "step" else forward_fn)(a)
    run()  # warm-up: allocator, OpenMP pool
    iters, t0 = 0, time.perf_counter()
    while True:
        run()
        iters += 1
        dt = time.perf_counter() - t0
        if dt >= a.min_time:
            break
    print(json.dumps({"side": "pytorch", "mode": a.mode, "iters": iters, "seconds": dt,
                      "images": iters * per, "images_per_s": iters * per / dt,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
