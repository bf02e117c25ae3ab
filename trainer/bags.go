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
// empty bag is the zero vector); the backward hands each value its bag's
// gradient times its pooling weight, and one ApplyFields trains every pair,
// so a row read by a one-hot field and a bag (a movie and a history that
// holds it) is updated once with the sum.
type bagStep struct {
	table      embedding.FieldTrainable
	nc, slots  int
	dim        int
	bagField   []int // per bag: its table field
	mean       bool
	ids        []uint64
	fields     []int
	vals, grad []float32
}

func newBagStep(t embedding.Trainable, s *datasets.Schema, pooling string) (*bagStep, error) {
	ft, ok := t.(embedding.FieldTrainable)
	if !ok {
		return nil, fmt.Errorf("bag fields (%s): the %T table cannot look up a bag's values (no LookupFields)", bagNames(s), t)
	}
	if t.Fields() != s.NumFields() {
		return nil, fmt.Errorf("bag fields: the table has %d fields, the data %d", t.Fields(), s.NumFields())
	}
	bs := &bagStep{table: ft, nc: s.NumCat(), slots: s.NumSlots(), dim: t.Dim(), mean: pooling != BagSum}
	for k := range s.Bags {
		bs.bagField = append(bs.bagField, s.BagField(k))
	}
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
// each bag's values.
func (bs *bagStep) pairs(b *datasets.Batch) {
	bs.ids = append(bs.ids[:0], b.IDs...)
	bs.fields = bs.fields[:0]
	for i := range b.IDs {
		bs.fields = append(bs.fields, i%bs.nc)
	}
	for k := range b.Bags {
		bs.ids = append(bs.ids, b.Bags[k].IDs...)
		for range b.Bags[k].IDs {
			bs.fields = append(bs.fields, bs.bagField[k])
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
	base := rows * bs.nc
	for k := range b.Bags {
		c := &b.Bags[k]
		slot := bs.nc + k
		for i := range rows {
			o := emb[(i*S+slot)*d : (i*S+slot+1)*d]
			clear(o)
			lo, hi := c.Offsets[i], c.Offsets[i+1]
			w := bs.weight(hi - lo)
			for j := lo; j < hi; j++ {
				v := bs.vals[(base+int(j))*d : (base+int(j)+1)*d]
				for x := range o {
					o[x] += v[x]
				}
			}
			if w != 1 {
				for x := range o {
					o[x] *= w
				}
			}
		}
		base += len(c.IDs)
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
	base := rows * bs.nc
	for k := range b.Bags {
		c := &b.Bags[k]
		slot := bs.nc + k
		for i := range rows {
			g := dEmb[(i*S+slot)*d : (i*S+slot+1)*d]
			lo, hi := c.Offsets[i], c.Offsets[i+1]
			w := bs.weight(hi - lo)
			for j := lo; j < hi; j++ {
				o := bs.grad[(base+int(j))*d : (base+int(j)+1)*d]
				for x := range o {
					o[x] = w * g[x]
				}
			}
		}
		base += len(c.IDs)
	}
	bs.table.ApplyFields(bs.ids, bs.fields, bs.grad)
}
