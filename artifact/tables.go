package artifact

import (
	"encoding/json"
	"fmt"

	"github.com/embtab/embtab/embedding"
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
	vocab     [][]uint64 // per field, the index's ids in row order (full, hybrid)
	exact     bool       // the plan stores sparse rows (fp32 only)
}

// layoutOf reads what the table's method records of it
// ([embedding.Describer]); tables that cannot describe themselves give
// ErrUnsupportedTable. It checks the description against its plan, so
// serving rebuilds the same plan from the manifest.
func layoutOf(t embedding.Table) (tableLayout, error) {
	var l tableLayout
	d, ok := t.(embedding.Describer)
	if !ok {
		return l, fmt.Errorf("%T does not describe itself (embedding.Describer): %w", t, ErrUnsupportedTable)
	}
	desc, err := d.Describe()
	if err != nil {
		return l, fmt.Errorf("%T: %w", t, err)
	}
	if desc.Plan == nil || len(desc.Sets) != len(desc.Plan.Sets) {
		return l, fmt.Errorf("%s table: description without a plan of its row sets: %w", desc.Method, ErrUnsupportedTable)
	}
	if desc.SetWidths != nil && len(desc.SetWidths) != len(desc.Sets) {
		return l, fmt.Errorf("%s table: %d row sets for %d set widths: %w", desc.Method, len(desc.Sets), len(desc.SetWidths), ErrUnsupportedTable)
	}
	l = tableLayout{method: desc.Method, config: desc.Config, dim: desc.Plan.Dim, width: desc.Width,
		fieldDims: desc.Plan.FieldDims(), sets: desc.Sets, vocab: desc.Index, exact: desc.Plan.Exact()}
	for i, s := range l.sets {
		want := l.width
		if desc.SetWidths != nil {
			want = desc.SetWidths[i]
		}
		if s.Dim() != want || s.Dim() != desc.Plan.Sets[i].Width || s.Len() != desc.Plan.Sets[i].Rows {
			return l, fmt.Errorf("%s table: row set %d is %d x %d, want %d x %d: %w",
				l.method, i, s.Len(), s.Dim(), desc.Plan.Sets[i].Rows, want, ErrUnsupportedTable)
		}
	}
	return l, nil
}
