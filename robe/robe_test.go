package robe_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/kernels"
	_ "github.com/embtab/embtab/multiplex" // the "multiplex" method, for TestSameAsMultiplex
	"github.com/embtab/embtab/robe"
)

var adagrad = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}

func newTable(t testing.TB, c robe.Config) *robe.Table {
	t.Helper()
	tbl, err := robe.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// The array holds 96k floats whatever the block, so that a 32-example
// batch leaves most blocks untouched (the suite's Untouched check).
func conformanceConfigs() map[string]robe.Config {
	base := robe.Config{Fields: 3, Dim: 8, Optimizer: adagrad, Seed: 7}
	with := func(block int, sign bool, storage string) robe.Config {
		c := base
		c.Block, c.Rows, c.Sign, c.Storage = block, 96_000/block, sign, storage
		return c
	}
	return map[string]robe.Config{
		"Z1":     with(1, false, ""),
		"Z4":     with(4, false, ""),
		"Z8":     with(8, false, ""),
		"Z1sign": with(1, true, ""),
		"Z4sign": with(4, true, ""),
		"Z4int8": with(4, false, embedding.StorageInt8),
		"Z2signSGD": func() robe.Config {
			c := with(2, true, "")
			c.Optimizer = embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
			return c
		}(),
	}
}

func TestTable(t *testing.T) {
	for name, c := range conformanceConfigs() {
		t.Run(name, func(t *testing.T) {
			var opts []embtest.Option
			if c.Storage == embedding.StorageInt8 {
				opts = append(opts, embtest.Tolerance(0.01))
			}
			embtest.TestTable(t, func() embedding.Trainable { return newTable(t, c) }, opts...)
		})
	}
}

// reference computes the vector of id in field f from the array by the
// documented rule, independently of the plan code.
func reference(c robe.Config, array []float32, f int, id uint64) []float32 {
	v := make([]float32, c.Dim)
	nb := c.Dim / c.Block
	for k := range nb {
		row := hashing.Bucket(hashing.Probe(id, f*nb+k), uint64(c.Rows))
		copy(v[k*c.Block:(k+1)*c.Block], array[int(row)*c.Block:(int(row)+1)*c.Block])
	}
	if c.Sign {
		for j := range v {
			v[j] *= c.SignOf(f, id, j)
		}
	}
	return v
}

func randIDs(rng *rand.Rand, n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = rng.Uint64()
	}
	return ids
}

func randGrads(rng *rand.Rand, n int) []float32 {
	g := make([]float32, n)
	for i := range g {
		g[i] = 2*rng.Float32() - 1
	}
	return g
}

// TestLookupIsTheDocumentedRule checks Lookup against the package doc's
// key rule and sign hash, and that training moves exactly the blocks an
// id reads (by the doc's rule) with the concatenated (signed) gradient.
func TestLookupIsTheDocumentedRule(t *testing.T) {
	for _, c := range []robe.Config{
		{Fields: 2, Dim: 8, Block: 1, Rows: 500},
		{Fields: 2, Dim: 8, Block: 4, Rows: 100},
		{Fields: 2, Dim: 8, Block: 2, Rows: 300, Sign: true},
		{Fields: 2, Dim: 130, Block: 10, Rows: 50, Sign: true}, // three sign words
	} {
		t.Run(fmt.Sprintf("Z%d/sign=%v/dim%d", c.Block, c.Sign, c.Dim), func(t *testing.T) {
			c.Optimizer = embedding.Optimizer{Name: embedding.SGD, LR: 1}
			tbl := newTable(t, c)
			rng := rand.New(rand.NewPCG(1, 2))
			ids := randIDs(rng, 2*c.Fields)
			out := make([]float32, len(ids)*c.Dim)
			tbl.Lookup(ids, out)
			for i, id := range ids {
				want := reference(c, tbl.Params(), i%c.Fields, id)
				if !slices.Equal(out[i*c.Dim:(i+1)*c.Dim], want) {
					t.Fatalf("id %d: Lookup %v, the rule %v", i, out[i*c.Dim:(i+1)*c.Dim], want)
				}
			}
			// One example, SGD with lr 1: the array moves by -s⊙g at the
			// blocks it reads (a block read twice moves by the sum).
			one := ids[:c.Fields]
			before := slices.Clone(tbl.Params())
			g := randGrads(rng, len(one)*c.Dim)
			tbl.Apply(one, g)
			want := slices.Clone(before)
			nb := c.Dim / c.Block
			for f, id := range one {
				for k := range nb {
					row := int(hashing.Bucket(hashing.Probe(id, f*nb+k), uint64(c.Rows)))
					for e := range c.Block {
						j := k*c.Block + e
						s := float32(1)
						if c.Sign {
							s = c.SignOf(f, id, j)
						}
						want[row*c.Block+e] -= s * g[f*c.Dim+j]
					}
				}
			}
			got := tbl.Params()
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > 1e-6 {
					t.Fatalf("array float %d: %v after Apply, want %v (was %v)", i, got[i], want[i], before[i])
				}
			}
		})
	}
}

