#!/bin/bash
# The criteo-kaggle generator preset: fit, check, label levels, compression curve.
# Run from the repository root with ../shared beside it. About 20 minutes on 2 cores.
set -euo pipefail
out=${OUT:-experiments/criteo_preset}
work=${WORK:-/tmp/criteo_preset}
mkdir -p "$work"
go build -o "$work/bin/" ./cmd/dataset ./cmd/train ./cmd/sweep

# 1. Fit the per-field laws to the real Kaggle Criteo lines (12,278) and check them on 1M generated rows.
"$work/bin/dataset" calibrate --in "$(ls ../shared/data/criteo/criteo_* | paste -sd,)" \
    --out datasets/presets/criteo-kaggle.json --first 0.95 --pair 1 --dense 1 --dense-bend 0.3 \
    --plot "$out/curves.png" --curves "$out/curves.json" --check-rows 1000000 2> "$out/calibrate.log"

# 2. The compression curve (and the full-table dlrm) on 4M generated rows; validation = 10% of the training rows.
"$work/bin/sweep" --datasets synth-criteo-kaggle --synth-rows 4000000 --methods full,hashed,unified,hybrid \
    --ratios 1,10,100,1000 --seeds 1 --valid-fraction 0.1 --out "$work/sweep" --quiet

# 3. LR / FM / DLRM with the full table on the same 4M rows (label levels vs BARS Criteo_x1).
for m in lr fm dlrm deepfm; do
  "$work/bin/train" --data "$(ls "$work"/sweep/data/synth-criteo-kaggle_*_4000000.parquet)" --model $m --valid-fraction 0.1 --json | tail -1 > "$work/label_$m.json"
done
cp "$work/sweep/report.md" "$out/sweep_report.md"
cp "$work/sweep/results.csv" "$out/sweep_results.csv"
