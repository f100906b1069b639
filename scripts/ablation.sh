#!/usr/bin/env bash
# ANRL's ablation on the synthetic benchmark's leave-one-domain-out protocols, several seeds:
# trains every (variant, protocol, seed) once with fas train (which tests on the whole unseen
# target domain), then writes one Markdown table, mean ± std over the seeds, and a manifest.
#
#   anrl         the defaults: learnt 1layer gate, second-order meta-learning
#   first_order  anrl.first_order: true (first-order meta gradients)
#   no_meta      anrl.meta: false (one supervised step on all sources; same network)
#   bn_only      anrl.gate: bn, anrl.meta: false (every AdaNorm block plain BatchNorm)
#   in_only      anrl.gate: in, anrl.meta: false (every AdaNorm block InstanceNorm)
# The constant gates leave the meta step nothing to adapt, so they are compared with no_meta.
#
# Environment (defaults in brackets):
#   DATA     benchmark directory [runs/ablation/data]; generated when absent with
#            SUBJECTS [20], FRAMES [2], SIZE [32], DATA_SEED [1] (4 domains)
#   TARGETS  held-out domains ["0 1 2 3"];  SEEDS run seeds ["1 2 3"]
#   EPOCHS [6]; WIDTH [0.25]; BATCH [4]; LR [0.001]; DECAY_T [4]; THREADS run.threads [1]
#   JOBS     trainings at once [2];  VARIANTS names to run [all of the above]
#   RUNS     run directory [runs/ablation]; a finished run is reused, so an interrupted
#            ablation continues where it stopped
#   OUT      the table [RUNS/ablation.md]
# Every run directory holds its config.yaml, versions.json (commit, seed) and eval/; the
# manifest RUNS/manifest.json lists every run with its variant, target, seed and keys.
#
#   scripts/ablation.sh                                   # 5 variants x 4 protocols x 3 seeds
#   TARGETS=3 SEEDS="1 2" VARIANTS="anrl no_meta" scripts/ablation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FAS=${FAS:-bin/fas}
RUNS=${RUNS:-runs/ablation}
DATA=${DATA:-$RUNS/data}
TARGETS=${TARGETS:-0 1 2 3}
SEEDS=${SEEDS:-1 2 3}
EPOCHS=${EPOCHS:-6}; WIDTH=${WIDTH:-0.25}; BATCH=${BATCH:-4}; LR=${LR:-0.001}; DECAY_T=${DECAY_T:-4}
THREADS=${THREADS:-1}; JOBS=${JOBS:-2}
OUT=${OUT:-$RUNS/ablation.md}

# name | --set arguments
ROWS=(
  "anrl|"
  "first_order|anrl.first_order=true"
  "no_meta|anrl.meta=false"
  "bn_only|anrl.gate=bn anrl.meta=false"
  "in_only|anrl.gate=in anrl.meta=false"
)
mkdir -p "$RUNS"
if [ ! -f "$DATA/synth.json" ]; then
  "$FAS" synth --out "$DATA" --subjects "${SUBJECTS:-20}" --frames "${FRAMES:-2}" --size "${SIZE:-32}" --seed "${DATA_SEED:-1}"
fi
commit=$(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!runs' || echo "-dirty")
start=$(date +%s)
rows=() pids=()
for row in "${ROWS[@]}"; do
  name=${row%%|*} sets=${row#*|}
  if [ -n "${VARIANTS:-}" ] && [[ " $VARIANTS " != *" $name "* ]]; then continue; fi
  rows+=("$row")
  for t in $TARGETS; do
    for seed in $SEEDS; do
      run="$name-dom$t-s$seed"
      [ -f "$RUNS/$run/eval/metrics.json" ] && continue
      args=()
      for s in $sets; do args+=(--set "$s"); done
      echo "== $run: ${sets:-defaults}" >&2
      nice "$FAS" train --config "$DATA/configs/lodo_dom$t.yaml" --quiet --restart \
        --set seed="$seed" --set run.dir="$RUNS" --set run.name="$run" --set run.threads="$THREADS" \
        --set train.epochs="$EPOCHS" --set train.batch_size="$BATCH" --set model.width="$WIDTH" \
        --set optimizer.params.lr="$LR" --set scheduler.params.decay_t="$DECAY_T" \
        ${args[@]+"${args[@]}"} "$@" > "$RUNS/$run.out" 2>&1 &
      pids+=("$!:$run")
      while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
    done
  done
done
fail=0
for p in ${pids[@]+"${pids[@]}"}; do
  wait "${p%%:*}" || { echo "run ${p#*:} failed: see $RUNS/${p#*:}.out" >&2; fail=1; }
done
[ "$fail" = 0 ] || exit 1

python3 - "$RUNS" "$OUT" "$DATA" "$TARGETS" "$SEEDS" "$EPOCHS" "$WIDTH" "$BATCH" "$LR" "$DECAY_T" \
  "$(( $(date +%s) - start ))" "$commit" "$(printf '%s\n' "${rows[@]}")" <<'PY'
import json, os, statistics, sys
runs, out, data, targets, seeds, epochs, width, batch, lr, decay_t, secs, commit, rows = sys.argv[1:]
targets, seeds = targets.split(), seeds.split()
rows = [r.split("|", 1) for r in rows.split("\n") if r]
def ms(xs):
    xs = [100 * x for x in xs]
    return f"{xs[0]:.1f}" if len(xs) == 1 else f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs):.1f}"
