package ann

import "errors"

// Errors of the index. They are wrapped with the operation, id or file at
// fault; match them with [errors.Is].
var (
	// ErrConfig reports invalid parameters: dim < 1, M < 2, an unknown
	// metric or quantization, Rerank without Int8.
	ErrConfig = errors.New("ann: invalid config")
	// ErrDim reports a vector whose length is not the index's dim.
	ErrDim = errors.New("ann: wrong vector dimension")
	// ErrDuplicate reports Add of an id that is already live in the index.
	ErrDuplicate = errors.New("ann: duplicate id")
	// ErrNotFound reports Delete of an id that is not live in the index.
	ErrNotFound = errors.New("ann: id not found")
	// ErrValue reports a NaN or infinite vector value, or k < 1.
	ErrValue = errors.New("ann: invalid value")
	// ErrCorrupt reports an index file that fails validation: bad magic,
	// unknown version, inconsistent sizes, a CRC-32C mismatch, or a graph
	// link out of range.
	ErrCorrupt = errors.New("ann: corrupt index file")
	// ErrClosed reports use of an index after Close.
	ErrClosed = errors.New("ann: index closed")
	// ErrUnsupported reports a file operation this host cannot do: the
	// zero-copy format needs a little-endian CPU.
	ErrUnsupported = errors.New("ann: unsupported on this host")
)
