#!/usr/bin/env python3
"""Tables of experiments/optembed/{select,final}.jsonl (run.sh): per dataset and budget, the rows every threshold
setting kept and its validation AUC (seed 1; the test split is not shown for the grid: it is read once, for the
chosen setting), then the chosen setting's test AUC over seeds and its rows kept per
field.

    python3 experiments/optembed/report.py
"""
import json
import statistics as st
from collections import defaultdict

d = "experiments/optembed"
sel = [json.loads(l) for l in open(f"{d}/select.jsonl") if l.strip()]
fin = [json.loads(l) for l in open(f"{d}/final.jsonl") if l.strip()]


def kept(r):
    return sum(v[0] for v in r["kept_rows"].values()), sum(v[1] for v in r["kept_rows"].values())


for ds in sorted({r["dataset"] for r in sel}):
    for ratio in sorted({r["ratio"] for r in sel if r["dataset"] == ds}):
        rows = [r for r in sel if r["dataset"] == ds and r["ratio"] == ratio]
        full = rows[0]["full_serving_bytes"]
        print(f"\n### {ds}, budget = full table / {ratio:g} ({full // int(ratio):,} of {full:,} serving bytes)\n")
        print("| prune_reg | threshold_lr | rows kept | valid AUC (seed 1) |")
        print("|---|---|---|---|")
        for r in rows:
            k, n = kept(r)
            print(f"| {r['prune_reg']:g} | {r['threshold_lr']:g} | {k:,} / {n:,} ({k / n:.1%}) | {r['valid_auc']:.4f} |")
        f = [r for r in fin if r["dataset"] == ds and r["ratio"] == ratio]
        if not f:
            continue
        aucs = [r["test_auc"] for r in f]
        print(f"\nChosen on validation: prune_reg {f[0]['prune_reg']:g}, threshold_lr {f[0]['threshold_lr']:g}; "
              f"seeds {len(f)}: test AUC {st.mean(aucs):.4f} ± {st.stdev(aucs) if len(aucs) > 1 else 0:.4f} "
              f"(test SE {st.mean(r['test_auc_se'] for r in f):.4f}, {f[0]['test_rows']:,} rows); rows kept per field "
              "(mean over seeds / cardinality), fields that lost rows:\n")
        per = defaultdict(list)
        for r in f:
            for name, (k, n) in r["kept_rows"].items():
                per[name].append((k, n))
        lost = [(name, st.mean(k for k, _ in v), v[0][1]) for name, v in per.items() if st.mean(k for k, _ in v) < v[0][1] - 0.5]
        print(", ".join(f"{name} {k:,.0f}/{n:,}" for name, k, n in lost) or "none")
