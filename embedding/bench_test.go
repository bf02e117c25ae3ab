package embedding_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
)

// The benchmarks use the dlrm-small shape: batches of 2048 examples × 26
// fields, dim 16, rowwise Adagrad, and uniformly random ids (the worst case
// for caches: real CTR ids repeat far more).
const (
	benchBatch  = 2048
	benchFields = 26
	benchDim    = 16
)

var benchSizes = []struct {
	name string
	rows int
}{{"100k", 100_000}, {"1M", 1_000_000}, {"10M", 10_000_000}}

// benchTables caches tables across benchmarks: building 10M rows takes a
// while and 700 MB.
var benchTables = map[string]embedding.Trainable{}

func benchTable(b *testing.B, method, storage string, rows int) embedding.Trainable {
	key := fmt.Sprint(method, storage, rows)
	if t, ok := benchTables[key]; ok {
		return t
	}
	cfg := embedding.Config{Method: method, Dim: benchDim, Optimizer: rowwise, Seed: 1, Storage: storage}
	per := rows / benchFields
	cfg.Rows = make([]int, benchFields)
	for f := range cfg.Rows {
		cfg.Rows[f] = per
	}
	var t embedding.Trainable
	var err error
	switch method {
	case embedding.MethodHashed:
		t, err = embedding.NewHashed(cfg)
	case embedding.MethodQR:
		quo, rem, qerr := embedding.QRForBudget(int64(rows)*benchDim*4, cardinalities(rows), benchDim)
		if qerr != nil {
			b.Fatal(qerr)
		}
		cfg.Rows, cfg.RemRows = quo, rem
		t, err = embedding.NewQR(cfg)
	case embedding.MethodFull:
		t, err = embedding.NewFull(benchVocab(rows), cfg)
	}
	if err != nil {
		b.Fatal(err)
	}
	benchTables[key] = t
	return t
}

// cardinalities spreads 4*rows distinct values over the fields evenly.
func cardinalities(rows int) []int64 {
	c := make([]int64, benchFields)
	for f := range c {
		c[f] = int64(4 * rows / benchFields)
	}
	return c
}

// benchVocab returns rows/26 ids per field; benchIDs draws from them when
// vocab is true.
func benchVocab(rows int) [][]uint64 {
	rng := rand.New(rand.NewPCG(uint64(rows), 1))
	v := make([][]uint64, benchFields)
	for f := range v {
		v[f] = make([]uint64, rows/benchFields-1)
		for i := range v[f] {
			v[f][i] = rng.Uint64()
		}
	}
	return v
}

func benchIDs(seed uint64, vocab [][]uint64) []uint64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	ids := make([]uint64, benchBatch*benchFields)
	for i := range ids {
		if vocab != nil {
			f := vocab[i%benchFields]
			ids[i] = f[rng.IntN(len(f))]
		} else {
			ids[i] = rng.Uint64()
		}
	}
	return ids
}

func reportRows(b *testing.B) {
	b.ReportMetric(float64(b.N)*benchBatch*benchFields/b.Elapsed().Seconds(), "rows/s")
}

func benchLookup(b *testing.B, method, storage string) {
	for _, size := range benchSizes {
		b.Run("rows="+size.name, func(b *testing.B) {
			t := benchTable(b, method, storage, size.rows)
			var vocab [][]uint64
			if method == embedding.MethodFull {
				vocab = benchVocab(size.rows)
			}
			ids := benchIDs(3, vocab)
			out := make([]float32, len(ids)*benchDim)
			b.ReportAllocs()
			for b.Loop() {
				t.Lookup(ids, out)
			}
			reportRows(b)
		})
	}
}

func benchApply(b *testing.B, method, storage string) {
	for _, size := range benchSizes {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("rows=%s/threads=%d", size.name, threads), func(b *testing.B) {
				t := benchTable(b, method, storage, size.rows)
				t.(interface{ SetThreads(int) }).SetThreads(threads)
				defer t.(interface{ SetThreads(int) }).SetThreads(1)
				var vocab [][]uint64
				if method == embedding.MethodFull {
					vocab = benchVocab(size.rows)
				}
				ids := benchIDs(4, vocab)
				rng := rand.New(rand.NewPCG(5, 6))
				grads := make([]float32, len(ids)*benchDim)
				for i := range grads {
					grads[i] = float32(rng.NormFloat64()) * 1e-3
				}
				// ALPT storage: each step is both passes (the second with
				// the first's gradients; the dense pass between is not
				// timed).
				sl, _ := t.(embedding.ScaleLearner)
				two := sl != nil && sl.LearnsScales()
				step := func() {
					t.Apply(ids, grads)
					if two {
						sl.ApplyScales(ids, grads)
					}
				}
				step() // grow scratch
				b.ReportAllocs()
				for b.Loop() {
					step()
				}
				reportRows(b)
			})
		}
	}
}

func BenchmarkHashedLookup(b *testing.B) { benchLookup(b, embedding.MethodHashed, "") }
func BenchmarkHashedApply(b *testing.B)  { benchApply(b, embedding.MethodHashed, "") }
func BenchmarkQRLookup(b *testing.B)     { benchLookup(b, embedding.MethodQR, "") }
func BenchmarkQRApply(b *testing.B)      { benchApply(b, embedding.MethodQR, "") }
func BenchmarkFullLookup(b *testing.B)   { benchLookup(b, embedding.MethodFull, "") }
func BenchmarkFullApply(b *testing.B)    { benchApply(b, embedding.MethodFull, "") }

// The Int8 benchmarks measure low-precision training (Storage int8).
func BenchmarkHashedInt8Lookup(b *testing.B) {
	benchLookup(b, embedding.MethodHashed, embedding.StorageInt8)
}
func BenchmarkHashedInt8Apply(b *testing.B) {
	benchApply(b, embedding.MethodHashed, embedding.StorageInt8)
}
func BenchmarkQRInt8Lookup(b *testing.B) { benchLookup(b, embedding.MethodQR, embedding.StorageInt8) }
func BenchmarkQRInt8Apply(b *testing.B)  { benchApply(b, embedding.MethodQR, embedding.StorageInt8) }

// BenchmarkHashedALPTApply measures ALPT's two table passes a step
// (Storage alpt: the update with its nearest-grid store, then the steps'
// update and the stochastic store).
func BenchmarkHashedALPTApply(b *testing.B) {
	benchApply(b, embedding.MethodHashed, embedding.StorageALPT)
}

// BenchmarkNewHashed measures building and initialising a table (allocation
// included).
func BenchmarkNewHashed(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("rows="+size.name, func(b *testing.B) {
			cfg := embedding.Config{Method: embedding.MethodHashed, Dim: benchDim, Optimizer: rowwise,
				Rows: []int{size.rows}}
			for b.Loop() {
				if _, err := embedding.NewHashed(cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size.rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
