package embedding_test

import (
	"math"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/quant"
)

// idEncoder is a computed field that reads no rows, in the shape of DHE:
// the vector is a function of the id alone and of parameters of its own,
// v[j]·s_j(id) with s_j(id) = ±1 from the id's hash bits. Backward
// trains v by SGD with the gradient summed over the batch.
type idEncoder struct {
	v  []float32
	lr float32
}

func (e *idEncoder) sign(id uint64, j int) float32 {
	if hashing.Mix64(id)>>(j%64)&1 == 1 {
		return 1
	}
	return -1
}

func (e *idEncoder) Compute(id uint64, _ []float32, out []float32) {
	for j := range out {
		out[j] = e.v[j] * e.sign(id, j)
	}
}

func (e *idEncoder) Backward(id uint64, _ []float32, dout, _ []float32) {
	for j, g := range dout {
		e.v[j] -= e.lr * g * e.sign(id, j)
	}
}

// TestPlanSeam builds a table from a plan by hand — a weighted sum of three
// hashed rows per id (the pooling of a bag) and a computed field that reads
// no rows — and checks Lookup, Apply and a serving Gatherer over the rows
// quantized to int8: the seam takes both kinds of method without any code
// of its own for them.
func TestPlanSeam(t *testing.T) {
	const dim, rows = 8, 50
	weights := []float32{0.5, 0.3, 0.2}
	enc := &idEncoder{v: make([]float32, dim), lr: 0.1}
	for j := range enc.v {
		enc.v[j] = float32(j + 1)
	}
	plan := &embedding.Plan{Dim: dim, Sets: []embedding.SetShape{{Rows: rows, Width: dim}},
		Fields: []embedding.FieldPlan{
			{NumKeys: 3, Combine: embedding.SumRows, Width: dim, Used: dim, Weights: weights,
				Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
					for k := range 3 {
						dst = append(dst, embedding.Key{Row: uint32(hashing.Bucket(hashing.Probe(id, k), rows))})
					}
					return dst
				}},
			{NumKeys: 0, Combine: embedding.ComputeVector, Used: dim - 2, Computer: enc},
		}}
	set, err := embedding.NewRows(rows, dim, embedding.Optimizer{Name: embedding.SGD, LR: 1})
	if err != nil {
		t.Fatal(err)
	}
	set.InitUniform(0, rows, 0.5, 7, 0)
	tbl, err := embedding.NewPlanned(plan, []*embedding.Rows{set})
	if err != nil {
		t.Fatal(err)
	}
	ids := []uint64{11, 12, 13, 14, 15, 16} // 3 examples x 2 fields
	keysOf := func(id uint64) []embedding.Key { return plan.AppendKeys(nil, 0, id) }
	out := make([]float32, len(ids)*dim)
	tbl.Lookup(ids, out)
	for b := range 3 {
		bag, comp := out[(2*b)*dim:(2*b+1)*dim], out[(2*b+1)*dim:(2*b+2)*dim]
		want := make([]float32, dim)
		for k, key := range keysOf(ids[2*b]) {
			for j, v := range set.Row(int(key.Row)) {
				want[j] += weights[k] * v
			}
		}
		for j := range dim {
			if math.Abs(float64(bag[j]-want[j])) > 1e-6 {
				t.Fatalf("example %d: pooled[%d] = %v, want %v", b, j, bag[j], want[j])
			}
		}
		for j := range dim {
			want := float32(0)
			if j < dim-2 {
				want = enc.v[j] * enc.sign(ids[2*b+1], j)
			}
			if comp[j] != want {
				t.Fatalf("example %d: computed[%d] = %v, want %v (zero past Used)", b, j, comp[j], want)
			}
		}
	}

	// Serving: the same plan over the rows quantized to int8, read by a
	// Gatherer from a kernel table, matches within the codec's error.
	q, _, err := quant.Quantize(set.Params(), rows, dim, quant.Int8)
	if err != nil {
		t.Fatal(err)
	}
	g := embedding.NewGatherer(plan)
	if _, err := g.Resolve(ids, nil); err != nil {
		t.Fatal(err)
	}
	served := make([]float32, len(out))
	if err := g.Gather([]kernels.Table{kernels.TableOf(q)}, nil, served, 1); err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if math.Abs(float64(served[i]-out[i])) > 0.01 {
			t.Fatalf("served[%d] = %v, trained %v", i, served[i], out[i])
		}
	}

	// Apply: SGD at lr 1 moves each bag row by -w_k·g (summed over the ids
	// that share it), and the encoder by its own rule.
	before := make([][]float32, rows)
	for r := range rows {
		before[r] = append([]float32(nil), set.Row(r)...)
	}
	v0 := append([]float32(nil), enc.v...)
	grads := make([]float32, len(out))
	for i := range grads {
		grads[i] = float32(i%5) * 0.1
	}
	tbl.Apply(ids, grads)
	want := make([][]float32, rows)
	for r := range rows {
		want[r] = append([]float32(nil), before[r]...)
	}
	for b := range 3 {
		for k, key := range keysOf(ids[2*b]) {
			for j := range dim {
				want[key.Row][j] -= weights[k] * grads[(2*b)*dim+j]
			}
		}
	}
	for r := range rows {
		for j, v := range set.Row(r) {
			if math.Abs(float64(v-want[r][j])) > 1e-6 {
				t.Fatalf("row %d[%d] = %v after Apply, want %v", r, j, v, want[r][j])
			}
		}
	}
	for j := range dim - 2 {
		w := v0[j]
		for b := range 3 {
			w -= enc.lr * grads[(2*b+1)*dim+j] * enc.sign(ids[2*b+1], j)
		}
		if math.Abs(float64(enc.v[j]-w)) > 1e-5 {
			t.Fatalf("encoder v[%d] = %v after Apply, want %v", j, enc.v[j], w)
		}
	}
}

