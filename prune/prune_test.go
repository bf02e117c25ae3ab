package prune

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/kernels"
)

var rowwise = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}

// newTable returns a table over the conformance suite's ids at dim 8 with
// budget bytes, its schedule advanced to step of total.
func newTable(t testing.TB, kind string, budget int64, step, total int64) *Table {
	t.Helper()
	ids := embtest.IDs(3)
	counts := make([][]uint32, len(ids))
	for f := range ids {
		for i := range ids[f] {
			counts[f] = append(counts[f], uint32(1+i%50))
		}
	}
	tbl, err := New(ids, counts, Config{Kind: kind, Budget: budget, PruneEvery: 1,
		Full: embedding.Config{Dim: 8, Optimizer: rowwise, Seed: 7, InitScale: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if step >= 0 {
		tbl.SetStep(step, total)
	}
	return tbl
}

// TestConformance runs the table suite on a DeepLight table pruned to a
// third of its bytes, a PEP table searching, and a PEP table whose mask
// is fixed.
func TestConformance(t *testing.T) {
	full := newTable(t, DeepLight, 1<<40, -1, 0).denseBytes()
	for _, tc := range []struct {
		name        string
		kind        string
		step, total int64
	}{
		{"deeplight/pruned", DeepLight, 9, 10},
		{"pep/searching", PEP, -1, 0},
		{"pep/masked", PEP, 9, 10},
		{"autosrh/searching", AutoSrh, -1, 0},
		{"autosrh/masked", AutoSrh, 9, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []embtest.Option
			if tc.name == "autosrh/searching" {
				opts = append(opts, embtest.SharedParameters()) // a group's weights are every id's of the group
			}
			embtest.TestTable(t, func() embedding.Trainable { return newTable(t, tc.kind, full/3, tc.step, tc.total) }, opts...)
		})
	}
}

// TestDeepLightSchedule checks that DeepLight prunes on its schedule:
// the pruned values never fall, and from the ramp's end the sparse form
// fits the budget while training goes on and pruned values stay zero.
func TestDeepLightSchedule(t *testing.T) {
	tbl := newTable(t, DeepLight, 1<<40, -1, 0)
	budget := tbl.denseBytes() / 5
	tbl = newTable(t, DeepLight, budget, -1, 0)
	const total = 40
	rng := rand.New(rand.NewPCG(1, 2))
	ids := embtest.IDs(3)
	var last int64
	for step := int64(0); step < total; step++ {
		tbl.SetStep(step, total)
		p, _ := tbl.Pruned()
		if p < last {
			t.Fatalf("step %d: %d pruned, was %d", step, p, last)
		}
		last = p
		if step+1 >= int64(math.Ceil(0.8*total)) {
			if b := tbl.ServingBytes(); b > budget {
				t.Fatalf("step %d: sparse form %d bytes over the budget %d", step, b, budget)
			}
		}
		batch := make([]uint64, 0, 3*64)
		for range 64 {
			for f := range 3 {
				batch = append(batch, ids[f][rng.IntN(len(ids[f]))])
			}
		}
		g := make([]float32, len(batch)*8)
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		tbl.Apply(batch, g)
		vals := tbl.full.RowSets()[0].Params()
		for j, v := range vals {
			if tbl.mask[j/64]&(1<<(j%64)) != 0 && v != 0 {
				t.Fatalf("step %d: pruned value %d is %v", step, j, v)
			}
		}
	}
	if p, n := tbl.Pruned(); p == 0 || p == n {
		t.Fatalf("%d of %d values pruned", p, n)
	}
}

// TestCut checks the cut against sorting: the bytes it reports are what
// keeping the values at or above its threshold costs, within the budget,
// and keeping one bucket more would not fit.
func TestCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const dim = 5
	vocab := [][]uint64{make([]uint64, 40), make([]uint64, 9)}
	params := make([][]float32, len(vocab))
	for f := range vocab {
		params[f] = make([]float32, (len(vocab[f])+1)*dim)
		for i := range params[f] {
			params[f][i] = float32(rng.NormFloat64() * math.Pow(10, rng.Float64()*4-2))
			if rng.IntN(10) == 0 {
				params[f][i] = 0
			}
		}
	}
	cost := func(th float32) int64 {
		b := int64(4)
		for f, ids := range vocab {
			for i := range ids {
				k := int64(0)
				for _, v := range params[f][i*dim : (i+1)*dim] {
					if v != 0 && abs(v) >= th {
						k++
					}
				}
				if k > 0 {
					b += 4*(1+k) + embedding.IndexBytesPerID
				}
			}
		}
		return b
	}
	z := &sizer{dim: dim}
	z.addTable(vocab, params)
	for _, budget := range []int64{4, 50, 300, 1000, 1500, 1 << 30} {
		th, b := z.cut(budget)
		if got := cost(th); got != b || b > budget {
			t.Fatalf("budget %d: cut %v reports %d bytes, costs %d", budget, th, b, got)
		}
		if th > bucketFloor(1) && !math.IsInf(float64(th), 1) {
			if more := cost(bucketFloor(bucket(th) - 1)); more <= budget {
				t.Fatalf("budget %d: cut %v (%d bytes) leaves room: one bucket lower costs %d", budget, th, b, more)
			}
		}
	}
}

// TestSparseServesTheRows checks, for dims with one and two mask words,
// that the sparse form of a table with zeros serves exactly its rows
// (unseen ids: zeros), that rows pruned whole leave the vocabulary, and
// that its bytes are what its rows and index take.
func TestSparseServesTheRows(t *testing.T) {
	for _, dim := range []int{1, 7, 32, 40} {
		rng := rand.New(rand.NewPCG(uint64(dim), 9))
		vocab := [][]uint64{{11, 12, 13, 14, 15, 16}, {21, 22}, {31, 32, 33, 34}}
		params := make([][]float32, len(vocab))
		for f := range vocab {
			params[f] = make([]float32, (len(vocab[f])+1)*dim)
			for i := range params[f] {
				if rng.IntN(3) > 0 {
					params[f][i] = float32(rng.NormFloat64())
				}
			}
			clear(params[f][dim : 2*dim]) // a row pruned whole
			clear(params[f][len(vocab[f])*dim:])
		}
		e := encode(dim, vocab, params)
		if err := e.cfg.check(); err != nil {
			t.Fatalf("dim %d: %v", dim, err)
		}
		var ids []uint64
		var want []float32
		for f := range vocab {
			for i, id := range append(slices.Clone(vocab[f]), 999) {
				ids = append(ids, id)
				want = append(want, params[f][i*dim:(i+1)*dim]...)
			}
			if slices.Contains(e.index[f], vocab[f][1]) {
				t.Fatalf("dim %d field %d: a zero row is in the vocabulary", dim, f)
			}
		}
		fields := make([]int, 0, len(ids))
		for f := range vocab {
			for range len(vocab[f]) + 1 {
				fields = append(fields, f)
			}
		}
		p, err := e.cfg.plan(mustIndex(t, e.index))
		if err != nil {
			t.Fatal(err)
		}
		g := embedding.NewGatherer(p)
		if _, err := g.Resolve(ids, fields); err != nil {
			t.Fatal(err)
		}
		tables := make([]kernels.Table, len(p.Sets))
		for s, sh := range p.Sets {
			r, _ := embedding.NewRows(sh.Rows, sh.Width, embedding.Optimizer{Name: embedding.SGD, LR: 1})
			r.WriteRows(0, e.sets[s])
			tables[s] = r.KernelTable()
		}
		got := make([]float32, len(want))
		if err := g.Gather(tables, nil, got, 1); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("dim %d: served %v, rows %v", dim, got, want)
		}
		var b int64 = 4 * int64(embedding.MaskWords(dim))
		for f, ids := range vocab {
			for i := range ids {
				k := int64(0)
				for _, v := range params[f][i*dim : (i+1)*dim] {
					if v != 0 {
						k++
					}
				}
				if k > 0 {
					b += 4*(int64(embedding.MaskWords(dim))+k) + embedding.IndexBytesPerID
				}
			}
		}
		if got := e.cfg.ServingBytes(); got != b {
			t.Fatalf("dim %d: serving bytes %d, want %d", dim, got, b)
		}
	}
}

