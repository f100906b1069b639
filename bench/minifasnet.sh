#!/bin/sh
# images/s of the two-member Silent-Face ensemble: fasgo's public package (Go benchmark) and
# the authors' PyTorch pipeline (bench/minifasnet.py), same machine, same threads, same fixed
# face box, batch 1 and 16, alternating the two sides ROUNDS times; prints the medians of
# images/s (wall clock) and of CPU milliseconds per image (less disturbed by a busy machine).
# usage: bench/minifasnet.sh [ROUNDS (5)] [THREADS (1)]   (needs ../shared/silentface and a built shim)
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
THREADS=${2:-1}
DATA=$(cd .. && pwd)/shared/silentface
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -f "$DATA/2.7_80x80_MiniFASNetV2.pth" ] || { echo "no Silent-Face weights at $DATA" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd go && "$GO" test -c -o "$tmp/liveness.test" ./liveness/)
for r in $(seq "$ROUNDS"); do
  (cd go/liveness && FASGO_BENCH_THREADS=$THREADS "$tmp/liveness.test" -test.run '^$' \
    -test.bench 'BenchmarkMiniFASNetEnsemble/^batch=(1|16)$' -test.benchtime 3s) |
    awk '/images\/s/ { split($1, n, "="); sub(/-.*/, "", n[2]); ips = ""; cpu = ""
      for (i = 1; i <= NF; i++) { if ($(i+1) == "images/s") ips = $i; if ($(i+1) == "cpu-ms/image") cpu = $i }
      print "go", n[2], ips, cpu }' >> "$tmp/runs"
  for b in 1 16; do
    /usr/bin/python3 bench/minifasnet.py --data "$DATA" --batch "$b" --threads "$THREADS" --seconds 3 |
      /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("torch", d["batch"], d["images_per_s"], d["cpu_ms_per_image"])' >> "$tmp/runs"
  done
done
/usr/bin/python3 - "$tmp/runs" "$THREADS" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, batch, ips, cpu = line.split()
    runs.setdefault((side, int(batch)), []).append((float(ips), float(cpu)))
med = lambda k, i: statistics.median(r[i] for r in runs[k])
print("MiniFASNet ensemble (2 members), median of %d alternating runs, %s thread(s)" %
      (len(runs.get(("go", 1), [])), sys.argv[2]))
print("%-6s %12s %12s %7s   %14s %14s" % ("batch", "fasgo img/s", "torch img/s", "ratio", "fasgo cpu-ms", "torch cpu-ms"))
for b in (1, 16):
    g, t = med(("go", b), 0), med(("torch", b), 0)
    print("%-6d %12.1f %12.1f %7.2f   %14.1f %14.1f" % (b, g, t, g / t, med(("go", b), 1), med(("torch", b), 1)))
PY
