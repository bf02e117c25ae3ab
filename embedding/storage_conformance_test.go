package embedding_test

import (
	"fmt"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
)

// int8Tolerance is the slack the conformance suite gives int8 tables:
// about one quantization step (range/255) of the suite's rows. Without it
// Duplicates fails for about one table seed in 600: summing the same
// gradients in another order changes a value's last bit, which can move
// its stochastically rounded code, or the row's scale, by a step.
const int8Tolerance = 0.005

// The int8 tables run the whole conformance suite: every exact check
// (determinism, zero gradients, untouched rows, threads, save and load,
// allocations) holds bitwise; only Duplicates and Init's bound get
// int8Tolerance.

func TestHashedInt8(t *testing.T) {
	for _, opt := range optimizersUnderTest {
		t.Run(opt.Name, func(t *testing.T) {
			cfg := embedding.Config{Method: embedding.MethodHashed, Dim: 8, Rows: []int{1000, 600, 300},
				Optimizer: opt, Seed: 42, Storage: embedding.StorageInt8}
			embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewHashed(cfg)) },
				embtest.Tolerance(int8Tolerance))
		})
	}
}

func TestQRInt8(t *testing.T) {
	for _, combine := range []string{embedding.CombineMul, embedding.CombineSum} {
		for _, opt := range optimizersUnderTest {
			t.Run(combine+"/"+opt.Name, func(t *testing.T) {
				cfg := embedding.Config{Method: embedding.MethodQR, Dim: 8, Rows: []int{400, 300, 200},
					RemRows: []int{300, 250, 200}, Combine: combine, Optimizer: opt, Seed: 7,
					Storage: embedding.StorageInt8}
				embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewQR(cfg)) },
					embtest.Tolerance(int8Tolerance))
			})
		}
	}
}

func TestFullInt8(t *testing.T) {
	vocab := embtest.IDs(3)
	for f := range vocab {
		vocab[f] = vocab[f][:embtest.PoolSize*7/8]
	}
	for _, opt := range optimizersUnderTest {
		t.Run(opt.Name, func(t *testing.T) {
			cfg := embedding.Config{Method: embedding.MethodFull, Dim: 8, Optimizer: opt, Seed: 3,
				Storage: embedding.StorageInt8}
			embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewFull(vocab, cfg)) },
				embtest.Tolerance(int8Tolerance))
		})
	}
}

func TestHybridInt8(t *testing.T) {
	for _, opt := range optimizersUnderTest {
		t.Run(opt.Name, func(t *testing.T) {
			heads := hybridHeads(64, 0, 200)
			cfg := embedding.HybridConfig{Dim: 8, TailRows: []int{300, 500, 300}, Optimizer: opt, Seed: 11,
				Storage: embedding.StorageInt8}
			embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewHybrid(heads, cfg)) },
				embtest.Tolerance(int8Tolerance))
		})
	}
}

// TestInt8OddDims runs the suite on int8 tables of dims that are not a
// multiple of 8, one of them wider than 64.
func TestInt8OddDims(t *testing.T) {
	for _, dim := range []int{1, 5, 67} {
		cfg := embedding.Config{Method: embedding.MethodQR, Dim: dim, Rows: []int{400, 300},
			RemRows: []int{300, 250}, Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05},
			Seed: 9, Storage: embedding.StorageInt8}
		t.Run(fmt.Sprint("dim=", dim), func(t *testing.T) {
			embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewQR(cfg)) },
				embtest.Tolerance(int8Tolerance))
		})
	}
}