// TestDescribeServesTheTable checks that a trained, pruned table's
// description serves its lookups exactly, through the registered method's
// plan.
func TestDescribeServesTheTable(t *testing.T) {
	for _, kind := range []string{DeepLight, PEP, AutoSrh} {
		budget := newTable(t, kind, 1<<40, -1, 0).denseBytes() / 4
		tbl := newTable(t, kind, budget, 9, 10)
		rng := rand.New(rand.NewPCG(5, 6))
		ids := embtest.IDs(3)
		batch := make([]uint64, 0, 3*200)
		for range 200 {
			for f := range 3 {
				batch = append(batch, ids[f][rng.IntN(len(ids[f]))])
			}
		}
		batch = append(batch, 1, 2, 3) // unseen ids
		g := make([]float32, (len(batch)-3)*8)
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		tbl.Apply(batch[:len(batch)-3], g)
		want := make([]float32, len(batch)*8)
		tbl.Lookup(batch, want)
		d, err := tbl.Describe()
		if err != nil {
			t.Fatal(err)
		}
		m, err := embedding.MethodByName(kind)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Plan(d.Config, mustIndex(t, d.Index))
		if err != nil {
			t.Fatal(err)
		}
		if !p.Exact() {
			t.Fatal("the sparse plan does not ask for exact rows")
		}
		var c Sparse
		if err := json.Unmarshal(d.Config, &c); err != nil {
			t.Fatal(err)
		}
		if b := c.ServingBytes(); b != tbl.ServingBytes() || b > budget {
			t.Fatalf("%s: sparse form %d bytes, table says %d, budget %d", kind, b, tbl.ServingBytes(), budget)
		}
		tables := make([]kernels.Table, len(d.Sets))
		for s, r := range d.Sets {
			tables[s] = r.KernelTable()
		}
		gt := embedding.NewGatherer(p)
		if _, err := gt.Resolve(batch, nil); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(want))
		if err := gt.Gather(tables, nil, got, 2); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: the sparse form serves other vectors than the table's", kind)
		}
	}
}

