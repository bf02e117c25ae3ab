#!/usr/bin/env bash
# ANN retrieval side by side (issue 7): embtab's HNSW (package ann, cmd/ann) against hnswlib and FAISS
# IndexHNSWFlat (../shared/peers/ann_peer.py) on the same clustered .fvecs files, M 16, efConstruction 200,
# recall@10 against brute force and single-thread queries/s over a sweep of efSearch.
# Needs: apt-get install -y python3-hnswlib python3-faiss. Run on a quiet machine:
#   bench/ann.sh [work dir] > ann_bench.txt        (SKIP_1M=1 for the 100k set only)
# With ML1M_VECTORS=DIR (items.fvecs and users.fvecs exported by `twotower train --out`, see bench/retrieval.sh)
# it first runs the MovieLens 1M item vectors with the user vectors as queries.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/annbench}
mkdir -p "$work"
peer=../shared/peers/ann_peer.py
efs=10,20,40,80,160
go build -o "$work/ann" ./cmd/ann
run_set() { # name n dim queries
  local name=$1 n=$2 dim=$3 nq=$4
  local base="$work/$name.fvecs" q="$work/$name.q.fvecs"
  [ -f "$base" ] || "$work/ann" gen --n "$n" --dim "$dim" --clusters 100 --seed 1 \
      --queries "$nq" --out "$base" --queries-out "$q" --json
  echo "== $name: $n x $dim, $nq queries, metric ip"
  echo "-- embtab f32 (build, then sweep)"
  "$work/ann" bench --base "$base" --queries "$q" --metric ip --M 16 --efc 200 --ef "$efs" --json
  if [ "$n" -le 200000 ]; then
    echo "-- embtab f32 from an mmap'ed index file"
    "$work/ann" build --base "$base" --out "$work/$name.ann" --metric ip --M 16 --efc 200 --json
    "$work/ann" bench --base "$base" --queries "$q" --index "$work/$name.ann" --ef "$efs" --json
    echo "-- embtab int8 (distances on the codes), then int8 with float32 re-ranking"
    "$work/ann" bench --base "$base" --queries "$q" --metric ip --M 16 --efc 200 --quant int8 --ef "$efs" --json
    "$work/ann" bench --base "$base" --queries "$q" --metric ip --M 16 --efc 200 --quant int8 --rerank --ef "$efs" --json
  fi
  echo "-- peers (hnswlib, faiss-hnswflat)"
  /usr/bin/python3 "$peer" --base "$base" --queries "$q" --k 10 --metric ip --M 16 --efc 200 --ef "$efs"
}
run_files() { # name base queries: exported vectors
  local name=$1 base=$2 q=$3
  echo "== $name: $base, queries $q, metric ip"
  echo "-- embtab f32 (build, then sweep)"
  "$work/ann" bench --base "$base" --queries "$q" --metric ip --M 16 --efc 200 --ef "$efs" --json
  echo "-- embtab int8 with float32 re-ranking"
  "$work/ann" bench --base "$base" --queries "$q" --metric ip --M 16 --efc 200 --quant int8 --rerank --ef "$efs" --json
  echo "-- peers (hnswlib, faiss-hnswflat)"
  /usr/bin/python3 "$peer" --base "$base" --queries "$q" --k 10 --metric ip --M 16 --efc 200 --ef "$efs"
}
if [ -n "${ML1M_VECTORS:-}" ]; then
  run_files ml1m "$ML1M_VECTORS/items.fvecs" "$ML1M_VECTORS/users.fvecs"
fi
run_set c100k 100000 32 10000
[ "${SKIP_1M:-0}" = 1 ] || run_set c1m 1000000 32 1000
