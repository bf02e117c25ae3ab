package lookup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/lookup/badgerstore"
	"github.com/embtab/embtab/lookup/mmapstore"
	"github.com/embtab/embtab/lookup/storetest"
	"github.com/embtab/embtab/multiplex"
	"github.com/embtab/embtab/quant"
)

var sgd = embedding.Optimizer{Name: embedding.SGD, LR: 0.5}

// vocab returns per-field vocabularies of random ids.
func vocab(sizes ...int) [][]uint64 {
	rng := rand.New(rand.NewPCG(5, 5))
	v := make([][]uint64, len(sizes))
	for f, n := range sizes {
		seen := map[uint64]bool{}
		for len(v[f]) < n {
			id := rng.Uint64() % 5000 // overlaps the ids storetest.Train uses
			if !seen[id] {
				seen[id] = true
				v[f] = append(v[f], id)
			}
		}
	}
	return v
}

// tables builds one trained table of each method, 3 fields, dim 8.
func tables(t *testing.T) map[string]embedding.Trainable {
	t.Helper()
	must := func(tb embedding.Trainable, err error) embedding.Trainable {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		storetest.Train(tb, 4, 9)
		return tb
	}
	out := map[string]embedding.Trainable{}
	out["hashed"] = must(embedding.NewHashed(embedding.Config{Dim: 8, Rows: []int{50, 30, 20}, Optimizer: sgd, Seed: 1}))
	out["qr-mul"] = must(embedding.NewQR(embedding.Config{Dim: 8, Rows: []int{7, 5, 3}, RemRows: []int{5, 4, 3}, Optimizer: sgd, Seed: 2}))
	out["qr-sum"] = must(embedding.NewQR(embedding.Config{Dim: 8, Rows: []int{7, 5, 3}, RemRows: []int{5, 4, 3},
		Combine: embedding.CombineSum, Optimizer: sgd, Seed: 3}))
	out["full"] = must(embedding.NewFull(vocab(40, 1, 25), embedding.Config{Dim: 8, Optimizer: sgd, Seed: 4}))
	out["hybrid"] = must(embedding.NewHybrid(vocab(10, 0, 5), embedding.HybridConfig{Dim: 8, TailRows: []int{10, 5, 7}, Optimizer: sgd, Seed: 5}))
	out["multiplex"] = must(multiplex.New(multiplex.Config{Method: multiplex.MethodMultiplex, Fields: 3, Dim: 8, Rows: []int{40}, Optimizer: sgd, Seed: 6}))
	out["unified"] = must(multiplex.New(multiplex.Config{Method: multiplex.MethodUnified, Fields: 3, Dim: 8, ChunkDim: 4,
		Chunks: []int{2, 1, 2}, Tables: 2, Rows: []int{30, 20}, Optimizer: sgd, Seed: 7}))
	out["multiprobe"] = must(multiplex.New(multiplex.Config{Method: multiplex.MethodMultiProbe, Fields: 3, Dim: 8, Rows: []int{40}, Probes: 3, Optimizer: sgd, Seed: 8}))
	// Per-field dims: one row set per field, each of its field's width.
	dims := []int{3, 8, 1}
	out["hashed-dims"] = must(embedding.NewHashed(embedding.Config{Dim: 8, Rows: []int{50, 30, 20}, Optimizer: sgd, Seed: 9, FieldDims: dims}))
	out["full-dims"] = must(embedding.NewFull(vocab(40, 1, 25), embedding.Config{Dim: 8, Optimizer: sgd, Seed: 10, FieldDims: dims}))
	out["hybrid-dims"] = must(embedding.NewHybrid(vocab(10, 0, 5), embedding.HybridConfig{Dim: 8, TailRows: []int{10, 5, 7},
		Optimizer: sgd, Seed: 11, FieldDims: dims}))
	return out
}

