package ann

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/embtab/embtab/ann/synth"
)

const (
	tDim      = 32
	tN        = 5000
	tQueries  = 200
	tClusters = 50
)

var (
	dataOnce      sync.Once
	tBase, tQuery []float32
)

func data() ([]float32, []float32) {
	dataOnce.Do(func() {
		tBase = synth.Clustered(tN, tDim, tClusters, 7, 0)
		tQuery = synth.Clustered(tQueries, tDim, tClusters, 7, 1)
	})
	return tBase, tQuery
}

func build(t testing.TB, cfg Config, base []float32) *Index {
	t.Helper()
	ix, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(base)/cfg.Dim; i++ {
		if err := ix.Add(uint64(i), base[i*cfg.Dim:(i+1)*cfg.Dim]); err != nil {
			t.Fatal(err)
		}
	}
	return ix
}

// recall returns the mean recall@k of ix against brute force, skipping
// the ids in skip.
func recall(t testing.TB, ix *Index, base, queries []float32, k, ef int, skip map[uint64]bool) float64 {
	t.Helper()
	cfg := ix.Config()
	keep := base
	ids := make([]uint64, 0, len(base)/cfg.Dim)
	if skip != nil {
		keep = nil
		for i := 0; i < len(base)/cfg.Dim; i++ {
			if !skip[uint64(i)] {
				keep = append(keep, base[i*cfg.Dim:(i+1)*cfg.Dim]...)
				ids = append(ids, uint64(i))
			}
		}
	} else {
		for i := 0; i < len(base)/cfg.Dim; i++ {
			ids = append(ids, uint64(i))
		}
	}
	gt := synth.BruteForce(keep, queries, cfg.Dim, k, cfg.Metric == L2, 2)
	hits := 0
	for q := range gt {
		res, err := ix.Search(queries[q*cfg.Dim:(q+1)*cfg.Dim], k, ef)
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint64]bool{}
		for _, g := range gt[q] {
			want[ids[g]] = true
		}
		for j, r := range res {
			if skip[r.ID] {
				t.Fatalf("query %d: deleted id %d in results", q, r.ID)
			}
			if j > 0 && r.Distance < res[j-1].Distance {
				t.Fatalf("query %d: results not sorted", q)
			}
			if want[r.ID] {
				hits++
			}
		}
	}
	return float64(hits) / float64(len(gt)*k)
}

