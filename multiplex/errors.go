package multiplex

import "github.com/embtab/embtab/embedding"

// Configuration errors, returned by [New], [Config.WithDefaults],
// [LoadConfig] and [ForBudget], wrapped with the offending value; match
// them with [errors.Is]. Each also matches the embedding error of the same
// meaning ([embedding.ErrConfig], [embedding.ErrUnknownMethod]), so that a
// caller handling every kind of table needs one check.
var (
	// ErrConfig reports an invalid configuration value: a non-positive
	// dim, row or chunk count, chunks that do not fit the dim, settings of
	// another method, a malformed config file.
	ErrConfig error = &kindError{"multiplex: invalid configuration", embedding.ErrConfig}
	// ErrUnknownMethod reports a Config.Method other than "multiplex",
	// "unified" or "multiprobe".
	ErrUnknownMethod error = &kindError{"multiplex: unknown method", embedding.ErrUnknownMethod}
)

// The other errors are embedding's, for the same reasons as there:
// [embedding.ErrBudgetTooSmall] and [embedding.ErrTooManyRows] from the
// sizing, [embedding.ErrUnknownOptimizer] from the optimizer, and
// [embedding.ErrBadMagic], [embedding.ErrVersion], [embedding.ErrCorrupt]
// and [embedding.ErrConfigMismatch] from Load.

// kindError is a sentinel error that also matches a more general one.
type kindError struct {
	msg  string
	base error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.base }
