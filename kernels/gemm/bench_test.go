package gemm_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/kernels/gemm"
)

// BenchmarkGEMM times Sgemm at the MLP shapes of dlrm-small at batch 2048
// (the 367→256 and 256→128 layers): NN is the forward pass, NT the input
// gradient and TN the weight gradient. Names are op/MxKxN/threads. On the
// shared 2-core box run it briefly:
//
//	go test ./kernels/gemm -run '^$' -bench GEMM -benchtime=10x
func BenchmarkGEMM(b *testing.B) {
	shapes := []struct {
		tA, tB  gemm.Transpose
		m, k, n int
	}{
		{gemm.NoTrans, gemm.NoTrans, 2048, 367, 256},
		{gemm.NoTrans, gemm.NoTrans, 2048, 256, 128},
		{gemm.NoTrans, gemm.Trans, 2048, 256, 367},
		{gemm.NoTrans, gemm.Trans, 2048, 128, 256},
		{gemm.Trans, gemm.NoTrans, 367, 2048, 256},
		{gemm.Trans, gemm.NoTrans, 256, 2048, 128},
	}
	for _, s := range shapes {
		for _, threads := range []int{1, 2} {
			name := fmt.Sprintf("%v%v/%dx%dx%d/threads=%d", s.tA, s.tB, s.m, s.k, s.n, threads)
			b.Run(name, func(b *testing.B) {
				p := newProblem(rand.New(rand.NewPCG(1, 2)), s.tA, s.tB, s.m, s.n, s.k, 0, 1, 0, false, false, false, false)
				ctx := gemm.NewContext(threads)
				defer ctx.Close()
				c := make([]float32, len(p.c0))
				for b.Loop() {
					if err := ctx.Sgemm(p.tA, p.tB, p.m, p.n, p.k, 1, p.a, p.lda, p.b, p.ldb, 0, c, p.ldc, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkPairDots times the forward and backward dot interaction of
// dlrm-small (27 vectors of 16 floats) at batch 2048.
func BenchmarkPairDots(b *testing.B) {
	const n, dim, batch = 27, 16, 2048
	for _, threads := range []int{1, 2} {
		c := newPairCase(rand.New(rand.NewPCG(1, 1)), n, dim, batch, 0)
		z := make([]float32, batch*c.ldz)
		dx, dy := make([]float32, len(c.x)), make([]float32, len(c.y))
		ctx := gemm.NewContext(threads)
		b.Run(fmt.Sprintf("forward/threads=%d", threads), func(b *testing.B) {
			for b.Loop() {
				if err := ctx.PairDots(n, dim, batch, c.x, c.ldx, c.y, c.ldy, z, c.ldz); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("backward/threads=%d", threads), func(b *testing.B) {
			for b.Loop() {
				if err := ctx.PairDotsGrad(n, dim, batch, c.x, c.ldx, c.y, c.ldy, c.dz, c.ldz, dx, c.ldx, dy, c.ldy); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		ctx.Close()
	}
}
