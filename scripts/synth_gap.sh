#!/usr/bin/env bash
# The synthetic benchmark's domain gap, measured with the network: for each leave-one-domain-out
# protocol, ANRL without meta-learning (a plain supervised step, the cheapest ANRL) is trained
#   source: on the other domains' train subjects (the protocol as fas synth writes it), and
#   oracle: on every domain's train subjects, the target's included,
# and both are tested on the target domain's held-out (val + test) subjects, which neither saw.
# A benchmark that tests generalisation has the source model clearly worse than the oracle.
# The linear probe of `fas synth gap` on the same data is printed alongside.
#
# Environment (defaults in brackets):
#   DATA       benchmark directory [runs/synth-gap/data]; generated when absent with
#              SUBJECTS [20], FRAMES [2], SIZE [32], DATA_SEED [1] (4 domains)
#   TARGETS    held-out domains ["0 1 2 3"];  SEEDS run seeds ["1"]
#   EPOCHS [6]; WIDTH [0.25]; BATCH [4]; LR [0.001]; DECAY_T [4]; THREADS run.threads [1]
#   JOBS       trainings at once [2]
#   RUNS       run directory [runs/synth-gap]; a finished run is reused
#   OUT        the table [RUNS/gap.md]
set -euo pipefail
cd "$(dirname "$0")/.."
FAS=${FAS:-bin/fas}
RUNS=${RUNS:-runs/synth-gap}
DATA=${DATA:-$RUNS/data}
TARGETS=${TARGETS:-0 1 2 3}
SEEDS=${SEEDS:-1}
EPOCHS=${EPOCHS:-6}; WIDTH=${WIDTH:-0.25}; BATCH=${BATCH:-4}; LR=${LR:-0.001}; DECAY_T=${DECAY_T:-4}
THREADS=${THREADS:-1}; JOBS=${JOBS:-2}
OUT=${OUT:-$RUNS/gap.md}
mkdir -p "$RUNS"
if [ ! -f "$DATA/synth.json" ]; then
  "$FAS" synth --out "$DATA" --subjects "${SUBJECTS:-20}" --frames "${FRAMES:-2}" --size "${SIZE:-32}" --seed "${DATA_SEED:-1}"
fi
opts=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))["options"]; print(o["domains"], o["subjects"], o["frames"], o["size"], o["seed"], o["videos_per_subject"])' "$DATA/synth.json")
read -r ndom subjects frames size dseed vps <<<"$opts"
lists() { # lists SPLIT DOMAIN... -> a YAML flow list of list entries
  local split=$1; shift; local out="" d
  for d in "$@"; do
    out+="{name: dom$d, live: lists/dom${d}_${split}_live.txt, attack: lists/dom${d}_${split}_attack.txt}, "
  done
  echo "[${out%, }]"
}
all=$(seq 0 $((ndom - 1)))
train_one() { # train_one NAME TARGET SEED KIND
  local name=$1 t=$2 seed=$3 kind=$4 sets=()
  [ -f "$RUNS/$name/eval/metrics.json" ] && return 0
  # The target's held-out subjects: its val and test lists, in both kinds of run.
  sets+=(--set "dataset.test=[{name: dom$t, live: lists/dom${t}_val_live.txt, attack: lists/dom${t}_val_attack.txt}, {name: dom$t, live: lists/dom${t}_test_live.txt, attack: lists/dom${t}_test_attack.txt}]")
  if [ "$kind" = oracle ]; then
    # shellcheck disable=SC2086
    sets+=(--set "dataset.train=$(lists train $all)" --set "dataset.val=$(lists val $all)")
  fi
  echo "== $name" >&2
  nice "$FAS" train --config "$DATA/configs/lodo_dom$t.yaml" --quiet --restart \
    --set seed="$seed" --set run.dir="$RUNS" --set run.name="$name" --set run.threads="$THREADS" \
    --set anrl.meta=false --set train.epochs="$EPOCHS" --set train.batch_size="$BATCH" \
    --set model.width="$WIDTH" --set optimizer.params.lr="$LR" --set scheduler.params.decay_t="$DECAY_T" \
    "${sets[@]}" > "$RUNS/$name.out" 2>&1 || { echo "run $name failed: see $RUNS/$name.out" >&2; return 1; }
}
start=$(date +%s)
pids=()
for t in $TARGETS; do
  for seed in $SEEDS; do
    for kind in source oracle; do
      train_one "dom$t-$kind-s$seed" "$t" "$seed" "$kind" &
      pids+=($!)
      while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
    done
  done
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || exit 1
nice "$FAS" synth gap --domains "$ndom" --subjects "$subjects" --frames "$frames" --size "$size" --seed "$dseed" \
  --videos-per-subject "$vps" --json "$RUNS/probe.json" > "$RUNS/probe.md" 2>/dev/null
python3 - "$RUNS" "$OUT" "$TARGETS" "$SEEDS" "$EPOCHS" "$WIDTH" "$(( $(date +%s) - start ))" "$opts" <<'PY'
import json, os, statistics, sys
runs, out, targets, seeds, epochs, width, secs, opts = sys.argv[1:]
seeds = seeds.split()
probe = {r["target"]: r for r in json.load(open(os.path.join(runs, "probe.json")))["protocols"]}
def ms(xs):
    xs = [100 * x for x in xs]
    return f"{xs[0]:.1f}" if len(xs) == 1 else f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs):.1f}"
m = lambda name: json.load(open(os.path.join(runs, name, "eval", "metrics.json")))
nd, subj, fr, size, dseed, vps = opts.split()
lines = [f"Domain gap on the target's held-out subjects ({nd} domains x {subj} subjects, {fr} frames, S = {size}, data seed {dseed}; "
         f"ANRL without meta-learning, {epochs} epochs, width {width}, seeds {', '.join(seeds)}). AUC and HTER (paper threshold) in %, video level.", "",
         "| target | source AUC | oracle AUC | AUC gap | source HTER | oracle HTER | probe: source AUC | probe: oracle AUC |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
for t in targets.split():
    s = [m(f"dom{t}-source-s{x}") for x in seeds]; o = [m(f"dom{t}-oracle-s{x}") for x in seeds]
    gap = [a["auc"] - b["auc"] for a, b in zip(o, s)]
    p = probe[f"dom{t}"]
    lines.append(f"| dom{t} | {ms([x['auc'] for x in s])} | {ms([x['auc'] for x in o])} | {ms(gap)} | "
                 f"{ms([x['paper']['hter'] for x in s])} | {ms([x['paper']['hter'] for x in o])} | {100*p['source_auc']:.1f} | {100*p['oracle_auc']:.1f} |")
lines += ["", f"(this invocation took {secs} s; runs under {runs})"]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
