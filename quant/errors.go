package quant

import "errors"

// Errors of codecs and tables. They are wrapped with the codec, row or
// element at fault; match them with [errors.Is].
var (
	// ErrUnknownCodec reports a codec name that is not registered.
	ErrUnknownCodec = errors.New("quant: unknown codec")
	// ErrRowSize reports a row buffer whose length does not match the
	// codec's RowBytes for the row's dim, or an empty row.
	ErrRowSize = errors.New("quant: wrong row size")
	// ErrRange reports a value the codec cannot encode: NaN or Inf for
	// the integer codecs, a magnitude beyond the codec's range for all.
	ErrRange = errors.New("quant: value out of the codec's range")
	// ErrShape reports inconsistent table dimensions: non-positive rows
	// or dim, a parameter slice that is not rows·dim long, a stride
	// smaller than a row or a data slice too short for the rows, an
	// output buffer of the wrong length, an alignment that is not a power
	// of two.
	ErrShape = errors.New("quant: inconsistent table shape")
	// ErrIndex reports a row index outside [0, rows).
	ErrIndex = errors.New("quant: row index out of range")
)
