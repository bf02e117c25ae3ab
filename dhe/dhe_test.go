package dhe

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/kernels"
)

// smallConfig is a table the tests build many times.
func smallConfig() Config {
	return Config{Fields: 3, Dim: 8, Hashes: 24, Buckets: DefaultBuckets, Hidden: 8, Layers: 2, Seed: 7, LR: 0.01}
}

func newSmall(t testing.TB) *Table {
	t.Helper()
	tbl, err := New(smallConfig())
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestConformance(t *testing.T) {
	embtest.TestTable(t, func() embedding.Trainable { return newSmall(t) }, embtest.SharedParameters())
}

// TestGradient checks the batched backward pass of every weight of a
// field's network against central differences of a float64 forward, for
// a loss Σ_j c_j·v_j(id) summed over a few ids (one repeated: its
// gradients are summed before the pass), and Mish's derivative.
func TestGradient(t *testing.T) {
	for _, c := range []Config{
		smallConfig(),
		{Fields: 2, Dim: 3, Hashes: 5, Buckets: 97, Hidden: 4, Layers: 1, Seed: 1, LR: 1e-3},
		{Fields: 1, Dim: 4, Hashes: 6, Buckets: 1000, Hidden: 5, Layers: 3, Seed: 2, LR: 1e-3},
	} {
		tbl, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 4))
		f := c.Fields - 1
		ids := []uint64{rng.Uint64(), rng.Uint64(), rng.Uint64()}
		ids = append(ids, ids[1])
		coef := make([]float32, len(ids)*c.Dim)
		for i := range coef {
			coef[i] = 2*rng.Float32() - 1
		}
		// Give the biases non-zero values so that their gradients matter.
		for _, r := range tbl.sets {
			w := r.Params()
			for i := range w {
				w[i] += 0.1 * float32(rng.NormFloat64())
			}
		}
		tr := tbl.tr
		tr.grow(1)
		for l := range tr.g {
			for i := range tr.g[l] {
				tr.g[l][i] = 99 // run overwrites every field's gradient
			}
		}
		for k, id := range ids {
			tr.todo[f] = append(tr.todo[f], pending{id: id, off: len(tr.dout)})
			tr.dout = append(tr.dout, coef[k*c.Dim:(k+1)*c.Dim]...)
		}
		tr.run(0, 0, c.Fields)
		loss := func() float64 {
			var l float64
			for k, id := range ids {
				for j, v := range forward64(tbl.net, f, id) {
					l += float64(coef[k*c.Dim+j]) * v
				}
			}
			return l
		}
		for l := range tbl.sets {
			w := tbl.net.layer(l, f)
			g := tr.g[l][len(tr.g[l])/c.Fields*f:]
			for i := range w {
				w0 := w[i]
				w[i] = w0 + 1e-2
				hi, up := loss(), float64(w[i])
				w[i] = w0 - 1e-2
				lo, down := loss(), float64(w[i])
				w[i] = w0
				num := (hi - lo) / (up - down)
				if d := math.Abs(num - float64(g[i])); d > 1e-3+1e-3*math.Abs(num) {
					t.Fatalf("%+v: layer %d weight %d: backward %v, numerical %v", c, l, i, g[i], num)
				}
			}
			// Other fields (no ids queued) get zero gradients.
			for i, v := range tr.g[l][:len(tr.g[l])/c.Fields*f] {
				if v != 0 {
					t.Fatalf("layer %d: gradient %d of another field is %v", l, i, v)
				}
			}
		}
	}
	for _, x := range []float64{-30, -5, -1, -0.3, 0, 0.2, 1, 4, 19, 25} {
		const h = 1e-6
		num := (mish(x+h) - mish(x-h)) / (2 * h)
		if math.Abs(num-mishGrad(x)) > 1e-6 {
			t.Errorf("mish'(%v) = %v, numerical %v", x, mishGrad(x), num)
		}
		if m, g := mishAndGrad(x); m != mish(x) || g != mishGrad(x) {
			t.Errorf("mishAndGrad(%v) = %v, %v; mish, mish' = %v, %v", x, m, g, mish(x), mishGrad(x))
		}
	}
}

