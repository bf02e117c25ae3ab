// Package slots lays out the dense net's embedding inputs for data with
// bag fields (datasets.Schema.Bags), the one place training and serving
// share it: which input slot each one-hot field and each bag fills, how a
// batch's one-hot ids and bag values become one list of (id, table field)
// pairs for a table's LookupFields, how the pairs' vectors pool into the
// slots (sum, or mean: an empty bag is the zero vector), or, for a
// sequence bag (DIN's behaviours), lie in seqLen slots of their own,
// oldest first, zero-padded at the end, and how the slots' gradients go
// back to the pairs.
//
// Slots 0..Cat-1 are the categorical fields (table fields 0..Cat-1); each
// pooled bag takes one slot after them, in schema order; a sequence bag's
// slots come last.
package slots

import (
	"errors"
	"fmt"

	"github.com/embtab/embtab/datasets"
)

// Poolings of a pooled bag.
const (
	Mean = "mean"
	Sum  = "sum"
)

// ErrLayout is wrapped by the errors of an inconsistent layout.
var ErrLayout = errors.New("slots: invalid layout")

// Bag is where one bag goes.
type Bag struct {
	Name string `json:"name"`
	// Field is the table field of its values (its own, or the field it
	// shares: datasets.Schema.BagField).
	Field int `json:"field"`
	// Slot is its input slot (a sequence's first).
	Slot int `json:"slot"`
	// SeqLen, when > 0, makes it a sequence of that many slots (its last
	// SeqLen values); otherwise it pools into one slot by Pooling.
	SeqLen  int    `json:"seq_len,omitempty"`
	Pooling string `json:"pooling,omitempty"`
}

// Layout is the input slots of a schema's fields and bags.
type Layout struct {
	// Cat is the number of categorical (one-hot) fields.
	Cat  int   `json:"categorical"`
	Bags []Bag `json:"bags"`
	// Slots is the total number of input slots.
	Slots int `json:"slots"`
}

// New returns the layout of s: pooled bags pool by pooling ("" is Mean);
// bag seq (-1: none) is a sequence of seqLen slots.
func New(s *datasets.Schema, pooling string, seq, seqLen int) (*Layout, error) {
	if pooling == "" {
		pooling = Mean
	}
	if pooling != Mean && pooling != Sum {
		return nil, fmt.Errorf("bag pooling %q: want %s or %s: %w", pooling, Mean, Sum, ErrLayout)
	}
	if seq >= len(s.Bags) || (seq >= 0 && seqLen <= 0) {
		return nil, fmt.Errorf("sequence bag %d of %d, length %d: %w", seq, len(s.Bags), seqLen, ErrLayout)
	}
	l := &Layout{Cat: s.NumCat()}
	slot := l.Cat
	for k, b := range s.Bags {
		bg := Bag{Name: b.Name, Field: s.BagField(k), Pooling: pooling}
		if k != seq {
			bg.Slot = slot
			slot++
		}
		l.Bags = append(l.Bags, bg)
	}
	if seq >= 0 {
		l.Bags[seq].Slot, l.Bags[seq].SeqLen, l.Bags[seq].Pooling = slot, seqLen, ""
		slot += seqLen
	}
	l.Slots = slot
	return l, nil
}

// Validate checks a layout read from an artifact against a table of
// fields fields: every slot filled once, fields in range. Errors wrap
// ErrLayout.
func (l *Layout) Validate(fields int) error {
	if l.Cat < 0 || l.Slots < l.Cat || l.Cat > fields {
		return fmt.Errorf("%d categorical fields, %d slots, %d table fields: %w", l.Cat, l.Slots, fields, ErrLayout)
	}
	used := make([]bool, l.Slots)
	for i := range l.Cat {
		used[i] = true
	}
	seqs := 0
	for _, b := range l.Bags {
		if b.SeqLen > 0 {
			seqs++
		}
	}
	if seqs > 1 {
		return fmt.Errorf("%d sequence bags, at most one: %w", seqs, ErrLayout)
	}
	for _, b := range l.Bags {
		n := max(b.SeqLen, 1)
		if b.Field < 0 || b.Field >= fields || b.Slot < 0 || b.SeqLen < 0 || b.Slot+n > l.Slots ||
			(b.SeqLen == 0 && b.Pooling != Mean && b.Pooling != Sum) {
			return fmt.Errorf("bag %q (field %d, slot %d, sequence %d, pooling %q) in %d slots of %d fields: %w",
				b.Name, b.Field, b.Slot, b.SeqLen, b.Pooling, l.Slots, fields, ErrLayout)
		}
		for s := b.Slot; s < b.Slot+n; s++ {
			if used[s] {
				return fmt.Errorf("bag %q: slot %d filled twice: %w", b.Name, s, ErrLayout)
			}
			used[s] = true
		}
	}
	for s, u := range used {
		if !u {
			return fmt.Errorf("slot %d filled by nothing: %w", s, ErrLayout)
		}
	}
	return nil
}

// Sequence returns the sequence bag (nil: none).
func (l *Layout) Sequence() *Bag {
	for k := range l.Bags {
		if l.Bags[k].SeqLen > 0 {
			return &l.Bags[k]
		}
	}
	return nil
}

// Pass is one batch's pairs and vectors. Its buffers are reused from one
// batch to the next; it is not safe for concurrent use.
type Pass struct {
	l *Layout
	// IDs and Fields are the batch's pairs: the one-hot ids example by
	// example, then each bag's values (a sequence's last SeqLen).
	IDs    []uint64
	Fields []int
	// Vals holds the pairs' vectors (dim floats each) for Pool to read:
	// the caller's lookup writes them.
	Vals []float32
	grad []float32
	rows int
	bags []datasets.BagColumn
	lo   [][]int32 // per bag and example: the first value used
}

