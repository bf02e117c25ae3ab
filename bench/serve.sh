#!/usr/bin/env bash
# /v1/embed and /v1/score latency and throughput per store (BENCHMARKS.md, issue 6), and Redis itself
# answering the same 26-key reads (redis-benchmark MGET), side by side. Run on a quiet machine.
#   bench/serve.sh [train_data.tsv]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-/tmp/bench/synth300k.tsv}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/train" ./cmd/train
go build -o "$work/serve" ./cmd/serve
go build -o "$work/loadgen" ./cmd/loadgen
"$work/train" --data "$data" --model dlrm --memory-budget 64MiB --out "$work/run" --quiet --json | tail -1 | cut -c1-160
model="$work/run/model"
port=18080
run_store() { # store extra-args...
  local store=$1; shift
  "$work/serve" --model "$model" --addr 127.0.0.1:$port --store "$store" "$@" --log-level warn &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  for ep in embed score; do
    for rate in 5000 10000 20000 0; do
      echo "$store /v1/$ep rate=$rate: $("$work/loadgen" --url "http://127.0.0.1:$port/v1/$ep" --model "$model" \
         --concurrency 32 --rate $rate --duration 10s --requests 10000000 --json)"
    done
  done
  kill $pid; wait $pid 2>/dev/null || true
}
run_store mmap
run_store badger --store-path "$work/badger"
if command -v redis-server >/dev/null; then
  # a 3-master cluster on loopback, as the tests start it
  for p in 17001 17002 17003; do
    mkdir -p "$work/r$p"
    (cd "$work/r$p" && redis-server --port $p --cluster-enabled yes --cluster-config-file nodes.conf --save '' --appendonly no --daemonize no >/dev/null) &
  done
  sleep 1
  yes yes | redis-cli --cluster create 127.0.0.1:17001 127.0.0.1:17002 127.0.0.1:17003 >/dev/null 2>&1 || true
  sleep 2
  run_store redis --redis-addrs 127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003
  # Redis itself answering the same shape of read: a 26-key MGET of 72-byte values, 32 clients
  redis-server --port 17010 --save '' --appendonly no --daemonize yes >/dev/null
  sleep 0.5
  redis-benchmark -p 17010 -c 32 -n 200000 -q -d 72 -r 100000 mset '{t}k__rand_int__' "$(head -c 72 /dev/zero | tr '\0' x)" >/dev/null
  echo "redis single node 26-key MGET: $(redis-benchmark -p 17010 -c 32 -n 200000 -q -r 100000 mget $(for i in $(seq 26); do printf '{t}k__rand_int__ '; done) | tail -1)"
  redis-cli -p 17010 shutdown nosave >/dev/null 2>&1 || true
fi
