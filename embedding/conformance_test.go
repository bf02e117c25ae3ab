package embedding_test

import (
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
)

// optimizersUnderTest has one configuration per registered optimizer.
var optimizersUnderTest = []embedding.Optimizer{
	{Name: embedding.SGD, LR: 0.05},
	{Name: embedding.RowwiseAdagrad, LR: 0.05},
	{Name: embedding.Adagrad, LR: 0.05},
	{Name: embedding.LazyAdam, LR: 0.01},
}

// must returns v, panicking on err (for constructors in table factories).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestHashed(t *testing.T) {
	for _, opt := range optimizersUnderTest {
		t.Run(opt.Name, func(t *testing.T) {
			cfg := embedding.Config{Method: embedding.MethodHashed, Dim: 8, Rows: []int{1000, 600, 300},
				Optimizer: opt, Seed: 42}
			embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewHashed(cfg)) })
		})
	}
}

func TestQR(t *testing.T) {
	for _, combine := range []string{embedding.CombineMul, embedding.CombineSum} {
		for _, opt := range optimizersUnderTest {
			t.Run(combine+"/"+opt.Name, func(t *testing.T) {
				cfg := embedding.Config{Method: embedding.MethodQR, Dim: 8, Rows: []int{400, 300, 200},
					RemRows: []int{300, 250, 200}, Combine: combine, Optimizer: opt, Seed: 7}
				embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewQR(cfg)) })
			})
		}
	}
}

func TestFull(t *testing.T) {
	// A vocabulary of most of the suite's ids: the rest exercise the OOV rows.
	vocab := embtest.IDs(3)
	for f := range vocab {
		vocab[f] = vocab[f][:embtest.PoolSize*7/8]
	}
	for _, opt := range optimizersUnderTest {
		t.Run(opt.Name, func(t *testing.T) {
			cfg := embedding.Config{Method: embedding.MethodFull, Dim: 8, Optimizer: opt, Seed: 3}
			embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewFull(vocab, cfg)) })
		})
	}
}
