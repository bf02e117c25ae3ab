package prune

import (
	"fmt"
	"slices"

	"github.com/embtab/embtab/embedding"
)

// Sparse is the serving form of a pruned table, as its manifest records
// it (with the vocabulary as the artifact's index).
type Sparse struct {
	Dim int `json:"dim"`
	// Classes is each row set's count of stored values, in set order:
	// set 0 is the one all-zero row (class 0), then classes ascending.
	Classes []int `json:"classes"`
	// Counts[f][s] is the number of field f's vocabulary ids whose rows
	// are in set s (0 for set 0: ids pruned whole are left out of the
	// vocabulary and, like unseen ids, read the zero row). The index
	// lists each field's ids by set, then by training row; within a set
	// the fields' rows follow each other in field order.
	Counts [][]int `json:"counts"`
}

// check validates s; the errors wrap embedding.ErrConfig.
func (s *Sparse) check() error {
	if s.Dim < 1 || s.Dim > maxDim || len(s.Classes) == 0 || s.Classes[0] != 0 || len(s.Counts) == 0 {
		return fmt.Errorf("sparse table: dim %d, classes %v, %d fields: %w", s.Dim, s.Classes, len(s.Counts), embedding.ErrConfig)
	}
	for i := 1; i < len(s.Classes); i++ {
		if s.Classes[i] <= s.Classes[i-1] || s.Classes[i] > s.Dim {
			return fmt.Errorf("sparse table: classes %v: not ascending in [1, %d]: %w", s.Classes, s.Dim, embedding.ErrConfig)
		}
	}
	rows := make([]int64, len(s.Classes))
	rows[0] = 1
	for f, c := range s.Counts {
		if len(c) != len(s.Classes) || c[0] != 0 {
			return fmt.Errorf("sparse table: field %d: counts %v for %d sets: %w", f, c, len(s.Classes), embedding.ErrConfig)
		}
		for k, n := range c {
			if n < 0 {
				return fmt.Errorf("sparse table: field %d: count %d: %w", f, n, embedding.ErrConfig)
			}
			rows[k] += int64(n)
		}
	}
	total := int64(0)
	for k, n := range rows {
		if n < 1 {
			return fmt.Errorf("sparse table: set %d (class %d) has no rows: %w", k, s.Classes[k], embedding.ErrConfig)
		}
		if total += n; total > embedding.MaxRows {
			return fmt.Errorf("sparse table: more than %d rows: %w", embedding.MaxRows, embedding.ErrTooManyRows)
		}
	}
	return nil
}

// maxDim bounds a pruned table's dim.
const maxDim = 1024

// setRows returns the rows of each set.
func (s *Sparse) setRows() []int {
	rows := make([]int, len(s.Classes))
	rows[0] = 1
	for _, c := range s.Counts {
		for k, n := range c {
			rows[k] += n
		}
	}
	return rows
}

// IDs returns the vocabulary ids of field f.
func (s *Sparse) IDs(f int) int {
	n := 0
	for _, c := range s.Counts[f] {
		n += c
	}
	return n
}

// ServingBytes returns the bytes a server holds for s: the rows' floats
// and the vocabulary.
func (s *Sparse) ServingBytes() int64 {
	mw := embedding.MaskWords(s.Dim)
	var b int64
	for k, n := range s.setRows() {
		b += 4 * int64(n) * int64(mw+s.Classes[k])
	}
	for f := range s.Counts {
		b += embedding.IndexBytesPerID * int64(s.IDs(f))
	}
	return b
}

