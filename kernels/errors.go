package kernels

import "errors"

// Argument errors of [GatherDequant], in the order they are checked: the
// table, then the bags, then the output. They are wrapped with the value at
// fault; match them with [errors.Is]. On error nothing has been written.
var (
	// ErrCodec reports a table codec without a kernel: nil, or not one of
	// quant's built-in codecs.
	ErrCodec = errors.New("kernels: no kernel for codec")
	// ErrTable reports an inconsistent table: dim < 1, rows < 0, a stride
	// smaller than a row, or data too short for the rows.
	ErrTable = errors.New("kernels: inconsistent table")
	// ErrPooling reports an unknown pooling mode.
	ErrPooling = errors.New("kernels: unknown pooling mode")
	// ErrOffsets reports bag offsets that are not CSR: empty, not starting
	// at 0, decreasing, or not ending at len(Indices).
	ErrOffsets = errors.New("kernels: bad bag offsets")
	// ErrIndex reports a row index outside [0, rows).
	ErrIndex = errors.New("kernels: row index out of range")
	// ErrShape reports weights that are not one per index, or an output
	// buffer that is not bags·dim (pooled) or len(Indices)·dim (None)
	// floats long.
	ErrShape = errors.New("kernels: wrong buffer length")
)
