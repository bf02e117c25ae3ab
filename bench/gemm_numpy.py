#!/usr/bin/env python3
"""OpenBLAS (through numpy) at the dlrm-small GEMM shapes, for BENCHMARKS.md.

Run once per thread count, as OpenBLAS reads its thread count at import:
  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/gemm_numpy.py
  OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/gemm_numpy.py
"""
import json, os, time
import numpy as np

SHAPES = [(False, False, 2048, 367, 256), (False, True, 2048, 256, 367), (True, False, 367, 2048, 256)]
rng = np.random.default_rng(1)
for ta, tb, m, k, n in SHAPES:
    a = rng.random((k, m) if ta else (m, k), dtype=np.float32)
    b = rng.random((n, k) if tb else (k, n), dtype=np.float32)
    A = a.T if ta else a
    B = b.T if tb else b
    out = np.empty((m, n), np.float32)
    np.matmul(A, B, out=out)
    best = []
    for rep in range(5):
        it = 50
        t0 = time.perf_counter()
        for _ in range(it):
            np.matmul(A, B, out=out)
        best.append(2 * m * n * k * it / (time.perf_counter() - t0) / 1e9)
    print(json.dumps({"peer": "numpy-%s/OpenBLAS" % np.__version__, "op": ("T" if ta else "N") + ("T" if tb else "N"),
                      "shape": f"{m}x{k}x{n}", "threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")),
                      "gflops_median": round(sorted(best)[2], 1)}))
