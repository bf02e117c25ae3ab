package pq

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/embedding/embtest"
	"github.com/embtab/embtab/kernels"
)

var rowwise = embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.05}

// suiteIDs returns the conformance suite's ids with counts (id k of a
// field seen 1 + k%50 times).
func suiteIDs() ([][]uint64, [][]uint32) {
	ids := embtest.IDs(3)
	counts := make([][]uint32, len(ids))
	for f := range ids {
		for i := range ids[f] {
			counts[f] = append(counts[f], uint32(1+i%50))
		}
	}
	return ids, counts
}

func newTable(t testing.TB, kind string, parts, high, low int) *Table {
	t.Helper()
	ids, counts := suiteIDs()
	tbl, err := New(ids, counts, 0.1, Config{Kind: kind, Parts: parts, High: high, Low: low,
		Full: embedding.Config{Dim: 8, Optimizer: rowwise, Seed: 7, InitScale: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// TestConformance runs the table suite on MGQE and DPQ tables. The
// codebooks are every id's, so ids share parameters.
func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name             string
		kind             string
		parts, high, low int
	}{
		{"mgqe", MGQE, 4, 16, 4},
		{"dpq", DPQ, 2, 8, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			embtest.TestTable(t, func() embedding.Trainable { return newTable(t, tc.kind, tc.parts, tc.high, tc.low) },
				embtest.SharedParameters())
		})
	}
}

// TestLookupIsCodewords checks that a lookup returns, per part, the
// codeword nearest the query among the id's tier's choices.
func TestLookupIsCodewords(t *testing.T) {
	tbl := newTable(t, MGQE, 4, 16, 4)
	ids, _ := suiteIDs()
	for f := range ids {
		for i, id := range ids[f] {
			row := tbl.base[f] + i
			k := tbl.lows[f]
			if tbl.high[row] {
				k = tbl.books[f]
			}
			got := make([]float32, 24)
			b := []uint64{ids[0][0], ids[1][0], ids[2][0]}
			b[f] = id
			tbl.Lookup(b, got)
			q := tbl.q.Row(row)
			for p := range 4 {
				best, bestD := -1, float32(0)
				for c := range k {
					w := tbl.codeword(f, p, c)
					var d float32
					for j := range w {
						e := q[p*2+j] - w[j]
						d += e * e
					}
					if best < 0 || d < bestD {
						best, bestD = c, d
					}
				}
				if !slices.Equal(got[f*8+p*2:f*8+p*2+2], tbl.codeword(f, p, best)) {
					t.Fatalf("field %d id %d part %d: looked up %v, the nearest codeword %v", f, i, p, got[f*8+p*2:f*8+p*2+2], tbl.codeword(f, p, best))
				}
			}
		}
	}
}

// TestPack checks the code packing round trip for every width.
func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for b := 1; b <= 16; b++ {
		for parts := 1; parts <= 16; parts++ {
			codes := make([]int, parts)
			for p := range codes {
				codes[p] = rng.IntN(1 << b)
			}
			row := pack(codes, b, codeWords(parts, b))
			for p, c := range codes {
				if got := unpack(row, p, b); got != c {
					t.Fatalf("%d bits, %d parts: code %d unpacked %d, packed %d", b, parts, p, got, c)
				}
			}
			for _, x := range row {
				if x != float32(int32(x)) || x < 0 || x >= 1<<24 {
					t.Fatalf("%d bits: packed word %v is not an exact integer below 2^24", b, x)
				}
			}
		}
	}
}

// TestDescribeServesTheTable checks that the artifact form serves the
// table's lookups exactly (trained ids, frequent or not, and unseen ids)
// and that its bytes are what ServingBytes says.
func TestDescribeServesTheTable(t *testing.T) {
	for _, kind := range []string{MGQE, DPQ} {
		tbl := newTable(t, kind, 4, 16, map[string]int{MGQE: 4, DPQ: 16}[kind])
		ids, _ := suiteIDs()
		rng := rand.New(rand.NewPCG(5, 6))
		var batch []uint64
		for range 300 {
			for f := range 3 {
				batch = append(batch, ids[f][rng.IntN(len(ids[f]))])
			}
		}
		g := make([]float32, len(batch)*8)
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		tbl.Apply(batch, g)
		batch = append(batch, 1, 2, 3) // unseen
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
		ix, err := embedding.NewIndex(d.Index)
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Plan(d.Config, ix)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Exact() {
			t.Fatal("the plan does not ask for exact rows")
		}
		var bytes int64
		for s, r := range d.Sets {
			bytes += 4 * int64(r.Len()) * int64(r.Dim())
			if r.Len() != p.Sets[s].Rows || r.Dim() != p.Sets[s].Width {
				t.Fatalf("set %d: %d x %d, plan %v", s, r.Len(), r.Dim(), p.Sets[s])
			}
		}
		bytes += embedding.IndexServingBytes(d.Index)
		if bytes != tbl.ServingBytes() {
			t.Fatalf("%s: artifact %d bytes, ServingBytes %d", kind, bytes, tbl.ServingBytes())
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
			t.Fatalf("%s: the artifact form serves other vectors than the table's", kind)
		}
	}
}

