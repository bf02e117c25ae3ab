package ttrec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/ttrec"
)

var optimizersUnderTest = []embedding.Optimizer{
	{Name: embedding.SGD, LR: 0.05},
	{Name: embedding.RowwiseAdagrad, LR: 0.05},
	{Name: embedding.Adagrad, LR: 0.05},
	{Name: embedding.LazyAdam, LR: 0.01},
}

var rowwise = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func tt(n [3]int, d [3]int, r int) ttrec.FieldConfig { return ttrec.FieldConfig{N: n, D: d, Rank: r} }

// conformanceConfigs are small tables of each shape: tensor trains only,
// and a mix of tensor trains with different row widths and plain rows.
var conformanceConfigs = []struct {
	name string
	cfg  ttrec.Config
}{
	{"tt", ttrec.Config{Dim: 8, Fields: []ttrec.FieldConfig{
		tt([3]int{100, 90, 110}, [3]int{2, 2, 2}, 4), // width 8
		tt([3]int{120, 80, 100}, [3]int{2, 2, 2}, 3), // width 6
	}}},
	{"mixed", ttrec.Config{Dim: 16, Fields: []ttrec.FieldConfig{
		tt([3]int{100, 100, 100}, [3]int{4, 1, 4}, 6), // width 12
		{Rows: 600},
		tt([3]int{110, 90, 100}, [3]int{4, 1, 4}, 8), // width 16
	}}},
}

func TestTable(t *testing.T) {
	for _, c := range conformanceConfigs {
		for _, opt := range optimizersUnderTest {
			for _, storage := range []string{embedding.StorageFP32, embedding.StorageInt8} {
				if storage == embedding.StorageInt8 && opt.Name != embedding.RowwiseAdagrad {
					continue
				}
				t.Run(c.name+"/"+opt.Name+"/"+storage, func(t *testing.T) {
					cfg := c.cfg
					cfg.Optimizer, cfg.Seed, cfg.Storage = opt, 17, storage
					var opts []embtest.Option
					if storage == embedding.StorageInt8 {
						opts = append(opts, embtest.Tolerance(1e-2))
					}
					embtest.TestTable(t, func() embedding.Trainable { return must(ttrec.New(cfg)) }, opts...)
				})
			}
		}
	}
}

// spec returns a method spec for fields of the given cardinalities.
func spec(dim int, budget int64, cards ...int64) embedding.Spec {
	s := embedding.Spec{Dim: dim, Budget: budget, Optimizer: embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}, Seed: 5}
	for _, n := range cards {
		s.Fields = append(s.Fields, embedding.Frequencies{Distinct: n})
	}
	return s
}

func newTable(t testing.TB, s embedding.Spec) *ttrec.Table {
	t.Helper()
	tbl, err := embedding.NewTable(ttrec.Method, s)
	if err != nil {
		t.Fatal(err)
	}
	return tbl.(*ttrec.Table)
}

func randomIDs(rng *rand.Rand, n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = rng.Uint64()
	}
	return ids
}

func train(tbl embedding.Trainable, rng *rand.Rand, steps, batch int) {
	for range steps {
		ids := randomIDs(rng, batch*tbl.Fields())
		g := make([]float32, len(ids)*tbl.Dim())
		for i := range g {
			g[i] = 2*rng.Float32() - 1
		}
		tbl.Apply(ids, g)
	}
}

// servingBytes is what the description's row sets hold as fp32 rows.
func servingBytes(t *testing.T, tbl *ttrec.Table) int64 {
	t.Helper()
	d, err := tbl.Describe()
	if err != nil {
		t.Fatal(err)
	}
	var b int64
	for _, s := range d.Sets {
		b += int64(s.Len()) * int64(s.Dim()) * 4
	}
	if d.Index != nil {
		t.Fatalf("description has an index of %d fields", len(d.Index))
	}
	return b
}

