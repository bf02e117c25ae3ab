package prune

import (
	"fmt"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/embedding"
)

// keptMask reads which values the pruned table of the artifact at dir
// kept: per field, its vocabulary ids and, per id, a bit per dimension
// (bit j of word j/64: kept). Ids outside the vocabulary kept nothing.
func keptMask(dir string, dim int) ([]map[uint64][]uint64, error) {
	a, err := artifact.Open(dir, artifact.OpenOptions{})
	if err != nil {
		return nil, fmt.Errorf("retrain from %s: %w", dir, err)
	}
	defer a.Close()
	m := a.Manifest()
	switch m.Table.Method {
	case DeepLight, PEP, AutoSrh:
	default:
		return nil, fmt.Errorf("retrain from %s: a %s table, not a pruned one: %w", dir, m.Table.Method, embedding.ErrConfig)
	}
	var c Sparse
	if err := embedding.DecodeConfig(m.Table.Config, &c); err != nil {
		return nil, fmt.Errorf("retrain from %s: %w", dir, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("retrain from %s: %w", dir, err)
	}
	if c.Dim != dim {
		return nil, fmt.Errorf("retrain from %s: dim %d, this table's %d: %w", dir, c.Dim, dim, embedding.ErrConfig)
	}
	v := a.Vocab()
	if v == nil {
		return nil, fmt.Errorf("retrain from %s: no vocabulary: %w", dir, embedding.ErrCorrupt)
	}
	p, err := c.plan(v)
	if err != nil {
		return nil, fmt.Errorf("retrain from %s: %w", dir, err)
	}
	sets := a.RowSets()
	mw := embedding.MaskWords(dim)
	words := (dim + 63) / 64
	out := make([]map[uint64][]uint64, v.Fields())
	row := make([]float32, mw+dim)
	var keys []embedding.Key
	for f := range out {
		out[f] = make(map[uint64][]uint64, v.Len(f))
		for _, id := range v.IDs(f) {
			keys = p.Fields[f].Keys(keys[:0], id)
			k := keys[0]
			t := sets[k.Set]
			if err := t.DecodeRow(int(k.Row), row[:t.Dim()]); err != nil {
				return nil, fmt.Errorf("retrain from %s: %w", dir, err)
			}
			bits := make([]uint64, words)
			for w := range mw {
				x := row[w]
				if !(x >= 0 && x < 1<<embedding.MaskBits) {
					return nil, fmt.Errorf("retrain from %s: field %d id %#x: mask word %v: %w", dir, f, id, x, embedding.ErrCorrupt)
				}
				for b := range embedding.MaskBits {
					if j := w*embedding.MaskBits + b; j < dim && uint32(x)&(1<<b) != 0 {
						bits[j/64] |= 1 << (j % 64)
					}
				}
			}
			out[f][id] = bits
		}
	}
	return out, nil
}

// restrict fixes the table's mask to the values kept: every value the
// kept mask leaves out is zeroed and masked, and the schedule is over
// (the table trains under the mask from its first step: the lottery
// ticket of PEP's and AutoSrh's retraining, from this table's own init).
func (t *Table) restrict(kept []map[uint64][]uint64) error {
	if len(kept) != t.Fields() {
		return fmt.Errorf("%s table: a kept mask of %d fields for %d: %w", t.cfg.Kind, len(kept), t.Fields(), embedding.ErrConfig)
	}
	d := t.cfg.Full.Dim
	vals := t.rows.Params()
	for f := range t.Fields() {
		at := t.rowOffset(f)
		for i, id := range t.full.Vocab(f) {
			bits := kept[f][id] // nil: kept nothing
			for j := range d {
				if bits == nil || bits[j/64]&(1<<(j%64)) == 0 {
					vals[at+i*d+j] = 0
					t.setMask(at + i*d + j)
				}
			}
		}
	}
	t.thr, t.search, t.srh = nil, nil, nil
	t.done = true
	return nil
}
