package dimsearch

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
)

func testPlan() *Plan {
	return &Plan{Method: MethodOptEmbed, BaseDim: 8, Budget: 1000,
		Fields: []FieldPlan{
			{Name: "a", Dim: 2, Cardinality: 10, KeptRows: 3},
			{Name: "b", Dim: 8, Cardinality: 5, KeptRows: 5},
		},
		Kept: [][]uint64{{4, 9, 11}, nil},
	}
}

func TestPlanRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	p := testPlan()
	if err := WritePlan(path, p); err != nil {
		t.Fatal(err)
	}
	if p.Bytes != (3+1)*2*4+(5+1)*8*4+(3+5)*embedding.IndexBytesPerID {
		t.Fatalf("bytes %d", p.Bytes)
	}
	got, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Dims(), []int{2, 8}) || !slices.Equal(got.Kept[0], []uint64{4, 9, 11}) || got.Kept[1] != nil {
		t.Fatalf("read back %+v kept %v", got, got.Kept)
	}
	if !slices.Equal(got.Chunks(4), []int{1, 2}) {
		t.Fatalf("chunks %v", got.Chunks(4))
	}
	if ids := got.KeptIDs(1, []uint64{1, 2}); !slices.Equal(ids, []uint64{1, 2}) {
		t.Fatalf("unpruned field keeps %v", ids)
	}
}

func TestPlanCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := WritePlan(path, testPlan()); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, testPlanRead(t, path).KeptFile)
	b, _ := os.ReadFile(kept)
	b[len(b)-1] ^= 1
	os.WriteFile(kept, b, 0o644)
	if _, err := ReadPlan(path); !errors.Is(err, ErrPlan) {
		t.Fatalf("flipped sidecar byte: %v, want ErrPlan", err)
	}
	for name, edit := range map[string]func(*Plan){
		"dim over base":                  func(p *Plan) { p.Fields[0].Dim = 9 },
		"kept > card":                    func(p *Plan) { p.Fields[0].KeptRows = 11; p.Kept = nil },
		"zero dim":                       func(p *Plan) { p.Fields[1].Dim = 0 },
		"method":                         func(p *Plan) { p.Method = "nas" },
		"unpruned field with fewer rows": func(p *Plan) { p.Fields[1].KeptRows = 4 },
		"over budget":                    func(p *Plan) { p.Budget = 100 },
	} {
		p := testPlan()
		edit(p)
		if err := WritePlan(filepath.Join(dir, "x.json"), p); !errors.Is(err, ErrPlan) {
			t.Errorf("%s: %v, want ErrPlan", name, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "x.json*")); len(m) != 0 {
		t.Errorf("invalid plans left files: %v", m)
	}
	good := filepath.Join(dir, "good.json")
	if err := WritePlan(good, testPlan()); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(good)
	os.WriteFile(good, append(b, []byte("{}")...), 0o644)
	if _, err := ReadPlan(good); !errors.Is(err, ErrPlan) {
		t.Errorf("trailing data: %v, want ErrPlan", err)
	}
}

func FuzzDecodeKept(f *testing.F) {
	f.Add(encodeKept([][]uint64{{1, 2, 3}, nil}), 2)
	f.Add([]byte(keptMagic), 1)
	f.Fuzz(func(t *testing.T, b []byte, fields int) {
		if fields < 0 || fields > 64 {
			return
		}
		kept, err := decodeKept(b, fields)
		if err != nil {
			return
		}
		if again := encodeKept(kept); !slices.Equal(again, b) {
			t.Fatalf("decode/encode not the identity")
		}
	})
}