// forward64 is field f's network on id in float64 over the float32
// weights: the reference the batched float32 pass is checked against.
func forward64(n *network, f int, id uint64) []float64 {
	x32 := make([]float32, n.cfg.Hashes)
	n.enc[f].encode(id, x32)
	x := make([]float64, len(x32))
	for i, v := range x32 {
		x[i] = float64(v)
	}
	for l, o := range n.outs {
		in := n.ins[l]
		w := n.layer(l, f)
		pre := make([]float64, o)
		for j := range pre {
			row := w[j*(in+1) : (j+1)*(in+1)]
			s := float64(row[in])
			for i, v := range row[:in] {
				s += float64(v) * x[i]
			}
			pre[j] = s
		}
		if l == len(n.outs)-1 {
			return pre
		}
		for j, v := range pre {
			pre[j] = mish(v)
		}
		x = pre
	}
	return nil
}

// TestBatchedForward: the batched Lookup (distinct ids, chunks, fields
// split among threads) gives each id what Compute gives it alone, bit for
// bit, and agrees with the float64 reference to float32 rounding.
func TestBatchedForward(t *testing.T) {
	c := Config{Fields: 3, Dim: 8, Hashes: 200, Buckets: DefaultBuckets, Hidden: 16, Layers: 2, Seed: 5, LR: 1e-3}
	tbl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]uint64, 3*(chunk+300))
	for i := range ids {
		ids[i] = rng.Uint64N(2000) // repeats
	}
	for _, threads := range []int{1, 2, 3} {
		tbl.SetThreads(threads)
		out := make([]float32, len(ids)*c.Dim)
		tbl.Lookup(ids, out)
		one := make([]float32, c.Dim)
		for i, id := range ids {
			f := i % c.Fields
			(&computer{n: tbl.net, f: f}).Compute(id, nil, one)
			if !slices.Equal(one, out[i*c.Dim:(i+1)*c.Dim]) {
				t.Fatalf("threads %d: id %d (field %d): batched %v, alone %v", threads, i, f, out[i*c.Dim:(i+1)*c.Dim], one)
			}
			if i%97 == 0 {
				for j, v := range forward64(tbl.net, f, id) {
					if math.Abs(v-float64(one[j])) > 1e-4*(1+math.Abs(v)) {
						t.Fatalf("id %d: output %d = %v, float64 reference %v", i, j, one[j], v)
					}
				}
			}
		}
	}
}

// TestEncoding: the hashes are (a·x+b) mod p reduced to [0, m), the
// encoding lies in [-1, 1], and it depends on the id, field and seed.
func TestEncoding(t *testing.T) {
	p := new(big.Int).SetUint64(mersenne61)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1000 {
		a, x := rng.Uint64()%mersenne61, rng.Uint64()
		want := new(big.Int).Mul(new(big.Int).SetUint64(a), new(big.Int).SetUint64(x%mersenne61))
		want.Mod(want, p)
		if got := mulmod61(a, mod61(x)); got != want.Uint64() {
			t.Fatalf("mulmod61(%d, %d) = %d, want %d", a, x, got, want)
		}
	}
	e := newEncoder(1, 0, 64, 1000)
	x, y := make([]float32, 64), make([]float32, 64)
	e.encode(42, x)
	for i, v := range x {
		if v < -1 || v > 1 {
			t.Fatalf("encoding %d = %v outside [-1, 1]", i, v)
		}
		if b := e.bucket(i, 42); b >= 1000 || float32(float64(b)*2/999-1) != v {
			t.Fatalf("bucket %d = %d, encoding %v", i, b, v)
		}
	}
	for _, other := range []encoder{newEncoder(1, 1, 64, 1000), newEncoder(2, 0, 64, 1000)} {
		other.encode(42, y)
		if slices.Equal(x, y) {
			t.Error("two fields or seeds encode an id alike")
		}
	}
	e.encode(43, y)
	if slices.Equal(x, y) {
		t.Error("ids 42 and 43 encode alike")
	}
	// The encoding spreads over [-1, 1]: its mean is near 0 and variance near 1/3.
	var sum, sq float64
	big := newEncoder(3, 0, 1024, DefaultBuckets)
	z := make([]float32, 1024)
	for id := range uint64(50) {
		big.encode(id, z)
		for _, v := range z {
			sum, sq = sum+float64(v), sq+float64(v)*float64(v)
		}
	}
	n := 50.0 * 1024
	if mean, v := sum/n, sq/n-(sum/n)*(sum/n); math.Abs(mean) > 0.02 || math.Abs(v-1.0/3) > 0.02 {
		t.Errorf("encoding mean %v, variance %v: want about 0 and 1/3", mean, v)
	}
}

