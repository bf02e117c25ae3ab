// Package storetest is a conformance suite for lookup.Store
// implementations, in the manner of testing/fstest.TestFS: a store's test
// builds a small artifact with Fixture, and Run checks the store against
// the artifact's rows.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/multiplex"
	"github.com/embtab/embtab/prune"
)

// Fixture writes a small artifact with rows in codec into a temporary
// directory and opens it (closed at the end of the test). Its table is a
// unified multiplexed table of two row sets whose rows (4 floats) are
// narrower than its vectors (8), with rows moved away from their
// initialisation by a few training steps.
func Fixture(t testing.TB, codec string) *artifact.Artifact {
	t.Helper()
	tbl, err := multiplex.New(multiplex.Config{Method: multiplex.MethodUnified, Fields: 3, Dim: 8, ChunkDim: 4,
		Chunks: []int{2, 1, 2}, Tables: 2, Rows: []int{301, 157}, Seed: 7,
		Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	Train(tbl, 5, 11)
	return write(t, tbl, codec)
}

// FixtureFieldDims is Fixture for a table with per-field dims: a hashed
// table of 3 fields, dim 8, whose fields have 3, 8 and 5 floats, so that
// its three row sets have different widths (all but one narrower than the
// manifest's Width).
func FixtureFieldDims(t testing.TB, codec string) *artifact.Artifact {
	t.Helper()
	tbl, err := embedding.NewHashed(embedding.Config{Dim: 8, Rows: []int{211, 97, 130}, FieldDims: []int{3, 8, 5},
		Seed: 7, Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	Train(tbl, 5, 11)
	return write(t, tbl, codec)
}

// FixtureSparse is Fixture for a pruned table's sparse form (package
// prune: a DeepLight table of 3 fields of 200 ids, dim 8, pruned to a
// third of its bytes): row sets of many widths, the vocabulary as the
// index. Its rows only exist in fp32.
func FixtureSparse(t testing.TB) *artifact.Artifact {
	t.Helper()
	vocab, counts := make([][]uint64, 3), make([][]uint32, 3)
	for f := range vocab {
		for k := range 200 {
			vocab[f] = append(vocab[f], uint64(f*1000+k+1))
			counts[f] = append(counts[f], 1)
		}
	}
	tbl, err := prune.New(vocab, counts, prune.Config{Kind: prune.DeepLight, Budget: 3 * 200 * 44 / 3, PruneEvery: 1,
		Full: embedding.Config{Dim: 8, Seed: 7, InitScale: 0.1, Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}}})
	if err != nil {
		t.Fatal(err)
	}
	tbl.SetStep(0, 1)
	return write(t, tbl, "fp32")
}

// write writes tbl as an artifact of 3 categorical fields with rows in
// codec into a temporary directory and opens it (closed at the end of the
// test).
func write(t testing.TB, tbl embedding.Table, codec string) *artifact.Artifact {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	schema := &datasets.Schema{Dataset: "test", Label: "label", Dense: []string{"I1"}, Categorical: []string{"a", "b", "c"}}
	_, err := artifact.Write(dir, artifact.Contents{
		Schema: schema, HashSeed: 3, Table: tbl, Codec: codec,
		Dense: func(w io.Writer) error { _, err := w.Write([]byte("not a real net")); return err },
		Model: json.RawMessage(`{}`),
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

// Train applies steps batches of 64 random examples with random gradients
// to t, seeded by seed, so that its rows differ from their initial values.
func Train(t embedding.Trainable, steps int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 64 * t.Fields()
	ids := make([]uint64, n)
	grads := make([]float32, n*t.Dim())
	for range steps {
		for i := range ids {
			ids[i] = rng.Uint64() % 5000
		}
		for i := range grads {
			grads[i] = float32(rng.NormFloat64())
		}
		t.Apply(ids, grads)
	}
}

// Run checks the store that open returns against the rows of a: every row
// by key (rows of sets narrower than the table's Width zero-padded), repeated
// keys, an empty batch, shape and missing-key errors, a cancelled context,
// concurrent reads, then, if the store implements lookup.Writer, writes
// (they change the rows), and last reads after Close. open is called once;
// Run closes the store. Run it on Fixture and FixtureFieldDims artifacts.
func Run(t *testing.T, a *artifact.Artifact, open func(t *testing.T) lookup.Store) {
	w := a.Manifest().Table.Width
	sets := a.RowSets()
	want := func(k lookup.Key) []float32 {
		row := make([]float32, w)
		if err := sets[k.Set].DecodeRow(int(k.Row), row[:sets[k.Set].Dim()]); err != nil {
			t.Fatal(err)
		}
		return row
	}
	var all []lookup.Key
	for s, tbl := range sets {
		for r := range tbl.Len() {
			all = append(all, lookup.Key{Set: uint32(s), Row: uint32(r)})
		}
	}
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	check := func(t *testing.T, keys []lookup.Key, out []float32) {
		t.Helper()
		for i, k := range keys {
			if got, want := out[i*w:(i+1)*w], want(k); !slices.Equal(got, want) {
				t.Fatalf("key %v: got %v, want %v", k, got, want)
			}
		}
	}

	t.Run("AllRows", func(t *testing.T) {
		for lo := 0; lo < len(all); lo += 37 {
			keys := all[lo:min(lo+37, len(all))]
			out := make([]float32, len(keys)*w)
			if err := s.Get(ctx, keys, out); err != nil {
				t.Fatalf("Get(%v...): %v", keys[0], err)
			}
			check(t, keys, out)
		}
	})
	t.Run("RepeatedKeys", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		keys := make([]lookup.Key, 200)
		for i := range keys {
			keys[i] = all[rng.IntN(10)] // few distinct keys: many repeats
		}
		out := make([]float32, len(keys)*w)
		if err := s.Get(ctx, keys, out); err != nil {
			t.Fatal(err)
		}
		check(t, keys, out)
	})
	t.Run("Empty", func(t *testing.T) {
		if err := s.Get(ctx, nil, nil); err != nil {
			t.Fatalf("empty batch: %v", err)
		}
	})
	t.Run("Shape", func(t *testing.T) {
		err := s.Get(ctx, all[:2], make([]float32, 2*w-1))
		if !errors.Is(err, lookup.ErrShape) {
			t.Fatalf("short buffer: got %v, want ErrShape", err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		for _, k := range []lookup.Key{
			{Set: uint32(len(sets)), Row: 0},
			{Set: 0, Row: uint32(sets[0].Len())},
			{Set: 1 << 31, Row: 1 << 31},
		} {
			keys := []lookup.Key{all[0], k}
			err := s.Get(ctx, keys, make([]float32, 2*w))
			if !errors.Is(err, lookup.ErrNotFound) {
				t.Errorf("key %v: got %v, want ErrNotFound", k, err)
			}
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Get(cctx, all[:3], make([]float32, 3*w)); err == nil {
			t.Fatal("Get with a cancelled context succeeded")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for g := range 4 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 3))
				keys := make([]lookup.Key, 26)
				out := make([]float32, len(keys)*w)
				for range 50 {
					for i := range keys {
						keys[i] = all[rng.IntN(len(all))]
					}
					if err := s.Get(ctx, keys, out); err != nil {
						errs <- err
						return
					}
					for i, k := range keys {
						if !slices.Equal(out[i*w:(i+1)*w], want(k)) {
							errs <- errors.New("concurrent read returned a wrong row for " + k.String())
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
	if wr, ok := s.(lookup.Writer); ok {
		t.Run("Put", func(t *testing.T) { testPut(t, a, s, wr, all, check) })
	}
	t.Run("Closed", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Get(ctx, all[:1], make([]float32, w)); err == nil {
			t.Fatal("Get after Close succeeded")
		}
	})
}

// testPut writes rows through wr and reads them back from s.
func testPut(t *testing.T, a *artifact.Artifact, s lookup.Store, wr lookup.Writer, all []lookup.Key, check func(*testing.T, []lookup.Key, []float32)) {
	ctx := context.Background()
	w := a.Manifest().Table.Width
	widths := lookup.SetWidths(a.Manifest())
	{
		keys := []lookup.Key{all[3], all[len(all)-1], all[3]}
		rows := make([]float32, len(keys)*w)
		for i := range rows {
			if i%w < widths[keys[i/w].Set] { // zeros beyond a narrow set's width
				rows[i] = float32(i%7) - 2.5
			}
		}
		copy(rows[2*w:], rows[:w]) // a repeated key gets the same row
		if err := wr.Put(ctx, keys, rows); err != nil {
			t.Fatal(err)
		}
		// What the codec keeps of the rows.
		codec := a.Codec()
		wantRows := make([]float32, len(rows))
		for i, k := range keys {
			sw := widths[k.Set]
			enc := make([]byte, codec.RowBytes(sw))
			if err := codec.EncodeRow(enc, rows[i*w:i*w+sw]); err != nil {
				t.Fatal(err)
			}
			if err := codec.DecodeRow(wantRows[i*w:i*w+sw], enc); err != nil {
				t.Fatal(err)
			}
		}
		out := make([]float32, len(rows))
		if err := s.Get(ctx, keys, out); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out, wantRows) {
			t.Fatalf("after Put: got %v, want %v", out, wantRows)
		}
		if err := wr.Put(ctx, keys, rows[:len(rows)-1]); !errors.Is(err, lookup.ErrShape) {
			t.Fatalf("Put with a short buffer: got %v, want ErrShape", err)
		}
		// A nonzero value beyond a narrow set's width cannot be stored.
		for _, k := range all {
			if widths[k.Set] < w {
				row := make([]float32, w)
				row[w-1] = 1
				if err := wr.Put(ctx, []lookup.Key{k}, row); !errors.Is(err, lookup.ErrShape) {
					t.Fatalf("Put of key %v with a value beyond its set's width %d: got %v, want ErrShape", k, widths[k.Set], err)
				}
				break
			}
		}
		// Other rows are untouched.
		out = make([]float32, w)
		if err := s.Get(ctx, all[4:5], out); err != nil {
			t.Fatal(err)
		}
		check(t, all[4:5], out)
	}
}
