package embedding_test

import (
	"fmt"
	"io"
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

// The int8 tables, and the ALPT tables (int8 rows with learned steps,
// driven as the trainer drives them: each Apply followed by its
// ApplyScales, here with the same gradients), run the whole conformance
// suite: every exact check
// (determinism, zero gradients, untouched rows, threads, save and load,
// allocations) holds bitwise; only Duplicates and Init's bound get
// int8Tolerance.

// quantStorages are the storages with int8 rows.
var quantStorages = []string{embedding.StorageInt8, embedding.StorageALPT, embedding.StorageALPT4}

func TestHashedInt8(t *testing.T) {
	for _, st := range quantStorages {
		for _, opt := range optimizersUnderTest {
			t.Run(st+"/"+opt.Name, func(t *testing.T) {
				cfg := embedding.Config{Method: embedding.MethodHashed, Dim: 8, Rows: []int{1000, 600, 300},
					Optimizer: opt, Seed: 42, Storage: st}
				embtest.TestTable(t, func() embedding.Trainable { return twoPass(must(embedding.NewHashed(cfg))) },
					embtest.Tolerance(int8Tolerance))
			})
		}
	}
}

func TestQRInt8(t *testing.T) {
	for _, st := range quantStorages {
		for _, combine := range []string{embedding.CombineMul, embedding.CombineSum} {
			if st == embedding.StorageALPT4 && combine == embedding.CombineMul {
				// The suite's Untouched check finds the ids that share no
				// row with a batch by training each alone and watching the
				// batch's vectors; a product's gradients (times a ~0.05
				// factor) are mostly rounded away on a 16-level grid, so
				// sharing ids pass for free ones.
				continue
			}
			for _, opt := range optimizersUnderTest {
				t.Run(st+"/"+combine+"/"+opt.Name, func(t *testing.T) {
					cfg := embedding.Config{Method: embedding.MethodQR, Dim: 8, Rows: []int{400, 300, 200},
						RemRows: []int{300, 250, 200}, Combine: combine, Optimizer: opt, Seed: 7,
						Storage: st}
					embtest.TestTable(t, func() embedding.Trainable { return twoPass(must(embedding.NewQR(cfg))) },
						embtest.Tolerance(int8Tolerance))
				})
			}
		}
	}
}

func TestFullInt8(t *testing.T) {
	vocab := embtest.IDs(3)
	for f := range vocab {
		vocab[f] = vocab[f][:embtest.PoolSize*7/8]
	}
	for _, st := range quantStorages {
		for _, opt := range optimizersUnderTest {
			t.Run(st+"/"+opt.Name, func(t *testing.T) {
				cfg := embedding.Config{Method: embedding.MethodFull, Dim: 8, Optimizer: opt, Seed: 3,
					Storage: st}
				embtest.TestTable(t, func() embedding.Trainable { return twoPass(must(embedding.NewFull(vocab, cfg))) },
					embtest.Tolerance(int8Tolerance))
			})
		}
	}
}

func TestHybridInt8(t *testing.T) {
	for _, st := range quantStorages {
		for _, opt := range optimizersUnderTest {
			t.Run(st+"/"+opt.Name, func(t *testing.T) {
				heads := hybridHeads(64, 0, 200)
				cfg := embedding.HybridConfig{Dim: 8, TailRows: []int{300, 500, 300}, Optimizer: opt, Seed: 11,
					Storage: st}
				embtest.TestTable(t, func() embedding.Trainable { return twoPass(must(embedding.NewHybrid(heads, cfg))) },
					embtest.Tolerance(int8Tolerance))
			})
		}
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
			embtest.TestTable(t, func() embedding.Trainable { return twoPass(must(embedding.NewQR(cfg))) },
				embtest.Tolerance(int8Tolerance))
		})
	}
}

// alptTable drives an ALPT table as the trainer does, each Apply followed
// by its second pass (with the first pass's gradients standing in for the
// dense net's at the rounded rows).
type alptTable struct{ embedding.Trainable }

func (t alptTable) Apply(ids []uint64, grads []float32) {
	t.Trainable.Apply(ids, grads)
	t.Trainable.(embedding.ScaleLearner).ApplyScales(ids, grads)
}

func (t alptTable) Save(w io.Writer) error { return t.Trainable.(embedding.Persister).Save(w) }
func (t alptTable) Load(r io.Reader) error { return t.Trainable.(embedding.Persister).Load(r) }
func (t alptTable) SetThreads(n int)       { t.Trainable.(interface{ SetThreads(int) }).SetThreads(n) }

// twoPass wraps t as alptTable when it learns its steps.
func twoPass(t embedding.Trainable) embedding.Trainable {
	if sl, ok := t.(embedding.ScaleLearner); ok && sl.LearnsScales() {
		return alptTable{t}
	}
	return t
}
