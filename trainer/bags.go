package trainer

import (
	"fmt"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
)

// Bag poolings (Config.BagPooling).
const (
	BagMean = "mean"
	BagSum  = "sum"
)

// bagStep is the embedding side of a step for data with bag fields
// (datasets.Schema.Bags): the batch's one-hot ids and bag values become one
// list of (id, field) pairs, looked up together (the table's LookupFields),
// each bag's value vectors pooled into its input slot (sum, or mean: an
// empty bag is the zero vector), or, for a sequence bag (DIN's behaviours),
// its last seqLen values laid out in seqLen slots, oldest first,
// zero-padded at the end; the backward hands each value its slot's
// gradient (times its pooling weight), and one ApplyFields trains every
// pair, so a row read by a one-hot field and a bag (a movie and a history
// that holds it) is updated once with the sum.
type bagStep struct {
	table      embedding.FieldTrainable
	nc, slots  int
	dim        int
	bags       []bagSlot
	mean       bool
	ids        []uint64
	fields     []int
	vals, grad []float32
	lo         [][]int32 // per bag and example: the first value used
}

// bagSlot is where one bag goes among the net's input slots.
type bagSlot struct {
	field  int // the table field of its values
	slot   int // its (first) input slot
	seqLen int // 0: pooled into one slot; else the sequence's slots
}

// slotLayout returns the input slots of s's bags: each pooled bag one slot
// after the categorical fields, in order, then the sequence bag's seqLen
// slots (seq is its index, -1 for none), and the total slots.
func slotLayout(s *datasets.Schema, seq, seqLen int) ([]bagSlot, int) {
	var bs []bagSlot
	slot := s.NumCat()
	for k := range s.Bags {
		b := bagSlot{field: s.BagField(k)}
		if k != seq {
			b.slot = slot
			slot++
		}
		bs = append(bs, b)
	}
	if seq >= 0 {
		bs[seq].slot, bs[seq].seqLen = slot, seqLen
		slot += seqLen
	}
	return bs, slot
}

// sequenceBag returns the bag DIN attends over: the first that shares a
// categorical field (a history of the candidate's items), and that field's
// slot (the candidate's).
func sequenceBag(s *datasets.Schema) (bag, target int, err error) {
	for k, b := range s.Bags {
		if b.Of != "" {
			return k, s.BagField(k), nil
		}
	}
	return -1, -1, fmt.Errorf("--model din needs a sequence bag that shares an item field (bags: %s; MovieLens: --history N)", bagNames(s))
}

func newBagStep(t embedding.Trainable, s *datasets.Schema, pooling string, seq, seqLen int) (*bagStep, error) {
	ft, ok := t.(embedding.FieldTrainable)
	if !ok {
		return nil, fmt.Errorf("bag fields (%s): the %T table cannot look up a bag's values (no LookupFields)", bagNames(s), t)
	}
	if t.Fields() != s.NumFields() {
		return nil, fmt.Errorf("bag fields: the table has %d fields, the data %d", t.Fields(), s.NumFields())
	}
	bs := &bagStep{table: ft, nc: s.NumCat(), dim: t.Dim(), mean: pooling != BagSum}
	bs.bags, bs.slots = slotLayout(s, seq, seqLen)
	bs.lo = make([][]int32, len(s.Bags))
	return bs, nil
}

func bagNames(s *datasets.Schema) string {
	n := ""
	for k, b := range s.Bags {
		if k > 0 {
			n += ", "
		}
		n += b.Name
	}
	return n
}

