package cafe

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/hotsketch"
	"github.com/embtab/embtab/kernels"
)

var (
	sgd     = embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	rowwise = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}
)

// testConfig is a small table: fields fields of 300 hashed rows, a pool
// of pool rows, threshold thr (an occurrence brings 1 on average).
func testConfig(fields, dim, pool int, thr float32, decayEvery float64) Config {
	c := Config{Dim: dim, HashRows: make([]int, fields), Pool: pool, Importance: ImportanceGrad, Optimizer: rowwise, Seed: 3,
		Sketch: hotsketch.Config{Buckets: max(pool, 16), Capacity: pool, Threshold: thr, Decay: 0.5, DecayEvery: decayEvery, Seed: 11}}
	for f := range c.HashRows {
		c.HashRows[f] = 300
	}
	var err error
	if c.Sketch, err = c.Sketch.WithDefaults(); err != nil {
		panic(err)
	}
	return c
}

func mustTable(t testing.TB, c Config) *Table {
	t.Helper()
	tb, err := newTable(c)
	if err != nil {
		t.Fatal(err)
	}
	tb.init()
	return tb
}

// TestConformance runs the table suite on CAFE tables whose thresholds
// make the suite's batches promote ids (and, with a short decay period,
// demote them), in fp32 and int8, by gradient and by frequency.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		opts    []embtest.Option
		promote bool
	}{
		{"grad", func(c *Config) {}, nil, true},
		{"grad/decay", func(c *Config) { c.Sketch.DecayEvery = 500 }, nil, true},
		{"freq/sgd", func(c *Config) { c.Importance, c.Optimizer = ImportanceFreq, sgd }, nil, true},
		{"int8", func(c *Config) { c.Storage = embedding.StorageInt8 }, []embtest.Option{embtest.Tolerance(0.01)}, true},
		{"no pool", func(c *Config) { c.Pool, c.Sketch.Capacity = 0, 0 }, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(3, 8, 64, 3, 0)
			tc.mod(&c)
			embtest.TestTable(t, func() embedding.Trainable { return mustTable(t, c) }, tc.opts...)
			// The suite's batches do promote ids in these tables.
			tb := mustTable(t, c)
			rng := rand.New(rand.NewPCG(1, 2))
			ids, g := batch(rng, 3, 8, 64, embtest.IDs(3))
			for range 4 {
				tb.Apply(ids, g)
			}
			if got := tb.Promotions() > 0; got != tc.promote {
				t.Fatalf("%d promotions", tb.Promotions())
			}
		})
	}
}

// batch returns n examples drawn from pool (skewed: low indices are
// frequent) and gradients in [-1, 1).
func batch(rng *rand.Rand, fields, dim, n int, pool [][]uint64) ([]uint64, []float32) {
	ids := make([]uint64, n*fields)
	for i := range ids {
		k := int(float64(len(pool[0])) * math.Pow(rng.Float64(), 3))
		ids[i] = pool[i%fields][k]
	}
	g := make([]float32, len(ids)*dim)
	for i := range g {
		g[i] = 2*rng.Float32() - 1
	}
	return ids, g
}

func allIDs(pool [][]uint64) []uint64 {
	var ids []uint64
	for k := range pool[0] {
		for f := range pool {
			ids = append(ids, pool[f][k])
		}
	}
	return ids
}

func lookup(tb embedding.Table, ids []uint64) []float32 {
	out := make([]float32, len(ids)*tb.Dim())
	tb.Lookup(ids, out)
	return out
}

func diff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestPromotionContinuous: a promotion changes an id's row, not its
// vector: Lookup of every id is bit-identical just before and just after
// the admission step that promotes, in fp32 and int8; and the promoted
// ids then train their own rows (other ids of their hashed rows no longer
// move with them).
func TestPromotionContinuous(t *testing.T) {
	for _, storage := range []string{embedding.StorageFP32, embedding.StorageInt8} {
		t.Run(storage, func(t *testing.T) {
			c := testConfig(3, 8, 128, 4, 1e12) // no decay: demotions are not continuous
			c.Storage = storage
			tb := mustTable(t, c)
			pool := embtest.IDs(3)
			all := allIDs(pool)
			rng := rand.New(rand.NewPCG(5, 6))
			for step := range 20 {
				ids, g := batch(rng, 3, 8, 64, pool)
				tb.Planned.Apply(ids, g)
				before, p0 := lookup(tb, all), tb.Promotions()
				tb.admit(ids, nil, g)
				if i := diff(before, lookup(tb, all)); i >= 0 {
					t.Fatalf("step %d: %d promotions moved float %d of id %x", step, tb.Promotions()-p0, i, all[i/8])
				}
			}
			if tb.Promotions() == 0 || tb.Sketch().Len() == 0 {
				t.Fatal("no id was promoted")
			}
			// A hot id reads its pool row, and only it owns that row.
			for f := range 3 {
				for _, id := range pool[f] {
					if h, ok := tb.Hot(f, id); ok && h >= c.Pool {
						t.Fatalf("hot id %x reads row %d outside the pool", id, h)
					}
				}
			}
		})
	}
}

