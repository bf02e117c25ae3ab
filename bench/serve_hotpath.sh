#!/usr/bin/env bash
# /v1/embed and /v1/score before and after the serving hot path moved to the
# key plan + fused gather kernels (issue 13), in one run: the same artifact
# (written by BEFORE's train, format v1, which both versions read) served
# by a serve binary built at BEFORE (default adcd6fd, row-by-row decode)
# and by this tree's, each pinned to core 1 with the load generator on
# core 0; then this tree's own artifact (v2, packed rows) with and without
# --huge-pages, and a CPU profile of /v1/embed under closed-loop load. Run
# on a quiet machine.
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
(cd "$work/src" && go build -o "$work/serve-before" ./cmd/serve && go build -o "$work/train-before" ./cmd/train)
"$work/dataset" gen --rows 300000 --scale 0.01 --seed 1 --out "$work/g.parquet" >/dev/null
"$work/train-before" --data "$work/g.parquet" --model dlrm --memory-budget 64MiB --out "$work/run-v1" --quiet --json | cut -c1-200
"$work/train" --data "$work/g.parquet" --model dlrm --memory-budget 64MiB --out "$work/run" --quiet --json | cut -c1-200
model="$work/run-v1/model"
port=18090
serve() { # binary extra-args...
  local bin=$1; shift
  taskset -c 1 "$work/$bin" --model "$model" --addr 127.0.0.1:$port --log-level warn "$@" &
  spid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "$bin did not become ready" >&2; exit 1
}
load() { # endpoint rate
  taskset -c 0 "$work/loadgen" --url "http://127.0.0.1:$port/v1/$1" --model "$model" \
    --concurrency 32 --rate "$2" --duration 10s --requests 10000000 --json
}
# Alternating rounds (the machine's noise is of the order of the
# difference): each round serves the v1 artifact with one binary, then the
# other, closed loop and at 5k and 10k req/s.
for round in $(seq "${ROUNDS:-3}"); do
  for bin in serve-before serve-after; do
    serve $bin
    for ep in embed score; do
      for rate in 5000 10000 0; do
        echo "round $round $bin /v1/$ep rate=$rate: $(load $ep $rate 2>/dev/null)"
      done
    done
    kill $spid; wait $spid 2>/dev/null || true
  done
done
model="$work/run/model"
serve serve-after
for rate in 10000 0; do echo "serve-after (v2 artifact) /v1/embed rate=$rate: $(load embed $rate)"; done
kill $spid; wait $spid 2>/dev/null || true
serve serve-after --huge-pages
for rate in 10000 0; do echo "serve-after --huge-pages /v1/embed rate=$rate: $(load embed $rate)"; done
grep AnonHugePages /proc/$spid/smaps_rollup || true
kill $spid; wait $spid 2>/dev/null || true
# A CPU profile of /v1/embed under closed-loop load.
serve serve-after --debug-addr 127.0.0.1:18091
load embed 0 >/dev/null &
lpid=$!
sleep 1
mkdir -p /tmp/bench
curl -sf "http://127.0.0.1:18091/debug/pprof/profile?seconds=6" -o /tmp/bench/embed.pprof
wait $lpid || true
kill $spid; wait $spid 2>/dev/null || true
cp "$work/serve-after" /tmp/bench/serve-after
go tool pprof -top -nodecount=25 /tmp/bench/serve-after /tmp/bench/embed.pprof 2>/dev/null | head -34
echo "== cumulative, embtab code"
go tool pprof -top -cum -nodecount=400 /tmp/bench/serve-after /tmp/bench/embed.pprof 2>/dev/null | grep -E 'embtab|flat%' | head -30
