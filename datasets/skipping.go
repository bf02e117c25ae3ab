package datasets

import (
	"errors"
	"fmt"
)

// Skipping wraps a RecordReader with a malformed-row policy. Under Skip,
// Read passes over rows that fail with a *RowError, counting them and
// keeping the first few for a report; under Fail, it returns them. Other
// errors (I/O, a corrupt gzip stream, io.EOF) always pass through.
type Skipping struct {
	r          RecordReader
	policy     OnError
	keep       int
	maxSkipped int64
	skipped    int64
	rows       int64
	first      []*RowError
}

// NewSkipping wraps r with policy, keeping at most keep of the skipped rows'
// errors for FirstErrors.
func NewSkipping(r RecordReader, policy OnError, keep int) *Skipping {
	return &Skipping{r: r, policy: policy, keep: max(keep, 0)}
}

// SetMaxSkipped limits the number of rows Skip may pass over: once n rows
// were skipped, the next malformed row ends reading with an error matching
// ErrTooManyBadRows (and the row's *RowError). n <= 0 means no limit, the
// default.
func (s *Skipping) SetMaxSkipped(n int64) { s.maxSkipped = n }

// Schema returns the schema of the wrapped reader.
func (s *Skipping) Schema() *Schema { return s.r.Schema() }

// Read fills rec with the next good record, applying the policy to
// malformed rows.
func (s *Skipping) Read(rec *Record) error {
	for {
		err := s.r.Read(rec)
		if err == nil {
			s.rows++
			return nil
		}
		var rowErr *RowError
		if s.policy != Skip || !errors.As(err, &rowErr) {
			return err
		}
		if s.maxSkipped > 0 && s.skipped >= s.maxSkipped {
			return fmt.Errorf("%w (skipped %d): %w", ErrTooManyBadRows, s.skipped, err)
		}
		s.skipped++
		if len(s.first) < s.keep {
			s.first = append(s.first, rowErr)
		}
	}
}

// Close closes the wrapped reader.
func (s *Skipping) Close() error { return s.r.Close() }

// Skipped returns the number of malformed rows skipped so far.
func (s *Skipping) Skipped() int64 { return s.skipped }

// Rows returns the number of good rows returned so far.
func (s *Skipping) Rows() int64 { return s.rows }

// FirstErrors returns the errors of the first skipped rows, at most keep of
// them, in input order. The slice must not be modified.
func (s *Skipping) FirstErrors() []*RowError { return s.first }
