package datasets

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrMalformed marks a row that does not follow its format. Every
	// *RowError matches it.
	ErrMalformed = errors.New("malformed row")
	// ErrUnknownFormat is returned for a format name no reader knows.
	ErrUnknownFormat = errors.New("unknown dataset format")
	// ErrTooManyBadRows is returned by a Skipping reader whose limit of
	// skipped rows was reached.
	ErrTooManyBadRows = errors.New("too many malformed rows")
	// ErrNoRows is returned by Convert for an input without rows (empty,
	// header only, or every row skipped).
	ErrNoRows = errors.New("no rows")
)

// RowError describes one malformed row.
type RowError struct {
	File  string // path of the source file
	Line  int64  // 1-based line number in File
	Field string // column name, or "" when the row as a whole is bad
	Err   error  // what is wrong
}

func (e *RowError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d", e.File, e.Line)
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the cause.
func (e *RowError) Unwrap() error { return e.Err }

// Is makes every RowError match ErrMalformed.
func (e *RowError) Is(target error) bool { return target == ErrMalformed }

// OnError is the policy for malformed rows.
type OnError int

const (
	// Fail stops at the first malformed row.
	Fail OnError = iota
	// Skip counts and skips malformed rows.
	Skip
)

// ParseOnError parses "fail" or "skip".
func ParseOnError(s string) (OnError, error) {
	switch s {
	case "fail":
		return Fail, nil
	case "skip":
		return Skip, nil
	}
	return Fail, fmt.Errorf("--on-error=%q: want skip or fail", s)
}

func (o OnError) String() string {
	if o == Skip {
		return "skip"
	}
	return "fail"
}