// plan returns the key plan of s over index (the vocabulary, per field
// in the order Counts says); the errors wrap embedding.ErrCorrupt.
func (s *Sparse) plan(index embedding.Index) (*embedding.Plan, error) {
	if index == nil || index.Fields() != len(s.Counts) {
		n := -1
		if index != nil {
			n = index.Fields()
		}
		return nil, fmt.Errorf("sparse table: index of %d fields for %d: %w", n, len(s.Counts), embedding.ErrCorrupt)
	}
	mw := embedding.MaskWords(s.Dim)
	ns := len(s.Classes)
	p := &embedding.Plan{Dim: s.Dim}
	for k, n := range s.setRows() {
		p.Sets = append(p.Sets, embedding.SetShape{Rows: n, Width: mw + s.Classes[k]})
	}
	width := mw + s.Classes[ns-1]
	base := make([]uint32, ns) // the next field's first row in each set
	for f, c := range s.Counts {
		if n := index.Len(f); n != s.IDs(f) {
			return nil, fmt.Errorf("sparse table: field %d: index of %d ids, config %d: %w", f, n, s.IDs(f), embedding.ErrCorrupt)
		}
		cum := make([]uint32, ns+1) // field rows [cum[k], cum[k+1]) are in set k
		for k, n := range c {
			cum[k+1] = cum[k] + uint32(n)
		}
		at := slices.Clone(base)
		for k, n := range c {
			base[k] += uint32(n)
		}
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 1, Combine: embedding.SparseRow, Width: width, Used: s.Dim,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				r, ok := index.Find(f, id)
				if !ok {
					return append(dst, embedding.Key{}) // the zero row
				}
				k := 1
				for k < ns-1 && r >= cum[k+1] {
					k++
				}
				return append(dst, embedding.Key{Set: uint32(k), Row: at[k] + r - cum[k]})
			}})
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("sparse table: %w: %w", embedding.ErrCorrupt, err)
	}
	return p, nil
}

// encoded is a full table's sparse form: its config, rows and index.
type encoded struct {
	cfg   Sparse
	sets  [][]float32 // set k: rows of MaskWords + Classes[k] floats
	index [][]uint64
}

// encode returns the sparse form of a full table's rows: per field, the
// vocabulary vocab[f] and its rows params[f] (a row of dim floats an id,
// and after them the table's row for unseen ids, which a pruned table
// keeps zero: unseen ids read the zero row). A row stores its nonzero
// values.
func encode(dim int, vocab [][]uint64, params [][]float32) encoded {
	mw := embedding.MaskWords(dim)
	nnz := func(row []float32) int {
		n := 0
		for _, v := range row {
			if v != 0 {
				n++
			}
		}
		return n
	}
	present := make([]bool, dim+1)
	for f := range vocab {
		for i := range vocab[f] {
			present[nnz(params[f][i*dim:(i+1)*dim])] = true
		}
	}
	setOf := make([]int, dim+1)
	cfg := Sparse{Dim: dim, Classes: []int{0}}
	for k := 1; k <= dim; k++ {
		if present[k] {
			setOf[k] = len(cfg.Classes)
			cfg.Classes = append(cfg.Classes, k)
		}
	}
	ns := len(cfg.Classes)
	e := encoded{sets: make([][]float32, ns), index: make([][]uint64, len(vocab))}
	e.sets[0] = make([]float32, mw)
	put := func(k int, row []float32) {
		s := e.sets[k]
		at := len(s)
		s = append(s, make([]float32, mw)...)
		for j, v := range row {
			if v != 0 {
				w := at + j/embedding.MaskBits
				s[w] = float32(uint32(s[w]) | 1<<(j%embedding.MaskBits))
				s = append(s, v)
			}
		}
		e.sets[k] = s
	}
	for f, ids := range vocab {
		counts := make([]int, ns)
		bySet := make([][]int, ns)
		for i := range ids {
			k := setOf[nnz(params[f][i*dim:(i+1)*dim])]
			bySet[k] = append(bySet[k], i)
		}
		e.index[f] = make([]uint64, 0, len(ids)-len(bySet[0]))
		for k := 1; k < ns; k++ {
			counts[k] = len(bySet[k])
			for _, i := range bySet[k] {
				e.index[f] = append(e.index[f], ids[i])
				put(k, params[f][i*dim:(i+1)*dim])
			}
		}
		cfg.Counts = append(cfg.Counts, counts)
	}
	e.cfg = cfg
	return e
}
