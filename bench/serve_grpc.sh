#!/usr/bin/env bash
# /v1/score (HTTP/JSON) against the Open Inference Protocol over gRPC (ModelInfer, raw tensors), 1 and 200 instances
# per request; server on core 1, loadgen on core 0; 3 rounds, closed loop. BENCHMARKS.md, issue 19. Quiet machine.
#   bench/serve_grpc.sh
set -euo pipefail
. "$(dirname "$0")/serve_fixture.sh"
cd "$work"
for round in 1 2 3; do
  taskset -c 1 serve --model ctr=runs/a/model --grpc-addr 127.0.0.1:8001 --log-level warn >/dev/null 2>&1 &
  sp=$!
  sleep 1.5
  for b in 1 200; do
    conc=32; [ "$b" = 200 ] && conc=8
    for proto in http grpc; do
      if [ "$proto" = http ]; then t=(--url http://127.0.0.1:8080/v1/score); else t=(--grpc 127.0.0.1:8001 --grpc-model ctr); fi
      r=$(taskset -c 0 loadgen "${t[@]}" --model runs/a/model --batch "$b" --concurrency "$conc" --duration 6s \
        --requests 10000000 --json 2>/dev/null | tail -1)
      echo "round=$round proto=$proto batch=$b $r"
    done
  done
  kill "$sp"; wait "$sp" 2>/dev/null || true
done
