package artifact

import "errors"

// Errors of Open, grouped by what they mean. They are wrapped with the file
// at fault and what was wrong; match them with [errors.Is].
var (
	// ErrCorrupt reports an artifact whose bytes are not what its manifest
	// and headers promise: a bad magic number, a checksum mismatch, a
	// truncated or oversized file, a manifest that contradicts itself or a
	// missing file.
	ErrCorrupt = errors.New("artifact: corrupt")
	// ErrVersion reports a manifest or file format version this package
	// cannot read.
	ErrVersion = errors.New("artifact: unsupported format version")
)

// Errors of Write.
var (
	// ErrExists reports that the destination directory exists and
	// WriteOptions.Replace is not set.
	ErrExists = errors.New("artifact: destination exists")
	// ErrUnsupportedTable reports a table that cannot be exported: not one
	// of the types of packages embedding and multiplex, or one that does
	// not expose its rows.
	ErrUnsupportedTable = errors.New("artifact: table type cannot be exported")
	// ErrInvalid reports invalid contents: no schema, a field count that
	// differs from the table's, an unknown codec.
	ErrInvalid = errors.New("artifact: invalid contents")
)
