#!/usr/bin/env bash
# /v1/score closed loop with 1 and 200 instances per request, the micro-batcher off (--batch-wait 0) and on (500us),
# for two server binaries alternating (BEFORE and AFTER), 3 rounds; server pinned to core 1, loadgen to core 0.
# BENCHMARKS.md, issue 19. Run on a quiet machine.
#   bench/serve_score_batch.sh BEFORE_SERVE_BINARY [AFTER_SERVE_BINARY]
set -euo pipefail
before=$1
. "$(dirname "$0")/serve_fixture.sh"
after=${2:-$work/bin/serve}
for round in 1 2 3; do
  for bin in "$before" "$after"; do
    for bw in 0 500us; do
      for b in 1 200; do
        taskset -c 1 "$bin" --model "$work/runs/a/model" --batch-wait "$bw" --log-level warn >/dev/null 2>&1 &
        sp=$!
        sleep 1.5
        conc=32; [ "$b" = 200 ] && conc=8
        r=$(taskset -c 0 loadgen --url http://127.0.0.1:8080/v1/score --model "$work/runs/a/model" --batch "$b" \
          --concurrency "$conc" --duration 6s --requests 10000000 --json 2>/dev/null | tail -1)
        echo "round=$round bin=$bin wait=$bw batch=$b $r"
        kill "$sp"; wait "$sp" 2>/dev/null || true
      done
    done
  done
done