// TestBudget checks that the method sizes parts to the budget: more
// bytes buy more parts, every table fits, and a budget below one code an
// id is refused.
func TestBudget(t *testing.T) {
	ids, counts := suiteIDs()
	spec := embedding.Spec{Dim: 8, Optimizer: rowwise, Seed: 1}
	for f := range ids {
		spec.Fields = append(spec.Fields, embedding.Frequencies{IDs: ids[f], Counts: counts[f], Distinct: int64(len(ids[f]))})
	}
	m := method{kind: MGQE}
	last := 0
	for _, budget := range []int64{110000, 150000, 250000, 1 << 30} {
		spec.Budget = budget
		tt, err := m.New(spec)
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		tbl := tt.(*Table)
		if b := tbl.ServingBytes(); b > budget {
			t.Fatalf("budget %d: %d bytes", budget, b)
		}
		if tbl.cfg.Parts < last {
			t.Fatalf("budget %d: %d parts, fewer than a smaller budget's %d", budget, tbl.cfg.Parts, last)
		}
		last = tbl.cfg.Parts
	}
	if last != 8 {
		t.Fatalf("an unbounded budget buys %d parts, want 8", last)
	}
	spec.Budget = 1000
	if _, err := m.New(spec); !errors.Is(err, embedding.ErrBudgetTooSmall) {
		t.Fatalf("budget 1000: %v, want ErrBudgetTooSmall", err)
	}
}

// TestConfigErrors checks the configs a table refuses.
func TestConfigErrors(t *testing.T) {
	full := embedding.Config{Dim: 8, Optimizer: rowwise}
	for name, c := range map[string]Config{
		"kind":        {Kind: "vq", Parts: 2, High: 8, Low: 8, Full: full},
		"parts":       {Kind: MGQE, Parts: 3, High: 8, Low: 4, Full: full},
		"not pow2":    {Kind: MGQE, Parts: 2, High: 12, Low: 4, Full: full},
		"low > high":  {Kind: MGQE, Parts: 2, High: 4, Low: 8, Full: full},
		"dpq tiers":   {Kind: DPQ, Parts: 2, High: 8, Low: 4, Full: full},
		"int8 query":  {Kind: DPQ, Parts: 2, High: 8, Low: 8, Full: embedding.Config{Dim: 8, Optimizer: rowwise, Storage: embedding.StorageInt8}},
		"field dims":  {Kind: DPQ, Parts: 2, High: 8, Low: 8, Full: embedding.Config{Dim: 8, Optimizer: rowwise, FieldDims: []int{4}}},
		"no codeword": {Kind: DPQ, Parts: 2, High: 0, Low: 0, Full: full},
	} {
		if _, err := New([][]uint64{{1, 2}}, [][]uint32{{1, 1}}, 0.5, c); !errors.Is(err, embedding.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// FuzzLoad checks that Load never panics and that what it accepts saves
// back to the bytes it read.
func FuzzLoad(f *testing.F) {
	for _, kind := range []string{MGQE, DPQ} {
		tbl, err := New([][]uint64{{3, 5, 9, 11}, {7}}, [][]uint32{{4, 1, 1, 9}, {2}}, 0.5, Config{Kind: kind, Parts: 2, High: 4, Low: map[string]int{MGQE: 2, DPQ: 4}[kind],
			Full: embedding.Config{Dim: 4, Optimizer: rowwise, Seed: 1, InitScale: 0.1}})
		if err != nil {
			f.Fatal(err)
		}
		var b bytes.Buffer
		if err := tbl.Save(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
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

// FuzzPlan checks that the artifact form's plan never panics on a config
// and index and that the plans it accepts gather any id, whatever the
// rows hold.
func FuzzPlan(f *testing.F) {
	f.Add([]byte(`{"dim":4,"parts":2,"high":4,"low":2,"frequent":[1,0],"ids":[3,1]}`), uint64(7))
	f.Add([]byte(`{"dim":8,"parts":8,"high":256,"low":2,"frequent":[2],"ids":[5]}`), uint64(1))
	f.Fuzz(func(t *testing.T, raw []byte, fill uint64) {
		var s Serving
		if json.Unmarshal(raw, &s) != nil || len(s.IDs) > 8 {
			return
		}
		ids := make([][]uint64, len(s.IDs))
		for f, n := range s.IDs {
			if n < 0 || n > 64 {
				return
			}
			for k := range n {
				ids[f] = append(ids[f], uint64(k+1))
			}
		}
		ix, err := embedding.NewIndex(ids)
		if err != nil {
			t.Fatal(err)
		}
		p, err := method{kind: MGQE}.Plan(raw, ix)
		if err != nil {
			return
		}
		rng := rand.New(rand.NewPCG(fill, 3))
		tables := make([]kernels.Table, len(p.Sets))
		for k, sh := range p.Sets {
			if sh.Rows*sh.Width > 1<<20 {
				return
			}
			r, _ := embedding.NewRows(sh.Rows, sh.Width, embedding.Optimizer{Name: embedding.SGD, LR: 1})
			vals := make([]float32, sh.Rows*sh.Width)
			for i := range vals {
				vals[i] = float32(rng.NormFloat64() * 1e7)
			}
			r.WriteRows(0, vals)
			tables[k] = r.KernelTable()
		}
		var batch []uint64
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
