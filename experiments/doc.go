// Package experiments runs offline sweeps over embedding-compression
// methods: every (dataset, method, memory budget, seed) cell trains a model
// with cmd/train's trainer and records AUC, log loss and the bytes the table
// really used. Memory is serving bytes: the embedding rows plus the index
// (vocabularies, hash maps) of the served fp32 table. The full table of the
// same dimension (one row per distinct training value) is the baseline: it
// always runs, at ratio 1, and a cell's budget is its serving bytes / the
// cell's compression ratio, as in the VLDB'24 embedding-compression
// benchmark and the Unified Embedding paper (which count parameters only).
//
// A sweep is resumable: each finished cell is appended (and fsynced) to
// results.csv in the output directory, and a rerun with Sweep.Resume skips
// the cells already there; without Resume a directory that holds a sweep
// is refused. At the end the runner writes results.parquet, one Pareto plot
// of AUC against serving bytes per dataset (PNG, log x axis) and report.md.
//
// Cells run one after another; each uses the configured number of threads.
package experiments
