// Package streamsize lets the loaders of binary streams (embedding and
// multiplex tables) check that a stream holds the bytes its header
// promises before they allocate for them, so that a corrupt or truncated
// header of a few bytes cannot make a loader allocate gigabytes.
package streamsize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Remaining returns the number of bytes left in r, when r can tell: it
// reports its length (bytes.Reader, bytes.Buffer, strings.Reader) or can
// seek (a file; the position is restored).
func Remaining(r io.Reader) (int64, bool) {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len()), true
	case io.Seeker:
		cur, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		end, err := r.Seek(0, io.SeekEnd)
		if _, err2 := r.Seek(cur, io.SeekStart); err2 != nil || err != nil || end < cur {
			return 0, false
		}
		return end - cur, true
	}
	return 0, false
}

// AtLeast checks that r holds at least need more bytes and returns the
// reader to go on reading from. A reader that can tell what is left is
// checked directly and returned; from any other reader the need bytes
// are read into memory first (followed by the rest of r), so a truncated
// stream fails having allocated no more than it holds. A short stream
// gives an error wrapping corrupt and io.ErrUnexpectedEOF.
func AtLeast(r io.Reader, need int64, corrupt error) (io.Reader, error) {
	if left, ok := Remaining(r); ok {
		if left < need {
			return nil, fmt.Errorf("%d bytes left, the header needs %d: %w: %w", left, need, corrupt, io.ErrUnexpectedEOF)
		}
		return r, nil
	}
	var buf bytes.Buffer
	if n, err := io.CopyN(&buf, r, need); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%d bytes left, the header needs %d: %w: %w", n, need, corrupt, io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	return io.MultiReader(&buf, r), nil
}
