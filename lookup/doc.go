// Package lookup serves embedding rows for online inference: a [Store]
// holds an artifact's rows, a [Resolver] is the table method's key plan
// rebuilt from the manifest (embedding.Method.Plan: the same code the
// training table looks up with), and an [Embedder] resolves a batch's ids
// to keys and gathers and combines their rows with the fused
// gather-dequantize kernels (embedding.Gatherer): in place from a
// [Mapped] store's row files, in the artifact's codec, or from the rows
// another store returns for the batch's distinct keys in one Get.
//
// # Stores
//
// Stores register by name ([Register], [Open]), like database/sql drivers,
// so a flag or a manifest can name them. The implementations live in
// sub-packages, which register themselves when imported:
//
//	mmap    lookup/mmapstore     the artifact's mapped files, zero-copy (default)
//	badger  lookup/badgerstore   embedded persistent store with online updates
//	redis   lookup/redisstore    Redis Cluster, for tables beyond one machine
//
// The [Store] interface has Get and Close. Optional capabilities are
// separate interfaces found by type assertion: [Mapped] (rows the kernels
// read in place; mmap) and [Writer] (online row updates; badger and
// Redis). lookup/storetest is the conformance suite every store runs.
//
// # Keys and rows
//
// A [Key] names row Row of the table's row set Set (an artifact has one
// row set per embedding.RowStore row store; multiplexed tables have one per
// pool table; tables with per-field dims have one per field). Stores
// return rows decoded to float32, Width floats per key
// (artifact.Table.Width): a row of a narrower set (artifact.Table.SetWidth,
// per-field dims) fills the leading floats and the rest are zero.
//
// # Concurrency
//
// Stores, resolvers and embedders are safe for concurrent use. A store or
// resolver built over an artifact's mapped files must not be used after
// the artifact is closed.
//
// # Non-goals
//
// No caching layer, no training: rows change only through [Writer] or by
// loading a new artifact.
package lookup
