package mde

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
)

var rowwise = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}

// conformance is a table of a full-width field beside projected fields of
// two widths.
func conformance(opt embedding.Optimizer, storage string) Config {
	return Config{Dim: 8, Optimizer: opt, Seed: 3, Storage: storage, Fields: []FieldConfig{
		{Rows: 50, Width: 8}, {Rows: 300, Width: 4}, {Rows: 500, Width: 2}, {Rows: 40, Width: 8},
	}}
}

func TestTable(t *testing.T) {
	for _, opt := range []embedding.Optimizer{rowwise, {Name: embedding.SGD, LR: 0.05}, {Name: embedding.LazyAdam, LR: 0.01}} {
		for _, storage := range []string{embedding.StorageFP32, embedding.StorageInt8} {
			if storage == embedding.StorageInt8 && opt.Name != embedding.RowwiseAdagrad {
				continue
			}
			t.Run(opt.Name+"/"+storage, func(t *testing.T) {
				var opts []embtest.Option
				opts = append(opts, embtest.SharedParameters()) // a field's projection is every id's
				if storage == embedding.StorageInt8 {
					opts = append(opts, embtest.Tolerance(0.02))
				}
				embtest.TestTable(t, func() embedding.Trainable {
					tbl, err := New(conformance(opt, storage))
					if err != nil {
						t.Fatal(err)
					}
					return tbl
				}, opts...)
			})
		}
	}
}

// TestProjectionGradient checks the computed combine's backward against
// central differences of its forward, and that an untrained table is the
// zero-padded embedding row (identity projection).
func TestProjectionGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	k := projection{w: 3, dim: 5}
	rows := make([]float32, (1+k.dim)*k.w)
	for i := range rows {
		rows[i] = float32(rng.NormFloat64())
	}
	dout := make([]float32, k.dim)
	for i := range dout {
		dout[i] = float32(rng.NormFloat64())
	}
	loss := func() float64 {
		out := make([]float32, k.dim)
		k.Compute(0, rows, out)
		var l float64
		for i, v := range out {
			l += float64(v) * float64(dout[i])
		}
		return l
	}
	drows := make([]float32, len(rows))
	k.Backward(0, rows, dout, drows)
	for i := range rows {
		x := rows[i]
		rows[i] = x + 1e-2
		hi := loss()
		rows[i] = x - 1e-2
		lo := loss()
		rows[i] = x
		if num := (hi - lo) / 2e-2; math.Abs(num-float64(drows[i])) > 1e-3*(1+math.Abs(num)) {
			t.Fatalf("row float %d: backward %v, numerical %v", i, drows[i], num)
		}
	}
	tbl, err := New(conformance(rowwise, ""))
	if err != nil {
		t.Fatal(err)
	}
	ids := []uint64{7, 8, 9, 10}
	out := make([]float32, len(ids)*8)
	tbl.Lookup(ids, out)
	for f, w := range []int{8, 4, 2, 8} {
		v := out[f*8 : (f+1)*8]
		for j := w; j < 8; j++ {
			if v[j] != 0 {
				t.Fatalf("field %d (width %d): untrained vector %v is not zero past its width", f, w, v)
			}
		}
		if v[0] == 0 {
			t.Fatalf("field %d: untrained vector %v", f, v)
		}
	}
}

func TestSizing(t *testing.T) {
	cards := []int64{10, 1000, 100_000, 3}
	const dim = 16
	full := fieldBytes([]FieldConfig{{11, dim}, {1001, dim}, {100_001, dim}, {4, dim}}, dim)
	if w := Widths(cards, dim, 0); w[0] != dim || w[2] != dim {
		t.Fatalf("alpha 0: widths %v", w)
	}
	if w := Widths(cards, dim, 0.5); w[3] != dim || w[2] != 1 || !(w[1] < w[0] && w[0] < dim) {
		t.Fatalf("alpha 0.5: widths %v", w)
	}
	for _, ratio := range []int64{1, 2, 5, 10} {
		budget := full / ratio
		fs, alpha, err := ForBudget(budget, cards, dim, -1)
		if err != nil {
			t.Fatalf("1/%d of the full table: %v", ratio, err)
		}
		b := fieldBytes(fs, dim)
		if b > budget || (ratio > 1 && alpha <= 0) {
			t.Fatalf("1/%d: %d bytes of %d at alpha %v", ratio, b, budget, alpha)
		}
		// α is the smallest that fits: a little less does not.
		if ratio > 1 {
			if less := fieldBytes(shapeAt(cards, dim, alpha-0.01), dim); less <= budget && less != b {
				t.Errorf("1/%d: alpha %v is not the smallest that fits (%v fits too)", ratio, alpha, alpha-0.01)
			}
		}
	}
	if _, _, err := ForBudget(full/40, cards, dim, -1); !errors.Is(err, embedding.ErrBudgetTooSmall) {
		t.Errorf("1/40 of the full table (below one float per value): %v", err)
	}
	if _, a, err := ForBudget(full, cards, dim, 0.3); err != nil || a != 0.3 {
		t.Errorf("fixed alpha: %v, %v", a, err)
	}
	if _, _, err := ForBudget(full/10, cards, dim, 0); !errors.Is(err, embedding.ErrBudgetTooSmall) {
		t.Errorf("fixed alpha 0 at 10x: %v", err)
	}
	// Through the method: serving bytes within the budget, every row set
	// accounted for.
	s := embedding.Spec{Dim: dim, Budget: full / 4, Optimizer: rowwise, Seed: 1}
	for _, n := range cards {
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = uint64(i)
		}
		s.Fields = append(s.Fields, embedding.Frequencies{IDs: ids, Distinct: n})
	}
	tr, err := embedding.NewTable(Method, s)
	if err != nil {
		t.Fatal(err)
	}
	tbl := tr.(*Table)
	var rows int64
	for _, r := range tbl.RowSets() {
		rows += int64(r.Len()) * int64(r.Dim()) * 4
	}
	if rows != tbl.Config().ServingBytes() || rows > s.Budget {
		t.Errorf("row sets hold %d bytes, config says %d, budget %d", rows, tbl.Config().ServingBytes(), s.Budget)
	}
	s.Params = map[string]string{"probes": "2"}
	if _, err := embedding.NewTable(Method, s); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("unknown setting: %v", err)
	}
}

func shapeAt(cards []int64, dim int, alpha float64) []FieldConfig {
	w := Widths(cards, dim, max(alpha, 0))
	fs := make([]FieldConfig, len(cards))
	for f, n := range cards {
		fs[f] = FieldConfig{Rows: int(n) + 1, Width: w[f]}
	}
	return fs
}