// TestSignBackward checks the signed combine's Backward against the
// numerical gradient of L = Σ_j w_j·out_j + ½Σ_j out_j² through a full
// Lookup/Apply round trip with SGD (lr small, so one step is the
// gradient), and that the signs are balanced and differ between ids.
func TestSignBackward(t *testing.T) {
	c := robe.Config{Fields: 1, Dim: 16, Block: 4, Rows: 64, Sign: true,
		Optimizer: embedding.Optimizer{Name: embedding.SGD, LR: 1}}
	tbl := newTable(t, c)
	rng := rand.New(rand.NewPCG(3, 4))
	id := rng.Uint64()
	w := randGrads(rng, c.Dim)
	loss := func(array []float32) float64 {
		v := reference(c, array, 0, id)
		var l float64
		for j, x := range v {
			l += float64(w[j])*float64(x) + 0.5*float64(x)*float64(x)
		}
		return l
	}
	array := slices.Clone(tbl.Params())
	// Numerical gradient w.r.t. every array float.
	num := make([]float64, len(array))
	const h = 1e-3
	for i := range array {
		a := slices.Clone(array)
		a[i] += h
		lp := loss(a)
		a[i] -= 2 * h
		num[i] = (lp - loss(a)) / (2 * h)
	}
	// Analytic: dL/dout = w + out; SGD lr 1 moves the array by -grad.
	out := make([]float32, c.Dim)
	tbl.Lookup([]uint64{id}, out)
	dout := make([]float32, c.Dim)
	for j := range dout {
		dout[j] = w[j] + out[j]
	}
	tbl.Apply([]uint64{id}, dout)
	after := tbl.Params()
	for i := range array {
		got := float64(array[i] - after[i])
		if math.Abs(got-num[i]) > 1e-3 {
			t.Fatalf("array float %d: gradient %v, numerical %v", i, got, num[i])
		}
	}
	// The signs are a hash: about half negative, and not the same for
	// every id.
	neg, differ := 0, 0
	const n = 2000
	for k := range n {
		id := hashing.Mix64(uint64(k))
		for j := range c.Dim {
			if c.SignOf(0, id, j) < 0 {
				neg++
			}
			if c.SignOf(0, id, j) != c.SignOf(0, id+1, j) {
				differ++
			}
		}
	}
	if frac := float64(neg) / (n * float64(c.Dim)); frac < 0.45 || frac > 0.55 {
		t.Errorf("%.3f of signs negative", frac)
	}
	if frac := float64(differ) / (n * float64(c.Dim)); frac < 0.4 {
		t.Errorf("neighbouring ids share %.3f of their signs", 1-frac)
	}
}

