package trainer

import (
	"github.com/embtab/embtab/densenet"
	"math/rand/v2"
	"testing"
)

// BenchmarkForwardBackwardDLRM times one training step of dlrm-small
// (NumDense 13, 26 fields, dim 16, bottom 64-16, top 256-128-1) at batch
// 2048, the size of the PyTorch peer's runs. The first (compiling) call is
// excluded. On the shared 2-core box run it briefly:
//
//	go test ./trainer -run '^$' -bench ForwardBackwardDLRM -benchtime=5x
func BenchmarkForwardBackwardDLRM(b *testing.B) {
	const batch = 2048
	n := mustNet(b, ModelConfig{Name: densenet.ModelDLRM, NumDense: 13, Fields: 26, Dim: 16, Seed: 1})
	dense, emb, labels := randomBatch(rand.New(rand.NewPCG(1, 2)), n.Config(), batch)
	dEmb := make([]float32, len(emb))
	if _, err := n.ForwardBackward(dense, emb, labels, batch, dEmb); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := n.ForwardBackward(dense, emb, labels, batch, dEmb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkPredictDLRM times inference of dlrm-small at batch 2048.
func BenchmarkPredictDLRM(b *testing.B) {
	const batch = 2048
	n := mustNet(b, ModelConfig{Name: densenet.ModelDLRM, NumDense: 13, Fields: 26, Dim: 16, Seed: 1})
	dense, emb, _ := randomBatch(rand.New(rand.NewPCG(1, 2)), n.Config(), batch)
	out := make([]float32, batch)
	if err := n.Predict(dense, emb, batch, out); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := n.Predict(dense, emb, batch, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
