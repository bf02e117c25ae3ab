package artifact

import (
	"encoding/json"
	"fmt"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/multiplex"
)

// tableLayout is what an artifact records of a table: its method and
// config, shape, row sets and vocabulary.
type tableLayout struct {
	method    string
	config    json.RawMessage
	dim       int
	width     int
	fieldDims []int
	sets      []*embedding.Rows
	vocab     [][]uint64 // per field, ids in row order (full, hybrid)
}

// layoutOf describes the tables of packages embedding and multiplex; other
// tables give ErrUnsupportedTable.
func layoutOf(t embedding.Table) (tableLayout, error) {
	var l tableLayout
	rs, ok := t.(embedding.RowStore)
	if !ok {
		return l, fmt.Errorf("%T does not expose its rows (embedding.RowStore): %w", t, ErrUnsupportedTable)
	}
	l.sets = rs.RowSets()
	l.dim, l.width = t.Dim(), t.Dim()
	var cfg any
	switch t := t.(type) {
	case *embedding.Hashed:
		cfg, l.method = t.Config(), embedding.MethodHashed
	case *embedding.QR:
		cfg, l.method = t.Config(), embedding.MethodQR
	case *embedding.Full:
		cfg, l.method = t.Config(), embedding.MethodFull
		for f := range t.Fields() {
			l.vocab = append(l.vocab, t.Vocab(f))
		}
	case *embedding.Hybrid:
		cfg, l.method = t.Config(), embedding.MethodHybrid
		for f := range t.Fields() {
			l.vocab = append(l.vocab, t.Head(f))
		}
	case *multiplex.Table:
		c := t.Config()
		cfg, l.method = c, c.Method
		if c.Method == multiplex.MethodUnified {
			l.width = c.ChunkDim
			l.fieldDims = make([]int, c.Fields)
			for f, n := range c.Chunks {
				l.fieldDims[f] = n * c.ChunkDim
			}
		}
	default:
		return l, fmt.Errorf("%T: %w", t, ErrUnsupportedTable)
	}
	if l.fieldDims == nil {
		l.fieldDims = make([]int, t.Fields())
		for f := range l.fieldDims {
			l.fieldDims[f] = l.dim
		}
	}
	for i, s := range l.sets {
		if s.Dim() != l.width {
			return l, fmt.Errorf("%s table: row set %d has %d floats per row, want %d: %w", l.method, i, s.Dim(), l.width, ErrUnsupportedTable)
		}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return l, fmt.Errorf("%s table: encode config: %w", l.method, err)
	}
	l.config = js
	return l, nil
}
