package embedding

import (
	"fmt"
	"io"

	"github.com/embtab/embtab/hashing"
)

// Hashed is the hashing trick with one table per field: field f has
// Config.Rows[f] rows and id maps to row hashing.Bucket(id, Rows[f]) of
// its field. Distinct ids that land on one row share it. With
// Config.FieldDims, field f's rows are FieldDims[f] floats wide, in a row
// store of their own (see [FieldTableBytes]).
type Hashed struct {
	cfg    Config
	fields []hashedField
	rows   *tableRows
	idx    []int32 // Apply scratch
}

type hashedField struct {
	off int    // first row of the field in its row store
	n   uint64 // rows of the field
}

// NewHashed returns a hashed table for c (Method "hashed" or empty),
// initialised from c.Seed: field f draws init stream f.
func NewHashed(c Config) (*Hashed, error) {
	if c.Method == "" {
		c.Method = MethodHashed
	}
	if c.Method != MethodHashed {
		return nil, fmt.Errorf("new hashed table: method %q: %w", c.Method, ErrConfig)
	}
	return newHashed(c, true)
}

func newHashed(c Config, init bool) (*Hashed, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new hashed table: %w", err)
	}
	t := &Hashed{cfg: c, fields: make([]hashedField, len(c.Rows))}
	total := 0
	for f, n := range c.Rows {
		t.fields[f] = hashedField{off: total, n: uint64(n)}
		if c.FieldDims == nil {
			total += n
		}
	}
	if t.rows, err = newTableRows(c.Rows, c.FieldDims, c.Dim, c.Optimizer, c.storage()); err != nil {
		return nil, fmt.Errorf("new hashed table: %w", err)
	}
	if init {
		for f, fl := range t.fields {
			t.rows.set(f).InitUniform(fl.off, fl.off+int(fl.n), c.InitScale, c.Seed, uint64(f))
		}
	}
	return t, nil
}

// Config returns the table's configuration, defaults filled in.
func (t *Hashed) Config() Config { return t.cfg.clone() }

// Fields returns the number of fields.
func (t *Hashed) Fields() int { return len(t.fields) }

// Dim returns the number of floats per id.
func (t *Hashed) Dim() int { return t.cfg.Dim }

// SetThreads sets the number of goroutines Apply may use (see
// [Rows.SetThreads]).
func (t *Hashed) SetThreads(n int) { t.rows.setThreads(n) }

// Params returns the rows of field f, row-major (FieldDim(f) floats per
// row), aliasing the table (valid until the next Load; do not modify). It
// returns nil for int8 storage: read the rows with [Rows.ReadRows]
// (RowSets).
func (t *Hashed) Params(f int) []float32 {
	fl := t.fields[f]
	return t.rows.set(f).span(fl.off, fl.off+int(fl.n))
}

// Bytes reports the parameter and optimizer-state bytes; the index is the
// hash function and costs nothing.
func (t *Hashed) Bytes() Bytes { return t.rows.bytes() }

// Lookup writes the row of each id to out, zero-padded to Dim() in fields
// narrower than it. It panics if len(ids) is not a multiple of Fields() or
// len(out) != len(ids)*Dim().
func (t *Hashed) Lookup(ids []uint64, out []float32) {
	d := t.cfg.Dim
	checkBatch("Lookup", len(ids), len(out), len(t.fields), d)
	fields := t.fields
	// Resolve a chunk of ids to rows, then gather the rows.
	var rows [lookupChunk]int32
	f := 0
	for base := 0; base < len(ids); base += len(rows) {
		chunk := ids[base:min(base+len(rows), len(ids))]
		f0 := f
		for i, id := range chunk {
			fl := fields[f]
			rows[i] = int32(fl.off + int(hashing.Bucket(id, fl.n)))
			if f++; f == len(fields) {
				f = 0
			}
		}
		t.rows.gather(rows[:len(chunk)], f0, len(fields), out[base*d:(base+len(chunk))*d])
	}
}

// lookupChunk is the number of ids the tables' Lookups resolve to rows
// before gathering them: two short loops keep more independent cache
// misses in flight than one long one, and the row indices fit on the
// stack.
const lookupChunk = 256

// Apply updates the rows of ids with grads (see [Trainable] and
// [Rows.Apply]); in a field narrower than Dim() only the leading
// FieldDim(f) values of each gradient are used. It panics on the shape
// errors Lookup panics on.
func (t *Hashed) Apply(ids []uint64, grads []float32) {
	checkBatch("Apply", len(ids), len(grads), len(t.fields), t.cfg.Dim)
	if cap(t.idx) < len(ids) {
		t.idx = make([]int32, len(ids))
	}
	idx := t.idx[:len(ids)]
	fields := t.fields
	f := 0
	for i, id := range ids {
		fl := fields[f]
		idx[i] = int32(fl.off + int(hashing.Bucket(id, fl.n)))
		if f++; f == len(fields) {
			f = 0
		}
	}
	t.rows.apply(idx, grads)
}

// Save writes the table (config, parameters, optimizer state) to w in the
// format described in the package doc.
func (t *Hashed) Save(w io.Writer) error {
	if err := writeHeader(w, t.cfg); err != nil {
		return fmt.Errorf("save hashed table: %w", err)
	}
	if err := t.rows.save(w); err != nil {
		return fmt.Errorf("save hashed table: %w", err)
	}
	if err := writeEnd(w); err != nil {
		return fmt.Errorf("save hashed table: %w", err)
	}
	return nil
}

// Load replaces the table's parameters and optimizer state with a saved
// table of the same configuration (else [ErrConfigMismatch]). Rows are read
// in place: if Load fails the table is partly overwritten and should be
// discarded.
func (t *Hashed) Load(r io.Reader) error {
	c, err := readHeader(r)
	if err != nil {
		return fmt.Errorf("load hashed table: %w", err)
	}
	if !c.equal(t.cfg, false) {
		return fmt.Errorf("load hashed table: saved %+v, table %+v: %w", c, t.cfg, ErrConfigMismatch)
	}
	if err := t.loadBody(r); err != nil {
		return fmt.Errorf("load hashed table: %w", err)
	}
	return nil
}

func (t *Hashed) loadBody(r io.Reader) error {
	if err := t.rows.load(r); err != nil {
		return err
	}
	return readEnd(r)
}

// checkBatch panics unless n ids form whole examples of fields ids and the
// float buffer holds dim floats per id.
func checkBatch(op string, n, floats, fields, dim int) {
	if n%fields != 0 {
		panic(fmt.Sprintf("embedding: %s: len(ids)=%d is not a multiple of Fields()=%d", op, n, fields))
	}
	if floats != n*dim {
		panic(fmt.Sprintf("embedding: %s: %d floats for %d ids of dim %d, want %d", op, floats, n, dim, n*dim))
	}
}