// spec returns a spec of fields fields with n ids each.
func spec(fields, n, dim int, budget int64, params map[string]string) embedding.Spec {
	s := embedding.Spec{Dim: dim, Budget: budget, Seed: 1, Params: params,
		Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}}
	for range fields {
		ids := make([]uint64, n)
		for i := range ids {
			ids[i] = uint64(i)
		}
		s.Fields = append(s.Fields, embedding.Frequencies{IDs: ids, Distinct: int64(n)})
	}
	return s
}

// TestSizing: a table fits its budget in serving bytes, uses most of it,
// and takes its shape by the package's rules.
func TestSizing(t *testing.T) {
	for _, tc := range []struct {
		name           string
		fields, dim    int
		budget         int64
		params         map[string]string
		hidden, hashes int // 0: not checked
	}{
		{name: "1MiB criteo-like", fields: 26, dim: 16, budget: 1 << 20, hidden: DefaultHidden},
		{name: "64KiB", fields: 26, dim: 16, budget: 64 << 10},
		{name: "tiny narrows", fields: 26, dim: 4, budget: 26 * 4 * 200, hidden: 4},
		{name: "large widens", fields: 2, dim: 16, budget: 8 << 19, hashes: MaxHashes, hidden: MaxHidden},
		{name: "larger stops at MaxHidden", fields: 2, dim: 16, budget: 8 << 20, hashes: MaxHashes, hidden: MaxHidden},
		{name: "hidden fixed", fields: 4, dim: 8, budget: 256 << 10, params: map[string]string{"hidden": "64"}, hidden: 64},
		{name: "hashes fixed", fields: 4, dim: 8, budget: 256 << 10, params: map[string]string{"hashes": "1024"}, hashes: 1024},
		{name: "both fixed", fields: 4, dim: 8, budget: 256 << 10, params: map[string]string{"hashes": "100", "hidden": "16", "layers": "3"}, hidden: 16, hashes: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := dheMethod{}.New(spec(tc.fields, 1000, tc.dim, tc.budget, tc.params))
			if err != nil {
				t.Fatal(err)
			}
			tbl := tr.(*Table)
			c := tbl.Config()
			sb := c.ServingBytes()
			if sb > tc.budget || tbl.Bytes().Params != sb {
				t.Fatalf("%+v: serving bytes %d (Bytes %+v), budget %d", c, sb, tbl.Bytes(), tc.budget)
			}
			if tc.params == nil && c.Hidden < MaxHidden && float64(sb) < 0.9*float64(tc.budget) {
				t.Errorf("%+v uses %d of %d bytes", c, sb, tc.budget)
			}
			if (tc.hidden > 0 && c.Hidden != tc.hidden) || (tc.hashes > 0 && c.Hashes != tc.hashes) {
				t.Errorf("shape %+v, want hidden %d, hashes %d", c, tc.hidden, tc.hashes)
			}
			if c.Hashes > MaxHashes && tc.params == nil {
				t.Errorf("%d hashes", c.Hashes)
			}
			var sum int64
			for _, r := range tbl.RowSets() {
				sum += int64(r.Len() * r.Dim() * 4)
			}
			if sum != sb {
				t.Errorf("row sets hold %d bytes, config says %d", sum, sb)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		s      embedding.Spec
		target error
	}{
		{"budget too small", spec(26, 100, 16, 26*4*30, nil), embedding.ErrBudgetTooSmall},
		{"unknown setting", spec(2, 10, 4, 1<<16, map[string]string{"probes": "2"}), embedding.ErrConfig},
		{"bad layers", spec(2, 10, 4, 1<<16, map[string]string{"layers": "0"}), embedding.ErrConfig},
		{"int8 storage", func() embedding.Spec {
			s := spec(2, 10, 4, 1<<16, nil)
			s.Storage = embedding.StorageInt8
			return s
		}(), embedding.ErrConfig},
		{"dimension plan", func() embedding.Spec {
			s := spec(2, 10, 4, 1<<16, nil)
			s.FieldDims = []int{4, 2}
			return s
		}(), embedding.ErrConfig},
	} {
		if _, err := (dheMethod{}).New(tc.s); !errors.Is(err, tc.target) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.target)
		}
	}
}

