package trainer

import (
	"fmt"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/densenet"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/slots"
)

// Bag poolings (Config.BagPooling).
const (
	BagMean = slots.Mean
	BagSum  = slots.Sum
)

// bagStep is the embedding side of a step for data with bag fields: the
// batch's one-hot ids and bag values as one list of (id, field) pairs
// (slots.Pass), looked up together with the table's LookupFields and
// pooled into the net's input slots; the backward hands each value its
// slot's gradient (slots.Pass.Unpool), and one ApplyFields trains every
// pair, so a row read by a one-hot field and a bag (a movie and a history
// that holds it) is updated once with the sum.
type bagStep struct {
	table  embedding.FieldTrainable
	layout *slots.Layout
	pass   *slots.Pass
	dim    int
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

// bagLayout returns the input slots of schema's bags for cfg's model (nil
// without bags), and, for DIN, the candidate's slot: its sequence is the
// first bag sharing an item field, of cfg's sequence length.
func bagLayout(s *datasets.Schema, cfg *Config) (l *slots.Layout, target int, err error) {
	if s.NumBags() == 0 {
		if cfg.Model == densenet.ModelDIN {
			return nil, 0, fmt.Errorf("--model din needs a sequence bag (MovieLens: --history N); %s has no bags", cfg.Data)
		}
		return nil, 0, nil
	}
	seq, seqLen := -1, 0
	if cfg.Model == densenet.ModelDIN {
		if seq, target, err = sequenceBag(s); err != nil {
			return nil, 0, err
		}
		seqLen = cfg.seqLen()
	}
	l, err = slots.New(s, cfg.BagPooling, seq, seqLen)
	return l, target, err
}

func newBagStep(t embedding.Trainable, l *slots.Layout, s *datasets.Schema) (*bagStep, error) {
	ft, ok := t.(embedding.FieldTrainable)
	if !ok {
		return nil, fmt.Errorf("bag fields (%s): the %T table cannot look up a bag's values (no LookupFields)", bagNames(s), t)
	}
	if t.Fields() != s.NumFields() {
		return nil, fmt.Errorf("bag fields: the table has %d fields, the data %d", t.Fields(), s.NumFields())
	}
	return &bagStep{table: ft, layout: l, pass: l.NewPass(), dim: t.Dim()}, nil
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

// lookup writes b's inputs to emb (Slots floats of dim per example).
func (bs *bagStep) lookup(b *datasets.Batch, emb []float32, threads int) {
	p, d := bs.pass, bs.dim
	if err := p.Pairs(b.Rows, b.IDs, b.Bags, d); err != nil {
		panic("trainer: " + err.Error()) // the batch is the schema's
	}
	parallelRows(len(p.IDs), threads, func(lo, hi int) {
		bs.table.LookupFields(p.IDs[lo:hi], p.Fields[lo:hi], p.Vals[lo*d:hi*d])
	})
	p.Pool(emb, d)
}

// apply trains the table on dEmb, the loss's gradient at lookup's emb for
// the same batch.
func (bs *bagStep) apply(dEmb []float32) {
	bs.table.ApplyFields(bs.pass.IDs, bs.pass.Fields, bs.pass.Unpool(dEmb, bs.dim))
}
