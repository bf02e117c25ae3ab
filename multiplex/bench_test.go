package multiplex_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/multiplex"
)

// The benchmarks use embedding's dlrm-small shape: batches of 2048
// examples × 26 fields, dim 16, row-wise Adagrad, uniformly random ids.
// Names are method/rows/op; rows counts Dim-wide rows of parameters.
const (
	benchBatch  = 2048
	benchFields = 26
	benchDim    = 16
)

func BenchmarkTable(b *testing.B) {
	for _, method := range []string{multiplex.MethodMultiplex, multiplex.MethodUnified, multiplex.MethodMultiProbe} {
		for _, rows := range []int{100_000, 1_000_000} {
			c, err := multiplex.ForBudget(int64(rows)*benchDim*4, benchFields, benchDim, multiplex.Config{Method: method})
			if err != nil {
				b.Fatal(err)
			}
			c.Optimizer = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}
			tbl, err := multiplex.New(c)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			ids := make([]uint64, benchBatch*benchFields)
			for i := range ids {
				ids[i] = rng.Uint64()
			}
			out := make([]float32, len(ids)*benchDim)
			name := fmt.Sprintf("%s/%dk", method, rows/1000)
			b.Run(name+"/lookup", func(b *testing.B) {
				for b.Loop() {
					tbl.Lookup(ids, out)
				}
			})
			b.Run(name+"/apply", func(b *testing.B) {
				for b.Loop() {
					tbl.Apply(ids, out)
				}
			})
		}
	}
}