// TestDemotion: with a short decay period, ids are demoted (their pool
// rows freed and reused) and the exported index always lists exactly the
// sketch's hot ids.
func TestDemotion(t *testing.T) {
	c := testConfig(2, 4, 16, 3, 300)
	tb := mustTable(t, c)
	rng := rand.New(rand.NewPCG(7, 8))
	pool := embtest.IDs(2)
	for range 40 {
		ids, g := batch(rng, 2, 4, 64, pool)
		tb.Apply(ids, g)
	}
	if tb.Sketch().Decays() == 0 || tb.Promotions() <= uint64(tb.Sketch().Len()) {
		t.Fatalf("%d decays, %d promotions, %d hot: want demotions and reuse", tb.Sketch().Decays(), tb.Promotions(), tb.Sketch().Len())
	}
	d, err := tb.Describe()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for f, ids := range d.Index {
		for _, id := range ids {
			if _, ok := tb.Hot(f, id); !ok {
				t.Fatalf("index lists id %x of field %d, which is not hot", id, f)
			}
			n++
		}
	}
	if n != tb.Sketch().Len() {
		t.Fatalf("index of %d ids, %d hot", n, tb.Sketch().Len())
	}
}

// TestServingPlan: the plan that Method.Plan builds from Describe's
// config and index, over Describe's rows, reproduces the table's Lookup
// exactly, for hot, hashed and never-seen ids; the rows are grouped by
// field with each field's hot rows in index order.
func TestServingPlan(t *testing.T) {
	c := testConfig(3, 8, 96, 3, 0)
	tb := mustTable(t, c)
	pool := embtest.IDs(3)
	rng := rand.New(rand.NewPCG(9, 10))
	for range 10 {
		ids, g := batch(rng, 3, 8, 64, pool)
		tb.Apply(ids, g)
	}
	d, err := tb.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if d.Method != Method || len(d.Sets) != 1 || len(d.Index) != 3 {
		t.Fatalf("description: method %q, %d sets, index of %d fields", d.Method, len(d.Sets), len(d.Index))
	}
	p, err := method{}.Plan(d.Config, NewIndex(d.Index))
	if err != nil {
		t.Fatal(err)
	}
	if p.Sets[0] != (embedding.SetShape{Rows: d.Sets[0].Len(), Width: 8}) {
		t.Fatalf("plan set %+v, rows %d", p.Sets[0], d.Sets[0].Len())
	}
	ids := allIDs(pool)
	for k := range 30 { // never seen
		ids = append(ids, uint64(k)*0x9E3779B97F4A7C15+1, uint64(k)+77, uint64(k)<<40)
	}
	g := embedding.NewGatherer(p)
	if _, err := g.Resolve(ids, nil); err != nil {
		t.Fatal(err)
	}
	served := make([]float32, len(ids)*8)
	if err := g.Gather([]kernels.Table{d.Sets[0].KernelTable()}, nil, served, 1); err != nil {
		t.Fatal(err)
	}
	if i := diff(lookup(tb, ids), served); i >= 0 {
		t.Fatalf("served vector of id %x differs from Lookup at float %d", ids[i/8], i%8)
	}
	// Row layout: field f's k-th index id reads row off_f + k.
	off := 0
	for f, hot := range d.Index {
		for k, id := range hot {
			keys := p.AppendKeys(nil, f, id)
			if len(keys) != 1 || int(keys[0].Row) != off+k {
				t.Fatalf("field %d index id %d reads %v, want row %d", f, k, keys, off+k)
			}
		}
		off += len(hot) + c.HashRows[f]
	}
	// A wrong index is refused.
	bad := append([][]uint64(nil), d.Index...)
	bad[0] = append(append([]uint64(nil), bad[0]...), 12345)
	if _, err := (method{}).Plan(d.Config, NewIndex(bad)); !errors.Is(err, embedding.ErrCorrupt) {
		t.Fatalf("Plan with an index of the wrong length: %v", err)
	}
	if _, err := (method{}).Plan(d.Config, nil); !errors.Is(err, embedding.ErrCorrupt) {
		t.Fatalf("Plan without an index: %v", err)
	}
}

