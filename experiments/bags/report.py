#!/usr/bin/env python3
"""Tables of experiments/bags/runs.jsonl: per (dataset, model, features) the epoch count chosen on the mean
validation AUC over the seeds, and at it the test AUC and logloss (mean ± the seeds' sample sd, n seeds) with
the test set's rows and the mean DeLong SE.

    python3 experiments/bags/report.py [experiments/bags/runs.jsonl]
"""
import json
import statistics as st
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "experiments/bags/runs.jsonl"
runs = defaultdict(list)
for line in open(path):
    r = json.loads(line)
    runs[(r["dataset"], r["model"], r["features"], r["epochs"])].append(r)


def ms(xs):
    return f"{st.mean(xs):.4f} ± {st.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"


for ds in sorted({k[0] for k in runs}):
    print(f"\n### {ds}\n")
    print("| model | features | epochs (valid) | valid AUC | test AUC | test logloss | seeds | test rows, SE | samples/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    combos = sorted({k[1:3] for k in runs if k[0] == ds})
    for model, feats in combos:
        cands = [(st.mean(r["valid_auc"] for r in runs[(ds, model, feats, ep)]), ep)
                 for ep in (1, 2) if (ds, model, feats, ep) in runs]
        v, ep = max(cands)
        rs = runs[(ds, model, feats, ep)]
        print(f"| {model} | {feats} | {ep} | {v:.4f} | {ms([r['test_auc'] for r in rs])} | {ms([r['test_logloss'] for r in rs])} "
              f"| {len(rs)} | {rs[0]['test_rows']:,}, {st.mean(r['test_auc_se'] for r in rs):.4f} | {st.mean(r['train_samples_per_s'] for r in rs):,.0f} |")
