package embedding

import (
	"fmt"
	"io"
)

// Full is the uncompressed baseline: one row per id of a vocabulary, per
// field, plus one out-of-vocabulary (OOV) row per field shared by every id
// the vocabulary does not list. Field f has len(vocab[f])+1 rows: row k
// belongs to vocab[f][k] and the last row is the OOV row, which trains like
// any other.
//
// Ids are resolved with an open-addressing hash map per field (16 bytes a
// slot, at most 70% full), counted in Bytes().Index. With Config.FieldDims,
// field f's rows are FieldDims[f] floats wide, in a row store of their own.
type Full struct {
	cfg   Config
	index idMaps
	rows  *tableRows
	*Planned
}

// NewFull returns a full table for the per-field vocabularies vocab (the
// distinct ids of each field seen in training, typically from a counting
// pre-pass; dropping rare ids is the caller's job), initialised from
// c.Seed: field f draws init stream f. c.Method must be "full" or empty;
// c.Rows is ignored and reported as the vocabulary sizes plus one. An id
// listed twice in a field is an error wrapping [ErrDuplicateID].
func NewFull(vocab [][]uint64, c Config) (*Full, error) {
	if c.Method == "" {
		c.Method = MethodFull
	}
	if c.Method != MethodFull {
		return nil, fmt.Errorf("new full table: method %q: %w", c.Method, ErrConfig)
	}
	return newFull(vocab, c, true)
}

func newFull(vocab [][]uint64, c Config, init bool) (*Full, error) {
	if len(vocab) == 0 {
		return nil, fmt.Errorf("new full table: no fields: %w", ErrConfig)
	}
	c.Rows = make([]int, len(vocab))
	total := 0
	for f, v := range vocab {
		c.Rows[f] = len(v) + 1
		if total += len(v) + 1; total > MaxRows {
			return nil, fmt.Errorf("new full table: more than %d rows: %w", MaxRows, ErrTooManyRows)
		}
	}
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new full table: %w", err)
	}
	t := &Full{cfg: c}
	index, f, dup, ok := newIDMaps(vocab)
	if !ok {
		return nil, fmt.Errorf("new full table: field %d id %#x: %w", f, dup, ErrDuplicateID)
	}
	t.index = index
	if t.rows, err = newTableRows(c.Rows, c.FieldDims, c.Dim, c.Optimizer, c.storage()); err != nil {
		return nil, fmt.Errorf("new full table: %w", err)
	}
	if init {
		for f := range vocab {
			off := fieldOffset(c.Rows, c.FieldDims, f)
			t.rows.set(f).InitUniform(off, off+c.Rows[f], c.InitScale, c.Seed, uint64(f))
		}
	}
	if t.Planned, err = NewPlanned(fullPlan(c, index), t.rows.sets); err != nil {
		return nil, fmt.Errorf("new full table: %w", err)
	}
	return t, nil
}

// fullPlan is the key plan of a full config (Rows[f] = vocabulary + 1):
// a known id's row, else the field's OOV row after its vocabulary.
func fullPlan(c Config, index Index) *Plan {
	heads, tails := make([]int, len(c.Rows)), make([]int, len(c.Rows))
	for f, n := range c.Rows {
		heads[f], tails[f] = n-1, 1
	}
	return mappedPlan(c.Dim, heads, tails, c.FieldDims, index)
}

// Config returns the table's configuration, defaults filled in; Rows are
// the vocabulary sizes plus one.
func (t *Full) Config() Config { return t.cfg.clone() }

// Vocab returns the vocabulary of field f in row order (a new slice; the
// OOV row has no id).
func (t *Full) Vocab(f int) []uint64 {
	return t.index.ids(f)
}

// Params returns the rows of field f, row-major (FieldDim(f) floats per
// row), the OOV row last, aliasing the table (valid until the next Load; do
// not modify). It returns nil for int8 storage: read the rows with
// [Rows.ReadRows] (RowSets).
func (t *Full) Params(f int) []float32 {
	off := fieldOffset(t.cfg.Rows, t.cfg.FieldDims, f)
	return t.rows.set(f).span(off, off+t.cfg.Rows[f])
}

// Bytes reports the parameter and optimizer-state bytes and, as Index, the
// hash maps' slot arrays.
func (t *Full) Bytes() Bytes {
	b := t.Planned.Bytes()
	b.Index = t.index.bytes()
	return b
}

// Save writes the table (config, vocabularies, parameters, optimizer
// state) to w in the format described in the package doc.
func (t *Full) Save(w io.Writer) error {
	if err := writeHeader(w, t.cfg); err != nil {
		return fmt.Errorf("save full table: %w", err)
	}
	buf := make([]byte, ioChunk)
	for f := range t.index {
		if err := writeSlice(w, buf, t.Vocab(f)); err != nil {
			return fmt.Errorf("save full table: vocabulary of field %d: %w", f, err)
		}
	}
	if err := t.rows.save(w); err != nil {
		return fmt.Errorf("save full table: %w", err)
	}
	if err := writeEnd(w); err != nil {
		return fmt.Errorf("save full table: %w", err)
	}
	return nil
}

// Load replaces the table with a saved full table whose configuration
// matches apart from the vocabulary (else [ErrConfigMismatch]): the
// vocabularies, parameters and optimizer state all come from r. The table
// is replaced only once everything has been read, so a failed Load leaves
// it unchanged; meanwhile both copies are in memory.
func (t *Full) Load(r io.Reader) error {
	c, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load full table: %w", err)
	}
	if !c.equal(t.cfg, true) {
		return fmt.Errorf("load full table: saved %+v, table %+v: %w", c, t.cfg, ErrConfigMismatch)
	}
	nt, err := loadFull(r, c)
	if err != nil {
		return fmt.Errorf("load full table: %w", err)
	}
	nt.SetThreads(t.Threads())
	*t = *nt
	return nil
}

// loadFull reads the body of a saved full table of config c.
func loadFull(r io.Reader, c Config) (*Full, error) {
	if c.Method != MethodFull || len(c.Rows) == 0 {
		return nil, fmt.Errorf("full table config %+v: %w", c, ErrCorrupt)
	}
	total := 0
	for f, n := range c.Rows {
		if n < 1 || n > MaxRows {
			return nil, fmt.Errorf("field %d has %d rows: %w", f, n, ErrCorrupt)
		}
		if total += n; total > MaxRows {
			return nil, fmt.Errorf("more than %d rows: %w", MaxRows, ErrCorrupt)
		}
	}
	r, err := checkBody(r, bodyBytes(c.Rows, c.FieldDims, c.Dim, c.Optimizer, c.Storage, int64(total-len(c.Rows))))
	if err != nil {
		return nil, err
	}
	buf := make([]byte, ioChunk)
	vocab := make([][]uint64, len(c.Rows))
	for f, n := range c.Rows {
		vocab[f] = make([]uint64, n-1)
		if err := readSlice(r, buf, vocab[f]); err != nil {
			return nil, fmt.Errorf("vocabulary of field %d: %w", f, err)
		}
	}
	t, err := newFull(vocab, c, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err := t.rows.load(r); err != nil {
		return nil, err
	}
	if err := readEnd(r); err != nil {
		return nil, err
	}
	return t, nil
}
