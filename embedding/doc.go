// Package embedding holds the embedding tables of CTR and recommender
// models: tables that map the hashed categorical ids of a batch to vectors
// ([Table]) and learn them with sparse row optimizers ([Trainable]).
//
// # Tables
//
// Every compression method is a table behind the same two small interfaces.
// This package has the uncompressed baseline and the two classic hashing
// methods; other packages (multiplex, dimsearch, quant) add more:
//
//   - [Full]: one row per id of a per-field vocabulary plus one OOV row per
//     field. The reference for compression ratios.
//   - [Hashed]: the hashing trick, rows[f] rows per field.
//   - [QR]: quotient-remainder compositional embeddings (Shi et al. 2020).
//
// Tables are built from a [Config] ([New], [NewHashed], [NewQR], [NewFull]);
// [HashedForBudget] and [QRForBudget] size a Config to a byte budget and
// [FullTableBytes] gives the full table's size to compare against. All three
// keep their rows in a [Rows] store, which other packages can reuse: it owns
// the parameters, the optimizer state and the sparse update engine.
//
// # Methods, plans and the engine
//
// A table method's mapping from ids to rows is its key plan ([Plan]): per
// field a key function (id -> row keys in row sets), and a combine —
// [CopyRow], [SumRows] (optionally weighted: multi-probe hashing, bag
// pooling), [ConcatRows] (multiplexing's and Unified Embedding's chunks) or
// [ComputeVector] (a [Computer]: QR's product, or a vector computed from
// the id alone). Each method builds its plan in its own file, and every
// table runs on one engine, [Planned]: Lookup resolves keys and reads the
// rows with the fused gather-dequantize kernel through a [Gatherer] (the
// code serving runs over an artifact's rows, package lookup); Apply runs
// the combines' backward and each row store's sparse update.
//
// Methods register by name ([RegisterMethod], [Method]), as database/sql
// drivers do, and a method is the one place that knows its tables: New
// sizes a table to a [Spec] (field schema, budget, per-field dims, kept
// ids, settings), Plan rebuilds the key plan from the config and index an
// artifact recorded ([Describer]), Load restores a checkpointed table.
// This package registers full, hashed, qr and hybrid; package multiplex
// registers multiplex, unified and multiprobe. The trainer ([NewTable]),
// the artifact writer and reader, and serving take a method by name and
// switch over no table types, so a method defined outside the module
// (see cmd/serve's toy method test) trains, exports and serves like these.
//
// # Budgets in serving bytes
//
// A [Spec.Budget] counts what a server holds for the table: its fp32
// parameters plus its index, [IndexBytesPerID] for each id a full table's
// vocabulary or a hybrid table's head lists ([IndexServingBytes],
// [FullServingBytes]). Hashed, QR and multiplexed tables have no index;
// optimizer state is reported apart (Bytes).
//
// # Per-field dims
//
// Full, hashed and hybrid tables take per-field dims (Config.FieldDims,
// HybridConfig.FieldDims; QR tables do not): field f's vectors then have
// FieldDims[f] <= Dim learned floats, which Lookup zero-pads to Dim and
// Apply updates from the leading FieldDims[f] gradient values (the rest
// are ignored). Each field keeps its rows in a [Rows] store of its own
// width, optimizer state included, so RowSets returns one set per field
// and a narrow field really costs less; [FieldTableBytes] does the budget
// arithmetic. Without FieldDims a table is exactly what it was before the
// option existed (one row set, same saved streams).
//
// Optional capabilities are separate interfaces, found by type assertion:
// [Persister] (Save and Load, for checkpoints), and the concrete tables'
// SetThreads (parallel Apply) and Config methods. The conformance suite in
// embedding/embtest checks any Trainable.
//
// # Optimizers
//
// An [Optimizer] names one of the registered sparse row optimizers — [SGD],
// [RowwiseAdagrad], [Adagrad], [LazyAdam] — with its learning rate and
// constants. Apply sums the gradients of the ids of a batch that map to one
// row (in batch order) and updates each touched row once; rows not touched
// are neither read nor written, so their optimizer state does not decay.
// Optimizer state lives beside the parameters in the table's Rows.
//
// # Units
//
// Sizes are in bytes (int64) and rows. Parameters are float32 by default,
// so a table of n rows of dim floats holds n*dim*4 bytes of parameters;
// with int8 storage (below) it holds n*(dim+8). With per-field dims, dim
// is each field's own. [Bytes] splits a table's
// memory into parameters as stored, optimizer state and index. Budgets
// count fp32 parameters only, whatever the storage. Ids are uint64 hashes
// from package hashing, one per (example, field), row-major.
//
// # Low-precision training
//
// Config.Storage (and HybridConfig.Storage) = [StorageInt8] keeps a table's
// rows in package quant's int8 row-wise format during training: dim codes
// plus a float32 scale and bias per row. Lookups decode; Apply decodes each
// touched row, updates it in float32 as usual and re-encodes it with
// seeded stochastic rounding, which keeps updates unbiased and results
// reproducible for any thread count (see [Storage]). Optimizer state stays
// float32, so with row-wise Adagrad a row takes dim+12 bytes instead of
// 4*dim+4: 2.4x less at dim 16, 3.4x at dim 64. Rows.Params is nil for such
// tables: [Rows.ReadRows] and [Rows.WriteRows] read and write rows of any
// storage.
//
// [StorageALPT] and [StorageALPT4] are ALPT's adaptive low-precision
// training: symmetric 8- or 4-bit rows whose per-row steps are learned
// from a second dense pass a step ([ScaleLearner], [Rows.ApplyScales]);
// the rows stay exactly on quant.Int8's (quant.Int4's) grid, so an
// artifact written from them ([Rows.EncodedAs]) serves the trained values.
//
// # Concurrency
//
// Lookup is safe for concurrent use with other Lookups and reads only. Apply,
// Load, SetThreads need exclusive access: nothing else may use the table
// meanwhile. Apply itself may run on several goroutines (SetThreads); each
// row is then owned by one goroutine and the result is bit-identical for
// every thread count. Lookup and Apply do not allocate once Apply's scratch
// buffers have grown to the batch size (a threaded Apply starts its
// goroutines, which costs a few small allocations).
//
// # Persistence
//
// Save writes a table to an io.Writer as little-endian binary: a header
// with magic, version and the Config as JSON, the vocabularies (Full), the
// parameters (as stored: float32, or int8 rows in version 2 streams) and
// the optimizer state, per field in version 3 streams (tables with
// per-field dims; layout in persist.go). A table loaded with Load
// continues training bit-identically. Writing to a temporary
// file, fsync, rename and checksums are the caller's job.
//
// # Non-goals
//
// Tables here are in memory, for training (fp32, or int8 for low-precision
// training). Post-training quantization to other codecs, mmap'ed serving
// stores and fused gather kernels live in quant, lookup and kernels. There
// is no learned quantization scale (as in ALPT): int8 rows re-fit their
// scale and bias to each update. Tables do not grow: Full's vocabulary is fixed at construction
// (unknown ids go to the OOV row), and there is no eviction or admission
// policy. Dense (non-embedding) parameters and their optimizers belong to
// the trainer. Lookup pools nothing: one id per (example, field).
package embedding
