"""An independent PyTorch MiniFASNet (MiniFASNetV2, MiniFASNetV1SE) written from
../shared/spec/minifasnet.md in the authors' module style, and the authors' input pipeline
(crop rule, cv2.resize, BGR, no normalisation, sum of softmaxes). For the Go tests and the
benchmark (bench/minifasnet.py). Subcommands (JSON on stdout):

  forward X.safetensors WEIGHTS:VARIANT ...  per network, the logits of tensor "x" (N x 3 x S x S)
  crops < [[W, H, x, y, w, h, scale], ...]    the authors' crop rectangles [l, t, r+1, b+1]
  save-other OUT.pth                         a DataParallel state dict of another network
  pipeline --member WEIGHTS:VARIANT:SCALE ... --input IMAGE@x,y,w,h ...
      a JSON list, one entry per --input: per member the crop rectangle [l, t, r+1, b+1], the
      80x80 BGR crop's checksum, logits and softmax; the sum, the label (argmax) and the
      authors' score. IMAGE *.safetensors: tensor "rgb" (H x W x 3 uint8, R, G, B) as decoded
      by the caller (keeps the JPEG decoder out of the comparison); else a JPEG or PNG decoded
      by cv2.imread (EXIF orientation applied), as the authors' demo does.

WEIGHTS is a published .pth file (torch.load) or a safetensors file.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Hidden widths of the residual blocks per stage (spec section 3).
WIDTHS = {
    "MiniFASNetV2": ([13, 13, 13, 13], [231, 52, 26, 77, 26, 26], [26, 26]),
    "MiniFASNetV1SE": ([13, 26, 13, 52], [154, 52, 26, 52, 26, 26], [26, 26]),
}


class ConvBlock(nn.Module):  # conv (no bias), BN, optional PReLU
    def __init__(self, cin, cout, k, s=1, p=0, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        if act:
            self.prelu = nn.PReLU(cout)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.prelu(x) if self.act else x


class SE(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c // r)
        self.fc2 = nn.Conv2d(c // r, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        z = x.mean(dim=(2, 3), keepdim=True)
        z = torch.sigmoid(self.bn2(self.fc2(F.relu(self.bn1(self.fc1(z))))))
        return x * z


class DepthWise(nn.Module):
    def __init__(self, cin, hidden, cout, stride, residual, se=False):
        super().__init__()
        self.conv = ConvBlock(cin, hidden, 1)
        self.conv_dw = ConvBlock(hidden, hidden, 3, stride, 1, groups=hidden)
        self.project = ConvBlock(hidden, cout, 1, act=False)
        if se:
            self.se_module = SE(cout)
        self.residual, self.se = residual, se

    def forward(self, x):
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se:
            y = self.se_module(y)
        return x + y if self.residual else y


class Residual(nn.Module):
    def __init__(self, c, widths, se_last):
        super().__init__()
        self.model = nn.Sequential(*[DepthWise(c, w, c, 1, True, se_last and i == len(widths) - 1)
                                     for i, w in enumerate(widths)])

    def forward(self, x):
        return self.model(x)


class MiniFASNet(nn.Module):
    def __init__(self, variant, size=80, classes=3):
        super().__init__()
        w3, w4, w5 = WIDTHS[variant]
        se = variant == "MiniFASNetV1SE"
        self.conv1 = ConvBlock(3, 32, 3, 2, 1)
        self.conv2_dw = ConvBlock(32, 32, 3, 1, 1, groups=32)
        self.conv_23 = DepthWise(32, 103, 64, 2, False)
        self.conv_3 = Residual(64, w3, se)
        self.conv_34 = DepthWise(64, 231, 128, 2, False)
        self.conv_4 = Residual(128, w4, se)
        self.conv_45 = DepthWise(128, 308, 128, 2, False)
        self.conv_5 = Residual(128, w5, se)
        self.conv_6_sep = ConvBlock(128, 512, 1)
        k = (size + 15) // 16
        self.conv_6_dw = ConvBlock(512, 512, k, groups=512, act=False)
        self.linear = nn.Linear(512, 128, bias=False)
        self.bn = nn.BatchNorm1d(128)
        self.drop = nn.Dropout(0.2)
        self.prob = nn.Linear(128, classes, bias=False)

    def forward(self, x):
        for m in (self.conv1, self.conv2_dw, self.conv_23, self.conv_3, self.conv_34, self.conv_4,
                  self.conv_45, self.conv_5, self.conv_6_sep, self.conv_6_dw):
            x = m(x)
        x = self.bn(self.linear(x.flatten(1)))
        return self.prob(self.drop(x))


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    data = b[8 + n:]
    dt = {"F32": np.float32, "I64": np.int64, "U8": np.uint8, "F64": np.float64}
    out = {}
    for k, e in h.items():
        s, t = e["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[s:t], dt[e["dtype"]]).reshape(e["shape"]).copy())
    return out


def load_net(weights, variant, size=80):
    if weights.endswith(".pth"):
        sd = torch.load(weights, map_location="cpu", weights_only=True)
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    else:
        sd = read_safetensors(weights)
    net = MiniFASNet(variant, size, classes=sd["prob.weight"].shape[0])
    net.load_state_dict(sd, strict=True)
    return net.eval()


def crop_rect(W, H, box, scale):
    """The authors' _get_new_box: (l, t, r, b), inclusive, as ints."""
    x, y, w, h = box
    scale = min((H - 1) / h, min((W - 1) / w, scale))
    nw, nh = w * scale, h * scale
    cx, cy = w / 2 + x, h / 2 + y
    l, t, r, b = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if l < 0:
        r -= l
        l = 0
    if t < 0:
        b -= t
        t = 0
    if r > W - 1:
        l -= r - W + 1
        r = W - 1
    if b > H - 1:
        t -= b - H + 1
        b = H - 1
    return int(l), int(t), int(r), int(b)


