package dedup_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/dedup"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/kernels"
)

var adagrad = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}

func newTable(t testing.TB, c dedup.Config) *dedup.Table {
	t.Helper()
	tbl, err := dedup.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
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

// train applies steps random batches of 64 examples.
func train(tbl *dedup.Table, rng *rand.Rand, steps int) {
	for range steps {
		ids := randIDs(rng, 64*len(tbl.Config().Rows))
		tbl.Apply(ids, randGrads(rng, len(ids)*tbl.Dim()))
	}
}

// base: 3 fields of 8000 rows, dim 8 in blocks of 4 (48k blocks), so a
// 32-example batch leaves most blocks untouched.
func base() dedup.Config {
	return dedup.Config{Dim: 8, Block: 4, Rows: []int{8000, 8000, 8000}, Threshold: 0.95, Bits: 12, Optimizer: adagrad, Seed: 7}
}

// merged returns a table deduped with a loose threshold and few bits, so
// that many blocks share rows.
func merged(t testing.TB, storage string) *dedup.Table {
	c := base()
	c.Threshold, c.Bits, c.Storage = 0.995, 8, storage
	tbl := newTable(t, c)
	train(tbl, rand.New(rand.NewPCG(1, 2)), 2)
	if err := tbl.Dedup(); err != nil {
		t.Fatal(err)
	}
	if p, l := tbl.Config().Physical, tbl.Config().Logical(); p >= l || p < l/2 {
		t.Fatalf("the loose dedup kept %d of %d blocks", p, l)
	}
	return tbl
}

func TestTable(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		embtest.TestTable(t, func() embedding.Trainable { return newTable(t, base()) })
	})
	t.Run("int8", func(t *testing.T) {
		c := base()
		c.Storage = embedding.StorageInt8
		embtest.TestTable(t, func() embedding.Trainable { return newTable(t, c) }, embtest.Tolerance(0.01))
	})
	t.Run("after", func(t *testing.T) {
		embtest.TestTable(t, func() embedding.Trainable { return merged(t, "") })
	})
	t.Run("afterInt8", func(t *testing.T) {
		embtest.TestTable(t, func() embedding.Trainable { return merged(t, embedding.StorageInt8) }, embtest.Tolerance(0.01))
	})
}

