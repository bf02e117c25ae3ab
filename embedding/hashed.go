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
	cfg  Config
	rows *tableRows
	*Planned
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
	t := &Hashed{cfg: c}
	if t.rows, err = newTableRows(c.Rows, c.FieldDims, c.Dim, c.Optimizer, c.storage()); err != nil {
		return nil, fmt.Errorf("new hashed table: %w", err)
	}
	p := hashedPlan(c)
	if init {
		for f := range c.Rows {
			off := fieldOffset(c.Rows, c.FieldDims, f)
			t.rows.set(f).InitUniform(off, off+c.Rows[f], c.InitScale, c.Seed, uint64(f))
		}
	}
	if t.Planned, err = NewPlanned(p, t.rows.sets); err != nil {
		return nil, fmt.Errorf("new hashed table: %w", err)
	}
	return t, nil
}

// fieldOffset returns the first row of field f in its row store: the rows
// of the fields before it, or 0 with per-field stores.
func fieldOffset(rows, fieldDims []int, f int) int {
	if fieldDims != nil {
		return 0
	}
	off := 0
	for _, n := range rows[:f] {
		off += n
	}
	return off
}

// hashedPlan is the key plan of a hashed config (defaults filled in):
// field f's id maps to row hashing.Bucket(id, Rows[f]) of the field, in
// the table's one row set (fields one after another) or, with per-field
// dims, in row set f.
func hashedPlan(c Config) *Plan {
	p := &Plan{Dim: c.Dim}
	total := 0
	for f, n := range c.Rows {
		set, off, w := uint32(0), uint32(total), c.Dim
		if c.FieldDims != nil {
			set, off, w = uint32(f), 0, c.FieldDims[f]
			p.Sets = append(p.Sets, SetShape{Rows: n, Width: w})
		} else {
			total += n
		}
		nn := uint64(n)
		p.Fields = append(p.Fields, FieldPlan{NumKeys: 1, Combine: CopyRow, Width: w, Used: w,
			Keys: func(dst []Key, id uint64) []Key {
				return append(dst, Key{Set: set, Row: off + uint32(hashing.Bucket(id, nn))})
			}})
	}
	if c.FieldDims == nil {
		p.Sets = []SetShape{{Rows: total, Width: c.Dim}}
	}
	return p
}

// Config returns the table's configuration, defaults filled in.
func (t *Hashed) Config() Config { return t.cfg.clone() }

// Params returns the rows of field f, row-major (FieldDim(f) floats per
// row), aliasing the table (valid until the next Load; do not modify). It
// returns nil for int8 storage: read the rows with [Rows.ReadRows]
// (RowSets).
func (t *Hashed) Params(f int) []float32 {
	off := fieldOffset(t.cfg.Rows, t.cfg.FieldDims, f)
	return t.rows.set(f).span(off, off+t.cfg.Rows[f])
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
// CheckFields panics unless ids and fields pair up, every field is in
// [0, nf) and floats holds dim per id: the shape contract of
// [FieldTrainable]'s methods, for their implementations to call first.
func CheckFields(op string, ids []uint64, fields []int, floats, dim, nf int) {
	if len(fields) != len(ids) {
		panic(fmt.Sprintf("embedding: %s: %d fields for %d ids", op, len(fields), len(ids)))
	}
	if floats != len(ids)*dim {
		panic(fmt.Sprintf("embedding: %s: %d floats for %d ids of dim %d, want %d", op, floats, len(ids), dim, len(ids)*dim))
	}
	for i, f := range fields {
		if f < 0 || f >= nf {
			panic(fmt.Sprintf("embedding: %s: id %d: field %d out of [0, %d)", op, i, f, nf))
		}
	}
}

// FieldOf returns the field of id i of a batch: fields[i], or, with fields
// nil (whole examples of nf fields, as Lookup takes them), i mod nf.
func FieldOf(fields []int, i, nf int) int {
	if fields != nil {
		return fields[i]
	}
	return i % nf
}

// checkBatch panics unless n ids are whole examples of fields fields and
// floats holds dim per id.
func checkBatch(op string, n, floats, fields, dim int) {
	if n%fields != 0 {
		panic(fmt.Sprintf("embedding: %s: len(ids)=%d is not a multiple of Fields()=%d", op, n, fields))
	}
	if floats != n*dim {
		panic(fmt.Sprintf("embedding: %s: %d floats for %d ids of dim %d, want %d", op, floats, n, dim, n*dim))
	}
}
