// Package multiplex holds embedding tables shared by all fields: feature
// multiplexing and Unified Embedding (Coleman et al. 2023, "Unified
// Embedding: Battle-Tested Feature Representations for Web-Scale ML
// Systems", NeurIPS), and a multi-probe variant.
//
// # The idea
//
// The hashing trick gives every field a table of its own, sized by hand.
// Feature multiplexing puts every field into one shared table instead,
// each field hashing its values with its own salt: collisions then happen
// mostly between different fields, which the model can tell apart (the
// paper shows that the gradient of a shared row decomposes into
// per-field components, and the dense layers learn to separate them), and
// capacity flows to whichever fields have the most values, with no
// per-field sizing. Unified Embedding makes multiplexing practical: field
// f takes Chunks[f] lookups, each with its own salt, into a pool of shared
// tables of ChunkDim-float rows and concatenates them, so important fields
// get wider vectors (more chunks) from the same shared parameters, and the
// pool's tables can be placed on different devices.
//
// Three methods, by [Config].Method:
//
//   - [MethodMultiplex]: one table of Dim-float rows; field f's id reads
//     one row.
//   - [MethodUnified]: a pool of Tables tables of ChunkDim-float rows;
//     field f's id reads Chunks[f] rows and concatenates them. Its vector
//     has Chunks[f]*ChunkDim floats, zero-padded to Dim (the widest field's
//     size unless Dim says more), as [embedding.Table] documents.
//   - [MethodMultiProbe]: one table of Dim-float rows; field f's id reads
//     Probes rows and sums them (a few hash functions per value make two
//     values that collide on one row unlikely to collide on all).
//
// # Lookups
//
// A table's slots are its (field, chunk) or (field, probe) pairs numbered
// j = 0, 1, ... in field-major order (field 0's chunks first). Slot j
// re-hashes the id with hashing.Probe(id, j) — a salt per (field, chunk),
// on top of the field salt that ids already carry — and reads row
// hashing.Bucket(hashing.Probe(id, j), Rows[p]) of pool table
// p = j mod Tables: chunks go round-robin over the pool, so equal chunk
// counts spread every field over every table. Multiplex is the unified
// table with one chunk of Dim floats per field and one table.
//
// Each pool table is an [embedding.Hashed] table of one field, fed the
// re-hashed ids: its [embedding.Rows] store holds the parameters and the
// optimizer state and runs the sparse update. Apply hands each pool table
// its entries in (example, field, slot) order with the slot's part of the
// gradient (multiprobe: all of it), so a row read by several slots, fields
// or examples gets the sum of their gradients in one update; the padding's
// gradient is dropped.
//
// Init: pool table p draws from U(-s, s) under seed
// hashing.FieldSalt(Seed, p), where s is InitScale, or InitScale/Probes
// for multiprobe (a sum of Probes rows then stays within InitScale).
//
// # Configuration and units
//
// A [Config] is stored as JSON in manifests and in saved tables.
// [LoadConfig] reads the shape from a small JSON file, [Config.RegisterFlags]
// binds it to flags, and [ForBudget] fills in the rows that fit a byte
// budget. Budgets and [Table.Bytes] count bytes: the budget covers the
// fp32 parameters only (rows × width × 4, width = ChunkDim for unified
// tables, else Dim), as in package embedding; Bytes reports the
// parameters, the optimizer state and (zero) index apart.
//
// # Concurrency
//
// As for every embedding table: Lookup is safe for concurrent use with
// other Lookups; Apply, Load and SetThreads need exclusive access. Apply
// may run on several goroutines per pool table (SetThreads), with results
// bit-identical for every thread count. Lookup does not allocate, and
// Apply does not once its scratch buffers have grown to the batch size
// (apart from the goroutines a threaded Apply starts).
//
// # Persistence
//
// Save writes the Config and then each pool table in embedding's format
// (layout in persist.go); Load restores a table of the same Config, after
// which training continues bit-identically.
//
// # Non-goals
//
// The pool lives in one process's memory in fp32; there is no sharding
// across devices. Chunk counts are configured, not searched.
package multiplex
