package adaptemb_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/embtab/embtab/adaptemb"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/kernels"
)

var adagrad = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1}

// poolFields returns frequencies over the conformance suite's ids: field
// f's k-th id seen 1000/(k+1) times (Zipf-like), with distinct counts
// that make the fields compress (the pool's ids are then mostly heads)
// or, for a small field, stay full.
func poolFields(fields int) []embedding.Frequencies {
	pool := embtest.IDs(fields)
	fr := make([]embedding.Frequencies, fields)
	for f := range fr {
		ids := slices.Clone(pool[f])
		counts := make([]uint32, len(ids))
		for k := range counts {
			counts[k] = uint32(1000 / (k + 1))
		}
		fr[f] = embedding.Frequencies{IDs: ids, Counts: counts, Distinct: 4000}
	}
	return fr
}

func spec(fr []embedding.Frequencies, dim int, budget int64, params map[string]string) embedding.Spec {
	return embedding.Spec{Dim: dim, Budget: budget, Fields: fr, Optimizer: adagrad, Seed: 3, Params: params}
}

func newTable(t testing.TB, s embedding.Spec) embedding.TrainTable {
	t.Helper()
	tbl, err := embedding.NewTable(adaptemb.Method, s)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestTable(t *testing.T) {
	fr := poolFields(3)
	for name, s := range map[string]embedding.Spec{
		"fp32": spec(fr, 8, 200_000, nil),
		"int8": func() embedding.Spec { s := spec(fr, 8, 200_000, nil); s.Storage = embedding.StorageInt8; return s }(),
		"top":  spec(fr, 8, 200_000, map[string]string{"top_percent": "0.02"}),
	} {
		t.Run(name, func(t *testing.T) {
			var opts []embtest.Option
			if s.Storage == embedding.StorageInt8 {
				opts = append(opts, embtest.Tolerance(0.01))
			}
			embtest.TestTable(t, func() embedding.Trainable { return newTable(t, s) }, opts...)
		})
	}
}

// TestForBudget checks the sizing rule of the package doc: every
// compressed field gets max(ceil(r·n_f), head+1) rows, its max(1, round(p·n_f)) most frequent
// ids own rows, fields that would not shrink are full, and the serving
// bytes (rows and head index) fit the budget and use it up to a row per
// field.
func TestForBudget(t *testing.T) {
	const dim = 8
	row := int64(dim * 4)
	mk := func(distinct int64, n int) embedding.Frequencies {
		fr := embedding.Frequencies{Distinct: distinct}
		for k := range n {
			fr.IDs = append(fr.IDs, uint64(1000+k*7))
			fr.Counts = append(fr.Counts, uint32(1+(k*37)%11)) // ties galore
		}
		return fr
	}
	fields := []embedding.Frequencies{mk(10_000, 2000), mk(500, 500), mk(3, 3), mk(2, 2)}
	full := embedding.FullServingBytes([]int64{10_000, 500, 3, 2}, dim)
	for _, tc := range []struct {
		name       string
		budget     int64
		top, frac  float64
		wantP      func(r float64) float64
		wantFull   []int
		wantErr    error
		checkRatio bool
	}{
		{name: "2x", budget: full / 2, wantP: func(r float64) float64 { return min(0.1, r/2) }, wantFull: []int{3}},
		{name: "10x", budget: full / 10, wantP: func(r float64) float64 { return min(0.1, r/2) }, wantFull: []int{3}},
		{name: "100x", budget: full / 100, wantP: func(r float64) float64 { return min(0.1, r/2) }, wantFull: []int{3}},
		{name: "top_percent", budget: full / 4, top: 0.05, wantP: func(float64) float64 { return 0.05 }, wantFull: []int{3}},
		{name: "head_fraction", budget: full / 4, frac: 0.3, wantP: func(r float64) float64 { return 0.3 * r }, wantFull: []int{3}},
		{name: "at the full size every field is full", budget: full, wantFull: []int{1, 2, 3}},
		{name: "too small", budget: 3 * row, wantErr: embedding.ErrBudgetTooSmall},
		{name: "both settings", budget: full / 4, top: 0.1, frac: 0.1, wantErr: embedding.ErrConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := adaptemb.ForBudget(tc.budget, fields, dim, tc.top, tc.frac)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := s.Config
			var serving int64
			for f, fr := range fields {
				n := max(int64(len(fr.IDs)), fr.Distinct)
				head, tail := len(s.Heads[f]), c.Hybrid.TailRows[f]
				serving += int64(head+tail)*row + int64(head)*embedding.IndexBytesPerID
				if slices.Contains(c.FullFields, f) {
					if head != len(fr.IDs) || tail != 1 {
						t.Errorf("full field %d: %d heads, %d tail rows", f, head, tail)
					}
					continue
				}
				if rows := int64(math.Ceil(c.Rate * float64(n))); int64(head+tail) != max(rows, int64(head)+1) {
					t.Errorf("field %d: %d rows (%d heads), want ceil(%v·%d) = %d", f, head+tail, head, c.Rate, n, rows)
				}
				if tc.wantP != nil {
					if p := tc.wantP(c.Rate); math.Abs(p-c.TopPercent) > 1e-12 {
						t.Errorf("top percent %v at rate %v, want %v", c.TopPercent, c.Rate, p)
					}
					want := min(max(int(math.Round(c.TopPercent*float64(n))), 1), len(fr.IDs))
					if head != want {
						t.Errorf("field %d: %d heads, want %d", f, head, want)
					}
				}
				// The heads are the most frequent ids: no tail id has a
				// higher count than a head id, and at equal counts the
				// head ids are the smaller.
				minHead, maxHeadID := uint32(math.MaxUint32), uint64(0)
				for _, id := range s.Heads[f] {
					minHead = min(minHead, fr.Counts[slices.Index(fr.IDs, id)])
				}
				for _, id := range s.Heads[f] {
					if fr.Counts[slices.Index(fr.IDs, id)] == minHead {
						maxHeadID = max(maxHeadID, id)
					}
				}
				for i, id := range fr.IDs {
					if _, in := slices.BinarySearch(s.Heads[f], id); in {
						continue
					}
					if head > 0 && (fr.Counts[i] > minHead || fr.Counts[i] == minHead && id < maxHeadID) {
						t.Fatalf("field %d: tail id %d (count %d) beats a head id (min count %d)", f, id, fr.Counts[i], minHead)
					}
				}
			}
			if !slices.Equal(c.FullFields, tc.wantFull) {
				t.Errorf("full fields %v, want %v", c.FullFields, tc.wantFull)
			}
			if serving > tc.budget {
				t.Fatalf("serving bytes %d over the budget %d", serving, tc.budget)
			}
			if tc.budget < full && serving < tc.budget-int64(len(fields))*(row+embedding.IndexBytesPerID)*2 {
				t.Errorf("serving bytes %d leave more than two rows per field of the budget %d unused", serving, tc.budget)
			}
			// The table the method builds is this sizing, and Describe
			// reports exactly these serving bytes.
			tbl := newTable(t, embedding.Spec{Dim: dim, Budget: tc.budget, Fields: fields, Optimizer: adagrad,
				Params: params(tc.top, tc.frac)})
			d, err := tbl.(embedding.Describer).Describe()
			if err != nil {
				t.Fatal(err)
			}
			got := embedding.IndexServingBytes(d.Index)
			for _, set := range d.Sets {
				got += int64(set.Len()) * int64(set.Dim()) * 4
			}
			if got != serving {
				t.Errorf("the table's serving bytes %d, the sizing's %d", got, serving)
			}
		})
	}
}

