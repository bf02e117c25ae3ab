package embedding

// RowStore is implemented by tables whose parameters live in Rows. Code that
// reads or rewrites stored rows as a whole (post-training quantization,
// export to an artifact) finds it by type assertion, as database/sql finds
// optional driver interfaces. The returned Rows are the table's own: writes
// through Rows.Params or Rows.WriteRows change the table. Rows.Params is
// nil for int8 storage; Rows.ReadRows and Rows.WriteRows work for every
// storage.
type RowStore interface {
	RowSets() []*Rows
}

// RowSets returns the table's row store, or with per-field dims one store
// per field (set f of FieldDims[f] floats per row).
func (t *Hashed) RowSets() []*Rows { return t.rows.rowSets() }

// RowSets returns the table's row store (quotient and remainder rows).
func (t *QR) RowSets() []*Rows { return []*Rows{t.rows} }

// RowSets returns the table's row store (vocabulary and OOV rows), or with
// per-field dims one store per field (set f of FieldDims[f] floats per
// row).
func (t *Full) RowSets() []*Rows { return t.rows.rowSets() }

// RowSets returns the table's row store (head and tail rows), or with
// per-field dims one store per field (set f of FieldDims[f] floats per
// row).
func (t *Hybrid) RowSets() []*Rows { return t.rows.rowSets() }

var (
	_ RowStore = (*Hashed)(nil)
	_ RowStore = (*QR)(nil)
	_ RowStore = (*Full)(nil)
	_ RowStore = (*Hybrid)(nil)
)
