package pq

import (
	"fmt"

	"github.com/embtab/embtab/embedding"
)

// check validates s; the errors wrap embedding.ErrConfig.
func (s *Serving) check() error {
	c := Config{Kind: MGQE, Full: embedding.Config{Dim: s.Dim}, Parts: s.Parts, High: s.High, Low: s.Low}
	if err := c.check(); err != nil {
		return err
	}
	if len(s.IDs) == 0 || len(s.Frequent) != len(s.IDs) {
		return fmt.Errorf("pq table: %d fields, %d frequent counts: %w", len(s.IDs), len(s.Frequent), embedding.ErrConfig)
	}
	rows := int64(len(s.IDs)) * int64(s.Parts) * int64(s.High)
	for f, n := range s.IDs {
		if n > embedding.MaxRows {
			return fmt.Errorf("pq table: field %d: %d ids: %w", f, n, embedding.ErrTooManyRows)
		}
		if n < 0 || s.Frequent[f] < 0 || s.Frequent[f] > n {
			return fmt.Errorf("pq table: field %d: %d frequent of %d ids: %w", f, s.Frequent[f], n, embedding.ErrConfig)
		}
		if rows += int64(n) + 1; rows > embedding.MaxRows {
			return fmt.Errorf("pq table: more than %d rows: %w", embedding.MaxRows, embedding.ErrTooManyRows)
		}
	}
	return nil
}

// plan returns the key plan of s over index (per field, the frequent ids
// then the others, as Describe lists them). Set 0 holds the codebooks
// (field f, part p, codeword c at row base[f] + p·books[f] + c, see
// fieldBooks and bookBase), then the
// frequent ids' code rows (when any field has one) and the others' (each
// field's followed by its row for unseen ids). A field's vector is
// computed from its id's code row and its codebook rows (shared keys).
func (s *Serving) plan(index embedding.Index) (*embedding.Plan, error) {
	nf := len(s.IDs)
	if index == nil || index.Fields() != nf {
		return nil, fmt.Errorf("pq table: index of the wrong shape for %d fields: %w", nf, embedding.ErrCorrupt)
	}
	pd := s.Dim / s.Parts
	bh, bl := codeBits(s.High), codeBits(s.Low)
	wh, wl := codeWords(s.Parts, bh), codeWords(s.Parts, bl)
	nh, nl := 0, 0
	for f, n := range s.IDs {
		if index.Len(f) != n {
			return nil, fmt.Errorf("pq table: field %d: index of %d ids, config %d: %w", f, index.Len(f), n, embedding.ErrCorrupt)
		}
		nh += s.Frequent[f]
		nl += n - s.Frequent[f] + 1
	}
	books, _ := fieldBooks(s.IDs, s.High, s.Low)
	bbase, brows := bookBase(books, s.Parts)
	p := &embedding.Plan{Dim: s.Dim, Sets: []embedding.SetShape{{Rows: brows, Width: pd}}}
	hiSet := uint32(0)
	if nh > 0 {
		hiSet = 1
		p.Sets = append(p.Sets, embedding.SetShape{Rows: nh, Width: wh})
	}
	loSet := uint32(len(p.Sets))
	p.Sets = append(p.Sets, embedding.SetShape{Rows: nl, Width: wl})
	width := max(pd, wh, wl)
	hb, lb := 0, 0
	for f, n := range s.IDs {
		nfq := uint32(s.Frequent[f])
		hiBase, loBase := uint32(hb), uint32(lb)
		oov := embedding.Key{Set: loSet, Row: loBase + uint32(n) - nfq}
		hb += s.Frequent[f]
		lb += n - s.Frequent[f] + 1
		shared := make([]embedding.Key, s.Parts*books[f])
		for k := range shared {
			shared[k] = embedding.Key{Row: uint32(bbase[f] + k)}
		}
		comp := &codes{index: index, field: f, frequent: nfq, parts: s.Parts, book: books[f], pd: pd, width: width, bh: bh, bl: bl}
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 1, Combine: embedding.ComputeVector, Width: width, Used: s.Dim,
			Computer: comp, Shared: shared, Exact: true,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				r, ok := index.Find(f, id)
				switch {
				case !ok:
					return append(dst, oov)
				case r < nfq:
					return append(dst, embedding.Key{Set: hiSet, Row: hiBase + r})
				}
				return append(dst, embedding.Key{Set: loSet, Row: loBase + r - nfq})
			}})
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("pq table: %w: %w", embedding.ErrCorrupt, err)
	}
	return p, nil
}

// codes is a field's computed combine: the id's code row, then the
// field's codebook rows; the vector is, per part, the codeword its code
// names. Whether the id is frequent (its codes' width) it reads from the
// index, as the key function does.
type codes struct {
	index     embedding.Index
	field     int
	frequent  uint32
	parts     int
	book      int // codewords per part
	pd, width int
	bh, bl    int
}

// Compute writes the id's codewords from rows (its code row, then the
// codebook rows).
func (k *codes) Compute(id uint64, rows, out []float32) {
	k.ComputeShared(id, rows[:k.width], rows[k.width:], out)
}

// ComputeShared writes the id's codewords from its code row and the
// codebook rows.
func (k *codes) ComputeShared(id uint64, own, shared, out []float32) {
	b := k.bl
	if r, ok := k.index.Find(k.field, id); ok && r < k.frequent {
		b = k.bh
	}
	for p := range k.parts {
		c := min(unpack(own, p, b), k.book-1) // a code past the book: only a corrupt file
		row := shared[(p*k.book+c)*k.width:][:k.pd]
		copy(out[p*k.pd:(p+1)*k.pd], row)
	}
}

var _ embedding.SharedComputer = (*codes)(nil)