// NewPass returns a pass over l.
func (l *Layout) NewPass() *Pass { return &Pass{l: l, lo: make([][]int32, len(l.Bags))} }

// Pairs fills p.IDs and p.Fields for rows examples of one-hot ids
// (rows·Cat, example-major) and bags (one column per bag, rows examples
// each), and sizes p.Vals for dim floats a pair.
func (p *Pass) Pairs(rows int, ids []uint64, bags []datasets.BagColumn, dim int) error {
	l := p.l
	if len(ids) != rows*l.Cat || len(bags) != len(l.Bags) {
		return fmt.Errorf("slots: %d ids and %d bags for %d examples of %d fields and %d bags: %w", len(ids), len(bags), rows, l.Cat, len(l.Bags), ErrLayout)
	}
	p.rows, p.bags = rows, bags
	p.IDs = append(p.IDs[:0], ids...)
	p.Fields = p.Fields[:0]
	for i := range ids {
		p.Fields = append(p.Fields, i%l.Cat)
	}
	for k := range bags {
		c, bg := &bags[k], l.Bags[k]
		if len(c.Offsets) != rows+1 {
			return fmt.Errorf("slots: bag %q has %d offsets for %d examples: %w", bg.Name, len(c.Offsets), rows, ErrLayout)
		}
		p.lo[k] = p.lo[k][:0]
		for i := range rows {
			lo, hi := c.Offsets[i], c.Offsets[i+1]
			if bg.SeqLen > 0 {
				lo = max(lo, hi-int32(bg.SeqLen))
			}
			p.lo[k] = append(p.lo[k], lo)
			p.IDs = append(p.IDs, c.IDs[lo:hi]...)
			for range hi - lo {
				p.Fields = append(p.Fields, bg.Field)
			}
		}
	}
	if n := len(p.IDs) * dim; cap(p.Vals) < n {
		p.Vals = make([]float32, n)
	} else {
		p.Vals = p.Vals[:n]
	}
	return nil
}

// Release drops the pass's reference to the last batch's bag columns (for
// a pass kept in a pool).
func (p *Pass) Release() { p.bags = nil }

// weight returns the pooling weight of each value of a bag of n values.
func weight(b Bag, n int32) float32 {
	if b.Pooling == Mean && n > 0 {
		return 1 / float32(n)
	}
	return 1
}

// Pool writes the examples' inputs (Slots·dim floats each) to emb from
// p.Vals.
func (p *Pass) Pool(emb []float32, dim int) {
	l, d, S := p.l, dim, p.l.Slots
	for i := range p.rows {
		copy(emb[i*S*d:(i*S+l.Cat)*d], p.Vals[i*l.Cat*d:(i+1)*l.Cat*d])
	}
	pos := p.rows * l.Cat // the next bag value's pair
	for k := range p.bags {
		c, bg := &p.bags[k], l.Bags[k]
		for i := range p.rows {
			lo, hi := p.lo[k][i], c.Offsets[i+1]
			n := int(hi - lo)
			if bg.SeqLen > 0 {
				o := emb[(i*S+bg.Slot)*d : (i*S+bg.Slot+bg.SeqLen)*d]
				copy(o, p.Vals[pos*d:(pos+n)*d])
				clear(o[n*d:])
				pos += n
				continue
			}
			o := emb[(i*S+bg.Slot)*d : (i*S+bg.Slot+1)*d]
			clear(o)
			for range n {
				v := p.Vals[pos*d : (pos+1)*d]
				for x := range o {
					o[x] += v[x]
				}
				pos++
			}
			if w := weight(bg, hi-lo); w != 1 {
				for x := range o {
					o[x] *= w
				}
			}
		}
	}
}

// Unpool returns the pairs' gradients (dim floats each, in pair order)
// for dEmb, the loss's gradient at Pool's emb: a one-hot id and a
// sequence value get their slot's, a pooled value its slot's times its
// pooling weight. The slice is the pass's, valid until the next Unpool.
func (p *Pass) Unpool(dEmb []float32, dim int) []float32 {
	l, d, S := p.l, dim, p.l.Slots
	if n := len(p.IDs) * d; cap(p.grad) < n {
		p.grad = make([]float32, n)
	} else {
		p.grad = p.grad[:n]
	}
	for i := range p.rows {
		copy(p.grad[i*l.Cat*d:(i+1)*l.Cat*d], dEmb[i*S*d:(i*S+l.Cat)*d])
	}
	pos := p.rows * l.Cat
	for k := range p.bags {
		c, bg := &p.bags[k], l.Bags[k]
		for i := range p.rows {
			lo, hi := p.lo[k][i], c.Offsets[i+1]
			n := int(hi - lo)
			if bg.SeqLen > 0 {
				copy(p.grad[pos*d:(pos+n)*d], dEmb[(i*S+bg.Slot)*d:(i*S+bg.Slot+n)*d])
				pos += n
				continue
			}
			g := dEmb[(i*S+bg.Slot)*d : (i*S+bg.Slot+1)*d]
			w := weight(bg, hi-lo)
			for range n {
				o := p.grad[pos*d : (pos+1)*d]
				for x := range o {
					o[x] = w * g[x]
				}
				pos++
			}
		}
	}
	return p.grad
}