// pairs fills the pair list of b: the one-hot ids example by example, then
// each bag's values (a sequence bag's last seqLen of each example).
func (bs *bagStep) pairs(b *datasets.Batch) {
	bs.ids = append(bs.ids[:0], b.IDs...)
	bs.fields = bs.fields[:0]
	for i := range b.IDs {
		bs.fields = append(bs.fields, i%bs.nc)
	}
	for k := range b.Bags {
		c, bg := &b.Bags[k], bs.bags[k]
		bs.lo[k] = bs.lo[k][:0]
		for i := range b.Rows {
			lo, hi := c.Offsets[i], c.Offsets[i+1]
			if bg.seqLen > 0 {
				lo = max(lo, hi-int32(bg.seqLen))
			}
			bs.lo[k] = append(bs.lo[k], lo)
			bs.ids = append(bs.ids, c.IDs[lo:hi]...)
			for range hi - lo {
				bs.fields = append(bs.fields, bg.field)
			}
		}
	}
}

// weight returns the pooling weight of each value of a bag of n values.
func (bs *bagStep) weight(n int32) float32 {
	if bs.mean && n > 0 {
		return 1 / float32(n)
	}
	return 1
}

// lookup writes b's inputs to emb (slots floats of dim per example).
func (bs *bagStep) lookup(b *datasets.Batch, emb []float32, threads int) {
	bs.pairs(b)
	d, n := bs.dim, len(bs.ids)
	bs.vals = growF(bs.vals, n*d)
	parallelRows(n, threads, func(lo, hi int) {
		bs.table.LookupFields(bs.ids[lo:hi], bs.fields[lo:hi], bs.vals[lo*d:hi*d])
	})
	rows, S := b.Rows, bs.slots
	for i := range rows {
		copy(emb[i*S*d:(i*S+bs.nc)*d], bs.vals[i*bs.nc*d:(i+1)*bs.nc*d])
	}
	pos := rows * bs.nc // the next bag value's pair
	for k := range b.Bags {
		c, bg := &b.Bags[k], bs.bags[k]
		for i := range rows {
			lo, hi := bs.lo[k][i], c.Offsets[i+1]
			if bg.seqLen > 0 {
				o := emb[(i*S+bg.slot)*d : (i*S+bg.slot+bg.seqLen)*d]
				m := int(hi-lo) * d
				copy(o, bs.vals[pos*d:pos*d+m])
				clear(o[m:])
				pos += int(hi - lo)
				continue
			}
			o := emb[(i*S+bg.slot)*d : (i*S+bg.slot+1)*d]
			clear(o)
			w := bs.weight(hi - lo)
			for range hi - lo {
				v := bs.vals[pos*d : (pos+1)*d]
				for x := range o {
					o[x] += v[x]
				}
				pos++
			}
			if w != 1 {
				for x := range o {
					o[x] *= w
				}
			}
		}
	}
}

// apply trains the table on dEmb, the loss's gradient at lookup's emb for
// the same batch (whose pair list lookup left in bs).
func (bs *bagStep) apply(b *datasets.Batch, dEmb []float32) {
	d, rows, S := bs.dim, b.Rows, bs.slots
	bs.grad = growF(bs.grad, len(bs.ids)*d)
	for i := range rows {
		copy(bs.grad[i*bs.nc*d:(i+1)*bs.nc*d], dEmb[i*S*d:(i*S+bs.nc)*d])
	}
	pos := rows * bs.nc
	for k := range b.Bags {
		c, bg := &b.Bags[k], bs.bags[k]
		for i := range rows {
			lo, hi := bs.lo[k][i], c.Offsets[i+1]
			n := int(hi - lo)
			if bg.seqLen > 0 {
				copy(bs.grad[pos*d:(pos+n)*d], dEmb[(i*S+bg.slot)*d:(i*S+bg.slot+n)*d])
				pos += n
				continue
			}
			g := dEmb[(i*S+bg.slot)*d : (i*S+bg.slot+1)*d]
			w := bs.weight(hi - lo)
			for range n {
				o := bs.grad[pos*d : (pos+1)*d]
				for x := range o {
					o[x] = w * g[x]
				}
				pos++
			}
		}
	}
	bs.table.ApplyFields(bs.ids, bs.fields, bs.grad)
}