// TestSoftGradient checks PEP's backward against finite differences.
func TestSoftGradient(t *testing.T) {
	const d = 6
	k := soft{d: d}
	rows := []float32{0.5, -0.4, 0.01, -0.02, 0.3, -0.9, -1, 0.5, -2, 0, -0.3, 1}
	dout := []float32{1, -2, 0.5, 3, -1, 0.25}
	loss := func(r []float32) float64 {
		out := make([]float32, d)
		k.Compute(0, r, out)
		s := 0.0
		for j := range out {
			s += float64(out[j] * dout[j])
		}
		return s
	}
	drows := make([]float32, 2*d)
	k.Backward(0, rows, dout, drows)
	for i := range rows {
		const h = 1e-3
		r := slices.Clone(rows)
		r[i] += h
		up := loss(r)
		r[i] -= 2 * h
		down := loss(r)
		if num := (up - down) / (2 * h); math.Abs(num-float64(drows[i])) > 1e-3 {
			t.Fatalf("row float %d: gradient %v, finite differences %v", i, drows[i], num)
		}
	}
}

// TestSparseConfigErrors checks that corrupt sparse configs and indexes
// are refused.
func TestSparseConfigErrors(t *testing.T) {
	good := Sparse{Dim: 4, Classes: []int{0, 2}, Counts: [][]int{{0, 2}}}
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Sparse{
		"no zero set":      {Dim: 4, Classes: []int{2}, Counts: [][]int{{2}}},
		"classes unsorted": {Dim: 4, Classes: []int{0, 3, 2}, Counts: [][]int{{0, 1, 1}}},
		"class over dim":   {Dim: 4, Classes: []int{0, 5}, Counts: [][]int{{0, 1}}},
		"empty set":        {Dim: 4, Classes: []int{0, 2, 3}, Counts: [][]int{{0, 1, 0}}},
		"zero set count":   {Dim: 4, Classes: []int{0, 2}, Counts: [][]int{{1, 1}}},
		"negative count":   {Dim: 4, Classes: []int{0, 2}, Counts: [][]int{{0, -1}}},
		"no fields":        {Dim: 4, Classes: []int{0, 2}},
	} {
		if err := c.check(); !errors.Is(err, embedding.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	if _, err := good.plan(mustIndex(t, [][]uint64{{1}})); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("index of 1 id for 2: %v, want ErrCorrupt", err)
	}
	if _, err := good.plan(nil); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("no index: %v, want ErrCorrupt", err)
	}
}

