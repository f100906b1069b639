#!/usr/bin/env python3
"""One ANRL training step in plain PyTorch, written from docs/anrl.md ("Training step"),
as the golden reference for `fas model step`. Same flags, same files:

  anrl_step_ref.py --weights W --batch B --out W2 --domain-order 2,0,1
                   [--optimizer adam|sgd] [--lr X] [--weight-decay W] [--set key=value ...]

The batch file holds images (K x 2B x 6 x S x S), depth (K x 2B x F x F), labels (K x 2B).
Writes the updated state dict to W2 and prints the step's figures as JSON.

The network is tests/python/anrl_ref.py (nn.Modules with the reference's state-dict names);
the meta-test forward runs it through functional_call with the fast gate weights, and the
optimizer is torch.optim.Adam / AdamW / SGD itself.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anrl_ref import ANRL, infer, read_safetensors, write_safetensors  # noqa: E402

try:
    from torch.func import functional_call
except ImportError:  # torch < 2.0
    from torch.nn.utils.stateless import functional_call

DEFAULTS = {
    "metasize": 2, "meta": True, "meta_step_size": 1e-4, "w_cls": 1.0, "w_depth": 0.1,
    "w_domain": 1e-3, "w_discri": 1e-3, "center_momentum": 0.9, "first_order": False,
    "textbook_fast_weights": False, "decoupled_weight_decay": False, "momentum": 0.0,
    "nesterov": False, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "batch_grouping": "domain",
}
ALIASES = {"textbook": "textbook_fast_weights", "alpha": "meta_step_size"}


def parse_set(cfg, kv):
    key, val = kv.split("=", 1)
    key = ALIASES.get(key, key)
    if key not in cfg:
        raise SystemExit("unknown --set key %r" % key)
    old = cfg[key]
    if isinstance(old, str):
        cfg[key] = val
    elif isinstance(old, bool):
        cfg[key] = val.lower() in ("1", "true", "t")
    elif isinstance(old, int):
        cfg[key] = int(val)
    else:
        cfg[key] = float(val)


class Step:
    def __init__(self, model, images, depth, labels, cfg):
        self.model, self.images, self.depth, self.labels, self.cfg = model, images, depth, labels, cfg
        k = images.shape[0]
        c = model.Classifier.conv_block1.conv.weight.shape[1]
        self.k = k
        self.center_real = torch.ones(k, c, dtype=images.dtype)
        self.center_fake = torch.ones(k, c, dtype=images.dtype)

    def domain(self, d, x, y, target, fast=None):
        """Loss of the forward of x with the centers of domain d, and its figures (cls, depth,
        domain, discri, correct)."""
        cfg = self.cfg
        if fast is None:
            logits, dep, feat = self.model(x)
        else:
            logits, dep, feat = functional_call(self.model, fast, (x,))
        l_cls = F.cross_entropy(logits, y)
        l_dep = F.mse_loss(dep, target)
        pooled = F.adaptive_avg_pool2d(feat, 1).flatten(1)
        real, fake = pooled[y == 0], pooled[y == 1]
        m = cfg["center_momentum"]
        with torch.no_grad():  # the EMA update comes before this domain's losses
            self.center_real[d] = m * self.center_real[d] + (1 - m) * real.mean(0)
            self.center_fake[d] = m * self.center_fake[d] + (1 - m) * fake.mean(0)

        def e(a, c):
            return ((a - c.detach().clone()) ** 2).mean()

        own = e(real, self.center_real[d])
        others = sum(e(real, self.center_real[j]) for j in range(self.k) if j != d)
        l_dom = others / (self.k - 1) - own
        l_dis = own - e(real, self.center_fake[d]) - e(fake, self.center_real[d])
        loss = cfg["w_cls"] * l_cls + cfg["w_depth"] * l_dep + cfg["w_domain"] * l_dom + cfg["w_discri"] * l_dis
        correct = (logits.argmax(1) == y).sum().item()
        return loss, [l_cls.item(), l_dep.item(), l_dom.item(), l_dis.item(), correct]

    def forwards(self, domains):
        """The phase's forwards as (domain, images, labels, depth). domain: each domain's own
        samples. tface: the released code's mix_pos_neg + domain_select, written as it does it:
        each class's [B, m] batch flattened batch-major and concatenated, live then attack;
        forward j takes rows j*B..j*B+B-1 of each class and the centers of domains[j]."""
        if self.cfg["batch_grouping"] == "domain":
            return [(d, self.images[d], self.labels[d], self.depth[d]) for d in domains]
        assert self.cfg["batch_grouping"] == "tface", self.cfg["batch_grouping"]
        b = self.images.shape[1] // 2

        def mix(t):  # t: K x 2B x ... -> [B*m live rows, then B*m attack rows]
            pos = torch.cat([t[d, :b].unsqueeze(1) for d in domains], 1)  # B x m x ...
            neg = torch.cat([t[d, b:].unsqueeze(1) for d in domains], 1)
            return torch.cat([pos.reshape(-1, *t.shape[2:]), neg.reshape(-1, *t.shape[2:])], 0)

        images, labels, depth = mix(self.images), mix(self.labels), mix(self.depth)
        batch = images.shape[0] // 2
        length = batch // len(domains)
        out = []
        for j, d in enumerate(domains):
            sel = list(range(j * length, j * length + length)) + \
                list(range(j * length + batch, j * length + length + batch))
            out.append((d, images[sel], labels[sel], depth[sel]))
        return out

    def phase(self, domains, fast=None):
        total, figs, n = None, [0.0] * 5, 0
        for d, x, y, target in self.forwards(domains):
            loss, f = self.domain(d, x, y, target, fast)
            total = loss if total is None else total + loss
            figs = [a + b for a, b in zip(figs, f)]
            n += x.shape[0]
        stats = dict(zip(["cls", "depth", "domain", "discri"], figs[:4]))
        stats["acc"] = figs[4] / n
        stats["loss"] = total.item()
        return total, stats

    def run(self, order):
        cfg = self.cfg
        zero = {k: 0.0 for k in ["cls", "depth", "domain", "discri", "acc", "loss"]}
        if not cfg["meta"]:
            total, st = self.phase(order)
            return total, st, zero
        train, test = order[:cfg["metasize"]], order[cfg["metasize"]:]
        train_loss, st_train = self.phase(train)
        named = [(n, p) for n, p in self.model.named_parameters()
                 if n.startswith("FeatExtractor.") and ("AttentionNet" in n or "gate_weight" in n)]
        grads = torch.autograd.grad(train_loss, [p for _, p in named], retain_graph=True,
                                    create_graph=not cfg["first_order"], allow_unused=True)
        fast = {}
        for (n, p), g in zip(named, grads):
            if g is None:
                g = torch.zeros_like(p)
            if cfg["first_order"]:
                g = g.detach()
            base = p if cfg["textbook_fast_weights"] else p.detach()
            fast[n] = base - cfg["meta_step_size"] * g
        test_loss, st_test = self.phase(test, fast)
        return train_loss + test_loss, st_train, st_test


def make_optimizer(params, a, cfg):
    wd = a.weight_decay
    if a.optimizer == "adam":
        cls = torch.optim.AdamW if cfg["decoupled_weight_decay"] else torch.optim.Adam
        return cls(params, lr=a.lr, betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"], weight_decay=wd)
    # torch has no decoupled SGD: decay the weights by hand before the step, as fasgo does.
    return torch.optim.SGD(params, lr=a.lr, momentum=cfg["momentum"], nesterov=cfg["nesterov"],
                           weight_decay=0.0 if cfg["decoupled_weight_decay"] else wd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--domain-order", required=True)
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = dict(DEFAULTS)
    for kv in a.set:
        parse_set(cfg, kv)

    tensors, meta = read_safetensors(a.weights)
    width, gate = infer(tensors, meta)
    dtype = tensors["FeatExtractor.inc.conv.weight"].dtype
    model = ANRL(width, gate).to(dtype)
    model.load_state_dict(tensors, strict=True)
    model.train()
    batch = read_safetensors(a.batch)[0]
    images, depth, labels = batch["images"].to(dtype), batch["depth"].to(dtype), batch["labels"].long()
    order = [int(x) for x in a.domain_order.split(",")]

    step = Step(model, images, depth, labels, cfg)
    total, st_train, st_test = step.run(order)
    opt = make_optimizer(model.parameters(), a, cfg)
    opt.zero_grad()
    total.backward()
    if a.optimizer == "sgd" and cfg["decoupled_weight_decay"] and a.weight_decay:
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p.mul_(1 - a.lr * a.weight_decay)
    opt.step()

    write_safetensors(a.out, model.state_dict())
    print(json.dumps({"meta_train": st_train, "meta_test": st_test,
                      "loss": st_train["loss"] + st_test["loss"], "step": 1, "domain_order": order,
                      "centers_real": step.center_real.tolist(), "centers_fake": step.center_fake.tolist()}))


if __name__ == "__main__":
    sys.exit(main())
