#!/usr/bin/env python3
"""PyTorch's quantized embedding-bag ops on the same shapes as embtab's kernels benchmark.

Builds a row-wise quantized table of --table-bytes directly in the packed layout
(int8: dim bytes + fp32 scale + fp32 bias; int4: ceil(dim/2) bytes + fp16 scale + fp16 bias),
draws uniform random indices, bags of --bag, and times
torch.ops.quantized.embedding_bag_byte_rowwise_offsets / embedding_bag_4bit_rowwise_offsets
(sum pooling). Prints one JSON line per (codec, dim): rows/s, GB/s.

  /usr/bin/python3 bench/torch_embedding_bag.py --dims 16,32,64,128 --threads 1
"""
import argparse, json, time
import numpy as np
import torch

def packed_table(codec, rows, dim, rng):
    if codec == "int8":
        rb = dim + 8
        t = torch.from_numpy(rng.integers(0, 256, size=(rows, rb), dtype=np.uint8))
        sb = torch.tensor([0.01, -0.5], dtype=torch.float32).view(torch.uint8)
        t[:, dim:] = sb
    else:
        rb = (dim + 1) // 2 + 4
        t = torch.from_numpy(rng.integers(0, 256, size=(rows, rb), dtype=np.uint8))
        sb = torch.tensor([0.01, -0.5], dtype=torch.float16).view(torch.uint8)
        t[:, rb - 4:] = sb
    return t, rb

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--codecs", default="int8,int4")
    ap.add_argument("--dims", default="16,32,64,128")
    ap.add_argument("--table-bytes", type=float, default=2 * 2**30)
    ap.add_argument("--bag", type=int, default=26)
    ap.add_argument("--bags", type=int, default=4096)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(1)
    for codec in a.codecs.split(","):
        for dim in [int(d) for d in a.dims.split(",")]:
            rb = dim + 8 if codec == "int8" else (dim + 1) // 2 + 4
            rows = int(a.table_bytes // rb)
            w, rb = packed_table(codec, rows, dim, rng)
            n = a.bags * a.bag
            offsets = torch.arange(0, n + 1, a.bag, dtype=torch.int64)[:-1]
            op = (torch.ops.quantized.embedding_bag_byte_rowwise_offsets if codec == "int8"
                  else torch.ops.quantized.embedding_bag_4bit_rowwise_offsets)
            idx = [torch.from_numpy(rng.integers(0, rows, size=n, dtype=np.int64)) for _ in range(8)]
            op(w, idx[0], offsets, mode=0, include_last_offset=False)  # warm up
            t0 = time.perf_counter()
            for i in range(a.iters):
                op(w, idx[i % 8], offsets, mode=0, include_last_offset=False)
            dt = time.perf_counter() - t0
            rps = a.iters * n / dt
            print(json.dumps({"peer": "pytorch-" + torch.__version__, "codec": codec, "dim": dim, "threads": a.threads,
                              "table_bytes": rows * rb, "row_bytes": rb, "rows_per_s": round(rps),
                              "gb_per_s": round(rps * rb / 1e9, 3)}), flush=True)
            del w

if __name__ == "__main__":
    main()
