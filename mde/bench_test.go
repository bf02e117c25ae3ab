package mde

import (
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
)

func BenchmarkApply(b *testing.B) {
	var fs []FieldConfig
	for f := range 26 {
		fs = append(fs, FieldConfig{Rows: 10000, Width: 1 + f%8})
	}
	tbl, err := New(Config{Dim: 16, Fields: fs, Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]uint64, 2048*26)
	for i := range ids {
		ids[i] = rng.Uint64N(10000)
	}
	out := make([]float32, len(ids)*16)
	g := make([]float32, len(out))
	for i := range g {
		g[i] = 0.01
	}
	b.Run("lookup", func(b *testing.B) {
		for b.Loop() {
			tbl.Lookup(ids, out)
		}
	})
	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
			tbl.Apply(ids, g)
		}
	})
}
