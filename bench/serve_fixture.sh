# Sourced by the serving benchmarks (serve_score_batch.sh, serve_vs_redis.sh, serve_grpc.sh): builds the binaries
# into $work/bin (on PATH), generates 20,000 Criteo-like rows and trains the default full-table dlrm on them into
# $work/runs/a (artifact: $work/runs/a/model); $work is removed on exit.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/bin/" ./cmd/serve ./cmd/loadgen ./cmd/dataset ./cmd/train
PATH=$work/bin:$PATH
dataset gen --rows 20000 --out "$work/synth.parquet" --quiet >/dev/null
train --data "$work/synth.parquet" --out "$work/runs/a" --quiet >/dev/null 2>&1
