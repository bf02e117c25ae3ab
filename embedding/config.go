package embedding

import (
	"fmt"
	"math"
	"slices"
)

// Table methods, the values of Config.Method.
const (
	MethodFull   = "full"   // one row per known id and one OOV row per field: [Full]
	MethodHashed = "hashed" // hashing trick, per field: [Hashed]
	MethodQR     = "qr"     // quotient-remainder tables, per field: [QR]
)

// QR combine modes, the values of Config.Combine.
const (
	CombineMul = "mul" // elementwise product of the two rows (the default)
	CombineSum = "sum" // elementwise sum of the two rows
)

// Config describes a table completely enough to rebuild it: a manifest
// stores it as JSON, and [New] (or, with the saved rows, [Load]) turns it
// back into a table. The tables' Config methods return it with every
// default filled in.
type Config struct {
	// Method is MethodFull, MethodHashed or MethodQR.
	Method string `json:"method"`
	// Dim is the number of floats per id.
	Dim int `json:"dim"`
	// Rows is the number of rows per field: the hashed table's rows, the
	// QR quotient rows, or (reported by Full, ignored on input) the full
	// table's vocabulary size plus the OOV row. len(Rows) is the number of
	// fields.
	Rows []int `json:"rows"`
	// RemRows is the number of QR remainder rows per field (QR only).
	RemRows []int `json:"rem_rows,omitempty"`
	// Combine is the QR combine mode, CombineMul (default) or CombineSum.
	Combine string `json:"combine,omitempty"`
	// Optimizer is the sparse row optimizer.
	Optimizer Optimizer `json:"optimizer"`
	// InitScale is the half-width of the uniform init; 0 means
	// DefaultInitScale. Every initial output value lies in
	// [-InitScale, InitScale].
	InitScale float32 `json:"init_scale,omitempty"`
	// Seed seeds the init (see [Rows.InitUniform]) and, for int8 storage,
	// the stochastic rounding of updates.
	Seed uint64 `json:"seed"`
	// Storage is the precision the rows are kept in during training:
	// StorageInt8 for low-precision training (row-wise int8, updates
	// rounded stochastically, see [Storage]), or "" for float32.
	// WithDefaults turns StorageFP32 into "", so that the configs, saved
	// streams and manifests of fp32 tables are those of the versions
	// before the option existed.
	Storage string `json:"storage,omitempty"`
	// FieldDims, when set, gives field f vectors of FieldDims[f] learned
	// floats (1 <= FieldDims[f] <= Dim), zero-padded to Dim by Lookup;
	// each field then keeps its rows in its own store of that width (see
	// [FieldTableBytes] and RowSets). nil (the default) means every field
	// has Dim. Full and hashed tables only: QR tables reject it.
	FieldDims []int `json:"field_dims,omitempty"`
}

// WithDefaults validates c and returns a copy (sharing no slices with c)
// with its defaults filled in. It does not check Full's Rows, which come
// from the vocabulary.
func (c Config) WithDefaults() (Config, error) {
	c = c.clone()
	switch c.Method {
	case MethodFull, MethodHashed, MethodQR:
	default:
		return c, fmt.Errorf("method %q: %w", c.Method, ErrUnknownMethod)
	}
	if c.Dim < 1 {
		return c, fmt.Errorf("%s table: dim %d: %w", c.Method, c.Dim, ErrConfig)
	}
	opt, err := c.Optimizer.WithDefaults()
	if err != nil {
		return c, fmt.Errorf("%s table: %w", c.Method, err)
	}
	c.Optimizer = opt
	if c.Storage, err = canonicalStorage(c.Storage); err != nil {
		return c, fmt.Errorf("%s table: %w", c.Method, err)
	}
	if c.InitScale == 0 {
		c.InitScale = DefaultInitScale
	}
	if !(c.InitScale > 0) || math.IsInf(float64(c.InitScale), 0) {
		return c, fmt.Errorf("%s table: init scale %v: %w", c.Method, c.InitScale, ErrConfig)
	}
	if len(c.FieldDims) == 0 {
		c.FieldDims = nil
	} else if c.Method == MethodQR {
		return c, fmt.Errorf("qr table: field_dims are for full and hashed tables: %w", ErrConfig)
	}
	fields := len(c.Rows)
	if c.Method == MethodFull && fields == 0 {
		fields = len(c.FieldDims) // Full's Rows come from the vocabulary, checked then
	}
	if err := checkFieldDims(c.FieldDims, fields, c.Dim); err != nil {
		return c, fmt.Errorf("%s table: %w", c.Method, err)
	}
	if c.Method != MethodQR {
		if c.RemRows != nil || c.Combine != "" {
			return c, fmt.Errorf("%s table: rem_rows and combine are for qr only: %w", c.Method, ErrConfig)
		}
	} else {
		if c.Combine == "" {
			c.Combine = CombineMul
		}
		if c.Combine != CombineMul && c.Combine != CombineSum {
			return c, fmt.Errorf("qr table: combine %q: %w", c.Combine, ErrConfig)
		}
		if len(c.RemRows) != len(c.Rows) {
			return c, fmt.Errorf("qr table: %d quotient and %d remainder fields: %w",
				len(c.Rows), len(c.RemRows), ErrConfig)
		}
	}
	if c.Method == MethodFull {
		return c, nil
	}
	if len(c.Rows) == 0 {
		return c, fmt.Errorf("%s table: no fields: %w", c.Method, ErrConfig)
	}
	total := 0
	for _, rows := range [][]int{c.Rows, c.RemRows} {
		for f, n := range rows {
			if n < 1 {
				return c, fmt.Errorf("%s table: field %d has %d rows: %w", c.Method, f, n, ErrConfig)
			}
			if n > MaxRows {
				return c, fmt.Errorf("%s table: field %d has %d rows (max %d): %w", c.Method, f, n, MaxRows, ErrTooManyRows)
			}
			if total += n; total > MaxRows {
				return c, fmt.Errorf("%s table: more than %d rows: %w", c.Method, MaxRows, ErrTooManyRows)
			}
		}
	}
	return c, nil
}