// trained returns a small table after a few Applies.
func trained(t *testing.T) (*Table, []uint64) {
	tbl := newSmall(t)
	rng := rand.New(rand.NewPCG(8, 9))
	ids := make([]uint64, 40*tbl.Fields())
	for i := range ids {
		ids[i] = rng.Uint64()
	}
	g := make([]float32, len(ids)*tbl.Dim())
	for range 3 {
		for i := range g {
			g[i] = 2*rng.Float32() - 1
		}
		tbl.Apply(ids, g)
	}
	return tbl, ids
}

// TestPlanFromDescription: the plan that serving builds from Describe's
// config and row sets (decoded fp32 rows, RowBinder) reproduces Lookup bit
// for bit through a Gatherer, and Plan without rows refuses.
func TestPlanFromDescription(t *testing.T) {
	tbl, ids := trained(t)
	d, err := tbl.Describe()
	if err != nil {
		t.Fatal(err)
	}
	m, err := embedding.MethodByName(Method)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Plan(d.Config, nil); err == nil {
		t.Fatal("Plan without the row sets succeeded")
	}
	rows := make([][]float32, len(d.Sets))
	tabs := make([]kernels.Table, len(d.Sets))
	for s, r := range d.Sets {
		rows[s] = make([]float32, r.Len()*r.Dim())
		r.ReadRows(0, rows[s])
		tabs[s] = r.KernelTable()
		if d.Width != r.Dim() || d.Plan.Sets[s].Width != r.Dim() || d.Plan.Sets[s].Rows != r.Len() {
			t.Fatalf("set %d: %d x %d, description %+v width %d", s, r.Len(), r.Dim(), d.Plan.Sets[s], d.Width)
		}
	}
	p, err := m.(embedding.RowBinder).PlanWithRows(d.Config, nil, rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(ids)*tbl.Dim())
	tbl.Lookup(ids, want)
	g := embedding.NewGatherer(p)
	keys, err := g.Resolve(ids, nil)
	if err != nil || len(keys) != 0 {
		t.Fatalf("resolve: %d keys, %v", len(keys), err)
	}
	got := make([]float32, len(want))
	if err := g.Gather(tabs, nil, got, 1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("the plan from the description differs from Lookup")
	}
	if _, err := m.(embedding.RowBinder).PlanWithRows(d.Config, nil, rows[:1]); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("PlanWithRows with one set: %v", err)
	}
	bad := append([]byte(nil), d.Config...)
	if _, err := m.(embedding.RowBinder).PlanWithRows(append(bad[:len(bad)-1], []byte(`,"x":1}`)...), nil, rows); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("PlanWithRows with an unknown key: %v", err)
	}
}

// TestMethodLoad: the method's Load restores what Save wrote (lookups,
// further training, the config), and threads do not change Lookup.
func TestMethodLoad(t *testing.T) {
	tbl, ids := trained(t)
	var buf bytes.Buffer
	if err := tbl.Save(&buf); err != nil {
		t.Fatal(err)
	}
	m, _ := embedding.MethodByName(Method)
	lt, err := m.Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got := lt.(*Table)
	if got.Config() != tbl.Config() {
		t.Fatalf("config %+v, saved %+v", got.Config(), tbl.Config())
	}
	a, b := make([]float32, len(ids)*tbl.Dim()), make([]float32, len(ids)*tbl.Dim())
	tbl.Lookup(ids, a)
	got.SetThreads(2)
	got.Lookup(ids, b)
	if !slices.Equal(a, b) {
		t.Fatal("loaded table looks up differently")
	}
	g := make([]float32, len(a))
	for i := range g {
		g[i] = float32(i%7) * 0.1
	}
	tbl.Apply(ids, g)
	got.Apply(ids, g)
	tbl.Lookup(ids, a)
	got.Lookup(ids, b)
	if !slices.Equal(a, b) {
		t.Fatal("loaded table trains differently")
	}
	other := smallConfig()
	other.Hashes++
	o, _ := New(other)
	if err := o.Load(bytes.NewReader(buf.Bytes())); !errors.Is(err, embedding.ErrConfigMismatch) {
		t.Errorf("Load into another config: %v", err)
	}
	if _, err := m.Load(bytes.NewReader(buf.Bytes()[:buf.Len()-3])); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("Load of a truncated stream: %v", err)
	}
}
