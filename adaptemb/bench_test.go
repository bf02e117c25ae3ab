package adaptemb_test

import (
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/adaptemb"
	"github.com/embtab/embtab/embedding"
)

// benchSetup returns an adaptemb, a hybrid and a hashed table of one
// 4 MiB budget over 26 Zipf-like fields of 50k training ids at dim 16,
// and a batch of 2048 examples drawn from the same distribution.
func benchSetup(b *testing.B) (map[string]embedding.TrainTable, []uint64, []float32) {
	const nf, n, dim = 26, 50_000, 16
	rng := rand.New(rand.NewPCG(1, 1))
	fields := make([]embedding.Frequencies, nf)
	for f := range fields {
		fr := &fields[f]
		for k := range n {
			fr.IDs = append(fr.IDs, uint64(f)<<32|uint64(k))
			fr.Counts = append(fr.Counts, uint32(1+100_000/(k+1)))
		}
		fr.Distinct = n
	}
	tables := map[string]embedding.TrainTable{}
	for _, m := range []string{adaptemb.Method, embedding.MethodHybrid, embedding.MethodHashed} {
		t, err := embedding.NewTable(m, embedding.Spec{Dim: dim, Budget: 4 << 20, Fields: fields, Optimizer: adagrad, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		t.SetThreads(1)
		tables[m] = t
	}
	ids := make([]uint64, 2048*nf)
	for i := range ids {
		k := int(float64(n) * rng.Float64() * rng.Float64() * rng.Float64()) // skewed to small k
		ids[i] = uint64(i%nf)<<32 | uint64(k)
	}
	g := make([]float32, len(ids)*dim)
	for i := range g {
		g[i] = rng.Float32() - 0.5
	}
	return tables, ids, g
}

var benchNames = []string{embedding.MethodHashed, embedding.MethodHybrid, adaptemb.Method}

func BenchmarkLookup(b *testing.B) {
	tables, ids, g := benchSetup(b)
	out := make([]float32, len(g))
	for _, name := range benchNames {
		t := tables[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				t.Lookup(ids, out)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	tables, ids, g := benchSetup(b)
	for _, name := range benchNames {
		t := tables[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				t.Apply(ids, g)
			}
		})
	}
}