// TestPlanValidate: inconsistent plans are refused before use.
func TestPlanValidate(t *testing.T) {
	keys := func(dst []embedding.Key, id uint64) []embedding.Key { return append(dst, embedding.Key{}) }
	sets := []embedding.SetShape{{Rows: 4, Width: 4}}
	for _, tc := range []struct {
		name string
		fp   embedding.FieldPlan
	}{
		{"copy of two keys", embedding.FieldPlan{NumKeys: 2, Keys: keys, Combine: embedding.CopyRow, Width: 4, Used: 4}},
		{"no key func", embedding.FieldPlan{NumKeys: 1, Combine: embedding.CopyRow, Width: 4, Used: 4}},
		{"concat wider than dim", embedding.FieldPlan{NumKeys: 2, Keys: keys, Combine: embedding.ConcatRows, Width: 4, Used: 8}},
		{"sum used != width", embedding.FieldPlan{NumKeys: 2, Keys: keys, Combine: embedding.SumRows, Width: 4, Used: 3}},
		{"weights on copy", embedding.FieldPlan{NumKeys: 1, Keys: keys, Combine: embedding.CopyRow, Width: 4, Used: 4, Weights: []float32{1}}},
		{"computed without computer", embedding.FieldPlan{Combine: embedding.ComputeVector, Used: 4}},
		{"shared keys on copy", embedding.FieldPlan{NumKeys: 1, Keys: keys, Combine: embedding.CopyRow, Width: 4, Used: 4,
			Shared: []embedding.Key{{Row: 1}}}},
	} {
		p := &embedding.Plan{Dim: 4, Sets: sets, Fields: []embedding.FieldPlan{tc.fp}}
		if err := p.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", tc.name)
		}
	}
	ok := &embedding.Plan{Dim: 4, Sets: sets, Fields: []embedding.FieldPlan{{NumKeys: 1, Keys: keys, Combine: embedding.CopyRow, Width: 4, Used: 4}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid plan: %v", err)
	}
}

// sharedSum is a computed field of one own key and shared keys: its
// vector is the sum of its rows, so every row's gradient is dout.
type sharedSum struct{ w, rows int }

func (c sharedSum) Compute(_ uint64, rows, out []float32) {
	clear(out)
	for r := range c.rows {
		for j := range c.w {
			out[j] += rows[r*c.w+j]
		}
	}
}

func (c sharedSum) Backward(_ uint64, _, dout, drows []float32) {
	for r := range c.rows {
		copy(drows[r*c.w:(r+1)*c.w], dout)
	}
}

// TestSharedKeys: a computed field's shared keys are read once a batch,
// their rows follow the id's own rows in what the Computer gets, and
// Apply sums their gradients over the batch's ids (SGD: a shared row moves
// by lr times the summed gradient; an own row by its ids' part).
func TestSharedKeys(t *testing.T) {
	const w = 2
	p := &embedding.Plan{Dim: w, Sets: []embedding.SetShape{{Rows: 6, Width: w}}, Fields: []embedding.FieldPlan{{
		NumKeys: 1, Combine: embedding.ComputeVector, Width: w, Used: w, Computer: sharedSum{w: w, rows: 3},
		Shared: []embedding.Key{{Row: 4}, {Row: 5}},
		Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
			return append(dst, embedding.Key{Row: uint32(id % 4)})
		}}}}
	rows, err := embedding.NewRows(6, w, embedding.Optimizer{Name: embedding.SGD, LR: 1})
	if err != nil {
		t.Fatal(err)
	}
	vals := []float32{1, 2, 3, 4, 5, 6, 7, 8, 10, 20, 100, 200}
	rows.WriteRows(0, vals)
	tbl, err := embedding.NewPlanned(p, []*embedding.Rows{rows})
	if err != nil {
		t.Fatal(err)
	}
	g := embedding.NewGatherer(p)
	keys, err := g.Resolve([]uint64{1, 2, 1}, nil)
	if err != nil || len(keys) != 5 || keys[3] != (embedding.Key{Row: 4}) || keys[4] != (embedding.Key{Row: 5}) {
		t.Fatalf("keys %v, %v: want the 3 ids' then the 2 shared ones once", keys, err)
	}
	out := make([]float32, 3*w)
	tbl.Lookup([]uint64{1, 2, 1}, out)
	if want := []float32{3 + 110, 4 + 220, 5 + 110, 6 + 220, 3 + 110, 4 + 220}; !floatsEqual(out, want) {
		t.Fatalf("Lookup %v, want %v", out, want)
	}
	tbl.Apply([]uint64{1, 2, 1}, []float32{1, 1, 2, 2, 4, 4})
	got := make([]float32, 6*w)
	rows.ReadRows(0, got)
	// SGD, lr 1: row 1 (ids 1, 1) -= 1+4, row 2 (id 2) -= 2, rows 4 and 5
	// (shared) -= 1+2+4.
	if want := []float32{1, 2, 3 - 5, 4 - 5, 5 - 2, 6 - 2, 7, 8, 10 - 7, 20 - 7, 100 - 7, 200 - 7}; !floatsEqual(got, want) {
		t.Fatalf("rows after Apply %v, want %v", got, want)
	}
}

func floatsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
