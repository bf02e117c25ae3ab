package embedding

import "github.com/embtab/embtab/hashing"

// mappedField is a field whose ids resolve through an explicit map: the
// head ids (a full table's vocabulary, a hybrid table's frequent values)
// own rows off..off+head-1, and every other id falls into one of the tail
// rows after them by hashing. A full table is the case tail == 1: its one
// tail row is the OOV row.
type mappedField struct {
	off   int    // first row of the field in its row store (head rows first)
	head  int    // head rows
	tail  uint64 // tail rows (>= 1)
	index idMap  // head id -> row within the field
}

// mappedTable is the part full and hybrid tables share: their mapped
// fields, their rows and the Apply scratch.
type mappedTable struct {
	fields []mappedField
	rows   *tableRows
	idx    []int32 // Apply scratch
}

// bytes reports the rows' bytes and, as Index, the id maps' slot arrays.
func (t *mappedTable) bytes() Bytes {
	b := t.rows.bytes()
	for i := range t.fields {
		b.Index += t.fields[i].index.bytes()
	}
	return b
}

// lookup writes the row of each id to out (dim floats per id).
func (t *mappedTable) lookup(dim int, ids []uint64, out []float32) {
	checkBatch("Lookup", len(ids), len(out), len(t.fields), dim)
	lookupMapped(t.fields, t.rows, dim, ids, out)
}

// apply updates the rows of ids with grads (dim floats per id).
func (t *mappedTable) apply(dim int, ids []uint64, grads []float32) {
	checkBatch("Apply", len(ids), len(grads), len(t.fields), dim)
	if cap(t.idx) < len(ids) {
		t.idx = make([]int32, len(ids))
	}
	idx := t.idx[:len(ids)]
	resolveMapped(t.fields, ids, idx)
	t.rows.apply(idx, grads)
}

// row returns the row of id in field fl.
func (fl *mappedField) row(id uint64) int {
	if v, ok := fl.index.get(id); ok {
		return fl.off + int(v)
	}
	return fl.off + fl.head + int(hashing.Bucket(id, fl.tail))
}

// lookupMapped writes the row of each id (ids row-major over fields) to
// out: it resolves a chunk of ids to rows, then gathers them.
func lookupMapped(fields []mappedField, rows *tableRows, dim int, ids []uint64, out []float32) {
	var idx [lookupChunk]int32
	f := 0
	for base := 0; base < len(ids); base += len(idx) {
		chunk := ids[base:min(base+len(idx), len(ids))]
		f0 := f
		for i, id := range chunk {
			idx[i] = int32(fields[f].row(id))
			if f++; f == len(fields) {
				f = 0
			}
		}
		rows.gather(idx[:len(chunk)], f0, len(fields), out[base*dim:(base+len(chunk))*dim])
	}
}

// resolveMapped writes the row of each id to idx (len(idx) == len(ids)).
func resolveMapped(fields []mappedField, ids []uint64, idx []int32) {
	f := 0
	for i, id := range ids {
		idx[i] = int32(fields[f].row(id))
		if f++; f == len(fields) {
			f = 0
		}
	}
}
