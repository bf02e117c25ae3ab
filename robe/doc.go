// Package robe is the ROBE table method (Desai, Chou and Shrivastava,
// "Random Offset Block Embedding (ROBE) for compressed embedding tables in
// deep learning recommendation systems", MLSys 2022), registered with
// package embedding as "robe" (`train --table robe`).
//
// # The idea
//
// Every field shares one 1-D array of parameters, sized to the byte
// budget. The vector of (field f, id) is dim/Z blocks of Z contiguous
// floats; block k is read at a hashed offset into the array, and, with the
// optional sign hash, each float is multiplied by a hashed ±1. There is no
// per-field sizing and no index: the array is the table, the hash
// functions are its config.
//
// # Our choices
//
//   - Aligned blocks. The paper (and the VLDB'24 benchmark's code, Hetu's
//     robe_hash_kernel) reads a block at any float offset of a circular
//     array; we read it at an offset that is a multiple of Z, so the array
//     is a row set of Rows rows of Z floats and a block is a row. That is
//     what the fused gather kernels, the row codecs (fp16/int8/int4 rows
//     carry a per-row scale), the row-wise optimizers and the artifact's
//     row files all work on, and a block then spans the fewest cache lines
//     (Z = 16 fp32 floats is one 64-byte line). The cost: an unaligned
//     array offers Rows·Z start positions, ours Rows, so two ids share a
//     block whole or not at all, where unaligned blocks also overlap in
//     part.
//   - Keys. Block k of field f's id is row
//     hashing.Bucket(hashing.Probe(id, f·(Dim/Z)+k), Rows) (ids already
//     carry their field's salt; the slot number f·(Dim/Z)+k makes every
//     (field, block) hash independent). The vector is the blocks
//     concatenated (embedding.ConcatRows), which the kernels gather
//     straight into the output.
//   - Sign hash (setting sign, off by default). Float j of the vector is
//     multiplied by bit j of hashing.Probe(id, signSlot(f, j/64)) as ±1.
//     The plan's concatenation has no weights, so a signed table is a
//     computed combine (embedding.ComputeVector: out = s ⊙ rows, backward
//     drows = s ⊙ dout), which leaves the kernels' direct path for
//     scratch and a combine step. Measured on the default generated set
//     (256 KiB, seeds 1-3, test AUC): Z = 1 0.7918 signed, 0.7937 not;
//     Z = 4 0.7677 signed, 0.7647 not: within the seeds' spread, at 2-3x
//     less training throughput, hence off.
//   - Block Z (setting block, or chunks = Dim/Z blocks per vector, which
//     the train command's --chunks flag sets). Z must divide Dim. The
//     default is [DefaultBlock] = 1, element-wise; its doc has the
//     measurement (smaller blocks won at every budget tried: with aligned
//     blocks, only more independent hashes per vector give the diversity
//     that overlapping unaligned blocks give the paper's ROBE-Z) and the
//     speed it costs.
//   - Init: U(-InitScale, InitScale) per float, as every table of the
//     module; the store is seeded with hashing.FieldSalt(Seed, 0).
//   - Sizing: the budget is serving bytes, fp32 parameters plus index;
//     ROBE has no index, so the array holds floor(budget / (4·Z)) rows of
//     Z floats. Optimizer state is reported apart (row-wise Adagrad keeps
//     one float per row: at Z = 1 that is one per parameter).
//
// # Where we differ from the reference
//
// The benchmark (Hsword/Hetu tools/EmbeddingMemoryCompression, run with
// use_multi 0) shares one array across all fields with no field term in
// the hash (its ids are offsets in one global vocabulary) and always
// applies the sign hash. Its Z is the number of pieces a vector is cut
// into, the piece length being dim/Z: its configuration "Z = 1, so that
// the embedding is not split" is one contiguous run of dim floats at an
// unaligned offset, the paper's ROBE-Z with Z = dim. Our Z is the paper's
// (floats per block).
//
// # ROBE at Z = Dim and feature multiplexing
//
// With Z = Dim and no sign hash, a ROBE table is one row set of Dim-float
// rows shared by all fields, field f's id reading row
// Bucket(Probe(id, f), Rows): exactly package multiplex's "multiplex"
// method (one shared table, field-salted), with the same keys and the
// same init, so the two give identical lookups and training (a test
// proves it). ROBE differs only when Z < Dim (several independently
// hashed blocks per vector, so two ids that collide in one block rarely
// collide in all) or with the sign hash; hence the default Z below Dim.
//
// # Concurrency and units
//
// Tables follow [embedding.Planned]: Lookup is safe for concurrent use,
// Apply, Load and SetThreads need exclusive access. Sizes are in bytes,
// Dim and Z in floats, Rows in rows of Z floats.
package robe