func export(t *testing.T, tbl embedding.Table, codec string) *artifact.Artifact {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	_, err := artifact.Write(dir, artifact.Contents{
		Schema: &datasets.Schema{Label: "y", Categorical: []string{"a", "b", "c"}},
		Table:  tbl, Codec: codec, Model: json.RawMessage(`{}`),
		Dense: func(w io.Writer) error { _, err := w.Write([]byte{1}); return err },
	}, artifact.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.Open(dir, artifact.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// testIDs returns whole examples mixing ids the tables saw in training (and
// the vocabularies list) with unseen ones.
func testIDs(n int) []uint64 {
	rng := rand.New(rand.NewPCG(8, 8))
	ids := make([]uint64, 3*n)
	for i := range ids {
		if i%2 == 0 {
			ids[i] = rng.Uint64() % 5000
		} else {
			ids[i] = rng.Uint64()
		}
	}
	return ids
}

// TestEmbedderMatchesTable checks that rows served from an fp32 artifact
// give exactly the trained table's vectors, for every method.
func TestEmbedderMatchesTable(t *testing.T) {
	for name, tbl := range tables(t) {
		t.Run(name, func(t *testing.T) {
			a := export(t, tbl, "fp32")
			r, err := lookup.NewResolver(a.Manifest(), a.Vocab())
			if err != nil {
				t.Fatal(err)
			}
			e := lookup.NewEmbedder(r, mmapstore.New(a))
			ids := testIDs(300)
			want := make([]float32, len(ids)*8)
			tbl.Lookup(ids, want)
			got := make([]float32, len(want))
			if err := e.Lookup(context.Background(), ids, got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("served vectors differ from the table's")
			}
			// One field at a time.
			fields := make([]int, len(ids))
			for i := range fields {
				fields[i] = i % 3
			}
			clear(got)
			if err := e.LookupFields(context.Background(), fields, ids, got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("LookupFields differs from the table's vectors")
			}
			// The rows copied into huge-page memory serve the same.
			if runtime.GOOS == "linux" {
				hs, err := mmapstore.Open(a, mmapstore.Options{HugePages: true})
				if err != nil {
					t.Fatal(err)
				}
				clear(got)
				if err := lookup.NewEmbedder(r, hs).Lookup(context.Background(), ids, got); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("huge-page store differs from the table's vectors")
				}
				if err := hs.Close(); err != nil {
					t.Fatal(err)
				}
				if err := lookup.NewEmbedder(r, hs).Lookup(context.Background(), ids, got); !errors.Is(err, lookup.ErrClosed) {
					t.Fatalf("lookup on a closed store: %v, want ErrClosed", err)
				}
			}
		})
	}
}

// TestEmbedderQuantized checks fp16, int8 and int4 artifacts against the
// trained table with its rows replaced by their decoded codes: the serving
// path computes what post-training quantization evaluates, exactly where a
// field's vector is its rows as they are, and to float32 rounding where
// the kernel pools a sum of quantized rows (it dequantizes into the
// accumulator, fusing the scale and the add, so the rounding differs from
// decoding each row first).
func TestEmbedderQuantized(t *testing.T) {
	for _, codec := range []string{"fp16", "int8", "int4"} {
		for name, tbl := range tables(t) {
			t.Run(codec+"/"+name, func(t *testing.T) {
				a := export(t, tbl, codec)
				c, _ := quant.Lookup(codec)
				for _, rows := range tbl.(embedding.RowStore).RowSets() {
					p, w := rows.Params(), rows.Dim()
					enc := make([]byte, c.RowBytes(w))
					for i := range rows.Len() {
						if err := c.EncodeRow(enc, p[i*w:(i+1)*w]); err != nil {
							t.Fatal(err)
						}
						if err := c.DecodeRow(p[i*w:(i+1)*w], enc); err != nil {
							t.Fatal(err)
						}
					}
				}
				r, err := lookup.NewResolver(a.Manifest(), a.Vocab())
				if err != nil {
					t.Fatal(err)
				}
				ids := testIDs(100)
				want := make([]float32, len(ids)*8)
				tbl.Lookup(ids, want)
				got := make([]float32, len(want))
				if err := lookup.NewEmbedder(r, mmapstore.New(a)).Lookup(context.Background(), ids, got); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("float %d: served %v, the dequantized table's %v", i, got[i], want[i])
					}
				}
				if q := a.Manifest().Table.RowSets[0].QuantError; q == nil || !(q.RMSE > 0) {
					t.Errorf("quantization error not recorded: %+v", q)
				}
			})
		}
	}
}

func TestEmbedderErrors(t *testing.T) {
	a := export(t, tables(t)["hashed"], "fp32")
	r, err := lookup.NewResolver(a.Manifest(), a.Vocab())
	if err != nil {
		t.Fatal(err)
	}
	e := lookup.NewEmbedder(r, mmapstore.New(a))
	ctx := context.Background()
	tests := []struct {
		name string
		run  func() error
	}{
		{"partial example", func() error { return e.Lookup(ctx, make([]uint64, 4), make([]float32, 32)) }},
		{"short out", func() error { return e.Lookup(ctx, make([]uint64, 3), make([]float32, 23)) }},
		{"field out of range", func() error { return e.LookupFields(ctx, []int{3}, []uint64{1}, make([]float32, 8)) }},
		{"negative field", func() error { return e.LookupFields(ctx, []int{-1}, []uint64{1}, make([]float32, 8)) }},
		{"fields and ids differ", func() error { return e.LookupFields(ctx, []int{0, 1}, []uint64{1}, make([]float32, 8)) }},
	}
	for _, tc := range tests {
		if err := tc.run(); !errors.Is(err, lookup.ErrShape) {
			t.Errorf("%s: got %v, want ErrShape", tc.name, err)
		}
	}
	if err := e.Lookup(ctx, nil, nil); err != nil {
		t.Errorf("empty lookup: %v", err)
	}
}

