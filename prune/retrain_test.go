package prune_test

import (
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/lookup/storetest"
	"github.com/embtab/embtab/prune"
)

// TestRetrain checks that a table retrained from a pruned run's artifact
// keeps exactly the values that run kept (and every other value at zero,
// through training), whatever its kind.
func TestRetrain(t *testing.T) {
	a := storetest.FixtureSparse(t) // a DeepLight table: 3 fields of 200 ids (f·1000 + k + 1), dim 8
	vocab, counts := make([][]uint64, 3), make([][]uint32, 3)
	for f := range vocab {
		for k := range 200 {
			vocab[f] = append(vocab[f], uint64(f*1000+k+1))
			counts[f] = append(counts[f], uint32(1+k%7))
		}
	}
	// What the artifact serves, as zero / nonzero per value.
	m, err := embedding.MethodByName(a.Manifest().Table.Method)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Plan(a.Manifest().Table.Config, a.Vocab())
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for k := range 200 {
		for f := range 3 {
			ids = append(ids, vocab[f][k])
		}
	}
	tables := make([]kernels.Table, len(a.RowSets()))
	for s, q := range a.RowSets() {
		tables[s] = kernels.TableOf(q)
	}
	g := embedding.NewGatherer(p)
	if _, err := g.Resolve(ids, nil); err != nil {
		t.Fatal(err)
	}
	served := make([]float32, len(ids)*8)
	if err := g.Gather(tables, nil, served, 1); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{prune.PEP, prune.AutoSrh, prune.DeepLight} {
		tbl, err := prune.New(vocab, counts, prune.Config{Kind: kind, Budget: 1 << 30, Retrain: a.Dir(),
			Full: embedding.Config{Dim: 8, Seed: 3, InitScale: 0.1, Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}}})
		if err != nil {
			t.Fatal(err)
		}
		grads := make([]float32, len(ids)*8)
		for i := range grads {
			grads[i] = float32(i%5) - 2
		}
		for step := range 3 {
			tbl.SetStep(int64(step), 3)
			tbl.Apply(ids, grads)
		}
		got := make([]float32, len(ids)*8)
		tbl.Lookup(ids, got)
		for i := range got {
			if (got[i] != 0) != (served[i] != 0) {
				t.Fatalf("%s: value %d of the batch is %v, the pruned run's %v: the masks differ", kind, i, got[i], served[i])
			}
		}
	}
}
