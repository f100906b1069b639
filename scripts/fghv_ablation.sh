#!/usr/bin/env bash
# FGHV's switch grid on one synthetic leave-one-domain-out protocol, several seeds: trains
# FGHV once per (setting, seed), then writes one Markdown table with mean ± std over the
# seeds of the test AUC and HTER (paper and realistic thresholds) of the fused score, and the
# AUC of the space score and of ΔKL alone (eval/space, eval/delta_kl of every run).
#
# Every setting changes one key from the defaults of docs/fghv.md (one switch at a time).
# Environment (defaults in brackets):
#   DATA     synthetic benchmark directory [data/synth]; generated when absent with
#            DOMAINS [3], SUBJECTS [30], SIZE [32], DATA_SEED [1]
#   TARGET   held-out domain index [the last domain]
#   SEEDS    run seeds ["1 2 3"]
#   EPOCHS   [4]; WIDTH [0.25]; BATCH [4]; LR [0.001]; DECAY_T [3]
#   LATENT   fghv.latent_dim [32]; STEPS fghv.test.latent_steps [10]
#   THREADS  run.threads [0 = all cores]
#   GRID     names of the grid rows to run (default: all; see below)
#   RUNS     run directory [runs/fghv-ablation]; a finished run is reused, so an
#            interrupted ablation continues where it stopped
#   OUT      the table [RUNS/ablation.md]
# Extra arguments go to every `fas train` (e.g. --set train.epochs=2).
#
#   scripts/fghv_ablation.sh                                   # the whole grid, 3 seeds
#   SEEDS="1 2" GRID="default meta hinge" scripts/fghv_ablation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FAS=${FAS:-bin/fas}
DATA=${DATA:-data/synth}
DOMAINS=${DOMAINS:-3}
SEEDS=${SEEDS:-1 2 3}
EPOCHS=${EPOCHS:-4}
WIDTH=${WIDTH:-0.25}
BATCH=${BATCH:-4}
LR=${LR:-0.001}
DECAY_T=${DECAY_T:-3}
LATENT=${LATENT:-32}
STEPS=${STEPS:-10}
THREADS=${THREADS:-0}
RUNS=${RUNS:-runs/fghv-ablation}
OUT=${OUT:-$RUNS/ablation.md}

# name | --set arguments (one switch from the defaults)
GRID_ROWS=(
  "default|"
  "adanorm|fghv.backbone.adanorm=true"
  "hinge|fghv.rcc=hinge"
  "no_var|fghv.loss.var=0"
  "no_ddc|fghv.loss.ddc=0"
  "no_depth|fghv.loss.depth=0"
  "cls_head|fghv.loss.cls=1"
  "meta|fghv.meta=true fghv.metasize=1"
  "tau_0.5|fghv.tau=0.5"
  "N_4|fghv.hypotheses=4"
  "dkl_real_minus_attack|fghv.test.delta_kl=real_minus_attack"
  "T_40|fghv.test.latent_steps=40"
  "lambda_0|fghv.fit_lambda=false fghv.lambda=0"
)

if [ ! -f "$DATA/synth.json" ]; then
  "$FAS" synth --out "$DATA" --domains "$DOMAINS" --subjects "${SUBJECTS:-30}" --size "${SIZE:-32}" --seed "${DATA_SEED:-1}"
fi
ndom=$(ls "$DATA"/configs/lodo_*.yaml | wc -l)
TARGET=${TARGET:-$((ndom - 1))}
CONFIG="$DATA/configs/lodo_dom$TARGET.yaml"
[ -f "$CONFIG" ] || { echo "no protocol $CONFIG" >&2; exit 1; }
size=$(sed -n 's/^  image_size: *\([0-9]*\).*/\1/p' "$CONFIG" | head -1)
mkdir -p "$RUNS"
start=$(date +%s)
rows=()
for row in "${GRID_ROWS[@]}"; do
  name=${row%%|*}
  sets=${row#*|}
  if [ -n "${GRID:-}" ] && [[ " $GRID " != *" $name "* ]]; then continue; fi
  rows+=("$name|$sets")
  for seed in $SEEDS; do
    run="$name-s$seed"
    if [ -f "$RUNS/$run/eval/metrics.json" ]; then continue; fi
    args=()
    for s in $sets; do args+=(--set "$s"); done
    echo "== $run: ${sets:-defaults}" >&2
    "$FAS" train --config "$CONFIG" --quiet --restart \
      --set method=fghv --set seed="$seed" --set run.dir="$RUNS" --set run.name="$run" --set run.threads="$THREADS" \
      --set train.epochs="$EPOCHS" --set transform.image_size="$size" --set train.batch_size="$BATCH" \
      --set model.width="$WIDTH" --set optimizer.params.lr="$LR" --set scheduler.params.decay_t="$DECAY_T" \
      --set fghv.latent_dim="$LATENT" --set fghv.test.latent_steps="$STEPS" \
      ${args[@]+"${args[@]}"} "$@" > "$RUNS/$run.out"
  done
done

# One table: mean ± std (sample std over the seeds) per row.
python3 - "$RUNS" "$OUT" "$CONFIG" "$SEEDS" "$EPOCHS" "$WIDTH" "$LATENT" "$STEPS" "$(( $(date +%s) - start ))" \
  "$(printf '%s\n' "${rows[@]}")" <<'EOF'
import json, os, statistics, sys
runs, out, config, seeds, epochs, width, latent, steps, secs, rows = sys.argv[1:]
seeds = seeds.split()
def ms(xs):
    xs = [100 * x for x in xs]
    if len(xs) == 1:
        return f"{xs[0]:.2f}"
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}"
lines = [
    f"FGHV ablation on {config} (held-out domain = its test lists), seeds {', '.join(seeds)}: "
    f"{epochs} epochs, width {width}, latent_dim {latent}, latent_steps {steps} unless the row says otherwise. "
    f"Video level, mean ± std over the seeds, in %.",
    "",
    "| setting | changed keys | AUC (fused) | HTER paper | HTER realistic | AUC space alone | AUC ΔKL alone | λ fitted |",
    "|---|---|---:|---:|---:|---:|---:|---|",
]
for row in rows.split("\n"):
    if not row:
        continue
    name, sets = row.split("|", 1)
    auc, hp, hr, sa, da, lam = [], [], [], [], [], []
    for s in seeds:
        d = os.path.join(runs, f"{name}-s{s}", "eval")
        m = json.load(open(os.path.join(d, "metrics.json")))
        auc.append(m["auc"]); hp.append(m["paper"]["hter"]); hr.append(m["realistic"]["hter"])
        sa.append(json.load(open(os.path.join(d, "space", "metrics.json")))["auc"])
        da.append(json.load(open(os.path.join(d, "delta_kl", "metrics.json")))["auc"])
        o = open(os.path.join(runs, f"{name}-s{s}.out")).read()
        lam.append(o.split("stored with the best checkpoint: lambda=")[1].split()[0] if "lambda=" in o else "-")
    lines.append(f"| {name} | {sets.replace(' ', ', ') or '(defaults)'} | {ms(auc)} | {ms(hp)} | {ms(hr)} | {ms(sa)} | {ms(da)} | "
                 + " / ".join(f"{float(l):.3g}" if l != "-" else "-" for l in lam) + " |")
lines += ["", f"({len(lines) - 4} settings x {len(seeds)} seeds; this invocation took {secs} s.)"]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
echo "table: $OUT" >&2
