package trainer

import (
	"bytes"
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// testVocab returns a vocabulary of fields with the given cardinalities and
// Zipf-like counts (value k of a field seen about n/(k+1) times), as the
// counting pre-pass builds it: ids sorted, one count per id.
func testVocab(cards ...int) *vocabulary {
	v := &vocabulary{ids: make([][]uint64, len(cards)), counts: make([][]uint32, len(cards))}
	for f, n := range cards {
		salt := hashing.FieldSalt(hashing.DefaultSeed, f)
		type idCount struct {
			id uint64
			c  uint32
		}
		vals := make([]idCount, n)
		for k := range vals {
			vals[k] = idCount{hashing.Mix64(salt + uint64(k)), uint32(n/(k+1) + 1)}
		}
		slices.SortFunc(vals, func(a, b idCount) int { return cmp.Compare(a.id, b.id) })
		for _, x := range vals {
			v.ids[f] = append(v.ids[f], x.id)
			v.counts[f] = append(v.counts[f], x.c)
		}
	}
	return v
}

// batchFromVocab draws examples from the vocabulary (and a few unseen
// values), more often the frequent ones.
func batchFromVocab(rng *rand.Rand, v *vocabulary, examples int) []uint64 {
	nf := len(v.ids)
	ids := make([]uint64, examples*nf)
	for i := range ids {
		f := i % nf
		if rng.IntN(20) == 0 {
			ids[i] = rng.Uint64() // unseen: OOV row, tail or hashed row
			continue
		}
		k := int(float64(len(v.ids[f])) * rng.Float64() * rng.Float64())
		ids[i] = v.ids[f][k]
	}
	return ids
}

func TestNewTableMethods(t *testing.T) {
	v := testVocab(500, 40, 1200, 7)
	full := embedding.FullServingBytes(v.cardinalities(), 8)
	methods := []string{"full", "hashed", "qr", "multiplex", "unified", "multiprobe", "hybrid"}
	for _, method := range methods {
		for _, budget := range []int64{0, full / 3} {
			if method == "full" && budget != 0 {
				continue
			}
			name := method + "/full-budget"
			if budget != 0 {
				name = method + "/third"
			}
			t.Run(name, func(t *testing.T) {
				cfg := &Config{Table: method, Dim: 8, MemoryBudget: budget, Optimizer: "rowwise_adagrad",
					EmbLR: 0.2, Seed: 3, Threads: 2}
				tbl, err := newTable(cfg, v, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := budget
				if want == 0 {
					want = full
				}
				// The budget is in serving bytes: parameters plus index,
				// and every method uses most of it.
				d, err := tbl.(embedding.Describer).Describe()
				if err != nil {
					t.Fatal(err)
				}
				p, ix := tbl.Bytes().Params, embedding.IndexServingBytes(d.Index)
				if p+ix > want || p+ix < want/2 {
					t.Fatalf("params %d + index %d bytes for a budget of %d", p, ix, want)
				}
				if tbl.Fields() != 4 || tbl.Dim() != 8 {
					t.Fatalf("table of %d fields, dim %d", tbl.Fields(), tbl.Dim())
				}
				trainSteps(t, tbl, v)
				// A checkpoint restores into the table newTable builds on
				// resume.
				var buf bytes.Buffer
				if err := tbl.Save(&buf); err != nil {
					t.Fatal(err)
				}
				again, err := newTable(cfg, v, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := again.Load(&buf); err != nil {
					t.Fatalf("Load into a rebuilt table: %v", err)
				}
				ids := batchFromVocab(rand.New(rand.NewPCG(9, 9)), v, 64)
				a, b := make([]float32, len(ids)*8), make([]float32, len(ids)*8)
				tbl.Lookup(ids, a)
				again.Lookup(ids, b)
				if !slices.Equal(a, b) {
					t.Fatal("restored table differs")
				}
			})
		}
	}
}

// trainSteps trains tbl a few steps towards fixed targets and checks that
// the loss falls.
func trainSteps(t *testing.T, tbl trainTable, v *vocabulary) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	ids := batchFromVocab(rng, v, 256)
	d := tbl.Dim()
	out := make([]float32, len(ids)*d)
	grad := make([]float32, len(out))
	loss := func() float64 {
		tbl.Lookup(ids, out)
		var l float64
		for i, x := range out {
			target := float32(0.1)
			if (i/d)%2 == 0 {
				target = -0.1
			}
			grad[i] = x - target
			l += 0.5 * float64(grad[i]) * float64(grad[i])
		}
		return l
	}
	first := loss()
	last := first
	for range 5 {
		tbl.Apply(ids, grad)
		last = loss()
	}
	if !(last < first) {
		t.Fatalf("loss went from %v to %v in 5 steps", first, last)
	}
}

func TestNewTableErrors(t *testing.T) {
	v := testVocab(100, 10)
	for _, c := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"unknown", Config{Table: "bloom", Dim: 8, Optimizer: "sgd", EmbLR: 1}, nil},
		{"multiplex too small", Config{Table: "multiplex", Dim: 8, MemoryBudget: 8*4 - 1, Optimizer: "sgd", EmbLR: 1}, embedding.ErrBudgetTooSmall},
		{"unified too small", Config{Table: "unified", Dim: 8, MemoryBudget: 15, Optimizer: "sgd", EmbLR: 1}, embedding.ErrBudgetTooSmall},
		{"hybrid too small", Config{Table: "hybrid", Dim: 8, MemoryBudget: 2*8*4 - 1, Optimizer: "sgd", EmbLR: 1}, embedding.ErrBudgetTooSmall},
		{"bad optimizer", Config{Table: "multiprobe", Dim: 8, Optimizer: "nope", EmbLR: 1}, embedding.ErrUnknownOptimizer},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newTable(&c.cfg, v, nil)
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

// TestNewTableStorage checks that --storage reaches the rows of every table
// that supports it, and that the others refuse int8 rather than ignore it.
func TestNewTableStorage(t *testing.T) {
	v := testVocab(500, 40, 1200, 7)
	for _, method := range []string{"full", "hashed", "qr", "hybrid", "multiplex", "unified", "multiprobe"} {
		for _, storage := range []string{"", "fp32", "int8"} {
			t.Run(method+"/"+storage, func(t *testing.T) {
				cfg := &Config{Table: method, Dim: 8, Storage: storage, Optimizer: "rowwise_adagrad",
					EmbLR: 0.2, Seed: 3, Threads: 2}
				tbl, err := newTable(cfg, v, nil)
				if err != nil {
					t.Fatal(err)
				}
				want := embedding.StorageFP32
				if storage == "int8" {
					want = embedding.StorageInt8
				}
				var stored int64 // rows*dim*4 for fp32, rows*(dim+8) for int8
				for _, r := range tbl.(embedding.RowStore).RowSets() {
					if got := r.Storage().Precision; got != want {
						t.Fatalf("rows stored as %s, want %s", got, want)
					}
					if want == embedding.StorageInt8 {
						stored += int64(r.Len() * (r.Dim() + 8))
					} else {
						stored += int64(r.Len() * r.Dim() * 4)
					}
				}
				if got := tbl.Bytes().Params; got != stored {
					t.Fatalf("Params %d bytes, want %d", got, stored)
				}
				trainSteps(t, tbl, v)
			})
		}
	}
}