// TestPlanFromDescription rebuilds the plan from Describe's config through
// the registered method, as serving does, and gathers the described row
// sets with the kernels: the vectors equal Lookup bit for bit, after
// training.
func TestPlanFromDescription(t *testing.T) {
	m, err := embedding.MethodByName(robe.Method)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range conformanceConfigs() {
		t.Run(name, func(t *testing.T) {
			tbl := newTable(t, c)
			rng := rand.New(rand.NewPCG(5, 6))
			for range 3 {
				ids := randIDs(rng, 64*c.Fields)
				tbl.Apply(ids, randGrads(rng, len(ids)*c.Dim))
			}
			d, err := tbl.Describe()
			if err != nil {
				t.Fatal(err)
			}
			if d.Method != robe.Method || d.Index != nil || d.Width != c.Block || len(d.Sets) != 1 {
				t.Fatalf("description: method %q, index %v, width %d, %d sets", d.Method, d.Index != nil, d.Width, len(d.Sets))
			}
			p, err := m.Plan(d.Config, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids := randIDs(rng, 100*c.Fields)
			want := make([]float32, len(ids)*c.Dim)
			tbl.Lookup(ids, want)
			g := embedding.NewGatherer(p)
			if _, err := g.Resolve(ids, nil); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, len(want))
			if err := g.Gather([]kernels.Table{d.Sets[0].KernelTable()}, nil, got, 1); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatal("the plan rebuilt from the description gathers other vectors than Lookup")
			}
			if _, err := m.Plan([]byte(`{"method":"robe","fields":1,"dim":8,"block":3,"rows":10}`), nil); !errors.Is(err, embedding.ErrCorrupt) {
				t.Errorf("a block that does not divide the dim: %v, want ErrCorrupt", err)
			}
			if _, err := m.Plan([]byte(`{"method":"robe","fields":1,"dim":8,"block":4,"rows":10,"z":1}`), nil); !errors.Is(err, embedding.ErrCorrupt) {
				t.Errorf("an unknown key: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestMethodLoad saves a trained table and restores it through the
// registered method, as a checkpoint is read.
func TestMethodLoad(t *testing.T) {
	m, _ := embedding.MethodByName(robe.Method)
	for name, c := range conformanceConfigs() {
		t.Run(name, func(t *testing.T) {
			tbl := newTable(t, c)
			rng := rand.New(rand.NewPCG(7, 8))
			ids := randIDs(rng, 64*c.Fields)
			tbl.Apply(ids, randGrads(rng, len(ids)*c.Dim))
			var buf bytes.Buffer
			if err := tbl.Save(&buf); err != nil {
				t.Fatal(err)
			}
			back, err := m.Load(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if got := back.(*robe.Table).Config(); got != tbl.Config() {
				t.Fatalf("loaded config %+v, saved %+v", got, tbl.Config())
			}
			a, b := make([]float32, len(ids)*c.Dim), make([]float32, len(ids)*c.Dim)
			tbl.Lookup(ids, a)
			back.Lookup(ids, b)
			if !slices.Equal(a, b) {
				t.Fatal("loaded table looks up other vectors")
			}
			other := c
			other.Rows++
			if err := newTable(t, other).Load(bytes.NewReader(buf.Bytes())); !errors.Is(err, embedding.ErrConfigMismatch) {
				t.Errorf("Load into a table of other rows: %v, want ErrConfigMismatch", err)
			}
			// A header promising more rows than the stream holds fails
			// before allocating them.
			if _, err := m.Load(bytes.NewReader(buf.Bytes()[:len(buf.Bytes())/2])); !errors.Is(err, embedding.ErrCorrupt) {
				t.Errorf("truncated stream: %v, want ErrCorrupt", err)
			}
		})
	}
}

// defaultBlock is the documented default block at dim.
func defaultBlock(dim int) int {
	if dim%robe.DefaultBlock == 0 {
		return robe.DefaultBlock
	}
	return dim
}

func spec(dim int, budget int64, params map[string]string) embedding.Spec {
	fields := make([]embedding.Frequencies, 3)
	for f := range fields {
		fields[f].IDs = []uint64{1, 2, 3}
		fields[f].Counts = []uint32{5, 3, 1}
		fields[f].Distinct = 1000
	}
	return embedding.Spec{Dim: dim, Budget: budget, Fields: fields, Optimizer: adagrad, Seed: 1, Params: params}
}

// TestSizing checks that a table built for a budget uses all of it that
// whole blocks can, never more, and the settings' rules.
func TestSizing(t *testing.T) {
	dir := t.TempDir()
	shapeFile := filepath.Join(dir, "robe.json")
	if err := os.WriteFile(shapeFile, []byte(`{"block": 2, "sign": true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		dim       int
		budget    int64
		params    map[string]string
		block     int
		sign      bool
		err       error
		planBytes int64
	}{
		{name: "default block", dim: 16, budget: 1 << 20, block: robe.DefaultBlock},
		{name: "default block at dim 6", dim: 6, budget: 1 << 20, block: defaultBlock(6)},
		{name: "block 1", dim: 16, budget: 1<<20 + 3, params: map[string]string{"block": "1"}, block: 1},
		{name: "block dim", dim: 16, budget: 1<<20 - 1, params: map[string]string{"block": "16"}, block: 16},
		{name: "chunks", dim: 16, budget: 100_000, params: map[string]string{"chunks": "8"}, block: 2},
		{name: "sign", dim: 16, budget: 100_000, params: map[string]string{"sign": "true"}, block: robe.DefaultBlock, sign: true},
		{name: "config file", dim: 16, budget: 100_000, params: map[string]string{"config": shapeFile}, block: 2, sign: true},
		{name: "settings override the file", dim: 16, budget: 100_000, params: map[string]string{"config": shapeFile, "block": "8", "sign": "0"}, block: 8},
		{name: "plan bytes without a budget", dim: 16, planBytes: 4096, block: robe.DefaultBlock},
		{name: "no budget: the full table's serving bytes", dim: 16, block: robe.DefaultBlock},
		{name: "block not dividing", dim: 16, budget: 1 << 20, params: map[string]string{"block": "3"}, err: embedding.ErrConfig},
		{name: "chunks not dividing", dim: 16, budget: 1 << 20, params: map[string]string{"chunks": "3"}, err: embedding.ErrConfig},
		{name: "block and chunks", dim: 16, budget: 1 << 20, params: map[string]string{"chunks": "4", "block": "4"}, err: embedding.ErrConfig},
		{name: "bad sign", dim: 16, budget: 1 << 20, params: map[string]string{"sign": "maybe"}, err: embedding.ErrConfig},
		{name: "unknown setting", dim: 16, budget: 1 << 20, params: map[string]string{"probes": "2"}, err: embedding.ErrConfig},
		{name: "budget below one block", dim: 16, budget: 15, params: map[string]string{"block": "4"}, err: embedding.ErrBudgetTooSmall},
		{name: "too many rows", dim: 16, budget: 1 << 34, params: map[string]string{"block": "1"}, err: embedding.ErrTooManyRows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(tc.dim, tc.budget, tc.params)
			s.PlanBytes = tc.planBytes
			c, err := robe.ConfigFor(s)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Block != tc.block || c.Sign != tc.sign {
				t.Fatalf("block %d sign %v, want %d %v", c.Block, c.Sign, tc.block, tc.sign)
			}
			budget := s.SizingBudget()
			if b := c.ParamBytes(); b > budget || b <= budget-4*int64(c.Block) {
				t.Fatalf("%d bytes of parameters for a budget of %d (block %d)", b, budget, c.Block)
			}
			tbl, err := embedding.NewTable(robe.Method, s)
			if err != nil {
				t.Fatal(err)
			}
			d, err := tbl.(embedding.Describer).Describe()
			if err != nil {
				t.Fatal(err)
			}
			var serving int64 = embedding.IndexServingBytes(d.Index)
			for _, set := range d.Sets {
				serving += int64(set.Len()) * int64(set.Dim()) * 4
			}
			if serving > budget || tbl.Bytes().Params != serving || tbl.Bytes().Index != 0 {
				t.Fatalf("serving bytes %d (Bytes %+v) for a budget of %d", serving, tbl.Bytes(), budget)
			}
		})
	}
	s := spec(16, 1<<20, nil)
	s.FieldDims = []int{16, 8, 4}
	if _, err := robe.ConfigFor(s); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("per-field dims: %v, want ErrConfig", err)
	}
}

// TestSameAsMultiplex proves the package doc's claim: at Z = Dim without
// the sign hash, ROBE is package multiplex's "multiplex" method, lookup
// for lookup and update for update, at the same budget.
func TestSameAsMultiplex(t *testing.T) {
	const dim = 8
	s := spec(dim, 64_000, map[string]string{"block": "8"})
	r, err := embedding.NewTable(robe.Method, s)
	if err != nil {
		t.Fatal(err)
	}
	s.Params = nil
	mx, err := embedding.NewTable("multiplex", s)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for step := range 4 {
		ids := randIDs(rng, 128*3)
		a, b := make([]float32, len(ids)*dim), make([]float32, len(ids)*dim)
		r.Lookup(ids, a)
		mx.Lookup(ids, b)
		if !slices.Equal(a, b) {
			t.Fatalf("step %d: robe at Z = dim and multiplex look up different vectors", step)
		}
		g := randGrads(rng, len(a))
		r.Apply(ids, g)
		mx.Apply(ids, g)
	}
	// And at Z < Dim they differ.
	s.Params = map[string]string{"block": "4"}
	r4, err := embedding.NewTable(robe.Method, s)
	if err != nil {
		t.Fatal(err)
	}
	ids := randIDs(rng, 3)
	a, b := make([]float32, len(ids)*dim), make([]float32, len(ids)*dim)
	r4.Lookup(ids, a)
	mx.Lookup(ids, b)
	if slices.Equal(a, b) {
		t.Fatal("robe at Z = dim/2 looks up multiplex's vectors")
	}
}
