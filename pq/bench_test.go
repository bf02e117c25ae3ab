package pq

import (
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/kernels"
)

// benchVocab is 26 fields of 10,000 ids each with Zipf-like counts, and a
// 2048-example batch drawn by those counts.
func benchVocab() ([][]uint64, [][]uint32, []uint64) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids, counts := make([][]uint64, 26), make([][]uint32, 26)
	for f := range ids {
		for k := range 10000 {
			ids[f] = append(ids[f], hashing.Mix64(uint64(f)<<32|uint64(k)))
			counts[f] = append(counts[f], uint32(1+100000/(k+1)))
		}
	}
	z := rand.NewZipf(rng, 1.1, 1, 9999)
	batch := make([]uint64, 0, 2048*26)
	for range 2048 {
		for f := range 26 {
			batch = append(batch, ids[f][z.Uint64()])
		}
	}
	return ids, counts, batch
}

func benchTable(b *testing.B, kind string) *Table {
	ids, counts, _ := benchVocab()
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
	_, _, batch := benchVocab()
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
	_, _, batch := benchVocab()
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
