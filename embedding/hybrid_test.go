package embedding_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
)

// hybridHeads returns head vocabularies taken from the suite's ids: n[f]
// of field f's pool (the rest of the pool goes to the tail).
func hybridHeads(n ...int) [][]uint64 {
	pool := embtest.IDs(len(n))
	heads := make([][]uint64, len(n))
	for f := range heads {
		heads[f] = pool[f][:n[f]]
	}
	return heads
}

func TestHybrid(t *testing.T) {
	for _, opt := range optimizersUnderTest {
		t.Run(opt.Name, func(t *testing.T) {
			heads := hybridHeads(64, 0, 200)
			cfg := embedding.HybridConfig{Dim: 8, TailRows: []int{300, 500, 300}, Optimizer: opt, Seed: 11}
			embtest.TestTable(t, func() embedding.Trainable { return must(embedding.NewHybrid(heads, cfg)) })
		})
	}
}

func TestHybridHeadRows(t *testing.T) {
	heads := hybridHeads(50, 20)
	tbl := must(embedding.NewHybrid(heads, embedding.HybridConfig{Dim: 4, TailRows: []int{7, 3},
		Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 0.1}}))
	c := tbl.Config()
	if !slices.Equal(c.HeadRows, []int{50, 20}) || c.Method != embedding.MethodHybrid || c.HeadFraction != embedding.DefaultHeadFraction {
		t.Fatalf("Config = %+v", c)
	}
	if got, want := tbl.Bytes().Params, c.ParamBytes(); got != want || want != (50+20+7+3)*4*4 {
		t.Fatalf("Params bytes %d, config says %d, want %d", got, want, (50+20+7+3)*4*4)
	}
	if tbl.Bytes().Index <= 0 {
		t.Fatalf("Index bytes %d: the head maps are not counted", tbl.Bytes().Index)
	}
	for f := range heads {
		if !slices.Equal(tbl.Head(f), heads[f]) {
			t.Fatalf("Head(%d) differs from the head given", f)
		}
		head, tail := tbl.Params(f)
		if len(head) != len(heads[f])*4 || len(tail) != c.TailRows[f]*4 {
			t.Fatalf("field %d: %d head and %d tail floats", f, len(head), len(tail))
		}
		// Each head id reads its own row; a training step on one head id
		// changes that row only.
		ids := make([]uint64, 2)
		out := make([]float32, 8)
		for k, id := range heads[f] {
			ids[f], ids[1-f] = id, 12345
			tbl.Lookup(ids, out)
			if !slices.Equal(out[f*4:f*4+4], head[k*4:k*4+4]) {
				t.Fatalf("field %d head id %d does not read head row %d", f, k, k)
			}
		}
		before := slices.Clone(head)
		ids[f], ids[1-f] = heads[f][3], 12345
		tbl.Apply(ids, []float32{1, 1, 1, 1, 1, 1, 1, 1})
		for k := range heads[f] {
			changed := !slices.Equal(before[k*4:k*4+4], head[k*4:k*4+4])
			if changed != (k == 3) {
				t.Fatalf("field %d: training head id 3 changed head row %d: %t", f, k, changed)
			}
		}
	}
}

