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

// Every table's RowSets is its [Planned] engine's: one store per row set
// of its plan (one for the whole table, or with per-field dims one per
// field, set f of FieldDims[f] floats per row).

var (
	_ RowStore = (*Hashed)(nil)
	_ RowStore = (*QR)(nil)
	_ RowStore = (*Full)(nil)
	_ RowStore = (*Hybrid)(nil)
)
