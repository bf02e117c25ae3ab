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
	// setWidths are the floats per row of each set when they differ:
	// tables of package embedding with per-field dims keep field f's rows
	// in set f, FieldDims[f] floats wide. nil: every set has width.
	setWidths []int
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
		c := t.Config()
		cfg, l.method, l.fieldDims, l.setWidths = c, embedding.MethodHashed, c.FieldDims, c.FieldDims
	case *embedding.QR:
		cfg, l.method = t.Config(), embedding.MethodQR
	case *embedding.Full:
		c := t.Config()
		cfg, l.method, l.fieldDims, l.setWidths = c, embedding.MethodFull, c.FieldDims, c.FieldDims
		for f := range t.Fields() {
			l.vocab = append(l.vocab, t.Vocab(f))
		}
	case *embedding.Hybrid:
		c := t.Config()
		cfg, l.method, l.fieldDims, l.setWidths = c, embedding.MethodHybrid, c.FieldDims, c.FieldDims
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
	if l.setWidths != nil && len(l.setWidths) != len(l.sets) {
		return l, fmt.Errorf("%s table: %d row sets for %d field dims: %w", l.method, len(l.sets), len(l.setWidths), ErrUnsupportedTable)
	}
	for i, s := range l.sets {
		if want := l.setWidth(i); s.Dim() != want {
			return l, fmt.Errorf("%s table: row set %d has %d floats per row, want %d: %w", l.method, i, s.Dim(), want, ErrUnsupportedTable)
		}
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return l, fmt.Errorf("%s table: encode config: %w", l.method, err)
	}
	l.config = js
	return l, nil
}

// setWidth returns the floats per row of row set i.
func (l *tableLayout) setWidth(i int) int {
	if l.setWidths != nil {
		return l.setWidths[i]
	}
	return l.width
}