// TestResume: Save, then Load through the method, continues identically:
// the same lookups, promotions, demotions and Save after more training,
// and Load into a table of another config is refused.
func TestResume(t *testing.T) {
	c := testConfig(3, 8, 48, 3, 800)
	a := mustTable(t, c)
	pool := embtest.IDs(3)
	rng := rand.New(rand.NewPCG(11, 12))
	for range 8 {
		ids, g := batch(rng, 3, 8, 64, pool)
		a.Apply(ids, g)
	}
	var saved bytes.Buffer
	if err := a.Save(&saved); err != nil {
		t.Fatal(err)
	}
	lt, err := method{}.Load(bytes.NewReader(saved.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	b := lt.(*Table)
	if b.Sketch().Len() != a.Sketch().Len() || b.Promotions() != a.Promotions() {
		t.Fatalf("loaded: %d hot, %d promotions; saved %d, %d", b.Sketch().Len(), b.Promotions(), a.Sketch().Len(), a.Promotions())
	}
	all := allIDs(pool)
	d0 := a.Sketch().Decays()
	for step := range 12 {
		ids, g := batch(rng, 3, 8, 64, pool)
		a.Apply(ids, g)
		b.Apply(ids, g)
		if i := diff(lookup(a, all), lookup(b, all)); i >= 0 {
			t.Fatalf("step %d after resume: float %d differs", step, i)
		}
	}
	if a.Sketch().Decays() == d0 {
		t.Fatal("no decay after the resume: the test does not cover the decay state")
	}
	var sa, sb bytes.Buffer
	if err := a.Save(&sa); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(&sb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
		t.Fatal("the resumed table's state diverged")
	}
	other := c
	other.Sketch.Threshold = 5
	if err := mustTable(t, other).Load(bytes.NewReader(saved.Bytes())); !errors.Is(err, embedding.ErrConfigMismatch) {
		t.Fatalf("Load into another config: %v", err)
	}
}

// TestSize: sizing keeps a full export (every pool row hot) within the
// budget, spends hash_fraction on hashed rows, caps known cardinalities,
// and refuses budgets below one row per field.
func TestSize(t *testing.T) {
	for _, tc := range []struct {
		budget int64
		nf     int
		dim    int
		card   []int64
		frac   float64
		err    error
	}{
		{1 << 20, 26, 16, nil, 0.3, nil},
		{100_000, 26, 16, nil, 0.2, nil},
		{20_000, 26, 16, nil, 0.5, nil},
		{26 * 64, 26, 16, nil, 0.1, nil}, // one hashed row each, no pool
		{26*64 - 1, 26, 16, nil, 0.1, embedding.ErrBudgetTooSmall},
		{1 << 20, 3, 8, []int64{5, 1000, 0}, 0.5, nil},
		{1 << 20, 2, 8, []int64{5, 10}, 0.5, nil}, // pool capped at the 15 ids
		{1000, 2, 8, nil, 0, embedding.ErrConfig},
	} {
		name := fmt.Sprintf("%d/%dx%d/%v/%v", tc.budget, tc.nf, tc.dim, tc.card, tc.frac)
		hash, pool, err := Size(tc.budget, tc.nf, tc.dim, tc.card, tc.frac)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: err %v, want %v", name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		rowBytes := int64(tc.dim) * 4
		var hb, ids int64
		for f, n := range hash {
			hb += int64(n) * rowBytes
			if f < len(tc.card) && tc.card[f] > 0 && int64(n) > tc.card[f]+1 {
				t.Errorf("%s: field %d has %d hashed rows for %d ids", name, f, n, tc.card[f])
			}
		}
		for _, n := range tc.card {
			ids += n
		}
		serving := hb + int64(pool)*(rowBytes+embedding.IndexBytesPerID)
		if serving > tc.budget {
			t.Errorf("%s: a full export is %d serving bytes, over the budget", name, serving)
		}
		if tc.card == nil && float64(hb) > tc.frac*float64(tc.budget)+float64(rowBytes*int64(tc.nf)) {
			t.Errorf("%s: hashed rows take %d bytes, more than the fraction", name, hb)
		}
		if tc.card == nil && tc.budget-serving >= rowBytes+embedding.IndexBytesPerID+int64(tc.nf)*rowBytes {
			t.Errorf("%s: %d bytes left unspent", name, tc.budget-serving)
		}
		if len(tc.card) == 2 && int64(pool) != ids {
			t.Errorf("%s: pool %d, want the %d known ids", name, pool, ids)
		}
	}
}

// TestNewWithinBudget: through the method (as train --table cafe), an
// export after training with every pool row hot is within the budget.
func TestNewWithinBudget(t *testing.T) {
	for _, budget := range []int64{8_000, 40_000} {
		spec := embedding.Spec{Dim: 8, Budget: budget, Fields: make([]embedding.Frequencies, 3), Optimizer: sgd, Seed: 1,
			Params: map[string]string{"threshold": "1", "hash_fraction": "0.25"}}
		tr, err := embedding.NewTable(Method, spec)
		if err != nil {
			t.Fatal(err)
		}
		tb := tr.(*Table)
		pool := embtest.IDs(3)
		rng := rand.New(rand.NewPCG(1, uint64(budget)))
		for range 20 {
			ids, g := batch(rng, 3, 8, 128, pool)
			tb.Apply(ids, g)
		}
		if tb.Sketch().Len() != tb.cfg.Pool {
			t.Fatalf("budget %d: %d of %d pool rows hot", budget, tb.Sketch().Len(), tb.cfg.Pool)
		}
		d, err := tb.Describe()
		if err != nil {
			t.Fatal(err)
		}
		serving := embedding.IndexServingBytes(d.Index) + int64(d.Sets[0].Len())*8*4
		if serving > budget || serving < budget*9/10 {
			t.Fatalf("budget %d: export of %d serving bytes (want within the budget, near it)", budget, serving)
		}
	}
	bad := embedding.Spec{Dim: 8, Budget: 1 << 20, Fields: make([]embedding.Frequencies, 2), Optimizer: sgd,
		Params: map[string]string{"probes": "2"}}
	if _, err := embedding.NewTable(Method, bad); !errors.Is(err, embedding.ErrConfig) {
		t.Fatalf("unknown setting: %v", err)
	}
	bad.Params = map[string]string{"importance": "magic"}
	if _, err := embedding.NewTable(Method, bad); !errors.Is(err, embedding.ErrConfig) {
		t.Fatalf("bad importance: %v", err)
	}
}

// BenchmarkTable compares Lookup and Apply of a CAFE table with a hashed
// table of the same budget (dlrm-small shape: 26 fields, dim 16, batch
// 2048, Zipf-skewed ids).
func BenchmarkTable(b *testing.B) {
	const fields, dim, n, budget = 26, 16, 2048, 4 << 20
	spec := func() embedding.Spec {
		return embedding.Spec{Dim: dim, Budget: budget, Fields: make([]embedding.Frequencies, fields), Optimizer: rowwise, Seed: 1}
	}
	pool := make([][]uint64, fields)
	for f := range pool {
		pool[f] = make([]uint64, 100_000)
		for k := range pool[f] {
			pool[f][k] = uint64(f)<<48 | uint64(k)*0x9E3779B97F4A7C15>>16
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	ids, g := batch(rng, fields, dim, n, pool)
	out := make([]float32, len(ids)*dim)
	for _, name := range []string{Method, embedding.MethodHashed} {
		s := spec()
		for f := range s.Fields {
			s.Fields[f].Distinct = 100_000
		}
		tb, err := embedding.NewTable(name, s)
		if err != nil {
			b.Fatal(err)
		}
		tb.SetThreads(1)
		for range 5 {
			tb.Apply(ids, g) // warm: CAFE promotes its hot ids
		}
		b.Run(name+"/Lookup", func(b *testing.B) {
			for b.Loop() {
				tb.Lookup(ids, out)
			}
			b.ReportMetric(float64(b.N)*float64(len(ids))/b.Elapsed().Seconds(), "ids/s")
		})
		b.Run(name+"/Apply", func(b *testing.B) {
			for b.Loop() {
				tb.Apply(ids, g)
			}
			b.ReportMetric(float64(b.N)*float64(len(ids))/b.Elapsed().Seconds(), "ids/s")
		})
	}
}
