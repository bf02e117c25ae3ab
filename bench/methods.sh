#!/usr/bin/env bash
# Every table method beside the hashed table (BENCHMARKS.md, issue 15): training samples/s (median of
# alternating rounds) and the served model's /v1/embed and /v1/score latency, all at the same serving-byte
# budget (the full table's serving bytes / RATIO). Run on a quiet machine: nothing else running.
#   bench/methods.sh [rounds] [ratio]     (METHODS="hashed dhe" to run a subset)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
ratio=${2:-10}
methods=${METHODS:-"hashed full qr hybrid multiplex unified multiprobe robe ttrec dhe dedup adaptemb cafe mde"}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for c in dataset train serve loadgen; do go build -o "$work/$c" ./cmd/$c; done
data="$work/m.parquet"
"$work/dataset" gen --rows 300000 --scale 0.3 --seed 1 --out "$data" --quiet --json >/dev/null
full=$("$work/train" --data "$data" --table full --threads 2 --json --quiet --out "$work/probe" 2>/dev/null |
  tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["serving_bytes"])')
budget=$((full / ratio))
echo "full table serving bytes $full; budget ${ratio}x = $budget bytes; $rounds rounds"
for r in $(seq "$rounds"); do
  for m in $methods; do
    b=$budget; [ "$m" = full ] && b=0
    args=(--data "$data" --table "$m" --threads 2 --json --quiet --out "$work/$m")
    [ "$b" -gt 0 ] && args+=(--memory-budget "$b")
    "$work/train" "${args[@]}" 2>/dev/null | tail -1 |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print("train", sys.argv[1], sys.argv[2], d["train_samples_per_s"], d["test_auc"], d["serving_bytes"])' "$r" "$m"
  done
done | tee "$work/train.txt"
python3 - "$work/train.txt" <<'EOF'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    _, r, m, sps, auc, sb = line.split()
    rows.setdefault(m, []).append((float(sps), float(auc), int(sb)))
h = st.median(x[0] for x in rows["hashed"])
print("method  median samples/s  vs hashed  test AUC  serving bytes")
for m, v in rows.items():
    s = st.median(x[0] for x in v)
    print(f"{m:10s} {s:12.0f} {s/h:8.2f}x {v[-1][1]:.4f} {v[-1][2]}")
EOF
port=18090
for m in $methods; do
  taskset -c 1 "$work/serve" --model "$work/$m/model" --addr 127.0.0.1:$port --log-level warn &
  pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  for ep in embed score; do
    for conc in 1 8; do # one request at a time (its latency), then 8 in flight (the maximum rate)
      echo "serve $m /v1/$ep concurrency=$conc $(taskset -c 0 "$work/loadgen" --url "http://127.0.0.1:$port/v1/$ep" \
        --model "$work/$m/model" --concurrency $conc --duration 5s --requests 10000000 --json | tail -1)"
    done
  done
  kill $pid; wait $pid 2>/dev/null || true
done
