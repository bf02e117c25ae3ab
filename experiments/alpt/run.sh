#!/usr/bin/env bash
# ALPT (learned-step rows: --storage alpt at 8 bits, alpt4 at 4) against our int8 training (stochastic rounding,
# min-max steps, --storage int8) and fp32, at the same serving bytes: int8 rows (dim+8 bytes) for int8 and alpt;
# int4 rows (ceil(dim/2)+4 bytes) for alpt4 and for the fp32 and int8 models quantized to int4 after training
# (--eval-codecs int4, the post-training peer). Per dataset: each ALPT storage's step learning rate is chosen on
# the validation split (seed 1, grid below); then every storage trains with seeds 1-3 and is tested once. Writes
# experiments/alpt/{select,final}.jsonl; report.md is written by hand from them.
#   experiments/alpt/run.sh [shared_dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${1:-../shared}
out=experiments/alpt
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
go build -o "$work/" ./cmd/train ./cmd/dataset
seeds=${SEEDS:-"1 2 3"}
grid() { # storage: the step learning rates tried (alpt4's best sat at 1e-2, the first grid's edge: 1e-1 added)
  case $1 in
    alpt) echo "${GRID8:-1e-4 1e-3 1e-2}" ;;
    alpt4) echo "${GRID4:-1e-4 1e-3 1e-2 1e-1}" ;;
  esac
}
datasets=${DATASETS:-"synth ml1m frappe"}
# SELECT and FINAL name the storages whose selection and final runs to do; KEEP=1 keeps the other rows of the
# datasets in select.jsonl and final.jsonl (e.g. GRID4=0.3 SELECT=alpt4 FINAL=alpt4 KEEP=1 extends alpt4's grid)
select_storages=${SELECT-"alpt alpt4"}
final_storages=${FINAL-"fp32 int8 alpt alpt4"}
keep=${KEEP:-0}
[ -f "$work/ck.parquet" ] || "$work/dataset" gen --preset criteo-kaggle --rows 2000000 --seed 1 --out "$work/ck.parquet" >/dev/null
args() { # the dataset's data and model flags
  case $1 in
    synth) echo "--data $work/ck.parquet --valid-fraction 0.1 --test-fraction 0.1 --model dlrm --epochs 1" ;;
    ml1m) echo "--data $shared/data/movielens/ml-1m --split time --valid-fraction 0.1 --model deepfm --epochs 1" ;;
    # Frappe: DeepFM at experiments/frappe's chosen setting (dim 10, emb lr 0.4, 12 epochs), tested on the official
    # validation split
    frappe) echo "--data $shared/data/frappe/frappe_x1_train_rebuilt.csv --valid-fraction 0.1 --test-data $shared/data/frappe/frappe_x1_valid.csv --model deepfm --dim 10 --emb-lr 0.4 --epochs 12" ;;
  esac
}
run() { # dataset, seed, storage flags...: one JSON line
  local ds=$1 seed=$2; shift 2
  # shellcheck disable=SC2046
  "$work/train" $(args "$ds") --seed "$seed" --threads 2 --json --quiet "$@" | tail -1
}
summ() { # dataset, storage, scale_lr, seed on stdin's result line
  python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
dim = d["dim"]
r = {"dataset": sys.argv[1], "storage": sys.argv[2], "scale_lr": float(sys.argv[3]), "seed": int(sys.argv[4]),
  "valid_auc": d.get("valid_auc"), "test_auc": d["test_auc"], "test_auc_se": d["test_auc_se"], "test_logloss": d["test_logloss"],
  "test_rows": d["test_rows"], "serving_bytes": d["serving_bytes"], "embedding_bytes": d["embedding_bytes"],
  "train_samples_per_s": d["train_samples_per_s"]}
# the served rows: int8 rows as trained, alpt4 as int4 rows (same row count as its int8 training rows)
if sys.argv[2] in ("int8", "alpt"): r["row_bytes"] = d["embedding_bytes"]
if sys.argv[2] == "alpt4": r["row_bytes"] = d["embedding_bytes"] // (dim + 8) * ((dim + 1) // 2 + 4)
for q in d.get("quantized") or []:
    r["ptq_" + q["codec"]] = {"test_auc": q["test_auc"], "test_logloss": q["test_logloss"], "row_bytes": q["bytes"]}
print(json.dumps(r))' "$@"
}
drop() { # file, storages[, scale lrs]: remove the datasets' rows (with KEEP=1 only those of the storages, and of
  # the scale lrs when given: the rows about to be re-run)
  local f=$1 sts=$2 lrs=${3:-}
  [ -f "$f" ] || : > "$f"
  python3 -c '
import json, sys
ds, sts, keep, lrs = sys.argv[2].split(), sys.argv[3].split(), sys.argv[4] == "1", [float(x) for x in sys.argv[5].split()]
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["dataset"] in ds and (not keep or (r["storage"] in sts and (not lrs or r["scale_lr"] in lrs))):
        continue
    print(l, end="")' "$f" "$datasets" "$sts" "$keep" "$lrs" > "$f.tmp"
  mv "$f.tmp" "$f"
}
for st in $select_storages; do
  drop "$out/select.jsonl" "$st" "$(grid "$st")"
done
for ds in $datasets; do
  for st in $select_storages; do
    for lr in $(grid "$st"); do
      run "$ds" 1 --storage $st --scale-lr "$lr" | summ "$ds" $st "$lr" 1 | tee -a "$out/select.jsonl"
    done
  done
done
drop "$out/final.jsonl" "$final_storages"
best() { # dataset, storage: the scale lr with the best validation AUC
  python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["dataset"] == sys.argv[2] and r["storage"] == sys.argv[3]]
print(max(rows, key=lambda r: r["valid_auc"])["scale_lr"])' "$out/select.jsonl" "$1" "$2"
}
for ds in $datasets; do
  b8=$(best "$ds" alpt)
  b4=$(best "$ds" alpt4)
  for seed in $seeds; do
    for st in $final_storages; do
      case $st in
        fp32) run "$ds" "$seed" --eval-codecs int4 | summ "$ds" fp32 0 "$seed" ;;
        int8) run "$ds" "$seed" --storage int8 --eval-codecs int4 | summ "$ds" int8 0 "$seed" ;;
        alpt) run "$ds" "$seed" --storage alpt --scale-lr "$b8" | summ "$ds" alpt "$b8" "$seed" ;;
        alpt4) run "$ds" "$seed" --storage alpt4 --scale-lr "$b4" | summ "$ds" alpt4 "$b4" "$seed" ;;
      esac | tee -a "$out/final.jsonl"
    done
  done
done
