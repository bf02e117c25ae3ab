#!/usr/bin/env bash
# Issue 6 robustness run: a 60-second open-loop load at twice the 20k req/s goal on the mmap store, with the
# server's RSS sampled every second and a hot reload to an int8 artifact in the middle; then kill -9 during
# `export --replace` many times, checking after each kill that the previous artifact still loads.
#   bench/serve_soak.sh [train_data.tsv] [kills]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-/tmp/bench/synth300k.tsv}
kills=${2:-30}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
for c in train serve loadgen export; do go build -o "$work/$c" ./cmd/$c; done
"$work/train" --data "$data" --model dlrm --memory-budget 64MiB --out "$work/run" --quiet --json >/dev/null
"$work/export" --from "$work/run/model" --out "$work/model-int8" --codec int8 >/dev/null
port=18081
"$work/serve" --model "$work/run/model" --addr 127.0.0.1:$port --log-level warn &
spid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
( for s in $(seq 62); do echo "rss_kib $(awk '/VmRSS/{print $2}' /proc/$spid/status)"; sleep 1; done ) > "$work/rss.txt" &
( sleep 30; echo "reload: $(curl -s -X POST -H 'Content-Type: application/json' \
     -d "{\"model\":\"$work/model-int8\"}" "http://127.0.0.1:$port/v1/admin/reload")" ) &
echo "load: $("$work/loadgen" --url "http://127.0.0.1:$port/v1/embed" --model "$work/run/model" --concurrency 64 \
   --rate 40000 --duration 60s --requests 10000000 --json)"
wait %2 %3 2>/dev/null || true
sort -k2 -n "$work/rss.txt" | sed -n '1p;$p' | awk '{print "rss_kib min/max:", $2}'
echo "model after reload: $(curl -s "http://127.0.0.1:$port/v1/model" | head -c 300)"
kill $spid; wait $spid 2>/dev/null || true

echo "== kill -9 during export --replace, $kills times"
cp -r "$work/run/model" "$work/target"
ok=0
for i in $(seq "$kills"); do
  codec=$([ $((i % 2)) -eq 0 ] && echo int8 || echo fp16)
  "$work/export" --from "$work/run/model" --out "$work/target" --codec $codec --replace >/dev/null 2>&1 &
  epid=$!
  sleep "0.0$((RANDOM % 9 + 1))"
  kill -9 $epid 2>/dev/null || true
  wait $epid 2>/dev/null || true
  if "$work/export" --from "$work/target" --out "$work/check" --replace >/dev/null 2>&1; then ok=$((ok + 1)); else echo "kill $i: target does not load"; fi
done
echo "previous or new artifact loadable after $ok of $kills kills"
