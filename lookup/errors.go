package lookup

import "errors"

// Errors of stores and embedders, wrapped with the key or value at fault;
// match them with [errors.Is].
var (
	// ErrNotFound reports a key the store does not hold: a row outside the
	// artifact's table, or a store that was not (fully) loaded.
	ErrNotFound = errors.New("lookup: row not found")
	// ErrShape reports buffers whose lengths do not match the keys or ids
	// and the table's width or dim, or a field index out of range.
	ErrShape = errors.New("lookup: inconsistent buffer lengths")
	// ErrUnknownStore reports a store name that is not registered.
	ErrUnknownStore = errors.New("lookup: unknown store")
	// ErrReadOnly reports a write to a store that does not take writes.
	ErrReadOnly = errors.New("lookup: store is read-only")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("lookup: store is closed")
)
