#!/usr/bin/env python3
"""Independent PyTorch implementation of the ANRL network (as docs/anrl.md describes it), used by the
Go tests as the golden reference for fasgo's libtorch network.

It reads and writes safetensors with a plain-Python codec (struct + json + numpy), builds the
network as ordinary nn.Modules with the reference's state-dict names, and load_state_dict's
weights with strict=True, so a name, order-independent shape or dtype difference fails here.

Commands (all tensors in safetensors files):
  forward --weights W --input X --out Y [--width W]
      runs the model on the tensor "input" (N x 6 x S x S) in eval mode and, from the same
      weights, in train mode; writes "<mode>.logits", "<mode>.depth", "<mode>.features"
      and the state after the training-mode forward as "state.<name>".
  init --width W --gate G --seed N --out W [--module-prefix]
      a model initialised by PyTorch per the spec, saved without fasgo metadata.
  count --width W --gate G
      prints JSON: parameters per top-level module part, total, parameter tensor count.
"""
import argparse
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- safetensors, plain Python ------------------------------------------------------------

_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8}
_DT_BACK = {np.dtype(v): k for k, v in _DT.items()}


def read_safetensors(path):
    """Returns ({name: torch tensor} in data-offset order, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = raw[8 + n:]
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        lo, hi = e["data_offsets"]
        dt = np.dtype(_DT[e["dtype"]]).newbyteorder("<")
        arr = np.frombuffer(data[lo:hi], dtype=dt).reshape(e["shape"]).copy()
        out[name] = torch.from_numpy(arr)
    return out, meta


def write_safetensors(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = {str(k): str(v) for k, v in meta.items()}
    for name, t in tensors.items():
        arr = t.detach().cpu().contiguous().numpy()  # keeps 0-d shapes (num_batches_tracked)
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DT_BACK[np.dtype(arr.dtype.type)], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hb = json.dumps(header).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


# ---- the network -------------------------------------------------------------------------

def scaled(c, width):
    return max(1, int(math.floor(c * width + 0.5)))


class ConvBlock(nn.Module):
    """3x3 conv -> BN (plain) or gated BN/IN mix (adaptive) -> ReLU."""

    def __init__(self, cin, cout, adaptive, gate):
        super().__init__()
        self.adaptive, self.gate = adaptive, gate
        if adaptive and gate == "clamp":
            self.gate_weight = nn.Parameter(torch.full((cout,), 0.5))
            self.gate_bias = nn.Parameter(torch.zeros(cout))
        self.conv = nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=True)
        self.BN = nn.BatchNorm2d(cout)
        if adaptive:
            self.IN = nn.InstanceNorm2d(cout, affine=True)
            if gate == "1layer":
                self.AttentionNet = nn.Linear(cout, cout)
            elif gate == "2layer":
                self.AttentionNet_fc1 = nn.Linear(cout, cout // 16 + 1)
                self.AttentionNet_fc2 = nn.Linear(cout // 16 + 1, cout)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_in", nonlinearity="relu")

    def mix(self, c):
        if self.gate == "clamp":
            return self.gate_weight.clamp(0, 1).view(1, -1, 1, 1)
        z = c.mean(dim=(2, 3))
        if self.gate == "1layer":
            a = self.AttentionNet(z)
        else:
            a = self.AttentionNet_fc2(F.relu(self.AttentionNet_fc1(z)))
        return torch.sigmoid(a).view(c.shape[0], c.shape[1], 1, 1)

    def forward(self, x):
        c = self.conv(x)
        if not self.adaptive:
            return F.relu(self.BN(c))
        g = self.mix(c)
        return F.relu(g * self.BN(c) + (1 - g) * self.IN(c))


class DownBlock(nn.Module):
    def __init__(self, cin, width, gate):
        super().__init__()
        self.conv_block1 = ConvBlock(cin, scaled(128, width), True, gate)
        self.conv_block2 = ConvBlock(scaled(128, width), scaled(196, width), True, gate)
        self.conv_block3 = ConvBlock(scaled(196, width), scaled(128, width), True, gate)

    def forward(self, x):
        return F.max_pool2d(self.conv_block3(self.conv_block2(self.conv_block1(x))), 2)


class Extractor(nn.Module):
    def __init__(self, width, gate):
        super().__init__()
        self.inc = ConvBlock(6, scaled(64, width), True, gate)
        self.down1 = DownBlock(scaled(64, width), width, gate)
        self.down2 = DownBlock(scaled(128, width), width, gate)
        self.down3 = DownBlock(scaled(128, width), width, gate)

    def forward(self, x):
        f = x.shape[2] // 8
        a = self.down1(self.inc(x))
        b = self.down2(a)
        c = self.down3(b)
        return torch.cat([F.adaptive_avg_pool2d(a, f), F.adaptive_avg_pool2d(b, f), c], dim=1)


class Embedder(nn.Module):
    def __init__(self, cin, width):
        super().__init__()
        self.conv_block1 = ConvBlock(cin, scaled(128, width), False, None)
        self.conv_block2 = ConvBlock(scaled(128, width), scaled(256, width), False, None)
        self.conv_block3 = ConvBlock(scaled(256, width), scaled(512, width), False, None)
        self.fc = nn.Linear(scaled(512, width), 2)
        nn.init.kaiming_normal_(self.fc.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        y = F.max_pool2d(self.conv_block1(x), 2)
        y = F.max_pool2d(self.conv_block2(y), 2)
        return self.fc(self.conv_block3(y).mean(dim=(2, 3)))


class Depth(nn.Module):
    def __init__(self, cin, width):
        super().__init__()
        self.conv_block1 = ConvBlock(cin, scaled(128, width), False, None)
        self.conv_block2 = ConvBlock(scaled(128, width), scaled(64, width), False, None)
        self.conv_block3 = ConvBlock(scaled(64, width), 1, False, None)

    def forward(self, x):
        return self.conv_block3(self.conv_block2(self.conv_block1(x))).squeeze(1)


class ANRL(nn.Module):
    def __init__(self, width=1.0, gate="1layer"):
        super().__init__()
        c = 3 * scaled(128, width)
        self.FeatExtractor = Extractor(width, gate)
        self.Classifier = Embedder(c, width)
        self.DepthEstmator = Depth(c, width)

    def forward(self, x):
        feat = self.FeatExtractor(x)
        return self.Classifier(feat), self.DepthEstmator(feat), feat


# ---- commands ----------------------------------------------------------------------------

def infer(tensors, meta):
    if "gate" in meta:
        gate = meta["gate"]
    elif any(k.endswith(".AttentionNet.weight") for k in tensors):
        gate = "1layer"
    elif any(k.endswith(".AttentionNet_fc1.weight") for k in tensors):
        gate = "2layer"
    else:
        gate = "clamp"
    width = float(meta["width"]) if "width" in meta else \
        tensors["FeatExtractor.inc.conv.weight"].shape[0] / 64.0
    return width, gate


def cmd_forward(a):
    torch.set_num_threads(1)
    tensors, meta = read_safetensors(a.weights)
    width, gate = infer(tensors, meta)
    if a.width:
        width = a.width
    dtype = tensors["FeatExtractor.inc.conv.weight"].dtype
    x = read_safetensors(a.input)[0]["input"].to(dtype)
    out = {}
    for mode in ("eval", "train"):
        model = ANRL(width, gate).to(dtype)
        model.load_state_dict(tensors, strict=True)
        model.train(mode == "train")
        with torch.no_grad():
            logits, depth, feat = model(x)
        out.update({mode + ".logits": logits, mode + ".depth": depth, mode + ".features": feat})
    for k, v in model.state_dict().items():  # after the training-mode forward
        out["state." + k] = v
    write_safetensors(a.out, out)


def cmd_init(a):
    torch.manual_seed(a.seed)
    model = ANRL(a.width, a.gate)
    sd = model.state_dict()
    if a.module_prefix:
        sd = {"module." + k: v for k, v in sd.items()}
    write_safetensors(a.out, sd)


def cmd_count(a):
    model = ANRL(a.width, a.gate)
    parts = {}
    for name, p in model.named_parameters():
        head = name.split(".")
        key = ".".join(head[:2]) if head[0] == "FeatExtractor" else head[0]
        parts[key] = parts.get(key, 0) + p.numel()
    print(json.dumps({"parts": parts, "total": sum(p.numel() for p in model.parameters()),
                      "tensors": len(list(model.parameters())),
                      "state": [[k, list(v.shape)] for k, v in model.state_dict().items()]}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--weights", required=True)
    f.add_argument("--input", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--width", type=float, help="for files without metadata, when inc/64 is not it")
    i = sub.add_parser("init")
    i.add_argument("--width", type=float, default=1.0)
    i.add_argument("--gate", default="1layer")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--out", required=True)
    i.add_argument("--module-prefix", action="store_true")
    c = sub.add_parser("count")
    c.add_argument("--width", type=float, default=1.0)
    c.add_argument("--gate", default="1layer")
    a = ap.parse_args()
    {"forward": cmd_forward, "init": cmd_init, "count": cmd_count}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
