// Package trainer trains CTR models whose embedding tables live in Go memory
// (package embedding) and whose dense part is a DenseNet: densenet.Net (the
// native implementation, the default) or GoMLXNet, a GoMLX graph with a
// hand-written backward pass (the reference the tests compare against).
//
// # Training loop
//
// Train reads batches from a dataset source (Parquet or raw, prefetched in a
// goroutine), transforms the dense features (log1p(max(x,0))), gathers the
// embedding rows in parallel, runs the dense net's forward and backward pass
// (which also updates the dense parameters with Adam), and applies the
// sparse gradient to the touched embedding rows only. After every epoch it
// evaluates exact AUC and log loss on the test split.
//
// Data order is fixed (file order, no shuffling) and every random choice is
// seeded, so a run is reproducible: the same configuration gives the same
// model, and a run resumed from a checkpoint continues to the same result as
// one that never stopped.
//
// # Checkpoints
//
// Every CheckpointEvery steps, and at the end of each epoch, the full
// training state (embedding rows and optimizer state, dense parameters and
// Adam moments, the position in the data) is written to
// <out>/checkpoint.bin atomically (temporary file, fsync, rename) with a
// CRC-32C over the contents; see checkpoint.go for the layout. A crash at
// any time leaves the previous checkpoint intact.
//
// # Concurrency
//
// Train is not re-entrant on the same output directory. It uses up to
// Config.Threads goroutines for gathers and sparse updates.
package trainer