// ParamBytes returns the fp32 parameter bytes of the table c describes
// (quotient plus remainder rows for QR), without optimizer state or index,
// whatever its Storage: budgets count fp32 bytes, and an int8 table of the
// same rows reports its smaller stored size in Bytes. With FieldDims, field
// f's rows count FieldDims[f] floats each (see [FieldTableBytes]).
func (c Config) ParamBytes() int64 {
	var floats int64
	for f, n := range c.Rows {
		floats += int64(n) * int64(c.FieldDim(f))
	}
	for _, n := range c.RemRows {
		floats += int64(n) * int64(c.Dim)
	}
	return floats * 4
}

// FieldDim returns the number of learned floats of field f's vectors:
// FieldDims[f], or Dim when FieldDims is nil (or too short).
func (c Config) FieldDim(f int) int {
	if f < len(c.FieldDims) {
		return c.FieldDims[f]
	}
	return c.Dim
}

// clone returns a copy of c that shares no slices with it.
func (c Config) clone() Config {
	c.Rows = slices.Clone(c.Rows)
	c.RemRows = slices.Clone(c.RemRows)
	c.FieldDims = slices.Clone(c.FieldDims)
	return c
}

// Fields returns the number of fields, len(c.Rows).
func (c Config) Fields() int { return len(c.Rows) }

// equal reports whether two configs (with defaults) are the same; if
// ignoreRows, Rows are not compared (Full: they follow the vocabulary).
func (c Config) equal(o Config, ignoreRows bool) bool {
	return c.Method == o.Method && c.Dim == o.Dim &&
		(ignoreRows || slices.Equal(c.Rows, o.Rows)) &&
		slices.Equal(c.RemRows, o.RemRows) && c.Combine == o.Combine &&
		c.Optimizer == o.Optimizer && c.InitScale == o.InitScale && c.Seed == o.Seed &&
		c.Storage == o.Storage && slices.Equal(c.FieldDims, o.FieldDims)
}

// storage returns the Rows storage of a table of c.
func (c Config) storage() Storage { return Storage{Precision: c.Storage, Seed: c.Seed} }

// canonicalStorage validates a Config.Storage and returns its canonical
// form: "" for fp32.
func canonicalStorage(s string) (string, error) {
	q, err := Storage{Precision: s}.quantized()
	if err != nil || !q {
		return "", err
	}
	return s, nil
}

// New builds a freshly initialised hashed or QR table from c. A full table
// needs its vocabulary: build it with [NewFull], or restore a saved one with
// [Load]; New returns [ErrVocabRequired] for it.
func New(c Config) (Trainable, error) {
	switch c.Method {
	case MethodHashed:
		return NewHashed(c)
	case MethodQR:
		return NewQR(c)
	case MethodFull:
		return nil, fmt.Errorf("new %s table: %w", c.Method, ErrVocabRequired)
	}
	return nil, fmt.Errorf("new table: method %q: %w", c.Method, ErrUnknownMethod)
}
