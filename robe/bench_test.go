package robe_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/robe"
)

// BenchmarkLookup and BenchmarkApply time a batch of 2048 examples of 26
// fields at dim 16 on ROBE tables of each block length and on a hashed
// table of the same budget (4 MiB of parameters), one thread.
func benchTables(b *testing.B) map[string]embedding.TrainTable {
	const budget = 4 << 20
	fields := make([]embedding.Frequencies, 26)
	for f := range fields {
		fields[f].Distinct = 100_000
	}
	tables := map[string]embedding.TrainTable{}
	add := func(name, method string, params map[string]string) {
		s := embedding.Spec{Dim: 16, Budget: budget, Fields: fields, Optimizer: adagrad, Seed: 1, Params: params}
		t, err := embedding.NewTable(method, s)
		if err != nil {
			b.Fatal(err)
		}
		t.SetThreads(1)
		tables[name] = t
	}
	add("hashed", embedding.MethodHashed, nil)
	for _, z := range []int{1, 4, 16} {
		add(fmt.Sprintf("robe-Z%d", z), robe.Method, map[string]string{"block": fmt.Sprint(z)})
	}
	add("robe-Z4-sign", robe.Method, map[string]string{"block": "4", "sign": "1"})
	return tables
}

var benchNames = []string{"hashed", "robe-Z1", "robe-Z4", "robe-Z16", "robe-Z4-sign"}

func benchBatch() ([]uint64, []float32) {
	rng := rand.New(rand.NewPCG(1, 1))
	ids := make([]uint64, 2048*26)
	for i := range ids {
		ids[i] = rng.Uint64()
	}
	g := make([]float32, len(ids)*16)
	for i := range g {
		g[i] = rng.Float32() - 0.5
	}
	return ids, g
}

func BenchmarkLookup(b *testing.B) {
	ids, _ := benchBatch()
	out := make([]float32, len(ids)*16)
	tables := benchTables(b)
	for _, name := range benchNames {
		t := tables[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(out)) * 4)
			for b.Loop() {
				t.Lookup(ids, out)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	ids, g := benchBatch()
	tables := benchTables(b)
	for _, name := range benchNames {
		t := tables[name]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				t.Apply(ids, g)
			}
		})
	}
}
