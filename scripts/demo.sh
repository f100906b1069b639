#!/usr/bin/env bash
# make demo: the whole job on a fresh machine, in minutes on a CPU. Generates the synthetic
# benchmark, trains ANRL on the sources dom0-dom2, tests on the unseen dom3, prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/synth}
EPOCHS=${EPOCHS:-5}
SIZE=${SIZE:-32}
start=$(date +%s)
if [ ! -f "$DATA/synth.json" ]; then
  bin/fas synth --out "$DATA" --size "$SIZE" --subjects "${SUBJECTS:-60}" --seed 1
fi
bin/fas train --config "$DATA/configs/lodo_dom3.yaml" \
  --set run.name="demo-$(date +%Y%m%d-%H%M%S)" \
  --set train.epochs="$EPOCHS" --set transform.image_size="$SIZE" \
  --set train.batch_size=4 --set model.width=0.25 \
  --set optimizer.params.lr=0.001 --set scheduler.params.decay_t=3 \
  "$@"
echo "demo finished in $(( $(date +%s) - start )) s"