func TestSupernetForwardMasks(t *testing.T) {
	s, err := NewSupernet(SupernetConfig{Fields: 2, Dim: 4, FixedDim: true, InitThreshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	emb := []float32{0.1, 0.1, 0.1, 0.1, 1, -1, 0.5, 0} // field 0 norm 0.4 (pruned), field 1 norm 2.5
	s.Forward(emb, 1)
	want := []float32{0, 0, 0, 0, 1, -1, 0.5, 0}
	if !slices.Equal(emb, want) {
		t.Fatalf("forward %v, want %v", emb, want)
	}
	emb = []float32{0.1, 0.1, 0.1, 0.1, 1, -1, 0.5, 0}
	s.Mask(emb, 1, []int{4, 2})
	if !slices.Equal(emb, []float32{0, 0, 0, 0, 1, -1, 0, 0}) {
		t.Fatalf("mask %v", emb)
	}
}

func TestSupernetSampledDims(t *testing.T) {
	const F, D, B = 3, 8, 2000
	s, _ := NewSupernet(SupernetConfig{Fields: F, Dim: D, Seed: 7, InitThreshold: -1})
	emb := make([]float32, B*F*D)
	for i := range emb {
		emb[i] = 1
	}
	s.Forward(emb, B)
	hist := make([]int, D+1)
	for i := range B * F {
		e := emb[i*D : (i+1)*D]
		d := 0
		for d < D && e[d] == 1 {
			d++
		}
		for _, x := range e[d:] {
			if x != 0 {
				t.Fatalf("vector %d not a prefix: %v", i, e)
			}
		}
		hist[d]++
	}
	if hist[0] != 0 {
		t.Fatalf("%d empty vectors", hist[0])
	}
	for d := 1; d <= D; d++ { // ~750 each
		if hist[d] < 600 || hist[d] > 900 {
			t.Errorf("dim %d drawn %d times of %d", d, hist[d], B*F)
		}
	}
}

// TestSupernetBackward checks the row gradient of kept and pruned rows
// and the threshold's straight-through direction.
func TestSupernetBackward(t *testing.T) {
	s, _ := NewSupernet(SupernetConfig{Fields: 1, Dim: 2, FixedDim: true, InitThreshold: 1, PruneReg: 1e-12})
	emb := []float32{0.9, 0.5} // norm 1.4: kept, x = 0.4 -> lte 0.4
	s.Forward(emb, 1)
	g := []float32{1, 2}
	s.Backward(g, 1)
	// gm = 0.9+1 = 1.9, ste = 0.76; dE = g + ste*sign(e).
	want := []float32{1 + 0.76, 2 + 0.76}
	for j := range g {
		if math.Abs(float64(g[j]-want[j])) > 1e-6 {
			t.Fatalf("grad %v, want %v", g, want)
		}
	}
	// dL/dt = -0.76 < 0: Adam raises t by about lr.
	if th := s.Thresholds()[0]; !(th > 1) {
		t.Fatalf("threshold %v did not rise on a negative gradient", th)
	}
	// A pruned row gets only the straight-through part.
	s2, _ := NewSupernet(SupernetConfig{Fields: 1, Dim: 2, FixedDim: true, InitThreshold: 1})
	emb = []float32{0.5, -0.3} // norm 0.8, x=-0.2, lte = 1.2
	s2.Forward(emb, 1)
	if emb[0] != 0 || emb[1] != 0 {
		t.Fatalf("pruned row passed: %v", emb)
	}
	g = []float32{1, 1}
	s2.Backward(g, 1)
	ste := float32(0.5-0.3) * 1.2
	if math.Abs(float64(g[0]-ste)) > 1e-6 || math.Abs(float64(g[1]+ste)) > 1e-6 {
		t.Fatalf("pruned grad %v, want [%v %v]", g, ste, -ste)
	}
}

func TestSupernetRegulariserRaisesThresholds(t *testing.T) {
	s, _ := NewSupernet(SupernetConfig{Fields: 2, Dim: 2, FixedDim: true, ThresholdLR: 0.01})
	for range 100 {
		emb := []float32{5, 5, 5, 5}
		s.Forward(emb, 1)
		s.Backward(make([]float32, 4), 1) // no data gradient
	}
	for _, th := range s.Thresholds() {
		if !(th > 0.5) {
			t.Fatalf("thresholds %v: the regulariser should raise them (about lr per step)", s.Thresholds())
		}
	}
}

func TestEvolve(t *testing.T) {
	// Fitness rewards dims on fields 0 and 3 only; cost is per-field rows.
	rows := []int64{10, 1000, 1000, 10}
	w := []float64{1, 0.01, 0.01, 1}
	cost := func(d []int) int64 { return Cost(rows, d) }
	fitness := func(d []int) (float64, error) {
		var s float64
		for f, x := range d {
			s += w[f] * math.Log(float64(x))
		}
		return s, nil
	}
	budget := Cost(rows, []int{8, 2, 2, 8})
	cases := []EvolveConfig{{Seed: 1}, {Seed: 2, Population: 30, Generations: 15}}
	for _, c := range cases {
		res, err := Evolve(c, 4, 8, budget, cost, fitness)
		if err != nil {
			t.Fatal(err)
		}
		if res.Best.Bytes > budget {
			t.Fatalf("best %v costs %d > %d", res.Best.Dims, res.Best.Bytes, budget)
		}
		if res.Best.Dims[0] != 8 || res.Best.Dims[3] != 8 {
			t.Errorf("seed %d: best %v, want 8 on fields 0 and 3", c.Seed, res.Best.Dims)
		}
		uni, _ := fitness([]int{3, 3, 3, 3}) // the largest uniform that fits
		if res.Best.Fitness < uni {
			t.Errorf("best %v below uniform %v", res.Best.Fitness, uni)
		}
		again, _ := Evolve(c, 4, 8, budget, cost, fitness)
		if !slices.Equal(again.Best.Dims, res.Best.Dims) || again.Evaluated != res.Evaluated {
			t.Errorf("not deterministic: %v vs %v", again.Best.Dims, res.Best.Dims)
		}
		if !slices.IsSorted(res.History) {
			t.Errorf("best fitness fell between generations: %v", res.History)
		}
	}
	if _, err := Evolve(EvolveConfig{}, 4, 8, 10, cost, fitness); !errors.Is(err, ErrBudget) {
		t.Fatalf("tiny budget: %v", err)
	}
}

func TestSoftSelectGradient(t *testing.T) {
	s, _ := NewSoftSelect(2, 2, 0.1, 0)
	emb := []float32{1, 2, 3, 4, -1, -2, -3, -4} // 2 samples
	s.Forward(emb, 2)
	if !slices.Equal(emb, []float32{1, 2, 3, 4, -1, -2, -3, -4}) {
		t.Fatalf("unit weights changed the batch: %v", emb)
	}
	// Loss = Σ out ⇒ dOut = 1, dw[k] = Σ_b raw = 0 for these; use loss = Σ out[0 sample].
	d := []float32{1, 1, 1, 1, 0, 0, 0, 0}
	s.Update(d, 2)
	w := s.Weights()
	for k, x := range w { // every gradient positive: Adam's first step lowers each weight by lr
		if math.Abs(float64(x-0.9)) > 1e-5 {
			t.Fatalf("weight %d = %v, want 0.9", k, x)
		}
	}
	g := []float32{1, 1, 1, 1, 1, 1, 1, 1}
	s.Backward(g, 2)
	for _, x := range g {
		if math.Abs(float64(x-0.9)) > 1e-5 {
			t.Fatalf("backward %v", g)
		}
	}
	imp := s.Importance() // |w|
	if math.Abs(imp[3]-0.9) > 1e-5 {
		t.Fatalf("importance %v", imp)
	}
}

func TestPruneByWeight(t *testing.T) {
	cases := []struct {
		name   string
		imp    []float64
		rows   []int64
		budget int64
		want   []int
	}{
		{"fits already", []float64{1, 1, 1, 1}, []int64{1, 1}, 1 << 20, []int{2, 2}},
		{"drop the weakest", []float64{0.1, 0.2, 5, 6}, []int64{9, 9}, (9+1)*3*4 + 18*embedding.IndexBytesPerID, []int{1, 2}},
		{"never below one", []float64{0.1, 0.2, 5, 6}, []int64{9, 9}, (9+1)*2*4 + 18*embedding.IndexBytesPerID, []int{1, 1}},
	}
	for _, c := range cases {
		got, err := PruneByWeight(c.imp, c.rows, 2, c.budget)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if _, err := PruneByWeight([]float64{1, 1}, []int64{100}, 2, 10); !errors.Is(err, ErrBudget) {
		t.Fatalf("tiny budget: %v", err)
	}
}

func testPlanRead(t *testing.T, path string) *Plan {
	t.Helper()
	p, err := ReadPlan(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