// TestResolverRejectsInconsistentManifest checks that a manifest whose row
// sets do not match its table config is reported as corrupt.
func TestResolverRejectsInconsistentManifest(t *testing.T) {
	for name, tbl := range tables(t) {
		a := export(t, tbl, "fp32")
		m := *a.Manifest()
		m.Table.RowSets = slices.Clone(m.Table.RowSets)
		m.Table.RowSets[0].Rows++
		if _, err := lookup.NewResolver(&m, a.Vocab()); !errors.Is(err, artifact.ErrCorrupt) {
			t.Errorf("%s: row count off by one: got %v, want ErrCorrupt", name, err)
		}
		m = *a.Manifest()
		m.Table.RowSets = slices.Clone(m.Table.RowSets)
		m.Table.RowSets[0].Width = m.Table.SetWidth(0) - 1
		if _, err := lookup.NewResolver(&m, a.Vocab()); !errors.Is(err, artifact.ErrCorrupt) {
			t.Errorf("%s: row set width off by one: got %v, want ErrCorrupt", name, err)
		}
		m = *a.Manifest()
		m.Table.Config = json.RawMessage(`{"method": "hashed", "bogus": 1}`)
		if _, err := lookup.NewResolver(&m, a.Vocab()); !errors.Is(err, artifact.ErrCorrupt) {
			t.Errorf("%s: bad config: got %v, want ErrCorrupt", name, err)
		}
	}
}

// TestEmbedderFieldDims checks tables with per-field dims served through
// every store that needs no server: for fp32 storage in every codec, the
// vectors equal the trained table's Lookup (with its rows replaced by
// their decoded codes) bit for bit, zero padding included; for int8
// storage, whose rows cannot hold another codec's values, in fp32.
func TestEmbedderFieldDims(t *testing.T) {
	dims := []int{3, 8, 1}
	mk := map[string]func(storage string) embedding.Trainable{
		"hashed": func(storage string) embedding.Trainable {
			return must(embedding.NewHashed(embedding.Config{Dim: 8, Rows: []int{50, 30, 20}, Optimizer: rowwise, Seed: 9,
				FieldDims: dims, Storage: storage}))
		},
		"full": func(storage string) embedding.Trainable {
			return must(embedding.NewFull(vocab(40, 1, 25), embedding.Config{Dim: 8, Optimizer: rowwise, Seed: 10,
				FieldDims: dims, Storage: storage}))
		},
	}
	stores := map[string]func(t *testing.T, a *artifact.Artifact) lookup.Store{
		"mmap": func(t *testing.T, a *artifact.Artifact) lookup.Store { return mmapstore.New(a) },
		"badger": func(t *testing.T, a *artifact.Artifact) lookup.Store {
			s, err := badgerstore.Open(context.Background(), a, badgerstore.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, newTable := range mk {
		for _, storage := range []string{"", embedding.StorageInt8} {
			for _, codec := range []string{"fp32", "fp16", "int8", "int4"} {
				if storage != "" && codec != "fp32" {
					continue
				}
				t.Run(fmt.Sprintf("%s/%q/%s", name, storage, codec), func(t *testing.T) {
					tbl := newTable(storage)
					storetest.Train(tbl, 4, 9)
					a := export(t, tbl, codec)
					if got := a.Manifest().Table.FieldDims; !slices.Equal(got, dims) {
						t.Fatalf("manifest field dims %v", got)
					}
					// The table as the codec leaves it.
					c, _ := quant.Lookup(codec)
					for _, rows := range tbl.(embedding.RowStore).RowSets() {
						w := rows.Dim()
						p := make([]float32, rows.Len()*w)
						rows.ReadRows(0, p)
						enc := make([]byte, c.RowBytes(w))
						for i := range rows.Len() {
							if err := c.EncodeRow(enc, p[i*w:(i+1)*w]); err != nil {
								t.Fatal(err)
							}
							if err := c.DecodeRow(p[i*w:(i+1)*w], enc); err != nil {
								t.Fatal(err)
							}
						}
						rows.WriteRows(0, p)
					}
					r, err := lookup.NewResolver(a.Manifest(), a.Vocab())
					if err != nil {
						t.Fatal(err)
					}
					for f, d := range dims {
						if r.FieldDim(f) != d {
							t.Errorf("resolver field %d dim %d, want %d", f, r.FieldDim(f), d)
						}
					}
					ids := testIDs(200)
					want := make([]float32, len(ids)*8)
					tbl.Lookup(ids, want)
					for sname, open := range stores {
						got := make([]float32, len(want))
						for i := range got {
							got[i] = float32(i) // not zero: padding must be written
						}
						if err := lookup.NewEmbedder(r, open(t, a)).Lookup(context.Background(), ids, got); err != nil {
							t.Fatal(err)
						}
						if i := firstDiff(got, want); i >= 0 {
							t.Fatalf("%s store: float %d (field %d) is %v, the table's %v", sname, i, (i/8)%3, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

var rowwise = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// firstDiff returns the first index where a and b differ bitwise, or -1.
func firstDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