// TestConfigErrors checks the settings a pruned table refuses.
func TestConfigErrors(t *testing.T) {
	full := embedding.Config{Dim: 4, Optimizer: rowwise}
	for name, c := range map[string]Config{
		"kind":       {Kind: "lasso", Budget: 100, Full: full},
		"budget":     {Kind: DeepLight, Full: full},
		"ramp":       {Kind: DeepLight, Budget: 100, Ramp: 1.5, Full: full},
		"int8":       {Kind: DeepLight, Budget: 100, Full: embedding.Config{Dim: 4, Optimizer: rowwise, Storage: embedding.StorageInt8}},
		"field dims": {Kind: PEP, Budget: 100, Full: embedding.Config{Dim: 4, Optimizer: rowwise, FieldDims: []int{2}}},
		"groups":     {Kind: AutoSrh, Budget: 100, Groups: 300, Full: full},
		"alpha lr":   {Kind: AutoSrh, Budget: 100, AlphaLR: -1, Full: full},
	} {
		if _, err := New([][]uint64{{1, 2}}, [][]uint32{{1, 1}}, c); !errors.Is(err, embedding.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// saved returns saved streams of pruned tables in each state.
func saved(tb testing.TB) [][]byte {
	var out [][]byte
	for _, tc := range []struct {
		kind string
		step int64
	}{{DeepLight, -1}, {DeepLight, 9}, {PEP, -1}, {PEP, 9}, {AutoSrh, -1}, {AutoSrh, 9}} {
		tbl, err := New([][]uint64{{3, 5, 9}, {7}}, [][]uint32{{4, 1, 1}, {2}}, Config{Kind: tc.kind, Budget: 60, PruneEvery: 1,
			Full: embedding.Config{Dim: 3, Optimizer: rowwise, Seed: 1}})
		if err != nil {
			tb.Fatal(err)
		}
		if tc.step >= 0 {
			tbl.SetStep(tc.step, 10)
		}
		var b bytes.Buffer
		if err := tbl.Save(&b); err != nil {
			tb.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// FuzzLoad checks that Load never panics and rejects what is not a saved
// table, and that what it accepts saves back to the same bytes.
func FuzzLoad(f *testing.F) {
	for _, s := range saved(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := Load(bytes.NewReader(data))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := tbl.Save(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, b.Bytes()) {
			t.Fatal("a loaded table saves to other bytes")
		}
	})
}

// FuzzPlan checks that the sparse form's plan never panics on a config
// and index, and that the plans it accepts resolve and gather any id.
func FuzzPlan(f *testing.F) {
	f.Add([]byte(`{"dim":4,"classes":[0,2],"counts":[[0,2]]}`), uint8(2))
	f.Add([]byte(`{"dim":40,"classes":[0,1,40],"counts":[[0,1,1],[0,0,2]]}`), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		m := method{kind: DeepLight}
		var c Sparse
		if json.Unmarshal(raw, &c) != nil || len(c.Counts) > 64 {
			return
		}
		ids := make([][]uint64, len(c.Counts))
		for f := range ids {
			for k := range int(n % 8) {
				ids[f] = append(ids[f], uint64(k+1))
			}
		}
		p, err := m.Plan(raw, mustIndex(t, ids))
		if err != nil {
			return
		}
		tables := make([]kernels.Table, len(p.Sets))
		for s, sh := range p.Sets {
			if sh.Rows*sh.Width > 1<<20 {
				return
			}
			r, _ := embedding.NewRows(sh.Rows, sh.Width, embedding.Optimizer{Name: embedding.SGD, LR: 1})
			tables[s] = r.KernelTable()
		}
		batch := make([]uint64, 0, len(ids)*9)
		for i := range 9 * len(ids) {
			batch = append(batch, uint64(i%9))
		}
		g := embedding.NewGatherer(p)
		if _, err := g.Resolve(batch, nil); err != nil {
			t.Fatal(err)
		}
		if err := g.Gather(tables, nil, make([]float32, len(batch)*p.Dim), 1); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFrequencyGroups checks the groups: about equal sizes, rarer ids in
// lower groups, ids of one count together, unseen-id rows in group 0.
func TestFrequencyGroups(t *testing.T) {
	vocab := [][]uint64{{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}}
	counts := [][]uint32{{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 11}}
	g, err := frequencyGroups(vocab, counts, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{0, 0, 0, 0, 1, 1, 0, 1, 1, 2, 2, 2, 2, 0}
	if !slices.Equal(g, want) {
		t.Fatalf("groups %v, want %v", g, want)
	}
}

// TestAutoSrhWeights checks that AutoSrh's weights move with the loss
// (an always positive gradient on a positive value lowers them), stay in
// [0, 1], and that ending the search bakes them into the rows.
func TestAutoSrhWeights(t *testing.T) {
	tbl := newTable(t, AutoSrh, 1<<40, -1, 0)
	ids := embtest.IDs(3)
	batch := []uint64{ids[0][0], ids[1][0], ids[2][0]}
	before := make([]float32, 3*8)
	tbl.Lookup(batch, before)
	g := make([]float32, len(before))
	for i, v := range before {
		if v > 0 {
			g[i] = 1
		} else {
			g[i] = -1
		}
	}
	tbl.Apply(batch, g)
	for _, a := range tbl.srh.alpha {
		if !(a >= 0 && a <= 1) {
			t.Fatalf("weight %v outside [0, 1]", a)
		}
	}
	if slices.Min(tbl.srh.alpha) == 1 {
		t.Fatal("no weight moved")
	}
	mid := make([]float32, len(before))
	tbl.Lookup(batch, mid)
	tbl.srh.bake(tbl)
	tbl.srh = nil
	after := make([]float32, len(before))
	tbl.Lookup(batch, after)
	if !slices.Equal(mid, after) {
		t.Fatal("baking the weights changed the vectors")
	}
}

func mustIndex(t testing.TB, ids [][]uint64) embedding.Index {
	t.Helper()
	x, err := embedding.NewIndex(ids)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestExp32 checks exp32 against math.Exp over PEP's range.
func TestExp32(t *testing.T) {
	for x := float32(-87); x <= 88; x += 0.01 {
		want := math.Exp(float64(x))
		if got := float64(exp32(x)); math.Abs(got-want) > 4e-7*want {
			t.Fatalf("exp32(%v) = %v, math.Exp %v", x, got, want)
		}
	}
	if exp32(-100) != 0 || !math.IsInf(float64(exp32(100)), 1) {
		t.Fatal("exp32 out of range")
	}
}
