// Package gemmpeers holds benchmarks of the matrix multiplications embtab's
// kernels/gemm is compared against, at the same shapes: gonum's blas32 and
// GoMLX's simplego backend. It has no code of its own; see gemm_test.go and
// BENCHMARKS.md. (OpenBLAS through numpy is bench/gemm_numpy.py.)
package gemmpeers
