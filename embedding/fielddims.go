package embedding

import (
	"fmt"
	"io"

	"github.com/embtab/embtab/hashing"
)

// Per-field dims. A full, hashed or hybrid table whose config sets
// FieldDims gives field f vectors of FieldDims[f] <= Dim learned floats:
// Lookup writes them and zero-pads each vector to Dim, and Apply uses only
// the leading FieldDims[f] gradient values of each of field f's vectors
// (the padded positions' gradients are ignored). The saving is real: field
// f's rows live in their own [Rows] store of width FieldDims[f], with
// optimizer state sized to that width (row-wise Adagrad's accumulator
// averages over the field's FieldDims[f] values), so RowSets returns one
// set per field, set f of FieldDims[f] floats per row. Without FieldDims
// the table keeps every field in one store, exactly as before the option
// existed.

// FieldTableBytes returns the fp32 parameter bytes of a table whose field f
// has rows[f] rows of dims[f] floats: the sum of rows[f]·dims[f]·4. It is
// what [Config.ParamBytes] reports for a table with per-field dims, for
// budget arithmetic before building one. It panics if len(rows) !=
// len(dims).
func FieldTableBytes(rows []int64, dims []int) int64 {
	if len(rows) != len(dims) {
		panic(fmt.Sprintf("embedding: FieldTableBytes: %d row counts for %d dims", len(rows), len(dims)))
	}
	var b int64
	for f, n := range rows {
		b += n * int64(dims[f]) * 4
	}
	return b
}

// checkFieldDims validates per-field dims for a table of fields fields of
// dim floats; nil is valid (every field has dim).
func checkFieldDims(dims []int, fields, dim int) error {
	if dims == nil {
		return nil
	}
	if len(dims) != fields {
		return fmt.Errorf("%d field dims for %d fields: %w", len(dims), fields, ErrConfig)
	}
	for f, d := range dims {
		if d < 1 || d > dim {
			return fmt.Errorf("field %d dim %d not in [1, %d]: %w", f, d, dim, ErrConfig)
		}
	}
	return nil
}

// fieldSeed is the Storage seed of field f's row set in a table with
// per-field dims, so that the fields' stochastic rounding streams differ.
func fieldSeed(seed uint64, f int) uint64 { return hashing.FieldSalt(seed, f) }

// tableRows is the row storage of a full, hashed or hybrid table: one Rows
// for every field (field f's rows at its offset), or, with per-field dims,
// one Rows per field (field f's rows from row 0 of set f, dims[f] floats
// wide).
type tableRows struct {
	dim      int     // floats per looked-up vector
	perField bool    // one set per field
	sets     []*Rows // sets[0] alone, or one per field
}

// newTableRows returns zeroed storage for fields of rows[f] rows: one store
// of sum(rows) rows of dim floats if dims is nil, else one store per field
// of rows[f] rows of dims[f] floats, whose int8 rounding is seeded with
// fieldSeed(s.Seed, f).
func newTableRows(rows, dims []int, dim int, opt Optimizer, s Storage) (*tableRows, error) {
	tr := &tableRows{dim: dim, perField: dims != nil}
	if !tr.perField {
		total := 0
		for _, n := range rows {
			total += n
		}
		r, err := NewRowsWithStorage(total, dim, opt, s)
		if err != nil {
			return nil, err
		}
		tr.sets = []*Rows{r}
		return tr, nil
	}
	for f, n := range rows {
		r, err := NewRowsWithStorage(n, dims[f], opt, Storage{Precision: s.Precision, Seed: fieldSeed(s.Seed, f)})
		if err != nil {
			return nil, fmt.Errorf("field %d: %w", f, err)
		}
		tr.sets = append(tr.sets, r)
	}
	return tr, nil
}

// set returns the store that holds field f's rows.
func (tr *tableRows) set(f int) *Rows {
	if tr.perField {
		return tr.sets[f]
	}
	return tr.sets[0]
}

// save writes the rows section of each store in order.
func (tr *tableRows) save(w io.Writer) error {
	for f, r := range tr.sets {
		if err := r.save(w); err != nil {
			if tr.perField {
				return fmt.Errorf("field %d: %w", f, err)
			}
			return err
		}
	}
	return nil
}

// load reads the rows section of each store in order, in place.
func (tr *tableRows) load(rd io.Reader) error {
	for f, r := range tr.sets {
		if err := r.load(rd); err != nil {
			if tr.perField {
				return fmt.Errorf("field %d: %w", f, err)
			}
			return err
		}
	}
	return nil
}
