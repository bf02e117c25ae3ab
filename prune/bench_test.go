package prune

import (
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/kernels"
)

// BenchmarkStep times a training step (Lookup and Apply of 2048 examples
// of 26 fields, dim 16, 2 threads) of each pruned table beside the full
// table it wraps.
func BenchmarkStep(b *testing.B) {
	ids, counts, batch := embtest.ZipfVocab(26, 10000, 2048)
	out := make([]float32, len(batch)*16)
	g := make([]float32, len(out))
	for i := range g {
		g[i] = 0.001 * float32(i%7-3)
	}
	opt := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}
	full := embedding.Config{Dim: 16, Optimizer: opt, Seed: 1, InitScale: 0.01}
	for _, tc := range []struct {
		name string
		kind string
		step int64 // the schedule's step (of 100): 99 fixes the mask
	}{{"full", "", 0}, {"deeplight", DeepLight, 99}, {"pep-search", PEP, -1}, {"autosrh-search", AutoSrh, -1}, {"masked", PEP, 99}} {
		b.Run(tc.name, func(b *testing.B) {
			var tbl embedding.TrainTable
			if tc.kind == "" {
				f, err := embedding.NewFull(ids, full)
				if err != nil {
					b.Fatal(err)
				}
				tbl = f
			} else {
				t, err := New(ids, counts, Config{Kind: tc.kind, Budget: 4_000_000, Full: full})
				if err != nil {
					b.Fatal(err)
				}
				if tc.step >= 0 {
					t.SetStep(tc.step, 100)
				}
				tbl = t
			}
			tbl.SetThreads(2)
			for b.Loop() {
				tbl.Lookup(batch, out)
				tbl.Apply(batch, g)
			}
			b.ReportMetric(float64(b.N*2048)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkServe times serving a batch (resolve and gather through the
// plan, one thread) from a DeepLight table's sparse form at a quarter of
// the full table's bytes, beside the full table's artifact rows.
func BenchmarkServe(b *testing.B) {
	ids, counts, batch := embtest.ZipfVocab(26, 10000, 2048)
	opt := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}
	full := embedding.Config{Dim: 16, Optimizer: opt, Seed: 1, InitScale: 0.01}
	ft, err := embedding.NewFull(ids, full)
	if err != nil {
		b.Fatal(err)
	}
	pt, err := New(ids, counts, Config{Kind: DeepLight, Budget: 26 * 10000 * 76 / 4, Full: full})
	if err != nil {
		b.Fatal(err)
	}
	pt.SetStep(99, 100)
	for _, tc := range []struct {
		name string
		d    embedding.Describer
	}{{"full", ft}, {"sparse", pt}} {
		b.Run(tc.name, func(b *testing.B) {
			d, err := tc.d.Describe()
			if err != nil {
				b.Fatal(err)
			}
			tables := make([]kernels.Table, len(d.Sets))
			for s, r := range d.Sets {
				tables[s] = r.KernelTable()
			}
			g := embedding.NewGatherer(d.Plan)
			out := make([]float32, len(batch)*16)
			for b.Loop() {
				if _, err := g.Resolve(batch, nil); err != nil {
					b.Fatal(err)
				}
				if err := g.Gather(tables, nil, out, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
