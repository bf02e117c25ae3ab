#!/usr/bin/env bash
# /v1/embed and /v1/score before and after the serving hot path moved to the
# key plan + fused gather kernels (issue 13), in one run: the same artifact
# served by a serve binary built at BEFORE (default adcd6fd, row-by-row
# decode) and by this tree's, each pinned to core 1 with the load generator
# on core 0; then this tree's with --huge-pages, and a CPU profile of
# /v1/embed under closed-loop load. Run on a quiet machine.
#   bench/serve_hotpath.sh [BEFORE_REV]
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-adcd6fd}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o "$work/train" ./cmd/train
go build -o "$work/dataset" ./cmd/dataset
go build -o "$work/serve-after" ./cmd/serve
go build -o "$work/loadgen" ./cmd/loadgen
git worktree add -q --detach "$work/src" "$before"
(cd "$work/src" && go build -o "$work/serve-before" ./cmd/serve)
"$work/dataset" gen --rows 300000 --scale 0.01 --seed 1 --out "$work/g.parquet" >/dev/null
"$work/train" --data "$work/g.parquet" --model dlrm --memory-budget 64MiB --out "$work/run" --quiet --json | cut -c1-200
model="$work/run/model"
port=18090
serve() { # binary extra-args...
  local bin=$1; shift
  taskset -c 1 "$work/$bin" --model "$model" --addr 127.0.0.1:$port --log-level warn "$@" &
  spid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
}
load() { # endpoint rate
  taskset -c 0 "$work/loadgen" --url "http://127.0.0.1:$port/v1/$1" --model "$model" \
    --concurrency 32 --rate "$2" --duration 10s --requests 10000000 --json
}
for bin in serve-before serve-after; do
  serve $bin
  for ep in embed score; do
    for rate in 5000 10000 0; do
      echo "$bin /v1/$ep rate=$rate: $(load $ep $rate)"
    done
  done
  kill $spid; wait $spid 2>/dev/null || true
done
serve serve-after --huge-pages
for rate in 10000 0; do echo "serve-after --huge-pages /v1/embed rate=$rate: $(load embed $rate)"; done
grep AnonHugePages /proc/$spid/smaps_rollup || true
kill $spid; wait $spid 2>/dev/null || true
# A CPU profile of /v1/embed under closed-loop load.
serve serve-after --debug-addr 127.0.0.1:18091
load embed 0 >/dev/null &
lpid=$!
sleep 1
curl -sf "http://127.0.0.1:18091/debug/pprof/profile?seconds=6" -o "$work/embed.pprof"
wait $lpid || true
kill $spid; wait $spid 2>/dev/null || true
go tool pprof -top -nodecount=25 "$work/serve-after" "$work/embed.pprof" 2>/dev/null | head -34
