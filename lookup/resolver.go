package lookup

import (
	"fmt"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/quant"
)

// Resolver is a served table's key plan: the table method's own mapping
// from ids to stored rows and from rows to field vectors
// ([embedding.Method.Plan]), rebuilt from an artifact's manifest (the
// method's name and config) and vocabulary (the method's index). Training
// tables look up through the same plan code, so served vectors equal the
// trained table's for the same rows, for every registered method. The
// binary must link the method's package (package multiplex registers
// multiplex, unified and multiprobe; package embedding the rest).
//
// A Resolver is immutable and safe for concurrent use. One built over an
// artifact's vocabulary reads the mapped file: it must not be used after
// the artifact is closed.
type Resolver struct {
	plan   *embedding.Plan
	method string
	width  int
	widths []int // floats per row of each row set
}

// NewResolver builds the plan of m's table through its registered method;
// v is the artifact's vocabulary (nil for methods without an index). It
// checks that the manifest's row sets, field dims and shape are those the
// plan implies. The errors wrap artifact.ErrCorrupt (an unregistered
// method also wraps embedding.ErrUnknownMethod).
func NewResolver(m *artifact.Manifest, v *artifact.Vocab) (*Resolver, error) {
	return NewResolverWithRows(m, v, nil)
}

// NewResolverWithRows is NewResolver with the artifact's row sets
// (artifact.Artifact.RowSets): for a method whose plan computes from its
// rows ([embedding.RowBinder], such as dhe), it decodes every set to fp32
// once, with the codec's DecodeRow, and builds the plan over them. Other
// methods ignore sets. A RowBinder method without sets is an error.
func NewResolverWithRows(m *artifact.Manifest, v *artifact.Vocab, sets []*quant.Table) (*Resolver, error) {
	t := &m.Table
	meth, err := embedding.MethodByName(t.Method)
	if err != nil {
		return nil, fmt.Errorf("artifact table: %w: %w", artifact.ErrCorrupt, err)
	}
	var index embedding.Index
	if v != nil {
		index = v
	}
	var p *embedding.Plan
	if b, ok := meth.(embedding.RowBinder); ok {
		rows, derr := decodeSets(t.Method, sets)
		if derr != nil {
			return nil, derr
		}
		p, err = b.PlanWithRows(t.Config, index, rows)
	} else {
		p, err = meth.Plan(t.Config, index)
	}
	if err != nil {
		return nil, fmt.Errorf("%s table: %w: %w", t.Method, artifact.ErrCorrupt, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s table: %w: %w", t.Method, artifact.ErrCorrupt, err)
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%s table: %s: %w", t.Method, fmt.Sprintf(format, args...), artifact.ErrCorrupt)
	}
	if p.Dim != t.Dim {
		return nil, corrupt("config implies dim %d, manifest %d", p.Dim, t.Dim)
	}
	if len(p.Fields) != len(m.Fields) || len(t.FieldDims) != len(m.Fields) {
		return nil, corrupt("config implies %d fields, manifest %d (%d field dims)", len(p.Fields), len(m.Fields), len(t.FieldDims))
	}
	if len(p.Sets) != len(t.RowSets) {
		return nil, corrupt("config implies %d row sets, manifest has %d", len(p.Sets), len(t.RowSets))
	}
	r := &Resolver{plan: p, method: t.Method, width: t.Width, widths: SetWidths(m)}
	for i, s := range p.Sets {
		if t.RowSets[i].Rows != s.Rows {
			return nil, corrupt("row set %d has %d rows, config implies %d", i, t.RowSets[i].Rows, s.Rows)
		}
		if got := r.widths[i]; got != s.Width || got > t.Width {
			return nil, corrupt("row set %d has %d floats per row, config implies %d (table width %d)", i, got, s.Width, t.Width)
		}
	}
	for f := range p.Fields {
		if u := p.Fields[f].Used; u != t.FieldDims[f] {
			return nil, corrupt("field %d fills %d floats, manifest %d", f, u, t.FieldDims[f])
		}
	}
	return r, nil
}

// decodeSets decodes each row set to fp32, row-major.
func decodeSets(method string, sets []*quant.Table) ([][]float32, error) {
	if sets == nil {
		return nil, fmt.Errorf("%s table: its plan computes from its row sets: build the resolver with them (NewResolverWithRows): %w", method, artifact.ErrCorrupt)
	}
	rows := make([][]float32, len(sets))
	for s, q := range sets {
		d := q.Dim()
		rows[s] = make([]float32, q.Len()*d)
		for i := range q.Len() {
			if err := q.Codec().DecodeRow(rows[s][i*d:(i+1)*d], q.Row(i)); err != nil {
				return nil, fmt.Errorf("%s table: decode row %d of set %d: %w: %w", method, i, s, artifact.ErrCorrupt, err)
			}
		}
	}
	return rows, nil
}

// Plan returns the table's key plan.
func (r *Resolver) Plan() *embedding.Plan { return r.plan }

// Method returns the table method's name.
func (r *Resolver) Method() string { return r.method }

// Dim returns the floats per field vector.
func (r *Resolver) Dim() int { return r.plan.Dim }

// Width returns the floats per stored row as stores return them
// (Manifest.Table.Width).
func (r *Resolver) Width() int { return r.width }

// SetWidth returns the floats per row of row set s.
func (r *Resolver) SetWidth(s int) int { return r.widths[s] }

// Fields returns the number of fields.
func (r *Resolver) Fields() int { return len(r.plan.Fields) }

// FieldDim returns the number of leading floats of field f's vector that
// its rows fill (Manifest.Table.FieldDims[f]); the rest are zero.
func (r *Resolver) FieldDim(f int) int { return r.plan.Fields[f].Used }

// MaxKeys returns the most keys one id maps to.
func (r *Resolver) MaxKeys() int { return r.plan.MaxKeys() }

// Keys appends the keys of the rows that id in field f reads to dst, in
// the order the plan combines them. It panics if f is out of range.
func (r *Resolver) Keys(f int, id uint64, dst []Key) []Key {
	return r.plan.AppendKeys(dst, f, id)
}