// TestCheckpointAcrossDedup saves before the dedup step, loads into a
// fresh table and through the method, trains both past the dedup step:
// they dedup alike; a save after the dedup loads back with its remap.
func TestCheckpointAcrossDedup(t *testing.T) {
	c := base()
	c.After, c.Threshold, c.Bits = 3, 0.5, 3
	a := newTable(t, c)
	rng := rand.New(rand.NewPCG(3, 4))
	var steps [4][]uint64
	var grads [4][]float32
	for k := range steps {
		steps[k] = randIDs(rng, 64*3)
		grads[k] = randGrads(rng, len(steps[k])*c.Dim)
	}
	a.Apply(steps[0], grads[0])
	a.Apply(steps[1], grads[1])
	var saved bytes.Buffer
	if err := a.Save(&saved); err != nil {
		t.Fatal(err)
	}
	b := newTable(t, c)
	if err := b.Load(bytes.NewReader(saved.Bytes())); err != nil {
		t.Fatal(err)
	}
	m, err := embedding.MethodByName(dedup.Method)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := m.Load(bytes.NewReader(saved.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	d := mt.(*dedup.Table)
	for _, x := range []*dedup.Table{a, b, d} {
		if x.Config().Deduped() || x.Steps() != 2 {
			t.Fatalf("before the dedup step: deduped %v, steps %d", x.Config().Deduped(), x.Steps())
		}
		x.Apply(steps[2], grads[2])
		if !x.Config().Deduped() {
			t.Fatal("no dedup at step After")
		}
		x.Apply(steps[3], grads[3])
	}
	probe := randIDs(rng, 300)
	want := lookup(a, probe)
	for _, x := range []*dedup.Table{b, d} {
		if !slices.Equal(lookup(x, probe), want) || !slices.Equal(x.Config().Remap, a.Config().Remap) {
			t.Fatal("a table resumed before the dedup step differs after it")
		}
	}
	saved.Reset()
	if err := a.Save(&saved); err != nil {
		t.Fatal(err)
	}
	for _, load := range []func() (*dedup.Table, error){
		func() (*dedup.Table, error) { return dedup.Load(bytes.NewReader(saved.Bytes())) },
		func() (*dedup.Table, error) { // into a fresh, not yet deduped table
			x := newTable(t, c)
			return x, x.Load(bytes.NewReader(saved.Bytes()))
		},
	} {
		x, err := load()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(lookup(x, probe), want) || !slices.Equal(x.Config().Remap, a.Config().Remap) || x.Steps() != 4 {
			t.Fatal("a table loaded after the dedup differs")
		}
		x.Apply(steps[0], grads[0])
	}
	other := c
	other.Seed++
	if err := newTable(t, other).Load(bytes.NewReader(saved.Bytes())); !errors.Is(err, embedding.ErrConfigMismatch) {
		t.Errorf("load into a table of another seed: %v, want ErrConfigMismatch", err)
	}
}

func lookup(tbl embedding.Table, ids []uint64) []float32 {
	out := make([]float32, len(ids)*tbl.Dim())
	tbl.Lookup(ids, out)
	return out
}

// TestPlanFromDescription rebuilds the plan from Describe's config through
// the registered method, as serving does, and gathers the described rows:
// Lookup's vectors bit for bit, before and after the dedup.
func TestPlanFromDescription(t *testing.T) {
	m, err := embedding.MethodByName(dedup.Method)
	if err != nil {
		t.Fatal(err)
	}
	for name, tbl := range map[string]*dedup.Table{"before": newTable(t, base()), "after": merged(t, "")} {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			train(tbl, rng, 3)
			d, err := tbl.Describe()
			if err != nil {
				t.Fatal(err)
			}
			c := tbl.Config()
			if d.Method != dedup.Method || d.Index != nil || d.Width != c.Block || len(d.Sets) != 1 || d.Sets[0].Len() != c.PhysicalRows() {
				t.Fatalf("description: method %q, index %v, width %d, %d sets", d.Method, d.Index != nil, d.Width, len(d.Sets))
			}
			p, err := m.Plan(d.Config, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids := randIDs(rng, 300)
			want := lookup(tbl, ids)
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
		})
	}
	good := `{"method":"dedup","dim":8,"block":4,"rows":[2],"bits":4,"threshold":0.9,"remap":"AAAAAAEAAAACAAAAAAAAAA==","physical":3,"optimizer":{"name":"sgd","lr":0.1}}` // 0,1,2,0
	if _, err := m.Plan([]byte(good), nil); err != nil {
		t.Errorf("Plan(%s): %v", good, err)
	}
	for _, bad := range []string{
		`{"method":"dedup","dim":8,"block":3,"rows":[10],"bits":4,"threshold":0.9,"optimizer":{"name":"sgd","lr":0.1}}`,
		`{"method":"dedup","dim":8,"block":4,"rows":[2],"bits":4,"threshold":0.9,"remap":"AAAAAAEAAAACAAAACQAAAA==","physical":3,"optimizer":{"name":"sgd","lr":0.1}}`, // 0,1,2,9
		`{"method":"dedup","dim":8,"block":4,"rows":[2],"bits":4,"threshold":0.9,"remap":"AAAAAAEAAAACAAAA","physical":3,"optimizer":{"name":"sgd","lr":0.1}}`,         // 3 of 4
		`{"method":"dedup","dim":8,"block":4,"rows":[2],"bits":4,"threshold":0.9,"remap":"AAAAAAEAAAACAAA","physical":3,"optimizer":{"name":"sgd","lr":0.1}}`,          // not whole uint32s
		`{"method":"dedup","dim":8,"block":4,"rows":[2],"bits":4,"threshold":0.9,"remap":[0,1,2,0],"physical":3}`,
		`{"method":"dedup","dim":8,"block":4,"rows":[2],"bits":4,"threshold":0.9,"z":1}`,
	} {
		if _, err := m.Plan([]byte(bad), nil); !errors.Is(err, embedding.ErrCorrupt) {
			t.Errorf("Plan(%s): %v, want ErrCorrupt", bad, err)
		}
	}
}

func spec(dim int, budget int64, params map[string]string) embedding.Spec {
	fields := make([]embedding.Frequencies, 3)
	for f := range fields {
		fields[f].IDs = []uint64{1, 2, 3}
		fields[f].Counts = []uint32{5, 3, 1}
		fields[f].Distinct = 100_000
	}
	return embedding.Spec{Dim: dim, Budget: budget, Fields: fields, Optimizer: adagrad, Seed: 1, Params: params}
}

// TestSizing: the table (rows and the remap it will need) is within the
// budget before and after the dedup, and with a ratio > 1 the dedup
// merges down to the budget.
func TestSizing(t *testing.T) {
	const budget = 400_000
	for _, params := range []map[string]string{nil, {"block": "2"}, {"block": "8", "threshold": "0.99"}, {"ratio": "2", "bits": "6"}} {
		m, _ := embedding.MethodByName(dedup.Method)
		tr, err := m.New(spec(16, budget, params))
		if err != nil {
			t.Fatal(err)
		}
		tbl := tr.(*dedup.Table)
		c := tbl.Config()
		want := 8
		if params["block"] != "" {
			want = map[string]int{"2": 2, "8": 8}[params["block"]]
		}
		if c.Block != want || c.After != dedup.DefaultAfter {
			t.Errorf("%v: block %d, after %d", params, c.Block, c.After)
		}
		if params["ratio"] == "" && c.ServingBytes() > budget || c.ServingBytes() < budget/2 {
			t.Errorf("%v: %d serving bytes before the dedup for a budget of %d", params, c.ServingBytes(), budget)
		}
		if b := tbl.Bytes(); b.Index != int64(c.Logical())*4 || b.Params != int64(c.PhysicalRows()*c.Block*4) {
			t.Errorf("%v: Bytes %+v", params, b)
		}
		train(tbl, rand.New(rand.NewPCG(1, 1)), c.After)
		c = tbl.Config()
		if !c.Deduped() {
			t.Fatalf("%v: no dedup after %d steps", params, c.After)
		}
		if c.ServingBytes() > budget {
			t.Errorf("%v: %d serving bytes after the dedup (%d of %d blocks kept) for a budget of %d", params, c.ServingBytes(), c.Physical, c.Logical(), budget)
		}
		t.Logf("%v: %d of %d blocks kept, %d serving bytes", params, c.Physical, c.Logical(), c.ServingBytes())
	}
	big := spec(16, 1<<30, nil)
	for f := range big.Fields {
		big.Fields[f].Distinct = 10_000_000
	}
	if _, err := dedup.ConfigFor(big); !errors.Is(err, embedding.ErrTooManyRows) {
		t.Errorf("a remap past the manifest's bound: %v, want ErrTooManyRows", err)
	}
	cfg := filepath.Join(t.TempDir(), "dedup.json")
	if err := os.WriteFile(cfg, []byte(`{"block": 4, "after": 0, "threshold": 0.9, "bits": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := dedup.ConfigFor(spec(16, budget, map[string]string{"config": cfg, "bits": "7"}))
	if err != nil || c.Block != 4 || c.After != 0 || c.Threshold != 0.9 || c.Bits != 7 {
		t.Errorf("from a config file (bits overridden): %+v, %v", c, err)
	}
	if c, err := dedup.ConfigFor(spec(16, budget, map[string]string{"chunks": "4"})); err != nil || c.Block != 4 {
		t.Errorf("chunks 4: block %d, %v", c.Block, err)
	}
	if err := os.WriteFile(cfg, []byte(`{"blocks": 4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dedup.ConfigFor(spec(16, budget, map[string]string{"config": cfg})); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("a config file with an unknown key: %v, want ErrConfig", err)
	}
	for _, params := range []map[string]string{{"chunks": "3"}, {"block": "4", "chunks": "4"}, {"block": "3"}, {"ratio": "0.5"}, {"bits": "40"}, {"nope": "1"}, {"after": "x"}} {
		m, _ := embedding.MethodByName(dedup.Method)
		if _, err := m.New(spec(16, budget, params)); err == nil {
			t.Errorf("%v: no error", params)
		}
	}
}

// TestMergesNearIdentical: blocks that are a small perturbation of one
// another share a row after the dedup; random blocks keep their own.
func TestMergesNearIdentical(t *testing.T) {
	t.Run("cosine", func(t *testing.T) {
		testMerges(t, dedup.Config{Dim: 32, Block: 16, Rows: []int{300}, Threshold: 0.95, Bits: 8, Optimizer: adagrad, Seed: 3}, 0.01)
	})
	t.Run("elementwise", func(t *testing.T) { // the benchmark's fp 0.01, sim 0.7, noise 0.2% of N(0,1) values
		testMerges(t, dedup.Config{Dim: 32, Block: 16, Rows: []int{300}, Threshold: 0.7, FP: 0.01, Bits: 8, Optimizer: adagrad, Seed: 3}, 0.002)
	})
}

func testMerges(t *testing.T, c dedup.Config, noise float32) {
	tbl := newTable(t, c)
	n, w := c.Logical(), c.Block
	rng := rand.New(rand.NewPCG(9, 9))
	p := make([]float32, n*w)
	for i := range p {
		p[i] = float32(rng.NormFloat64())
	}
	// Blocks 2j+1 for j < 100 are copies of block 2j with relative noise.
	for j := range 100 {
		for k := range w {
			p[(2*j+1)*w+k] = p[2*j*w+k] * (1 + noise*float32(rng.NormFloat64()))
		}
	}
	tbl.RowSets()[0].WriteRows(0, p)
	ids := randIDs(rng, 200)
	before := lookup(tbl, ids)
	if err := tbl.Dedup(); err != nil {
		t.Fatal(err)
	}
	got := tbl.Config()
	// LSH misses a pair when the noise flips one of its sign bits: about
	// Bits·angle/π, 4% at 1% noise.
	pairs := 0
	for j := range 100 {
		if got.Remap[2*j] == got.Remap[2*j+1] {
			pairs++
		}
	}
	if pairs < 90 || got.Physical != n-pairs {
		t.Errorf("merged %d of 100 near-identical pairs, kept %d of %d blocks", pairs, got.Physical, n)
	}
	seen := map[uint32]int{}
	for i := 200; i < n; i++ {
		if k, dup := seen[got.Remap[i]]; dup {
			t.Fatalf("random blocks %d and %d merged", k, i)
		}
		seen[got.Remap[i]] = i
	}
	// The merged rows are the means: vectors move by about the noise.
	after := lookup(tbl, ids)
	for i := range after {
		if d := after[i] - before[i]; d > 0.1 || d < -0.1 {
			t.Fatalf("float %d moved from %v to %v", i, before[i], after[i])
		}
	}
	if err := tbl.Dedup(); err != nil || tbl.Config().Physical != got.Physical {
		t.Fatal("a second Dedup changed the table")
	}
}
