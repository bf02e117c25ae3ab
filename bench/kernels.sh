#!/usr/bin/env bash
# Side-by-side measurement for BENCHMARKS.md (issue 5): this machine's random-gather ceiling
# (../shared/peers/gather_limit.c, same row bytes, 2 GiB table), embtab's fused
# gather-dequantize-pool kernels, and PyTorch's quantized embedding-bag ops, 1 and 2 threads.
# Run on a quiet machine:  bench/kernels.sh > kernels_bench.txt
set -euo pipefail
cd "$(dirname "$0")/.."
peers=../shared/peers
cc -O3 -march=native -fopenmp "$peers/gather_limit.c" -o /tmp/gather_limit
echo "== gather ceiling (gather_limit.c): codec dim row_bytes threads -> output"
for spec in fp32:16:64 fp32:32:128 fp32:64:256 fp32:128:512 fp16:16:32 fp16:32:64 fp16:64:128 fp16:128:256 \
            int8:16:24 int8:32:40 int8:64:72 int8:128:136 int4:16:12 int4:32:20 int4:64:36 int4:128:68; do
  IFS=: read -r codec dim rb <<<"$spec"
  for th in 1 2; do
    echo "$codec $dim $rb $th -> $(/tmp/gather_limit 2048 "$rb" 20000000 "$th" | tail -1)"
  done
done
echo "== embtab kernels"
go test ./kernels -run '^$' -bench 'GatherDequant' -benchtime 300x -count 3
echo "== PyTorch quantized embedding_bag"
for th in 1 2; do /usr/bin/python3 bench/torch_embedding_bag.py --dims 16,32,64,128 --threads "$th"; done
