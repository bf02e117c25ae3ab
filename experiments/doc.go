// Package experiments runs offline sweeps over embedding-compression
// methods: every (dataset, method, memory budget, seed) cell trains a model
// with cmd/train's trainer and records AUC, log loss and the bytes the table
// really used. Budgets are compression ratios against the full fp32 table of
// the same dimension (one row per distinct training value), as in the
// VLDB'24 embedding-compression benchmark and the Unified Embedding paper.
//
// A sweep is resumable: each finished cell is appended (and fsynced) to
// results.csv in the output directory, and a rerun skips the cells already
// there. At the end the runner writes results.parquet, one Pareto plot of
// AUC against bytes per dataset (PNG, log x axis) and report.md.
//
// Cells run one after another; each uses the configured number of threads.
package experiments
