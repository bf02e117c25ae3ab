package dhe

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
)

// BenchmarkTable measures Lookup and Apply of a DHE table beside a hashed
// table of the same budget (serving bytes) on a Criteo-like shape: 26
// fields of dim 16, batches of 256 examples, one thread. ns/id is per
// (example, field) id.
func BenchmarkTable(b *testing.B) {
	const fields, dim, batch = 26, 16, 256
	for _, budget := range []int64{256 << 10, 1 << 20} {
		s := spec(fields, 100_000, dim, budget, nil)
		for _, method := range []string{Method, embedding.MethodHashed} {
			tbl, err := embedding.NewTable(method, s)
			if err != nil {
				b.Fatal(err)
			}
			tbl.SetThreads(1)
			rng := rand.New(rand.NewPCG(1, 2))
			ids := make([]uint64, batch*fields)
			for i := range ids {
				ids[i] = rng.Uint64N(100_000)
			}
			out := make([]float32, len(ids)*dim)
			grads := make([]float32, len(out))
			for i := range grads {
				grads[i] = 0.01 * float32(rng.NormFloat64())
			}
			name := fmt.Sprintf("%s/%dKiB", method, budget>>10)
			b.Run(name+"/Lookup", func(b *testing.B) {
				for b.Loop() {
					tbl.Lookup(ids, out)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/id")
			})
			b.Run(name+"/Apply", func(b *testing.B) {
				for b.Loop() {
					tbl.Apply(ids, grads)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/id")
			})
		}
	}
}
