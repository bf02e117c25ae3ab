#!/usr/bin/env bash
# /v1/embed (26 fields, mmap store, JSON and binary replies) against Redis answering the same 26 keys per request as
# one MGET, measured by the same Go client (cmd/loadgen, --redis); server and redis-server on core 1, loadgen on
# core 0; 3 rounds. BENCHMARKS.md, issue 19. Run on a quiet machine with redis-server installed.
#   bench/serve_vs_redis.sh
set -euo pipefail
. "$(dirname "$0")/serve_fixture.sh"
cd "$work"
for round in 1 2 3; do
  taskset -c 1 serve --model runs/a/model --log-level warn >/dev/null 2>&1 &
  sp=$!; sleep 1.5
  for acc in "" "application/x-embtab-f32"; do
    r=$(taskset -c 0 loadgen --url http://127.0.0.1:8080/v1/embed --model runs/a/model --accept "$acc" --concurrency 32 --duration 6s --requests 10000000 --json 2>/dev/null | tail -1)
    echo "round=$round target=embed accept=${acc:-json} $r"
  done
  kill $sp; wait $sp 2>/dev/null || true
  taskset -c 1 redis-server --port 6399 --bind 127.0.0.1 --save "" --appendonly no --daemonize no --loglevel warning >/dev/null 2>&1 &
  rp=$!; sleep 1
  r=$(taskset -c 0 loadgen --redis 127.0.0.1:6399 --model runs/a/model --concurrency 32 --duration 6s --requests 10000000 --json 2>/dev/null | tail -1)
  echo "round=$round target=redis accept=- $r"
  kill $rp; wait $rp 2>/dev/null || true
done
