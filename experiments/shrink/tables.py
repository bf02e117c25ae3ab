#!/usr/bin/env python3
"""Tables of the intra-feature (shrinking) methods beside the sharing methods, from the sweep's results.csv.

    python3 experiments/shrink/tables.py [experiments/results]              # print the tables
    python3 experiments/shrink/tables.py experiments/results --update experiments/shrink/report.md
                                                       # rewrite the report's "## The cells" section with them

Per dataset and target ratio: each shrinking method's mean test AUC ± the seeds' sample sd (n seeds), its
achieved ratio (the full table's serving bytes / its own), and the best sharing method at that ratio; cells the
sweep found infeasible (the method cannot be built that small) are listed from infeasible.tsv.
"""
import csv
import statistics as st
import sys
from collections import defaultdict

import io

d = sys.argv[1] if len(sys.argv) > 1 else "experiments/results"
update = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--update" else None
if update:
    sys.stdout = io.StringIO()
SHRINK = ["deeplight", "pep", "autosrh", "mgqe", "dpq", "mde", "optembed", "dnis", "autodim", "uniform"]
SHARE = ["hashed", "qr", "hybrid", "multiplex", "unified", "multiprobe", "robe", "ttrec", "dhe", "dedup", "adaptemb", "cafe"]
auc, ratio, se = defaultdict(list), defaultdict(list), {}
for r in csv.DictReader(open(f"{d}/results.csv")):
    k = (r["dataset"], r["method"], float(r["target_ratio"]))
    auc[k].append(float(r["auc"]))
    if r["serving_bytes"] and float(r["serving_bytes"]) > 0:
        ratio[k].append(float(r["full_serving_bytes"]) / float(r["serving_bytes"]))
    se[k] = float(r["auc_se"])
infeasible = defaultdict(set)
try:
    for line in open(f"{d}/infeasible.tsv"):
        f = line.rstrip("\n").split("\t")
        infeasible[(f[0], float(f[2]))].add(f[1])
except FileNotFoundError:
    pass


def cell(k):
    v = auc[k]
    sd = f" ± {st.stdev(v):.4f}" if len(v) > 1 else ""
    return f"{st.mean(v):.4f}{sd} ({len(v)}; {st.mean(ratio[k]):.1f}x)"


for ds in sorted({k[0] for k in auc}):
    fk = (ds, "full", 1.0)
    if fk not in auc:
        continue
    print(f"\n### {ds}: full table {st.mean(auc[fk]):.4f} (test SE {se[fk]:.4f})\n")
    print("| ratio | " + " | ".join(SHRINK) + " | best sharing method |")
    print("|---" * (len(SHRINK) + 2) + "|")
    for rt in [2.0, 10.0, 100.0, 1000.0, 10000.0]:
        row = []
        for m in SHRINK:
            k = (ds, m, rt)
            row.append(cell(k) if k in auc else ("infeasible" if m in infeasible[(ds, rt)] else ""))
        best = max(((st.mean(auc[(ds, m, rt)]), m) for m in SHARE if (ds, m, rt) in auc), default=None)
        b = f"{best[1]} {cell((ds, best[1], rt))}" if best else ""
        print(f"| {rt:g}x | " + " | ".join(row) + f" | {b} |")

if update:
    tables = sys.stdout.getvalue()
    sys.stdout = sys.__stdout__
    text = open(update).read()
    head = text[: text.index("## The cells")]
    open(update, "w").write(head + "## The cells\n" + tables)
    print(f"{update}: the cells rewritten")
