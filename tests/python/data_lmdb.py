"""Python-lmdb side of the LMDB interop test (run by go/lmdb tests with /usr/bin/python3).

  data_lmdb.py dump DIR [--nosubdir]        print every record as JSON {key: hex(value)}
  data_lmdb.py write DIR [--nosubdir] < J   store the records of J = {key: hex(value)}
"""
import json
import sys

import lmdb

from common import open_lmdb


def main():
    mode, path = sys.argv[1], sys.argv[2]
    subdir = "--nosubdir" not in sys.argv[3:]
    if mode == "dump":
        with open_lmdb(path, subdir).begin() as txn:
            out = {k.decode("utf-8"): v.hex() for k, v in txn.cursor()}
        json.dump(out, sys.stdout)
    elif mode == "write":
        records = json.load(sys.stdin)
        env = lmdb.open(path, map_size=64 << 20, subdir=subdir)
        with env.begin(write=True) as txn:
            for k, v in records.items():
                txn.put(k.encode("utf-8"), bytes.fromhex(v))
        env.close()
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
