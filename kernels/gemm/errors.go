package gemm

import "errors"

// Argument errors, wrapped with the value at fault; match them with
// [errors.Is]. On error nothing has been written.
var (
	// ErrDims reports a negative dimension (or, for the pairwise dots, a
	// non-positive vector count or dimension).
	ErrDims = errors.New("gemm: bad dimension")
	// ErrStride reports a leading dimension smaller than the row it spans.
	ErrStride = errors.New("gemm: leading dimension too small")
	// ErrLength reports a buffer too short for its rows and leading
	// dimension.
	ErrLength = errors.New("gemm: buffer too short")
	// ErrClosed reports a call on a closed Context.
	ErrClosed = errors.New("gemm: context closed")
)