func TestRecall(t *testing.T) {
	base, queries := data()
	for _, tc := range []struct {
		name string
		cfg  Config
		min  float64
	}{
		{"ip", Config{Dim: tDim, Metric: InnerProduct, M: 16, EfConstruction: 100, Seed: 1}, 0.95},
		{"l2", Config{Dim: tDim, Metric: L2, M: 16, EfConstruction: 100, Seed: 1}, 0.95},
		{"int8-ip", Config{Dim: tDim, Metric: InnerProduct, M: 16, EfConstruction: 100, Seed: 1, Quantization: Int8}, 0.90},
		{"int8-l2-rerank", Config{Dim: tDim, Metric: L2, M: 16, EfConstruction: 100, Seed: 1, Quantization: Int8, Rerank: true}, 0.95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := build(t, tc.cfg, base)
			r := recall(t, ix, base, queries, 10, 100, nil)
			if r < tc.min {
				t.Errorf("recall@10 %.4f < %.2f", r, tc.min)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	base, _ := data()
	cfg := Config{Dim: tDim, M: 8, EfConstruction: 40, Seed: 3}
	var files [2][]byte
	for i := range files {
		var buf bytes.Buffer
		if err := build(t, cfg, base[:1000*tDim]).Save(&buf); err != nil {
			t.Fatal(err)
		}
		files[i] = buf.Bytes()
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two builds with the same seed differ")
	}
}

func TestDeleteAndRebuild(t *testing.T) {
	base, queries := data()
	cfg := Config{Dim: tDim, Metric: L2, M: 16, EfConstruction: 100, Seed: 2}
	ix := build(t, cfg, base)
	// The recall of the whole index is the bar: deleting a third of the
	// points (tombstones, then a rebuild) must not lose more than 0.02 of
	// it (a broken tombstone walk loses much more), and recall (the
	// helper) fails on any deleted id returned.
	r0 := recall(t, ix, base, queries, 10, 100, nil)
	if r0 < 0.95 {
		t.Fatalf("recall before deletions %.4f", r0)
	}
	skip := map[uint64]bool{}
	for i := 0; i < tN; i += 3 {
		if err := ix.Delete(uint64(i)); err != nil {
			t.Fatal(err)
		}
		skip[uint64(i)] = true
	}
	if err := ix.Delete(0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if ix.Len() != tN-len(skip) {
		t.Fatalf("Len %d", ix.Len())
	}
	r := recall(t, ix, base, queries, 10, 100, skip)
	if r < r0-0.02 {
		t.Errorf("recall with tombstones %.4f, %.4f before the deletions", r, r0)
	}
	if err := ix.Rebuild(); err != nil {
		t.Fatal(err)
	}
	if ix.Nodes() != tN-len(skip) {
		t.Fatalf("Nodes after rebuild %d", ix.Nodes())
	}
	r = recall(t, ix, base, queries, 10, 100, skip)
	if r < r0-0.02 {
		t.Errorf("recall after rebuild %.4f, %.4f before the deletions", r, r0)
	}
	// A deleted id can come back.
	if err := ix.Add(0, base[:tDim]); err != nil {
		t.Fatal(err)
	}
	if err := ix.Add(1, base[:tDim]); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate add: %v", err)
	}
	res, err := ix.Search(base[:tDim], 1, 50)
	if err != nil || len(res) != 1 || res[0].ID != 0 {
		t.Fatalf("search for re-added 0: %v %v", res, err)
	}
}

func TestDeleteAll(t *testing.T) {
	base, _ := data()
	ix := build(t, Config{Dim: tDim, M: 4, EfConstruction: 20}, base[:50*tDim])
	for i := 0; i < 50; i++ {
		if err := ix.Delete(uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ix.Search(base[:tDim], 10, 0)
	if err != nil || len(res) != 0 {
		t.Fatalf("got %v %v", res, err)
	}
}

func sameResults(t *testing.T, a, b *Index, queries []float32) {
	t.Helper()
	for q := 0; q < len(queries)/tDim; q++ {
		ra, err := a.Search(queries[q*tDim:(q+1)*tDim], 10, 50)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := b.Search(queries[q*tDim:(q+1)*tDim], 10, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(ra) != len(rb) {
			t.Fatalf("query %d: %d vs %d results", q, len(ra), len(rb))
		}
		for j := range ra {
			if ra[j] != rb[j] {
				t.Fatalf("query %d: %v vs %v", q, ra[j], rb[j])
			}
		}
	}
}

func TestSaveLoad(t *testing.T) {
	base, queries := data()
	for _, cfg := range []Config{
		{Dim: tDim, M: 8, EfConstruction: 40, Seed: 5},
		{Dim: tDim, Metric: L2, M: 8, EfConstruction: 40, Seed: 5, Quantization: Int8},
		{Dim: tDim, M: 8, EfConstruction: 40, Seed: 5, Quantization: Int8, Rerank: true},
	} {
		ix := build(t, cfg, base[:2000*tDim])
		for i := 0; i < 100; i++ {
			_ = ix.Delete(uint64(i * 7))
		}
		var buf bytes.Buffer
		if err := ix.Save(&buf); err != nil {
			t.Fatal(err)
		}
		lx, err := Load(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if lx.Config() != ix.Config() || lx.Len() != ix.Len() {
			t.Fatalf("config %+v len %d, want %+v %d", lx.Config(), lx.Len(), ix.Config(), ix.Len())
		}
		sameResults(t, ix, lx, queries)

		path := filepath.Join(t.TempDir(), "x.ann")
		if err := ix.SaveFile(path); err != nil {
			t.Fatal(err)
		}
		mx, err := OpenMmap(path)
		if err != nil {
			t.Fatal(err)
		}
		sameResults(t, ix, mx, queries)
		// Both continue identically: same rng state, same graph.
		for i := 2000; i < 2100; i++ {
			v := base[i*tDim : (i+1)*tDim]
			if err := ix.Add(uint64(i), v); err != nil {
				t.Fatal(err)
			}
			if err := mx.Add(uint64(i), v); err != nil {
				t.Fatal(err)
			}
		}
		if err := mx.Delete(1); err != nil {
			t.Fatal(err)
		}
		if err := ix.Delete(1); err != nil {
			t.Fatal(err)
		}
		sameResults(t, ix, mx, queries)
		if err := mx.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := mx.Search(queries[:tDim], 1, 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("search after close: %v", err)
		}
	}
}

func TestEmptyRoundTrip(t *testing.T) {
	ix, _ := New(Config{Dim: 3})
	var buf bytes.Buffer
	if err := ix.Save(&buf); err != nil {
		t.Fatal(err)
	}
	lx, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := lx.Search([]float32{1, 2, 3}, 5, 0); err != nil || len(res) != 0 {
		t.Fatalf("%v %v", res, err)
	}
	if err := lx.Add(9, []float32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if res, _ := lx.Search([]float32{1, 2, 3}, 5, 0); len(res) != 1 || res[0].ID != 9 {
		t.Fatalf("%v", res)
	}
}

func TestCorrupt(t *testing.T) {
	base, _ := data()
	ix := build(t, Config{Dim: tDim, M: 4, EfConstruction: 20}, base[:300*tDim])
	var buf bytes.Buffer
	if err := ix.Save(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"magic":     mut(func(b []byte) []byte { b[0] ^= 1; return b }),
		"version":   mut(func(b []byte) []byte { b[8] = 9; return b }),
		"dim":       mut(func(b []byte) []byte { b[24]++; return b }),
		"crc":       mut(func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }),
		"footer":    mut(func(b []byte) []byte { b[len(b)-1] = 'Y'; return b }),
		"extra":     append(bytes.Clone(good), 0),
	}
	for name, b := range cases {
		if _, err := Load(bytes.NewReader(b)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	path := filepath.Join(t.TempDir(), "bad.ann")
	if err := os.WriteFile(path, cases["crc"], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMmap(path); !errors.Is(err, ErrCorrupt) {
		t.Errorf("mmap crc: %v", err)
	}
}

func TestBadGraphWithGoodCRC(t *testing.T) {
	base, _ := data()
	ix := build(t, Config{Dim: tDim, M: 4, EfConstruction: 20}, base[:100*tDim])
	ix.links0[2] = 1000 // node 0's second link slot, out of range
	ix.links0[0] = 2
	var buf bytes.Buffer
	if err := ix.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(&buf); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
}

func TestErrors(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Error(err)
	}
	if _, err := New(Config{Dim: 4, Rerank: true}); !errors.Is(err, ErrConfig) {
		t.Error(err)
	}
	ix, _ := New(Config{Dim: 2})
	if err := ix.Add(1, []float32{1}); !errors.Is(err, ErrDim) {
		t.Error(err)
	}
	nan := float32(0)
	nan /= nan
	if err := ix.Add(1, []float32{1, nan}); !errors.Is(err, ErrValue) {
		t.Error(err)
	}
	if _, err := ix.Search([]float32{1, 2}, 0, 0); !errors.Is(err, ErrValue) {
		t.Error(err)
	}
}

func TestConcurrentSearch(t *testing.T) {
	base, queries := data()
	ix := build(t, Config{Dim: tDim, M: 8, EfConstruction: 40, Seed: 1}, base[:2000*tDim])
	want := make([][]Result, tQueries)
	for q := range want {
		want[q], _ = ix.Search(queries[q*tDim:(q+1)*tDim], 10, 40)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for q := range want {
				got, err := ix.Search(queries[q*tDim:(q+1)*tDim], 10, 40)
				// Adds run meanwhile, so only the shape is fixed.
				if err != nil || len(got) != len(want[q]) || got[0].Distance > want[q][0].Distance {
					t.Errorf("query %d: %v %v", q, got, err)
					return
				}
			}
		}()
	}
	// Deletes and adds interleave with the searches.
	for i := 2000; i < 2100; i++ {
		if err := ix.Add(uint64(i), base[i*tDim:(i+1)*tDim]); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

func TestSearchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	base, queries := data()
	ix := build(t, Config{Dim: tDim, M: 8, EfConstruction: 40}, base[:2000*tDim])
	dst := make([]Result, 0, 10)
	q := queries[:tDim]
	if _, err := ix.SearchAppend(dst, q, 10, 64); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = ix.SearchAppend(dst[:0], q, 10, 64)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per search", allocs)
	}
}

func TestDistanceKernels(t *testing.T) {
	for _, asm := range []bool{true, false} {
		restore := setAVX2(asm)
		testKernels(t)
		restore()
	}
}

func testKernels(t *testing.T) {
	for n := 0; n < 70; n++ {
		a := make([]float32, n)
		b := make([]float32, n)
		c := make([]byte, n)
		var wd, wl, wu float64
		for j := range a {
			a[j], b[j], c[j] = float32(j)*0.5-3, float32(n-j)*0.25, byte(j*7)
			wd += float64(a[j]) * float64(b[j])
			wl += float64(a[j]-b[j]) * float64(a[j]-b[j])
			wu += float64(a[j]) * float64(c[j])
		}
		for name, p := range map[string][2]float64{"dot": {float64(dot(a, b)), wd}, "l2": {float64(l2sq(a, b)), wl}, "u8": {float64(dotU8(a, c)), wu}} {
			if d := p[0] - p[1]; d > 1e-3*(1+abs(p[1])) || -d > 1e-3*(1+abs(p[1])) {
				t.Errorf("%s n=%d: %v want %v", name, n, p[0], p[1])
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func BenchmarkSearch(b *testing.B) {
	base, queries := data()
	ix := build(b, Config{Dim: tDim, M: 16, EfConstruction: 100}, base)
	dst := make([]Result, 0, 10)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := i % tQueries
		dst, _ = ix.SearchAppend(dst[:0], queries[q*tDim:(q+1)*tDim], 10, 40)
	}
}
