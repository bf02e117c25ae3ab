package embedding

import "errors"

// Configuration errors, returned by the constructors, [New], [NewRows] and
// the budget helpers. They are wrapped with the offending value; match them
// with [errors.Is].
var (
	// ErrConfig reports an invalid configuration value: a non-positive dim
	// or row count, a negative cardinality, a bad combine mode, mismatched
	// slice lengths.
	ErrConfig = errors.New("embedding: invalid configuration")
	// ErrUnknownMethod reports a Config.Method other than "full", "hashed"
	// or "qr".
	ErrUnknownMethod = errors.New("embedding: unknown method")
	// ErrUnknownOptimizer reports an optimizer name that is not registered
	// (see [OptimizerNames]).
	ErrUnknownOptimizer = errors.New("embedding: unknown optimizer")
	// ErrTooManyRows reports a table of more than [MaxRows] rows.
	ErrTooManyRows = errors.New("embedding: too many rows")
	// ErrBudgetTooSmall reports a byte budget that cannot hold the minimum
	// table (one row per field for hashing, two for QR).
	ErrBudgetTooSmall = errors.New("embedding: budget too small")
	// ErrDuplicateID reports an id listed twice in one field of a [Full]
	// vocabulary.
	ErrDuplicateID = errors.New("embedding: duplicate id in vocabulary")
	// ErrVocabRequired is returned by [New] for method "full": a full table
	// is built from a vocabulary with [NewFull] or restored with [Load].
	ErrVocabRequired = errors.New("embedding: full table needs a vocabulary")
)

// Persistence errors, returned by the tables' Load methods and by [Load], in
// the order they are checked: magic, version, then contents. I/O errors of
// the underlying reader or writer are wrapped as they are; a stream cut
// short gives an error wrapping both [ErrCorrupt] and [io.ErrUnexpectedEOF]
// (an empty one gives [io.EOF]).
var (
	// ErrBadMagic reports a stream that does not start with the table magic.
	ErrBadMagic = errors.New("embedding: not an embedding table stream")
	// ErrVersion reports a format version this package cannot read.
	ErrVersion = errors.New("embedding: unsupported format version")
	// ErrCorrupt reports a stream whose header or sections are inconsistent
	// (bad config, sizes that disagree with it, a missing end marker).
	ErrCorrupt = errors.New("embedding: corrupt table stream")
	// ErrConfigMismatch reports a Load into a table whose configuration
	// differs from the saved one.
	ErrConfigMismatch = errors.New("embedding: saved table has a different configuration")
)

// Lookup and registry errors.
var (
	// ErrShape reports a batch whose buffers do not fit its plan: ids that
	// are not whole examples, an output of the wrong length, a field or
	// row set out of range.
	ErrShape = errors.New("embedding: wrong batch shape")
	// ErrDuplicateMethod reports a second registration of a method name.
	ErrDuplicateMethod = errors.New("embedding: method registered twice")
)
