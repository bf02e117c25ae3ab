#!/usr/bin/env bash
# The fused gather kernel against this machine's random-gather ceiling
# (../shared/peers/gather_ceiling.c: prefetch-tuned AVX-512 row sums), with
# and without transparent huge pages, on the same 2 GiB table of int8 dim-64
# rows packed at 72 bytes (the artifact's packed layout, issue 13), 1 and 2
# threads, one run. Run on a quiet machine:  bench/kernels_thp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cc -O3 -march=native -fopenmp ../shared/peers/gather_ceiling.c -o /tmp/gather_ceiling
for thp in 0 1; do
  for th in 1 2; do
    echo "ceiling thp=$thp threads=$th: $(/tmp/gather_ceiling 2048 72 20000000 $th $thp)"
  done
  hp=""; [ "$thp" = 1 ] && hp=1
  EMBTAB_KERNELS_TABLE=2GiB EMBTAB_KERNELS_HUGEPAGES=$hp \
    go test ./kernels -run '^$' -bench 'GatherDequant/int8/64/' -benchtime 300x -count 3 | grep -E '^Benchmark' | sed "s/^/embtab thp=$thp: /"
done
