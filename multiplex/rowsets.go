package multiplex

import "github.com/embtab/embtab/embedding"

// RowSets returns the row stores of the pool's tables, in pool order.
func (t *Table) RowSets() []*embedding.Rows {
	var out []*embedding.Rows
	for _, p := range t.pool {
		out = append(out, p.RowSets()...)
	}
	return out
}

var _ embedding.RowStore = (*Table)(nil)
