"""Converts a published Silent-Face-Anti-Spoofing weight file (a legacy PyTorch pickle of a
DataParallel state dict) into a plain safetensors file: the "module." prefix stripped, every
tensor kept (float32 weights and statistics, the int64 num_batches_tracked counters), names
and order as in the file. Run by `fas import silentface` with Debian's /usr/bin/python3
(python3-torch). Usage: convert.py IN.pth OUT.safetensors. Exit status 3: torch is missing;
2: the file is not a readable state dict of that form (the message says why).
"""
import json
import os
import struct
import sys


def fail(code, msg):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def main():
    if len(sys.argv) != 3:
        fail(2, "usage: convert.py IN.pth OUT.safetensors")
    src, dst = sys.argv[1], sys.argv[2]
    try:
        import torch
    except ImportError as e:
        fail(3, "reading a .pth file needs PyTorch in %s (%s): install the Debian package python3-torch "
             "(apt-get install python3-torch)" % (sys.executable, e))
    try:
        sd = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or not a pickle: torch says which
        fail(2, "%s does not load as a PyTorch state dict (%s: %s); is the file complete?" % (src, type(e).__name__, e))
    if not isinstance(sd, dict) or not sd:
        fail(2, "%s holds a %s, not a state dict of tensors" % (src, type(sd).__name__))
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        if not isinstance(k, str) or not torch.is_tensor(v):
            fail(2, "%s: entry %r is not a named tensor" % (src, k))
        if v.dtype not in dtypes:
            fail(2, "%s: tensor %s is %s (want float32, or int64 counters)" % (src, k, v.dtype))
        name = k[len("module."):] if k.startswith("module.") else k
        if name in header:
            fail(2, "%s: tensor %s appears twice" % (src, name))
        b = v.contiguous().numpy().astype(v.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[v.dtype], "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"source_file": os.path.basename(src),
                              "module_prefix": str(all(k.startswith("module.") for k in sd))}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, dst)


if __name__ == "__main__":
    main()
