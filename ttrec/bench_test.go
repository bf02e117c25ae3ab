package ttrec_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/ttrec"
)

// benchCards are 26 fields of 10M ids in all, shaped like Criteo's (a few
// fields of millions, many small).
var benchCards = []int64{1460, 583, 3_000_000, 1_200_000, 305, 24, 12_517, 633, 3, 93_145, 5_683, 2_500_000, 3_194,
	27, 14_992, 1_500_000, 10, 5_652, 2_173, 4, 1_400_000, 18, 15, 286_181, 105, 142_572}

// BenchmarkLookupApply times Lookup and then Apply of a 2048-example batch
// (26 fields, dim 16, rowwise Adagrad, uniformly random ids) on a ttrec
// table and on a hashed table of the same budget (10x and 100x less than
// the full table's serving bytes); ns/id is per (example, field) lookup.
func BenchmarkLookupApply(b *testing.B) {
	const dim, batch = 16, 2048
	full := embedding.FullServingBytes(benchCards, dim)
	for _, ratio := range []int64{10, 100} {
		for _, method := range []string{ttrec.Method, embedding.MethodHashed} {
			s := spec(dim, full/ratio, benchCards...)
			tbl, err := embedding.NewTable(method, s)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			ids := randomIDs(rng, batch*len(benchCards))
			out := make([]float32, len(ids)*dim)
			grads := make([]float32, len(ids)*dim)
			for i := range grads {
				grads[i] = 2*rng.Float32() - 1
			}
			b.Run(fmt.Sprintf("%dx/%s/lookup", ratio, method), func(b *testing.B) {
				for b.Loop() {
					tbl.Lookup(ids, out)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/id")
			})
			b.Run(fmt.Sprintf("%dx/%s/apply", ratio, method), func(b *testing.B) {
				for b.Loop() {
					tbl.Apply(ids, grads)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/id")
			})
		}
	}
}
