#!/usr/bin/python3
"""Independent reader of TensorBoard event files for the Go tests of go/runinfo/tfevents.

Parses the TFRecord framing (checking both masked CRC32C values with a CRC32C written here)
and the tensorflow.Event / Summary protobufs by hand, and prints the events as JSON:
[{"wall_time": float, "step": int, "file_version": str, "values": [{"tag": str, "simple_value": float}]}]
Exits 1 with a message on any framing, CRC or protobuf error.
Usage: read_tfevents.py FILE
"""
import json
import struct
import sys


def _crc32c_table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(buf):
    pos, i = 0, 0
    while pos < len(buf):
        if len(buf) - pos < 12:
            raise ValueError("record %d: truncated header" % i)
        head = buf[pos:pos + 8]
        (n,) = struct.unpack("<Q", head)
        (hcrc,) = struct.unpack("<I", buf[pos + 8:pos + 12])
        if hcrc != masked(head):
            raise ValueError("record %d: length CRC mismatch" % i)
        start, end = pos + 12, pos + 12 + n
        if end + 4 > len(buf):
            raise ValueError("record %d: truncated data" % i)
        data = buf[start:end]
        (dcrc,) = struct.unpack("<I", buf[end:end + 4])
        if dcrc != masked(data):
            raise ValueError("record %d: data CRC mismatch" % i)
        yield data
        pos, i = end + 4, i + 1


def varint(buf, pos):
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf):
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = varint(buf, pos)
        elif wire == 1:
            val, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            val, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            n, pos = varint(buf, pos)
            val, pos = buf[pos:pos + n], pos + n
        else:
            raise ValueError("unsupported wire type %d" % wire)
        if pos > len(buf):
            raise ValueError("truncated field %d" % num)
        yield num, wire, val


def event(data):
    ev = {"wall_time": 0.0, "step": 0, "file_version": "", "values": []}
    for num, wire, val in fields(data):
        if num == 1 and wire == 1:
            ev["wall_time"] = struct.unpack("<d", val)[0]
        elif num == 2 and wire == 0:
            ev["step"] = val - (1 << 64) if val >= 1 << 63 else val
        elif num == 3 and wire == 2:
            ev["file_version"] = val.decode("utf-8")
        elif num == 5 and wire == 2:
            for snum, swire, sval in fields(val):
                if snum != 1 or swire != 2:
                    continue
                v = {"tag": "", "simple_value": 0.0}
                for vnum, vwire, vval in fields(sval):
                    if vnum == 1 and vwire == 2:
                        v["tag"] = vval.decode("utf-8")
                    elif vnum == 2 and vwire == 5:
                        v["simple_value"] = struct.unpack("<f", vval)[0]
                ev["values"].append(v)
    return ev


def main():
    assert crc32c(b"123456789") == 0xE3069283, "CRC32C self-check failed"
    with open(sys.argv[1], "rb") as f:
        buf = f.read()
    try:
        out = [event(r) for r in records(buf)]
    except ValueError as e:
        print("read_tfevents: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