// TestSizing sizes tables for several cardinalities, dims and budgets
// (ratios of the full table's serving bytes) and checks that the rows fit
// the budget, that they are what the config says, that large fields become
// tensor trains under compression and tiny ones keep plain rows, and that
// a budget too small for one row a field is refused.
func TestSizing(t *testing.T) {
	schemas := map[string][]int64{
		"criteo-like": {1460, 583, 10_131_227, 2_202_608, 305, 24, 12_517, 633, 3, 93_145, 5_683, 8_351_593, 3_194, 27, 14_992, 5_461_306, 10, 5_652, 2_173, 4, 7_046_547, 18, 15, 286_181, 105, 142_572},
		"one-big":     {5_000_000},
		"small":       {3, 40, 700, 9000},
		"empty-field": {0, 100_000},
	}
	for name, cards := range schemas {
		for _, dim := range []int{4, 16, 32} {
			full := embedding.FullServingBytes(cards, dim)
			for _, ratio := range []int64{1, 2, 10, 100, 1000} {
				budget := full / ratio
				t.Run(fmt.Sprintf("%s/dim%d/%dx", name, dim, ratio), func(t *testing.T) {
					fields, err := ttrec.ForBudget(budget, cards, dim, 0)
					if errors.Is(err, embedding.ErrBudgetTooSmall) {
						if int64(len(cards))*int64(dim)*4 <= budget {
							t.Fatalf("budget %d refused, but one row a field costs %d: %v", budget, len(cards)*dim*4, err)
						}
						return
					}
					if err == nil && int64(len(cards))*int64(dim)*4 > budget {
						t.Fatalf("budget %d accepted, but one row a field costs %d", budget, len(cards)*dim*4)
					}
					if err != nil {
						t.Fatal(err)
					}
					c := ttrec.Config{Dim: dim, Fields: fields}
					if got := c.ServingBytes(); got > budget {
						t.Fatalf("serving bytes %d > budget %d", got, budget)
					}
					for f, fc := range fields {
						n := cards[f]
						switch {
						case ratio >= 10 && n >= 1_000_000 && !fc.TT():
							t.Errorf("field %d of %d ids at %dx keeps %d plain rows", f, n, ratio, fc.Rows)
						case ratio == 1 && (fc.TT() || int64(fc.Rows) < n+1):
							t.Errorf("field %d of %d ids with the full table's bytes: %+v, want at least %d plain rows", f, n, fc, n+1)
						case fc.TT() && fc.Space() < uint64(n):
							t.Errorf("field %d of %d ids: index space %d", f, n, fc.Space())
						}
					}
					if budget > 1<<23 {
						return // building the table is the slow part: the small budgets show it
					}
					s := spec(dim, budget, cards...)
					tbl := newTable(t, s)
					if got, want := servingBytes(t, tbl), c.ServingBytes(); got != want {
						t.Fatalf("the table's rows hold %d bytes, its config says %d", got, want)
					}
				})
			}
		}
	}
	if _, err := ttrec.ForBudget(10, []int64{1000, 1000}, 16, 0); !errors.Is(err, embedding.ErrBudgetTooSmall) {
		t.Errorf("10 bytes for 2 fields: %v, want ErrBudgetTooSmall", err)
	}
}

// TestSizingUsesTheBudget checks that compression keeps most of the
// budget in use (the rank is the largest that fits, up to 1/8 less).
func TestSizingUsesTheBudget(t *testing.T) {
	cards := []int64{2_000_000, 500_000, 80_000}
	for _, ratio := range []int64{10, 100} {
		budget := embedding.FullServingBytes(cards, 16) / ratio
		fields := must(ttrec.ForBudget(budget, cards, 16, 0))
		if got := (ttrec.Config{Dim: 16, Fields: fields}).ServingBytes(); got < budget/2 {
			t.Errorf("%dx: %d of %d bytes used (%+v)", ratio, got, budget, fields)
		}
	}
}

