#!/usr/bin/env python3
"""Tables of experiments/retrieval/runs.jsonl: per (dataset, table, history) the epochs chosen on the mean
validation recall@10 over the seeds, and at them the test recall@10, recall@50 and NDCG@10 (mean ± the seeds' sd).

    python3 experiments/retrieval/report.py [experiments/retrieval/runs.jsonl]
"""
import json
import statistics as st
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "experiments/retrieval/runs.jsonl"
runs = defaultdict(list)
for line in open(path):
    r = json.loads(line)
    runs[(r["dataset"], r["table"], r["history"], r["epochs"])].append(r)


def ms(xs):
    return f"{st.mean(xs):.4f} ± {st.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"


for ds in sorted({k[0] for k in runs}):
    print(f"\n### {ds}\n")
    print("| table | history | epochs (valid) | valid recall@10 | test recall@10 | test recall@50 | test NDCG@10 | seeds | test users |")
    print("|---|---|---|---|---|---|---|---|---|")
    for table, hist in sorted({k[1:3] for k in runs if k[0] == ds}):
        cands = [(st.mean(r["valid"]["recall_at_10"] for r in runs[(ds, table, hist, ep)]), ep)
                 for ep in (5, 10) if (ds, table, hist, ep) in runs]
        v, ep = max(cands)
        rs = runs[(ds, table, hist, ep)]
        t = lambda k: ms([r["test"][k] for r in rs])
        print(f"| {table} | {hist} | {ep} | {v:.4f} | {t('recall_at_10')} | {t('recall_at_50')} | {t('ndcg_at_10')} | {len(rs)} | {rs[0]['test']['users']:,} |")
