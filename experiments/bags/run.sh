#!/usr/bin/env bash
# Bag fields and the attention models on MovieLens 1M (time split, 10% validation before the 48,765 test rows),
# and AutoInt beside DeepFM / DCN-v2 on MovieLens 1M and the generated Criteo preset (1M rows).
#
# Per (dataset, model, features): epochs 1 and 2 (the generated set: 1), seeds 1-3; the epoch count is chosen on
# the mean validation AUC over the seeds, and only the chosen runs' test AUC is reported (report.py). Features on MovieLens:
#   none     the one-hot fields (genres one value per combination)
#   genres   genres as a multi-hot bag (--genres-bag)
#   history  the user's last 20 positives before the rating as a sequence bag sharing movie_id's rows
#   both     genres bag + history
# DIN needs the history (its behaviour sequence). Writes experiments/bags/runs.jsonl (one line per run).
#   experiments/bags/run.sh [shared_dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${1:-../shared}
out=experiments/bags/runs.jsonl
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
go build -o "$work/" ./cmd/train ./cmd/dataset
seeds=${SEEDS:-"1 2 3"}
[ -f "$work/ck.parquet" ] || "$work/dataset" gen --preset criteo-kaggle --rows 1000000 --seed 1 --out "$work/ck.parquet" >/dev/null
feat() {
  case $1 in
    none) echo "" ;;
    genres) echo "--genres-bag" ;;
    history) echo "--history 20" ;;
    both) echo "--genres-bag --history 20" ;;
  esac
}
have() { # dataset model features epochs seed: is the run in $out?
  [ -f "$out" ] && python3 -c '
import json, sys
k = sys.argv[2:7]
for line in open(sys.argv[1]):
    r = json.loads(line)
    if [r["dataset"], r["model"], r["features"], str(r["epochs"]), str(r["seed"])] == k:
        sys.exit(0)
sys.exit(1)' "$out" "$@"
}
run() { # dataset model features epochs seed: one line appended to $out (a run already there is skipped)
  local ds=$1 model=$2 f=$3 ep=$4 seed=$5 data
  if have "$@"; then return; fi
  case $ds in
    ml1m) data="--data $shared/data/movielens/ml-1m --split time --valid-fraction 0.1 $(feat "$f")" ;;
    synth) data="--data $work/ck.parquet --valid-fraction 0.1 --test-fraction 0.1" ;;
  esac
  # shellcheck disable=SC2086
  "$work/train" $data --model "$model" --epochs "$ep" --seed "$seed" --threads 2 --json --quiet | tail -1 |
    python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
r = dict(dataset=sys.argv[1], model=sys.argv[2], features=sys.argv[3], epochs=int(sys.argv[4]), seed=int(sys.argv[5]))
r.update({k: d.get(k) for k in ("valid_auc", "valid_rows", "test_auc", "test_auc_se", "test_logloss", "test_rows", "train_samples_per_s")})
print(json.dumps(r))' "$ds" "$model" "$f" "$ep" "$seed" >>"$out"
}
for seed in $seeds; do
  for ep in 1 2; do
    for m in deepfm dcnv2 din; do
      for f in none genres history both; do
        if [ "$m" = din ] && { [ "$f" = none ] || [ "$f" = genres ]; }; then continue; fi
        run ml1m "$m" "$f" "$ep" "$seed"
      done
    done
    for m in autoint autoint+; do run ml1m "$m" none "$ep" "$seed"; done
  done
  # One epoch on the generated set: a second overfits its rare values (measured on validation before, see
  # trainer.DefaultEmbLR's notes), and AutoInt's attention makes each epoch minutes long on two cores.
  for m in deepfm dcnv2 autoint autoint+; do run synth "$m" none 1 "$seed"; done
done
python3 experiments/bags/report.py "$out"
