#!/usr/bin/env bash
# PEP and AutoSrh: fine-tuning under the mask in the same run (the tables' default) against the papers' second
# stage, retraining from init under the first run's mask (--table-config {"retrain": RUN/model}), on MovieLens 1M
# (time split, FM, one epoch a stage, validation 10%), at the sweep's 2x and 10x budgets, seeds 1-3. Writes
# experiments/shrink/retrain.jsonl.
#   experiments/shrink/retrain.sh [shared_dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${1:-../shared}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
go build -o "$work/" ./cmd/train
out=experiments/shrink/retrain.jsonl
: > "$out"
args=(--data "$shared/data/movielens/ml-1m" --split time --valid-fraction 0.1 --model fm --threads 2 --json --quiet)
full=$("$work/train" "${args[@]}" | tail -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["full_serving_bytes"])')
for table in pep autosrh; do
  for ratio in 2 10; do
    budget=$((full / ratio))
    for seed in 1 2 3; do
      rm -rf "$work/s1" "$work/s2"
      one=$("$work/train" "${args[@]}" --table "$table" --memory-budget "$budget" --seed "$seed" --out "$work/s1" | tail -1)
      echo "{\"retrain\": \"$work/s1/model\"}" > "$work/retrain.json"
      two=$("$work/train" "${args[@]}" --table "$table" --memory-budget "$budget" --seed "$seed" --table-config "$work/retrain.json" --out "$work/s2" | tail -1)
      python3 -c '
import json, sys
for stage, line in (("fine-tune", sys.argv[5]), ("retrain", sys.argv[6])):
    d = json.loads(line)
    print(json.dumps({"table": sys.argv[1], "ratio": int(sys.argv[2]), "seed": int(sys.argv[3]), "stage": stage,
        "budget": int(sys.argv[4]), "valid_auc": d["valid_auc"], "test_auc": d["test_auc"], "test_auc_se": d["test_auc_se"],
        "test_rows": d["test_rows"], "serving_bytes": d["serving_bytes"]}))' "$table" "$ratio" "$seed" "$budget" "$one" "$two" >> "$out"
    done
  done
done
