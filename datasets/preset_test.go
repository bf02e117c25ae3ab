package datasets

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embtab/embtab/internal/shareddata"
)

// The sampler's frequencies match its pmf within sampling error, for
// exponents below, at and above 1 (math/rand's Zipf covers only > 1).
func TestZipfMandelbrotSample(t *testing.T) {
	for _, tc := range []struct {
		s, q float64
		n    uint64
	}{{0.5, 0, 50}, {1, 2, 50}, {1.3, 0.5, 200}, {3, 10, 20}, {7, 2, 5}, {1, 0, 1}} {
		z, err := NewZipfMandelbrot(tc.s, tc.q, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		const draws = 200000
		counts := make([]float64, tc.n+1)
		for range draws {
			k := z.Sample(rng)
			if k < 1 || k > tc.n {
				t.Fatalf("%+v: rank %d out of 1..%d", tc, k, tc.n)
			}
			counts[k]++
		}
		var sum float64
		for k := uint64(1); k <= tc.n; k++ {
			p := z.Prob(k)
			sum += p
			sd := math.Sqrt(draws * p * (1 - p))
			if d := math.Abs(counts[k] - draws*p); d > 5*sd+1 {
				t.Errorf("%+v: rank %d drawn %.0f times, want %.1f ± %.1f", tc, k, counts[k], draws*p, sd)
			}
		}
		if math.Abs(sum-1) > 1e-9 && tc.n <= zmHead {
			t.Errorf("%+v: pmf sums to %v", tc, sum)
		}
	}
}

// Expect's integrated tail agrees with the exact sums over every rank.
func TestZipfMandelbrotExpect(t *testing.T) {
	for _, tc := range []struct {
		s, q float64
		n    uint64
		at   float64
	}{{0.8, 3, 200000, 50000}, {1.08, 1.5, 300000, 1e6}, {1.6, 100, 100000, 20000}, {2, 0, 1000, 100}} {
		z, _ := NewZipfMandelbrot(tc.s, tc.q, tc.n)
		var norm float64
		for k := uint64(1); k <= tc.n; k++ {
			norm += math.Pow(float64(k)+tc.q, -tc.s)
		}
		var d, s1 float64
		for k := uint64(1); k <= tc.n; k++ {
			m := tc.at * math.Pow(float64(k)+tc.q, -tc.s) / norm
			d += -math.Expm1(-m)
			s1 += m * math.Exp(-m)
		}
		gd, gs, _ := z.Expect(tc.at)
		if math.Abs(gd-d)/d > 2e-3 || math.Abs(gs-s1)/max(s1, 1) > 5e-3 {
			t.Errorf("%+v: Expect = %.1f distinct, %.1f singletons; exact %.1f, %.1f", tc, gd, gs, d, s1)
		}
	}
}

func TestNewZipfMandelbrotErrors(t *testing.T) {
	for _, tc := range [][3]float64{{0, 1, 10}, {-1, 0, 10}, {1, -1, 10}, {1, 0, 0}, {math.NaN(), 0, 5}, {math.Inf(1), 0, 5}} {
		if _, err := NewZipfMandelbrot(tc[0], tc[1], uint64(tc[2])); err == nil {
			t.Errorf("NewZipfMandelbrot%v: want an error", tc)
		}
	}
}

// The fit recovers a known law from a sample of it: the fitted law's curve
// (ending at the true cardinality at 100x the sample) is close to the truth.
func TestFitFieldRecoversLaw(t *testing.T) {
	truth, _ := NewZipfMandelbrot(1.1, 3, 5_000_000)
	rng := rand.New(rand.NewPCG(3, 4))
	const sample = 20000
	vals := make([]uint64, sample)
	for i := range vals {
		vals[i] = truth.Sample(rng)
	}
	c := curveOf(vals)
	const rows = 2_000_000
	card, _, _ := truth.Expect(rows)
	pf, err := fitField(c, int64(card), rows)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := NewZipfMandelbrot(pf.S, pf.Q, pf.N)
	for _, n := range []float64{1000, sample, 200000, rows} {
		want, _, _ := truth.Expect(n)
		have, _, _ := got.Expect(n)
		if math.Abs(math.Log(have/want)) > 0.08 {
			t.Errorf("at %.0f draws: fitted law %.0f distinct, truth %.0f (fit %+v)", n, have, want, pf)
		}
	}
}

// curveOf measures a FieldCurve of values in order.
func curveOf(vals []uint64) FieldCurve {
	c := FieldCurve{Field: "x", Rows: int64(len(vals)), Present: int64(len(vals))}
	seen := map[uint64]int64{}
	next := int64(16)
	for i, v := range vals {
		seen[v]++
		if int64(i+1) == next || i+1 == len(vals) {
			c.N = append(c.N, int64(i+1))
			c.Distinct = append(c.Distinct, float64(len(seen)))
			next *= 2
		}
	}
	for _, n := range seen {
		if n == 1 {
			c.Singletons++
		}
	}
	return c
}

func TestLoadPreset(t *testing.T) {
	p, err := LoadPreset("criteo-kaggle", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != KaggleCriteoRows || len(p.Fields) != 26 || len(p.Dense) != 13 {
		t.Fatalf("criteo-kaggle: rows %d, %d fields, %d dense", p.Rows, len(p.Fields), len(p.Dense))
	}
	for f, pf := range p.Fields {
		if pf.Cardinality != CriteoCardinalities[f] || pf.N < uint64(pf.Cardinality) {
			t.Errorf("%s: cardinality %d (Kaggle %d), support %d", pf.Name, pf.Cardinality, CriteoCardinalities[f], pf.N)
		}
		// the embedded fit reaches Kaggle's cardinality at Kaggle's rows
		z, _ := NewZipfMandelbrot(pf.S, pf.Q, pf.N)
		d, _, _ := z.Expect(float64(p.Rows) * (1 - pf.Missing))
		if math.Abs(d-float64(pf.Cardinality)) > max(1, 1e-3*float64(pf.Cardinality)) {
			t.Errorf("%s: expected %.0f distinct at %d rows, want %d", pf.Name, d, p.Rows, pf.Cardinality)
		}
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, body, want string }{
		{"bad.json", `{"name": "x"`, "unexpected EOF"},
		{"unknown.json", `{"nme": "x"}`, "unknown field"},
		{"short.json", `{"name": "x", "fields": []}`, "want 26 categorical"},
	} {
		path := filepath.Join(dir, tc.name)
		os.WriteFile(path, []byte(tc.body), 0o644)
		if _, err := LoadPreset(path, os.ReadFile); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: err %v, want one naming the file and %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadPreset("nope", os.ReadFile); err == nil || !strings.Contains(err.Error(), "criteo-kaggle") {
		t.Errorf("unknown preset: err %v, want the list of presets", err)
	}
}

// A preset generator is deterministic, hits the click rate, keeps the
// missing groups together at their rates and writes Criteo-like values.
func TestPresetGenerator(t *testing.T) {
	read := func(seed uint64) ([]*Record, *Generator) {
		g, err := NewGenerator(GenConfig{Rows: 40000, Seed: seed, Preset: "criteo-kaggle"})
		if err != nil {
			t.Fatal(err)
		}
		var recs []*Record
		for {
			rec := NewRecord(g.Schema())
			if err := g.Read(rec); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			for i := range rec.Cat {
				rec.Cat[i] = strings.Clone(rec.Cat[i])
			}
			recs = append(recs, rec)
		}
		return recs, g
	}
	a, g := read(7)
	b, _ := read(7)
	p := g.preset.p
	var clicks float64
	missing := make([]float64, 26)
	for i, r := range a {
		if r.Label != b[i].Label || r.Cat[3] != b[i].Cat[3] || r.Dense[4] != b[i].Dense[4] {
			t.Fatalf("row %d differs between two runs of one seed", i)
		}
		clicks += float64(r.Label)
		// C3, C4, ... and C19, C20, ... go missing together
		if (r.Cat[2] == "") != (r.Cat[3] == "") || (r.Cat[18] == "") != (r.Cat[25] == "") {
			t.Fatalf("row %d: a missing group split: %q", i, r.Cat)
		}
		for f, c := range r.Cat {
			if c == "" {
				missing[f]++
			} else if len(c) != 8 {
				t.Fatalf("row %d field %d: %q is not 8 hex digits", i, f, c)
			}
		}
	}
	n := float64(len(a))
	if ctr := clicks / n; math.Abs(ctr-p.Label.CTR) > 0.01 {
		t.Errorf("click rate %.4f, preset %.4f", ctr, p.Label.CTR)
	}
	for f, pf := range p.Fields {
		sd := math.Sqrt(pf.Missing*(1-pf.Missing)/n) + 1e-9
		if math.Abs(missing[f]/n-pf.Missing) > 5*sd {
			t.Errorf("%s: missing %.4f, preset %.4f", pf.Name, missing[f]/n, pf.Missing)
		}
	}
	if _, err := NewGenerator(GenConfig{Rows: 1, Preset: "nope"}); err == nil {
		t.Error("unknown preset: want an error")
	}
}

// Fitting the real Criteo lines gives laws that reach Kaggle's
// cardinalities and follow the real curves of the large fields closely.
func TestFitPresetSharedCriteo(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(shareddata.Dir(t), "criteo", "criteo_*"))
	if len(files) == 0 {
		t.Fatal("no criteo_* files in the shared data")
	}
	var rs []RecordReader
	for _, f := range files {
		r, err := OpenRaw("criteo", f)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		rs = append(rs, r)
	}
	all, _ := ConcatReaders(rs...)
	p, real, err := FitPreset(all, FitOptions{Rows: KaggleCriteoRows, Cardinalities: CriteoCardinalities[:], Shuffles: 4, Seed: 1,
		Label: PresetLabel{CTR: 0.25, First: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for f, pf := range p.Fields {
		if CriteoCardinalities[f] > 50000 && pf.FitRMSLE > 0.1 {
			t.Errorf("%s: fit RMSLE %.3f over the real curve, want < 0.1", pf.Name, pf.FitRMSLE)
		}
		if real[f].Rows != real[0].Rows || real[f].Present == 0 {
			t.Errorf("%s: curve %+v", pf.Name, real[f])
		}
	}
	if len(p.MissGroups) == 0 {
		t.Error("no missing groups found; Criteo's C3/C4/C12/... go missing together")
	}
}

// TestPresetDigest: 8 hex digits, the same for equal presets, different
// when one parameter moves.
func TestPresetDigest(t *testing.T) {
	a, err := LoadPreset("criteo-kaggle", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LoadPreset("criteo-kaggle", nil)
	d := a.Digest()
	if len(d) != 8 || d != b.Digest() {
		t.Fatalf("digests %q and %q", d, b.Digest())
	}
	b.Fields[3].S += 0.01
	if b.Digest() == d {
		t.Error("digest unchanged after a field's exponent moved")
	}
}
