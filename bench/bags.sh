#!/usr/bin/env bash
# Training with bag fields against one-hot training (BENCHMARKS.md "Bag fields"): MovieLens 1M (the shared prefix,
# time split, 438,885 training rows), DeepFM and DIN, one-hot only, genres as a multi-hot bag (1.7 values a row),
# the history bag of 20 (19.5 values a row once users have 20 positives), both; 2 threads, batch 2048, one epoch;
# training samples/s, median of alternating rounds. Run on a quiet machine: nothing else running.
#   bench/bags.sh [rounds] [shared_dir]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shared=${2:-../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/" ./cmd/train ./cmd/dataset
data="$shared/data/movielens/ml-1m"
# The bag sets as Parquet (the history's pre-pass is not timed: the readers stream the converted file)
"$work/dataset" convert --format movielens1m --in "$data" --out "$work/onehot.parquet" --quiet
"$work/dataset" convert --format movielens1m --in "$data" --genres-bag --out "$work/genres.parquet" --quiet
"$work/dataset" convert --format movielens1m --in "$data" --history 20 --out "$work/history.parquet" --quiet
"$work/dataset" convert --format movielens1m --in "$data" --genres-bag --history 20 --out "$work/both.parquet" --quiet
for r in $(seq "$rounds"); do
  for f in onehot genres history both; do
    for m in deepfm din; do
      if [ "$m" = din ] && { [ "$f" = onehot ] || [ "$f" = genres ]; }; then continue; fi
      "$work/train" --data "$work/$f.parquet" --split time --model "$m" --threads 2 --json --quiet 2>/dev/null | tail -1 |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(sys.argv[1], sys.argv[2], sys.argv[3], d["train_samples_per_s"], d["test_auc"])' "$r" "$f" "$m"
    done
  done
done | tee "$work/runs.txt"
python3 - "$work/runs.txt" <<'PY'
import sys, statistics as st
from collections import defaultdict
s = defaultdict(list)
for line in open(sys.argv[1]):
    r, f, m, sps, auc = line.split()
    s[(m, f)].append(float(sps))
base = st.median(s[("deepfm", "onehot")])
print("| model | features | samples/s (median) | vs deepfm one-hot |")
print("|---|---|---|---|")
for (m, f), v in sorted(s.items()):
    print(f"| {m} | {f} | {st.median(v):,.0f} | {st.median(v)/base:.2f}x |")
PY