def metrics(run):
    return json.load(open(os.path.join(runs, run, "eval", "metrics.json")))
o = json.load(open(os.path.join(data, "synth.json")))["options"]
manifest = {"commit": commit, "data": o, "train": {"epochs": epochs, "width": width, "batch_size": batch, "lr": lr, "decay_t": decay_t},
            "runs": []}
head = (f"ANRL ablation on the synthetic benchmark ({o['domains']} domains x {o['subjects']} subjects, "
        f"{o['videos_per_subject']}+{o['videos_per_subject']} videos x {o['frames']} frames, S = {o['size']}, data seed {o['seed']}): "
        f"{epochs} epochs, batch {batch}, width {width}, Adam lr {lr}, StepLR {decay_t}; seeds {', '.join(seeds)}. "
        "Test = the whole unseen domain, video level, mean ± std over the seeds, in %.")
lines = [head, ""]
lines.append("| variant | changed keys | " + " | ".join(f"→dom{t} HTER" for t in targets) + " | mean HTER | mean AUC | mean HTER (realistic) |")
lines.append("|---|---|" + "---:|" * (len(targets) + 3))
for name, sets in rows:
    hter_t, all_h, all_a, all_r = [], [], [], []
    for t in targets:
        ms_ = [metrics(f"{name}-dom{t}-s{s}") for s in seeds]
        hter_t.append(ms([m["paper"]["hter"] for m in ms_]))
        for s, m in zip(seeds, ms_):
            manifest["runs"].append({"run": f"{name}-dom{t}-s{s}", "variant": name, "target": f"dom{t}", "seed": int(s),
                                     "sets": sets.split(), "auc": m["auc"], "hter_paper": m["paper"]["hter"],
                                     "hter_realistic": m["realistic"]["hter"],
                                     "commit": json.load(open(os.path.join(runs, f"{name}-dom{t}-s{s}", "versions.json")))["git"]["commit"]})
    # Per seed, the mean over the protocols; then mean ± std of those over the seeds.
    per_seed = lambda key: [statistics.mean(key(metrics(f"{name}-dom{t}-s{s}")) for t in targets) for s in seeds]
    lines.append(f"| {name} | {sets.replace(' ', ', ') or '(defaults)'} | " + " | ".join(hter_t) + " | "
                 f"{ms(per_seed(lambda m: m['paper']['hter']))} | {ms(per_seed(lambda m: m['auc']))} | "
                 f"{ms(per_seed(lambda m: m['realistic']['hter']))} |")
lines += ["", f"HTER at the paper threshold (EER of the test scores); realistic: the threshold chosen on the sources' val subjects. "
          f"The mean columns average the protocols per seed, then take mean ± std over the seeds. "
          f"{len(rows)} variants x {len(targets)} protocols x {len(seeds)} seeds; this invocation took {secs} s; commit {commit}."]
tmp = out + ".tmp"
open(tmp, "w").write("\n".join(lines) + "\n"); os.replace(tmp, out)
mf = os.path.join(runs, "manifest.json")
open(mf + ".tmp", "w").write(json.dumps(manifest, indent=1) + "\n"); os.replace(mf + ".tmp", mf)
print("\n".join(lines))
PY
echo "table: $OUT" >&2