func params(top, frac float64) map[string]string {
	p := map[string]string{}
	if top > 0 {
		p["top_percent"] = formatFloat(top)
	}
	if frac > 0 {
		p["head_fraction"] = formatFloat(frac)
	}
	return p
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// TestIsHybrid proves the package doc's claim: an adaptemb table is the
// hybrid table of its heads and tail rows, lookup for lookup and update
// for update, and its served plan is the hybrid method's.
func TestIsHybrid(t *testing.T) {
	fr := poolFields(3)
	s := spec(fr, 8, 150_000, nil)
	a := newTable(t, s)
	at := a.(*adaptemb.Table)
	hc := at.AdaptConfig().Hybrid
	heads := make([][]uint64, 3)
	for f := range heads {
		heads[f] = at.Head(f)
	}
	h, err := embedding.NewHybrid(heads, embedding.HybridConfig{Dim: 8, TailRows: hc.TailRows, Optimizer: adagrad, Seed: 3,
		HeadFraction: hc.HeadFraction})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pool := embtest.IDs(3)
	batch := func() []uint64 {
		ids := make([]uint64, 3*200)
		for i := range ids {
			if rng.IntN(4) == 0 {
				ids[i] = rng.Uint64() // unseen: a tail id
			} else {
				ids[i] = pool[i%3][rng.IntN(embtest.PoolSize)]
			}
		}
		return ids
	}
	for step := range 3 {
		ids := batch()
		x, y := make([]float32, len(ids)*8), make([]float32, len(ids)*8)
		a.Lookup(ids, x)
		h.Lookup(ids, y)
		if !slices.Equal(x, y) {
			t.Fatalf("step %d: adaptemb and the hybrid table of its heads differ", step)
		}
		g := make([]float32, len(x))
		for i := range g {
			g[i] = rng.Float32() - 0.5
		}
		a.Apply(ids, g)
		h.Apply(ids, g)
	}
	// The description's plan, rebuilt through the registered method from
	// the config and index as serving does, gathers Lookup's vectors.
	d, err := at.Describe()
	if err != nil {
		t.Fatal(err)
	}
	if d.Method != adaptemb.Method {
		t.Fatalf("described as %q", d.Method)
	}
	m, _ := embedding.MethodByName(adaptemb.Method)
	p, err := m.Plan(d.Config, sliceIndex(d.Index))
	if err != nil {
		t.Fatal(err)
	}
	ids := batch()
	want := make([]float32, len(ids)*8)
	a.Lookup(ids, want)
	g := embedding.NewGatherer(p)
	if _, err := g.Resolve(ids, nil); err != nil {
		t.Fatal(err)
	}
	var tabs []kernels.Table
	for _, set := range d.Sets {
		tabs = append(tabs, set.KernelTable())
	}
	got := make([]float32, len(want))
	if err := g.Gather(tabs, nil, got, 1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("the plan rebuilt from the description gathers other vectors than Lookup")
	}
	if _, err := m.Plan(d.Config, nil); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("plan without the head index: %v, want ErrCorrupt", err)
	}
	if _, err := m.Plan([]byte(`{"method":"hybrid","rate":0.5,"top_percent":0.1,"hybrid":{}}`), nil); !errors.Is(err, embedding.ErrCorrupt) {
		t.Errorf("plan of another method's config: %v, want ErrCorrupt", err)
	}
	// Method.Load, as a checkpoint is read.
	var buf bytes.Buffer
	if err := at.Save(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := m.Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	again := make([]float32, len(want))
	back.Lookup(ids, again)
	if !slices.Equal(again, want) {
		t.Fatal("the table loaded through the method looks up other vectors")
	}
	other := newTable(t, spec(fr, 8, 100_000, nil))
	if err := other.Load(bytes.NewReader(buf.Bytes())); !errors.Is(err, embedding.ErrConfigMismatch) {
		t.Errorf("Load into a table of another budget: %v, want ErrConfigMismatch", err)
	}
}

// sliceIndex is an embedding.Index over per-field id lists.
type sliceIndex [][]uint64

func (s sliceIndex) Fields() int   { return len(s) }
func (s sliceIndex) Len(f int) int { return len(s[f]) }
func (s sliceIndex) Find(f int, id uint64) (uint32, bool) {
	i := slices.Index(s[f], id)
	return uint32(i), i >= 0
}

// TestSettings checks the settings' errors.
func TestSettings(t *testing.T) {
	fr := poolFields(2)
	for _, tc := range []struct {
		params map[string]string
		want   error
	}{
		{map[string]string{"chunks": "2"}, embedding.ErrConfig},
		{map[string]string{"top_percent": "x"}, embedding.ErrConfig},
		{map[string]string{"top_percent": "1.5"}, embedding.ErrConfig},
		{map[string]string{"head_fraction": "-0.1"}, embedding.ErrConfig},
	} {
		if _, err := embedding.NewTable(adaptemb.Method, spec(fr, 8, 100_000, tc.params)); !errors.Is(err, tc.want) {
			t.Errorf("%v: %v, want %v", tc.params, err, tc.want)
		}
	}
	s := spec(fr, 8, 100_000, nil)
	s.FieldDims = []int{8, 4}
	if _, err := embedding.NewTable(adaptemb.Method, s); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("field dims: %v, want ErrConfig", err)
	}
}
