package pq

import (
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/kernels"
)

func benchTable(b *testing.B, kind string) *Table {
	ids, counts, _ := embtest.ZipfVocab(26, 10000, 2048)
	c := Config{Kind: kind, Parts: 4, High: 256, Low: 64,
		Full: embedding.Config{Dim: 16, Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}, Seed: 1, InitScale: 0.01}}
	if kind == DPQ {
		c.High, c.Low = 32, 32
	}
	t, err := New(ids, counts, 0.1, c)
	if err != nil {
		b.Fatal(err)
	}
	t.SetThreads(2)
	return t
}

// BenchmarkStep times a training step (Lookup and Apply of 2048 examples
// of 26 fields, dim 16, 4 parts, 2 threads).
func BenchmarkStep(b *testing.B) {
	_, _, batch := embtest.ZipfVocab(26, 10000, 2048)
	out := make([]float32, len(batch)*16)
	g := make([]float32, len(out))
	for i := range g {
		g[i] = 0.001 * float32(i%7-3)
	}
	for _, kind := range []string{MGQE, DPQ} {
		b.Run(kind, func(b *testing.B) {
			t := benchTable(b, kind)
			for b.Loop() {
				t.Lookup(batch, out)
				t.Apply(batch, g)
			}
			b.ReportMetric(float64(b.N*2048)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkServe times serving a batch from the artifact form (resolve
// and gather through the plan, one thread).
func BenchmarkServe(b *testing.B) {
	_, _, batch := embtest.ZipfVocab(26, 10000, 2048)
	for _, kind := range []string{MGQE, DPQ} {
		b.Run(kind, func(b *testing.B) {
			d, err := benchTable(b, kind).Describe()
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