// TestPlanFromDescription rebuilds the plan from the description's config
// as serving does and checks that a Gatherer over the description's row
// sets reproduces the trained table's lookups bit for bit.
func TestPlanFromDescription(t *testing.T) {
	cards := []int64{300_000, 40, 25_000, 7}
	for _, storage := range []string{embedding.StorageFP32, embedding.StorageInt8} {
		t.Run(storage, func(t *testing.T) {
			s := spec(16, embedding.FullServingBytes(cards, 16)/20, cards...)
			s.Storage = storage
			tbl := newTable(t, s)
			rng := rand.New(rand.NewPCG(7, 8))
			train(tbl, rng, 3, 64)
			d, err := tbl.Describe()
			if err != nil {
				t.Fatal(err)
			}
			if d.Method != ttrec.Method || d.Width > tbl.Dim() {
				t.Fatalf("description: method %q, width %d", d.Method, d.Width)
			}
			m := must(embedding.MethodByName(ttrec.Method))
			p, err := m.Plan(d.Config, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids := randomIDs(rng, 50*len(cards))
			want := make([]float32, len(ids)*tbl.Dim())
			tbl.Lookup(ids, want)
			g := embedding.NewGatherer(p)
			if _, err := g.Resolve(ids, nil); err != nil {
				t.Fatal(err)
			}
			var tabs []kernels.Table
			for _, r := range d.Sets {
				tabs = append(tabs, r.KernelTable())
			}
			got := make([]float32, len(want))
			if err := g.Gather(tabs, nil, got, 1); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("float %d: plan from the description gives %v, the table %v", i, got[i], want[i])
				}
			}
			bad := bytes.Replace(d.Config, []byte(`"rank":`), []byte(`"rank":9999,"x":`), 1)
			if _, err := m.Plan(bad, nil); !errors.Is(err, embedding.ErrCorrupt) {
				t.Errorf("Plan of a corrupt config: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestSaveLoadByMethod saves a trained table and restores it through the
// registered method's Load (as a checkpoint does).
func TestSaveLoadByMethod(t *testing.T) {
	cards := []int64{200_000, 12, 9_000}
	tbl := newTable(t, spec(8, embedding.FullServingBytes(cards, 8)/10, cards...))
	rng := rand.New(rand.NewPCG(9, 10))
	train(tbl, rng, 4, 32)
	var buf bytes.Buffer
	if err := tbl.Save(&buf); err != nil {
		t.Fatal(err)
	}
	saved := bytes.Clone(buf.Bytes())
	got, err := must(embedding.MethodByName(ttrec.Method)).Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	ids := randomIDs(rng, 40*len(cards))
	a, b := make([]float32, len(ids)*8), make([]float32, len(ids)*8)
	tbl.Lookup(ids, a)
	got.Lookup(ids, b)
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			t.Fatalf("float %d: loaded %v, saved %v", i, b[i], a[i])
		}
	}
	other := newTable(t, spec(8, embedding.FullServingBytes(cards, 8)/100, cards...))
	if err := other.Load(bytes.NewReader(saved)); !errors.Is(err, embedding.ErrConfigMismatch) {
		t.Errorf("Load into a table of another budget: %v, want ErrConfigMismatch", err)
	}
}

// TestKeys checks the key plan against the documented digits: h =
// Bucket(id, n1·n2·n3), i1 = h mod n1, i2 = (h / n1) mod n2, i3 = h /
// (n1·n2), each a run of k rows of its core in the field's set.
func TestKeys(t *testing.T) {
	fc := tt([3]int{13, 5, 11}, [3]int{4, 1, 4}, 8) // slices 32, 64, 32 floats: rows of 16, k = 2, 4, 2
	tbl := must(ttrec.New(ttrec.Config{Dim: 16, Optimizer: rowwise, Fields: []ttrec.FieldConfig{{Rows: 50}, fc}}))
	p := tbl.Plan()
	if len(p.Sets) != 2 || p.Sets[1] != (embedding.SetShape{Rows: 13*2 + 5*4 + 11*2, Width: 16}) {
		t.Fatalf("sets %+v", p.Sets)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for range 1000 {
		id := rng.Uint64()
		h := hashing.Bucket(id, 13*5*11)
		i1, i2, i3 := uint32(h%13), uint32(h/13%5), uint32(h/65)
		var want []embedding.Key
		for j := range uint32(2) {
			want = append(want, embedding.Key{Set: 1, Row: i1*2 + j})
		}
		for j := range uint32(4) {
			want = append(want, embedding.Key{Set: 1, Row: 26 + i2*4 + j})
		}
		for j := range uint32(2) {
			want = append(want, embedding.Key{Set: 1, Row: 46 + i3*2 + j})
		}
		got := p.AppendKeys(nil, 1, id)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("id %#x: keys %v, want %v", id, got, want)
		}
		if k := p.AppendKeys(nil, 0, id); len(k) != 1 || k[0] != (embedding.Key{Row: uint32(hashing.Bucket(id, 50))}) {
			t.Fatalf("plain field: keys %v", k)
		}
	}
}

// TestInitScale checks that initial vectors of tensor-train fields have
// the variance of U(-s, s), s²/3, and mean about 0.
func TestInitScale(t *testing.T) {
	for _, r := range []int{2, 8, 32} {
		tbl := must(ttrec.New(ttrec.Config{Dim: 16, Optimizer: rowwise, Seed: uint64(r), Fields: []ttrec.FieldConfig{tt([3]int{300, 200, 300}, [3]int{4, 1, 4}, r)}}))
		ids := randomIDs(rand.New(rand.NewPCG(13, uint64(r))), 4000)
		out := make([]float32, len(ids)*16)
		tbl.Lookup(ids, out)
		var s1, s2 float64
		for _, v := range out {
			s1 += float64(v)
			s2 += float64(v) * float64(v)
		}
		n := float64(len(out))
		mean, variance := s1/n, s2/n-(s1/n)*(s1/n)
		want := embedding.DefaultInitScale * embedding.DefaultInitScale / 3.0
		if math.Abs(variance/want-1) > 0.2 || math.Abs(mean) > 0.1*math.Sqrt(want) {
			t.Errorf("rank %d: initial mean %.5f variance %.3g, want ~0 and %.3g", r, mean, variance, want)
		}
	}
}

// TestNewRejects checks the settings the method does not take.
func TestNewRejects(t *testing.T) {
	s := spec(16, 0, 1000)
	s.Params = map[string]string{"probes": "2"}
	if _, err := embedding.NewTable(ttrec.Method, s); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("unknown setting: %v", err)
	}
	s = spec(16, 0, 1000)
	s.FieldDims = []int{8}
	if _, err := embedding.NewTable(ttrec.Method, s); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("field dims: %v", err)
	}
	for _, c := range []ttrec.Config{
		{Dim: 16, Fields: []ttrec.FieldConfig{tt([3]int{2, 2, 2}, [3]int{4, 2, 4}, 3)}},   // dims make 32
		{Dim: 16, Fields: []ttrec.FieldConfig{tt([3]int{2, 2, 2}, [3]int{4, 1, 4}, 0)}},   // rank 0
		{Dim: 16, Fields: []ttrec.FieldConfig{tt([3]int{2, 0, 2}, [3]int{4, 1, 4}, 2)}},   // empty core
		{Dim: 16, Fields: []ttrec.FieldConfig{{Rows: 4, Rank: 2}}},                        // plain with a rank
		{Dim: 16, Fields: []ttrec.FieldConfig{tt([3]int{2, 2, 2}, [3]int{4, 1, 4}, 999)}}, // rank > MaxRank
	} {
		c.Optimizer = rowwise
		if _, err := ttrec.New(c); !errors.Is(err, embedding.ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", c.Fields, err)
		}
	}
}