func TestHybridErrors(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	dup := [][]uint64{{1, 2, 1}}
	for _, c := range []struct {
		name  string
		heads [][]uint64
		cfg   embedding.HybridConfig
		want  error
	}{
		{"duplicate head id", dup, embedding.HybridConfig{Dim: 4, TailRows: []int{3}, Optimizer: opt}, embedding.ErrDuplicateID},
		{"fields mismatch", [][]uint64{{1}}, embedding.HybridConfig{Dim: 4, TailRows: []int{3, 3}, Optimizer: opt}, embedding.ErrConfig},
		{"no tail row", [][]uint64{{1}}, embedding.HybridConfig{Dim: 4, TailRows: []int{0}, Optimizer: opt}, embedding.ErrConfig},
		{"bad dim", [][]uint64{{1}}, embedding.HybridConfig{Dim: 0, TailRows: []int{3}, Optimizer: opt}, embedding.ErrConfig},
		{"bad method", [][]uint64{{1}}, embedding.HybridConfig{Method: "qr", Dim: 4, TailRows: []int{3}, Optimizer: opt}, embedding.ErrConfig},
		{"bad fraction", [][]uint64{{1}}, embedding.HybridConfig{Dim: 4, TailRows: []int{3}, HeadFraction: 1.5, Optimizer: opt}, embedding.ErrConfig},
		{"bad optimizer", [][]uint64{{1}}, embedding.HybridConfig{Dim: 4, TailRows: []int{3}, Optimizer: embedding.Optimizer{Name: "nope"}}, embedding.ErrUnknownOptimizer},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := embedding.NewHybrid(c.heads, c.cfg); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

func TestHybridLoad(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.LazyAdam, LR: 0.01}
	cfg := embedding.HybridConfig{Dim: 4, TailRows: []int{30, 20}, Optimizer: opt, Seed: 5}
	a := must(embedding.NewHybrid(hybridHeads(10, 5), cfg))
	ids := embtest.IDs(2)
	batch := []uint64{ids[0][0], ids[1][0], ids[0][100], ids[1][100]}
	a.Apply(batch, []float32{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	saved := buf.Bytes()

	// LoadHybrid rebuilds the table; Load into a table with other heads
	// takes the saved heads.
	b, err := embedding.LoadHybrid(bytes.NewReader(saved))
	if err != nil {
		t.Fatalf("LoadHybrid: %v", err)
	}
	other := must(embedding.NewHybrid(hybridHeads(3, 7), cfg))
	other.SetThreads(4)
	if err := other.Load(bytes.NewReader(saved)); err != nil {
		t.Fatalf("Load into a table with other heads: %v", err)
	}
	want := make([]float32, len(batch)*4)
	a.Lookup(batch, want)
	for name, tbl := range map[string]*embedding.Hybrid{"LoadHybrid": b, "Load": other} {
		got := make([]float32, len(want))
		tbl.Lookup(batch, got)
		if !slices.Equal(got, want) || !slices.Equal(tbl.Head(0), a.Head(0)) {
			t.Errorf("%s: table differs from the saved one", name)
		}
	}

	for _, c := range []struct {
		name string
		cfg  embedding.HybridConfig
		data []byte
		want error
	}{
		{"other tail", embedding.HybridConfig{Dim: 4, TailRows: []int{30, 21}, Optimizer: opt, Seed: 5}, saved, embedding.ErrConfigMismatch},
		{"other seed", embedding.HybridConfig{Dim: 4, TailRows: []int{30, 20}, Optimizer: opt, Seed: 6}, saved, embedding.ErrConfigMismatch},
		{"hashed stream", cfg, hashedStream(t), embedding.ErrBadMagic},
		{"version", cfg, append(slices.Clone(saved[:8]), append([]byte{9, 0, 0, 0}, saved[12:]...)...), embedding.ErrVersion},
		{"no end", cfg, append(slices.Clone(saved[:len(saved)-1]), 'X'), embedding.ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl := must(embedding.NewHybrid(hybridHeads(10, 5), c.cfg))
			before := make([]float32, len(want))
			tbl.Lookup(batch, before)
			if err := tbl.Load(bytes.NewReader(c.data)); !errors.Is(err, c.want) {
				t.Fatalf("Load: err %v, want %v", err, c.want)
			}
			after := make([]float32, len(want))
			tbl.Lookup(batch, after)
			if !slices.Equal(before, after) {
				t.Fatal("a failed Load changed the table")
			}
		})
	}
}

func hashedStream(t *testing.T) []byte {
	t.Helper()
	h := must(embedding.NewHashed(embedding.Config{Dim: 4, Rows: []int{30, 20},
		Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 0.1}}))
	var buf bytes.Buffer
	if err := h.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHybridForBudget(t *testing.T) {
	// Field 0: ids 1..10 with counts 10..1; field 1: ids 101..105 with
	// counts 5,5,5,5,5 (ties); field 2: a single id.
	f0 := embedding.Frequencies{IDs: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		Counts: []uint32{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, Distinct: 10}
	f1 := embedding.Frequencies{IDs: []uint64{105, 104, 103, 102, 101},
		Counts: []uint32{5, 5, 5, 5, 5}, Distinct: 5}
	f2 := embedding.Frequencies{IDs: []uint64{77}, Counts: []uint32{1000}, Distinct: 1}
	row := int64(4 * 4) // dim 4
	for _, c := range []struct {
		name      string
		rows      int64
		fraction  float64
		freqs     []embedding.Frequencies
		wantHeads [][]uint64
		wantTail  []int
	}{
		{
			// 20 rows: head 10 = 77, counts 10..6 (5 ids) and 4 of the 6
			// ids tied at 5, shared 1:5 between fields 0 and 1 by largest
			// remainder (0.67 vs 3.33): field 0 gets 1 (id 6), field 1
			// gets 3 (least ids 101..103). Tails: 10 rows, 1 each plus 7
			// shared 4:2:0, capped at 5 and 3 and 1.
			name: "ties", rows: 20, freqs: []embedding.Frequencies{f0, f1, f2},
			wantHeads: [][]uint64{{1, 2, 3, 4, 5, 6}, {101, 102, 103}, {77}},
			wantTail:  []int{5, 3, 1},
		},
		{
			name: "fraction 0.25", rows: 20, fraction: 0.25, freqs: []embedding.Frequencies{f0, f1, f2},
			wantHeads: [][]uint64{{1, 2, 3, 4}, {}, {77}},
			wantTail:  []int{7, 6, 1},
		},
		{
			// Everything fits in the head; each tail keeps one row.
			name: "all head", rows: 100, fraction: 1, freqs: []embedding.Frequencies{f0, f1, f2},
			wantHeads: [][]uint64{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {101, 102, 103, 104, 105}, {77}},
			wantTail:  []int{1, 1, 1},
		},
		{
			// The head never takes the tails' minimum rows.
			name: "minimum", rows: 3, fraction: 1, freqs: []embedding.Frequencies{f0, f1, f2},
			wantHeads: [][]uint64{{}, {}, {}},
			wantTail:  []int{1, 1, 1},
		},
		{
			// Unknown cardinality (a sketch): tails uncapped, weighted by
			// the sketched ids left over.
			name: "unknown distinct", rows: 16, freqs: []embedding.Frequencies{
				{IDs: f0.IDs, Counts: f0.Counts}, {IDs: f1.IDs, Counts: f1.Counts}},
			// 8 head rows: 5 ids above count 5, then 3 of the 6 tied ids
			// shared 0.5:2.5, the equal remainders broken by field order.
			// Tails: 8 rows, 1 each plus 6 shared 4:3 (3.43, 2.57).
			wantHeads: [][]uint64{{1, 2, 3, 4, 5, 6}, {101, 102}},
			wantTail:  []int{4, 4},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			budget := c.rows*row + row - 1 // a partial row buys nothing
			heads, tail, err := embedding.HybridForBudget(budget, c.freqs, 4, c.fraction)
			if err != nil {
				t.Fatal(err)
			}
			for f := range heads {
				if !slices.Equal(heads[f], c.wantHeads[f]) {
					t.Errorf("head of field %d = %v, want %v", f, heads[f], c.wantHeads[f])
				}
			}
			if !slices.Equal(tail, c.wantTail) {
				t.Errorf("tail rows %v, want %v", tail, c.wantTail)
			}
			tbl, err := embedding.NewHybrid(heads, embedding.HybridConfig{Dim: 4, TailRows: tail,
				HeadFraction: c.fraction, Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 0.1}})
			if err != nil {
				t.Fatal(err)
			}
			if tbl.Bytes().Params > budget {
				t.Errorf("params %d bytes > budget %d", tbl.Bytes().Params, budget)
			}
		})
	}
}

func TestHybridForBudgetErrors(t *testing.T) {
	fr := []embedding.Frequencies{{IDs: []uint64{1, 2}, Counts: []uint32{3, 4}}}
	for _, c := range []struct {
		name     string
		budget   int64
		freqs    []embedding.Frequencies
		dim      int
		fraction float64
		want     error
	}{
		{"too small", 15, fr, 4, 0, embedding.ErrBudgetTooSmall},
		{"no fields", 1000, nil, 4, 0, embedding.ErrConfig},
		{"bad dim", 1000, fr, 0, 0, embedding.ErrConfig},
		{"negative budget", -1, fr, 4, 0, embedding.ErrConfig},
		{"fraction", 1000, fr, 4, -0.5, embedding.ErrConfig},
		{"counts", 1000, []embedding.Frequencies{{IDs: []uint64{1}}}, 4, 0, embedding.ErrConfig},
		{"distinct", 1000, []embedding.Frequencies{{IDs: []uint64{1, 2}, Counts: []uint32{1, 1}, Distinct: 1}}, 4, 0, embedding.ErrConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := embedding.HybridForBudget(c.budget, c.freqs, c.dim, c.fraction); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
}

// TestHybridFromSketch sizes a table from a sketch of a skewed stream: the
// heaviest ids get head rows, as they would from an exact count.
func TestHybridFromSketch(t *testing.T) {
	ids := zipfStream(40000, 1.3, 1<<16, 5)
	sk := must(embedding.NewFieldSketches(1, 200))
	exact := make(map[uint64]uint32)
	for _, id := range ids {
		exact[id]++
	}
	sk.Observe(ids)
	var fr embedding.Frequencies
	for id, c := range exact {
		fr.IDs = append(fr.IDs, id)
		fr.Counts = append(fr.Counts, c)
	}
	fr.Distinct = int64(len(fr.IDs))
	const dim, rows = 4, 100
	budget := int64(rows * dim * 4)
	exactHeads, _, err := embedding.HybridForBudget(budget, []embedding.Frequencies{fr}, dim, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := embedding.NewHybridForBudget(budget, sk.Frequencies(),
		embedding.HybridConfig{Dim: dim, HeadFraction: 0.2, Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tbl.Head(0); len(got) != 20 {
		t.Fatalf("sketched head has %d ids, want 20", len(got))
	}
	// The sketch's top 20 are the true top 20 on a stream this skewed,
	// up to ties at the threshold.
	got := tbl.Head(0)
	slices.Sort(got)
	missing := 0
	for _, id := range exactHeads[0] {
		if _, ok := slices.BinarySearch(got, id); !ok {
			missing++
		}
	}
	if missing > 2 {
		t.Errorf("sketched head misses %d of the 20 most frequent ids", missing)
	}
	if tbl.Bytes().Params > budget {
		t.Errorf("params %d > budget %d", tbl.Bytes().Params, budget)
	}
}
