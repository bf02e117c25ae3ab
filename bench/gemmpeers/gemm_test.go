package gemmpeers

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// shapes are the dlrm-small MLP products at batch 2048, as in
// kernels/gemm's BenchmarkGEMM: NN forward, NT input gradient, TN weight
// gradient (M x K x N).
var shapes = []struct {
	tA, tB  bool
	m, k, n int
}{
	{false, false, 2048, 367, 256},
	{false, true, 2048, 256, 367},
	{true, false, 367, 2048, 256},
}

func name(tA, tB bool, m, k, n, threads int) string {
	t := func(x bool) string {
		if x {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/%dx%dx%d/threads=%d", t(tA), t(tB), m, k, n, threads)
}

func randSlice(n int) []float32 {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32() - 0.5
	}
	return s
}

func flops(b *testing.B, m, k, n int) {
	b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGonum: gonum blas32.Gemm (its pure-Go implementation, which
// parallelises internally over GOMAXPROCS).
func BenchmarkGonum(b *testing.B) {
	for _, s := range shapes {
		for _, threads := range []int{1, 2} {
			b.Run(name(s.tA, s.tB, s.m, s.k, s.n, threads), func(b *testing.B) {
				prev := runtime.GOMAXPROCS(threads)
				defer runtime.GOMAXPROCS(prev)
				ar, ac := s.m, s.k
				if s.tA {
					ar, ac = s.k, s.m
				}
				br, bc := s.k, s.n
				if s.tB {
					br, bc = s.n, s.k
				}
				A := blas32.General{Rows: ar, Cols: ac, Stride: ac, Data: randSlice(ar * ac)}
				B := blas32.General{Rows: br, Cols: bc, Stride: bc, Data: randSlice(br * bc)}
				C := blas32.General{Rows: s.m, Cols: s.n, Stride: s.n, Data: make([]float32, s.m*s.n)}
				ta, tb := blas.NoTrans, blas.NoTrans
				if s.tA {
					ta = blas.Trans
				}
				if s.tB {
					tb = blas.Trans
				}
				for b.Loop() {
					blas32.Gemm(ta, tb, 1, A, B, 0, C)
				}
				flops(b, s.m, s.k, s.n)
			})
		}
	}
}

// BenchmarkGoMLX: the same product as a GoMLX simplego graph (DotGeneral),
// inputs already on the backend.
func BenchmarkGoMLX(b *testing.B) {
	for _, s := range shapes {
		for _, threads := range []int{1, 2} {
			b.Run(name(s.tA, s.tB, s.m, s.k, s.n, threads), func(b *testing.B) {
				prev := runtime.GOMAXPROCS(threads)
				defer runtime.GOMAXPROCS(prev)
				backend, err := simplego.New("")
				if err != nil {
					b.Fatal(err)
				}
				defer backend.Finalize()
				ar, ac := s.m, s.k
				if s.tA {
					ar, ac = s.k, s.m
				}
				br, bc := s.k, s.n
				if s.tB {
					br, bc = s.n, s.k
				}
				ca, cb := 1, 0 // contracting axes of A and B
				if s.tA {
					ca = 0
				}
				if s.tB {
					cb = 1
				}
				exec := graph.MustNewExec(backend, func(x, y *graph.Node) *graph.Node {
					return graph.DotGeneral(x, []int{ca}, nil, y, []int{cb}, nil)
				})
				A := tensors.FromFlatDataAndDimensions(randSlice(ar*ac), ar, ac)
				B := tensors.FromFlatDataAndDimensions(randSlice(br*bc), br, bc)
				exec.MustExec1(A, B).FinalizeAll()
				for b.Loop() {
					exec.MustExec1(A, B).FinalizeAll()
				}
				flops(b, s.m, s.k, s.n)
			})
		}
	}
}
