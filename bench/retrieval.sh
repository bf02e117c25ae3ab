#!/usr/bin/env bash
# Two-tower retrieval quality on MovieLens 1M (issue 7): recall@10, recall@50 and NDCG@10 of the
# leave-last-out test items (exact search over all items, the user's earlier positives excluded) per
# table method (full at ratio 1 only; hashed, unified, hybrid) at compression ratios 1, 10 and 100 of the
# full table's bytes, over seeds 1-3; the HNSW index and adaptive (prefix + re-rank) search of the first
# full-table run against exact search; and the ratio-1 vectors as .fvecs for the ANN benchmark.
# About 10 minutes on 2 cores:
#   bench/retrieval.sh [vectors dir] > retrieval_bench.txt
set -euo pipefail
cd "$(dirname "$0")/.."
vec=${1:-/tmp/ml1m_vectors}
go run ./cmd/twotower bench --data ../shared/data/movielens/ml-1m --methods full,hashed,unified,hybrid \
    --ratios 1,10,100 --seeds 1,2,3 --nested-dims 8,16 --epochs 5 --threads 2 --quiet --export-vectors "$vec"