def pipeline(members, bgr, box, threads=None):
    import cv2
    H, W = bgr.shape[:2]
    total, out = np.zeros(3), []
    for net, scale, size in members:
        l, t, r, b = crop_rect(W, H, box, scale)
        crop = cv2.resize(bgr[t:b + 1, l:r + 1], (size, size))
        x = torch.from_numpy(crop.transpose(2, 0, 1).astype(np.float32)).unsqueeze(0)
        with torch.no_grad():
            logits = net(x)
        p = F.softmax(logits, dim=1).numpy()[0]
        total += p
        out.append({"crop": [l, t, r + 1, b + 1], "crop_sum": int(crop.astype(np.int64).sum()),
                    "logits": logits.numpy()[0].tolist(), "probs": p.tolist()})
    label = int(np.argmax(total))
    return {"members": out, "sum": total.tolist(), "label": label, "score": total[label] / len(members)}


def main():
    torch.set_num_threads(1)
    cmd = sys.argv[1]
    if cmd == "forward":
        x = read_safetensors(sys.argv[2])["x"]
        out = []
        for arg in sys.argv[3:]:
            w, v = arg.rsplit(":", 1)
            with torch.no_grad():
                out.append(load_net(w, v, size=x.shape[-1])(x).tolist())
        print(json.dumps(out))
        return
    if cmd == "save-other":  # a DataParallel state dict of another network (wrong family)
        net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        torch.save({"module." + k: v for k, v in net.state_dict().items()}, sys.argv[2])
        return
    if cmd == "crops":
        out = []
        for W, H, x, y, w, h, s in json.load(sys.stdin):
            l, t, r, b = crop_rect(W, H, (x, y, w, h), s)
            out.append([l, t, r + 1, b + 1])
        print(json.dumps(out))
        return
    import argparse
    import cv2
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("--member", action="append", required=True)
    ap.add_argument("--input", action="append", required=True)
    a = ap.parse_args()
    members = []
    for m in a.member:
        w, v, s = m.rsplit(":", 2)
        members.append((load_net(w, v), float(s), 80))
    out = []
    for job in a.input:
        path, box = job.rsplit("@", 1)
        if path.endswith(".safetensors"):
            bgr = np.ascontiguousarray(read_safetensors(path)["rgb"].numpy()[:, :, ::-1])
        else:
            bgr = cv2.imread(path)
        out.append(pipeline(members, bgr, [int(v) for v in box.split(",")]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
