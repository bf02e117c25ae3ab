package embedding

import (
	"fmt"

	"github.com/embtab/embtab/hashing"
)

// Mapped fields. A full table's and a hybrid table's fields resolve ids
// through an explicit index: the head ids (a full table's vocabulary, a
// hybrid table's frequent values) own rows off..off+head-1 of the field,
// and every other id falls into one of the tail rows after them by
// hashing. A full table is the case tail == 1: its one tail row is the OOV
// row.

// mappedPlan is the key plan of mapped fields: field f has heads[f] head
// rows (index row r of field f owns row r) and tails[f] >= 1 tail rows, in
// one row set (fields one after another) or, with per-field dims, in row
// set f of fieldDims[f] floats. index resolves head ids: the training
// table's id maps, or an artifact's mapped vocabulary.
func mappedPlan(dim int, heads, tails, fieldDims []int, index Index) *Plan {
	p := &Plan{Dim: dim}
	total := 0
	for f := range heads {
		head, tail := heads[f], tails[f]
		set, off, w := uint32(0), uint32(total), dim
		if fieldDims != nil {
			set, off, w = uint32(f), 0, fieldDims[f]
			p.Sets = append(p.Sets, SetShape{Rows: head + tail, Width: w})
		} else {
			total += head + tail
		}
		tailOff, nt := off+uint32(head), uint64(tail)
		p.Fields = append(p.Fields, FieldPlan{NumKeys: 1, Combine: CopyRow, Width: w, Used: w,
			Keys: func(dst []Key, id uint64) []Key {
				if r, ok := index.Find(f, id); ok {
					return append(dst, Key{Set: set, Row: off + r})
				}
				return append(dst, Key{Set: set, Row: tailOff + uint32(hashing.Bucket(id, nt))})
			}})
	}
	if fieldDims == nil {
		p.Sets = []SetShape{{Rows: total, Width: dim}}
	}
	return p
}

// idMaps is the training tables' head index: one id map per field.
type idMaps []idMap

func (m idMaps) Fields() int   { return len(m) }
func (m idMaps) Len(f int) int { return m[f].len() }
func (m idMaps) Find(f int, id uint64) (uint32, bool) {
	v, ok := m[f].get(id)
	return uint32(v), ok
}

// bytes returns the maps' slot arrays' bytes.
func (m idMaps) bytes() int64 {
	var b int64
	for i := range m {
		b += m[i].bytes()
	}
	return b
}

// ids returns field f's head ids in row order.
func (m idMaps) ids(f int) []uint64 {
	v := make([]uint64, m[f].len())
	m[f].keys(v)
	return v
}

// newIDMaps builds the index of heads (per field, the head ids in row
// order); it reports the first duplicate id, or ok.
func newIDMaps(heads [][]uint64) (m idMaps, field int, dup uint64, ok bool) {
	m = make(idMaps, len(heads))
	for f, h := range heads {
		m[f] = newIDMap(len(h))
		for k, id := range h {
			if !m[f].put(id, int32(k)) {
				return nil, f, id, false
			}
		}
	}
	return m, 0, 0, true
}

// NewIndex returns an in-memory [Index] over ids (per field, the ids in
// row order), as the full table holds its vocabulary: for methods that
// build a plan over an index they are about to describe. A field listing
// an id twice is an error wrapping [ErrDuplicateID].
func NewIndex(ids [][]uint64) (Index, error) {
	m, f, dup, ok := newIDMaps(ids)
	if !ok {
		return nil, fmt.Errorf("index: field %d id %#x: %w", f, dup, ErrDuplicateID)
	}
	return m, nil
}
