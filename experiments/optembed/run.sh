#!/usr/bin/env bash
# OptEmbed's row pruning over the paper's hyperparameter ranges: the threshold regulariser's weight
# (--search-prune-reg, alpha in OptEmbed's code: 1e-6..1e-4 there, for its 30 search epochs; larger here, where the
# search is one epoch) x the thresholds' learning rate (--search-threshold-lr: 1e-4 in the code), at budgets of the
# full table's serving bytes / 2 and / 4. Per dataset and budget the pair with the best validation AUC (seed 1) is
# chosen, then trained with seeds 1-3 and tested once. Writes experiments/optembed/{select,final}.jsonl: each line
# with the plan's rows kept per field (dimplan.json's kept_rows against the field's cardinality).
#   experiments/optembed/run.sh [shared_dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${1:-../shared}
out=experiments/optembed
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
go build -o "$work/" ./cmd/train ./cmd/dataset
regs=${REGS:-"1e-5 1e-4 1e-3 1e-2 1e-1"}
lrs=${LRS:-"1e-4 1e-3 1e-2"}
ratios=${RATIOS:-"2 4"}
datasets=${DATASETS:-"ml1m synth"}
[ -f "$work/ck.parquet" ] || "$work/dataset" gen --preset criteo-kaggle --rows 500000 --seed 1 --out "$work/ck.parquet" >/dev/null
args() {
  case $1 in
    synth) echo "--data $work/ck.parquet --valid-fraction 0.1 --test-fraction 0.1 --model dlrm --epochs 1" ;;
    ml1m) echo "--data $shared/data/movielens/ml-1m --split time --valid-fraction 0.1 --model deepfm --epochs 1" ;;
  esac
}
run() { # dataset, seed, dir, flags...: one JSON line
  local ds=$1 seed=$2 dir=$3; shift 3
  rm -rf "$dir"
  # shellcheck disable=SC2046
  "$work/train" $(args "$ds") --seed "$seed" --threads 2 --json --quiet --out "$dir" "$@" | tail -1
}
summ() { # dataset ratio reg lr seed dir, the result line on stdin
  python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
ds, ratio, reg, lr, seed, run = sys.argv[1:7]
plan = json.load(open(run + "/dimplan.json"))
kept = {f["name"]: [f.get("kept_rows", 0), f.get("cardinality", 0)] for f in plan["fields"]}
print(json.dumps({"dataset": ds, "ratio": float(ratio), "prune_reg": float(reg), "threshold_lr": float(lr), "seed": int(seed),
  "valid_auc": d.get("valid_auc"), "test_auc": d["test_auc"], "test_auc_se": d["test_auc_se"], "test_logloss": d["test_logloss"],
  "test_rows": d["test_rows"], "serving_bytes": d["serving_bytes"], "full_serving_bytes": d["full_serving_bytes"],
  "dims": {f["name"]: f["dim"] for f in plan["fields"]}, "kept_rows": kept}))' "$@"
}
: > "$out/select.jsonl"
: > "$out/final.jsonl"
for ds in $datasets; do
  full=$(run "$ds" 1 "$work/full" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["full_serving_bytes"])')
  for ratio in $ratios; do
    budget=$((full / ratio))
    for reg in $regs; do
      for lr in $lrs; do
        run "$ds" 1 "$work/r" --memory-budget "$budget" --dim-search optembed --search-prune-reg "$reg" --search-threshold-lr "$lr" |
          summ "$ds" "$ratio" "$reg" "$lr" 1 "$work/r" >> "$out/select.jsonl"
      done
    done
    best=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r["dataset"] == sys.argv[2] and r["ratio"] == float(sys.argv[3])]
b = max(rows, key=lambda r: r["valid_auc"])
print(b["prune_reg"], b["threshold_lr"])' "$out/select.jsonl" "$ds" "$ratio")
    read -r reg lr <<< "$best"
    for seed in 1 2 3; do
      run "$ds" "$seed" "$work/r" --memory-budget "$budget" --dim-search optembed --search-prune-reg "$reg" --search-threshold-lr "$lr" |
        summ "$ds" "$ratio" "$reg" "$lr" "$seed" "$work/r" >> "$out/final.jsonl"
    done
  done
done
