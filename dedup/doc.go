// Package dedup is the Dedup table method ("dedup", train --table dedup)
// of the VLDB'24 embedding-compression benchmark (Zhang et al.,
// "Experimental Analysis of Large-scale Learnable Vector Storage
// Compression", Hsword/Hetu tools/EmbeddingMemoryCompression), after
// the deduplication of model parameters: train a table, then merge
// blocks of similar rows into one physical block found by LSH, keep a
// remap from logical to physical block (one extra tiny gather), and
// fine-tune the merged table.
//
// Our version fits the key-plan seam of package embedding:
//
//   - The logical table is a hashed table (per-field rows sized as
//     embedding.HashedForBudget sizes them) whose Dim-float rows are cut
//     into Dim/Block blocks of Block floats (default Block = Dim/2); every
//     block is one row of the one row set, so an id's keys are its
//     Dim/Block blocks (ConcatRows) and the plan stays a key plan.
//   - The table trains normally for Config.After Apply calls (default 40:
//     inside one epoch of the train command's default generated set,
//     about 90 steps at batch 2048), then dedups once: each block gets the
//     sign bits of Bits random hyperplanes (default 12); a block whose
//     cosine similarity with a representative of its bucket (the first
//     blocks of the bucket, up to 64 compared) is at least Threshold
//     (default 0.95) joins it (with the fp setting, the similarity is the
//     benchmark's element-wise one instead). A group becomes one physical row, the mean
//     of its blocks with its representative's optimizer state; the table
//     is rebuilt over the kept rows, and the key function maps each
//     logical block key through the remap (Config.Remap). Training then
//     goes on over the merged blocks (fine-tuning): ids whose blocks were
//     merged now share them. The step count travels in checkpoints, so a
//     resumed run dedups at the same step.
//   - Serving bytes: kept physical rows × Block × 4 + the remap, 4 bytes
//     a logical block. Sizing reserves the remap from the start: the
//     logical rows are those of a hashed table for budget × ratio ×
//     Block/(Block+1) bytes. With the ratio setting at its default 1, the
//     table is within budget before and after the dedup, whatever it
//     merges (the merges then buy nothing but the freed rows: the gain is
//     in accuracy only if an oversized table is used). A ratio > 1
//     oversizes the logical table; the dedup then also merges, most
//     similar pairs first, below the threshold until rows and remap fit
//     the budget (Config.MaxPhysical); it can fall short only when too
//     few blocks share buckets (then Bytes and the result's bytes say so).
//   - The remap travels in the config JSON (the Description's Config and
//     the checkpoint header) as one base64 string of little-endian
//     uint32s ([Remap]; 16/3 bytes a logical block), read back whole by
//     Plan, which gets no rows. An artifact's manifest is at most 64 MiB,
//     so a table has at most 2^23 logical blocks (sizing
//     fails with embedding.ErrTooManyRows past it: use a larger block):
//     fine for small and medium tables, not for billion-row ones. A row
//     set of width 1 holding the indices as exact float32 (< 2^24), bound
//     at serving through embedding.RowBinder, would lift the limit, but an
//     artifact has one codec for all its row sets, and an fp16, int8 or
//     int4 re-quantization would corrupt the indices: it needs a per-set
//     codec (an exact set) in the artifact first. The trainer's
//     serving bytes add it to the row set (the table's
//     ConfigServingBytes: the remap once deduped); the table's
//     Bytes().Index reserves it from the start.
//
// Measured (train command's default generated set, dim 16, one epoch,
// 256 KiB budget; test AUC, mean of seeds 1-3, and serving bytes with the
// remap): hashed 0.6218 (262144 B); dedup never deduping (after 0: a
// hashed table of 8/9 the rows cut in half-rows) 0.6375 (232960 B);
// dedup defaults 0.6350 (143-170 KB: about 40% of the blocks merged);
// ratio 1.5 0.6451 (197-231 KB); ratio 1.5 with threshold 0.99 (the
// budget pass merging the rest) 0.6454 (262120 B). Seed 1 alone: threshold
// 0.99 0.6368 (240256 B), 0.9 0.6327 (126240 B), ratio 2 0.6426. So: at
// ratio 1 the dedup frees 30-40% of the bytes for about -0.0025 AUC, and
// an oversized table (ratio 1.5) spends them for +0.008 over the
// undeduped one. Most of the gap to hashed is not the dedup: after 0
// already has it (half-row blocks get their own row-wise Adagrad
// accumulators, and the hash differs); we have not separated the two.
// Small blocks merge far more at a fixed threshold (random 2- or 4-float
// blocks are often within 0.95 cosine: Block 4 at dim 16 kept 247 rows of
// 7.7k): raise the threshold with them.
//
// Where we differ from the benchmark's code (its Dedup trainer, adapted
// from Zhou et al., "Serving Deep Learning Models with Deduplication from
// Relational Databases", VLDB'22): it pre-trains a full table to its best
// epoch, then cuts it into blocks of several whole rows (block_cap floats),
// indexes them with an L2 (p-stable) LSH (90 tables), visits the blocks in
// ascending order of their third quartile and maps a block to its most
// similar earlier candidate when the share of floats within fp (0.01) is
// at least sim (0.7), keeping that block as it is; it stops once enough
// blocks are mapped for the compression rate (the remap counted as one
// int32 a block), and skips a field whose dedup would not save memory.
// We start from a hashed table sized to the budget (which may be far
// below the full table), cut each row into Dim/Block blocks (a block is a
// fraction of a row, not several rows, so a lookup stays one row's
// gather), dedup in-process once at a step count, bucket by random
// hyperplanes (sign bits) and compare with at most 64 representatives a
// bucket, use the cosine by default (the element-wise rule with the fp
// setting), average a group rather than keep one block, and reach a
// budget only with ratio > 1 (the benchmark's stop-at-the-rate rule is our
// MaxPhysical pass, most similar pairs first).
package dedup
