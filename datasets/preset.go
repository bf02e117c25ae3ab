package datasets

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/zeebo/xxh3"
)

// KaggleCriteoRows is the number of rows of Criteo Kaggle's train.txt, the
// set whose per-field cardinalities CriteoCardinalities counts.
const KaggleCriteoRows = 45840617

// A Preset is a generator calibrated to a real dataset: per field, a
// Zipf-Mandelbrot law over a finite vocabulary fitted to the real
// distinct-values-vs-rows curve and ending at the real cardinality at the
// real row count; missing rates and the groups of columns that go missing
// together; per dense column, the distribution of log1p(x); and the hidden
// label model's term weights, set so that LR, FM and DLRM land near
// published AUCs on the real set (see Label).
//
// `dataset calibrate` writes one from real files; the embedded
// "criteo-kaggle" preset was fitted to the Kaggle Criteo lines in
// ../shared/data/criteo (see experiments/criteo_preset).
type Preset struct {
	Name string `json:"name"`
	// Source says what the fit read (files, rows) and how it was run.
	Source string `json:"source"`
	// Rows is the row count at which the fields reach Cardinality.
	Rows   int64         `json:"rows"`
	Fields []PresetField `json:"fields"`
	Dense  []PresetDense `json:"dense"`
	// MissGroups lists groups of columns (categorical names, then dense
	// names) that are missing together in the real data: one coin per row
	// decides the whole group (each column's own Missing is the group's).
	MissGroups [][]string  `json:"miss_groups,omitempty"`
	Label      PresetLabel `json:"label"`
}

// PresetField is one categorical field: ranks k = 1..N with P(k) ∝ (k+Q)^-S.
type PresetField struct {
	Name    string  `json:"name"`
	S       float64 `json:"s"`
	Q       float64 `json:"q"`
	N       uint64  `json:"n"`
	Missing float64 `json:"missing"`
	// Cardinality is the real distinct count at Preset.Rows the fit aimed
	// at, and FitRMSLE the root mean squared log error of the fitted
	// expected curve against the real one (the fit's quality).
	Cardinality int64   `json:"cardinality"`
	FitRMSLE    float64 `json:"fit_rmsle"`
}

// PresetDense is one dense column: missing with probability Missing,
// negative (-1) with probability Negative, otherwise x ≥ 0 with log1p(x) ~
// N(Mu, Sigma²) rounded down to an integer (zero-heavy columns get a point
// mass at 0 of probability Zero).
type PresetDense struct {
	Name     string  `json:"name"`
	Missing  float64 `json:"missing"`
	Negative float64 `json:"negative"`
	Zero     float64 `json:"zero"`
	Mu       float64 `json:"mu"`
	Sigma    float64 `json:"sigma"`
}

// PresetLabel weights the hidden model's terms (see Generator): First the
// per-value effects (what LR learns), Pair the latent pairwise interactions
// (what FM adds), Dense the linear effects of log1p of the dense columns,
// DenseBend their non-linear (U-shaped) effects that only a model with an
// MLP over the dense columns learns (what DLRM adds). CTR is the click rate.
type PresetLabel struct {
	CTR       float64 `json:"ctr"`
	First     float64 `json:"first"`
	Pair      float64 `json:"pair"`
	Dense     float64 `json:"dense"`
	DenseBend float64 `json:"dense_bend"`
}

//go:embed presets/criteo-kaggle.json
var presetCriteoKaggle []byte

// PresetNames lists the embedded presets.
func PresetNames() []string { return []string{"criteo-kaggle"} }

// LoadPreset returns an embedded preset by name, or reads a preset JSON file
// when name ends in ".json".
func LoadPreset(name string, readFile func(string) ([]byte, error)) (*Preset, error) {
	var data []byte
	switch {
	case name == "criteo-kaggle":
		data = presetCriteoKaggle
	case strings.HasSuffix(name, ".json") && readFile != nil:
		b, err := readFile(name)
		if err != nil {
			return nil, fmt.Errorf("preset %s: %w", name, err)
		}
		data = b
	default:
		return nil, fmt.Errorf("preset %q: unknown (want %s or a .json file)", name, strings.Join(PresetNames(), ", "))
	}
	var p Preset
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("preset %s: %w", name, err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("preset %s: %w", name, err)
	}
	return &p, nil
}

// Digest names the preset's parameters in 8 hex digits (xxh3 of their
// printed values): files generated from a preset carry it, so a refitted
// preset never reuses data generated from an older one.
func (p *Preset) Digest() string {
	return fmt.Sprintf("%016x", xxh3.HashString(fmt.Sprintf("%+v", *p)))[:8]
}

// Validate checks that the preset fits the Criteo layout the generator
// writes and that every parameter is in range.
func (p *Preset) Validate() error {
	if len(p.Fields) != genNumCat || len(p.Dense) != genNumDen {
		return fmt.Errorf("want %d categorical and %d dense columns, have %d and %d", genNumCat, genNumDen, len(p.Fields), len(p.Dense))
	}
	names := map[string]bool{}
	for _, f := range p.Fields {
		if _, err := NewZipfMandelbrot(f.S, f.Q, f.N); err != nil {
			return fmt.Errorf("field %s: %w", f.Name, err)
		}
		if !(f.Missing >= 0 && f.Missing < 1) {
			return fmt.Errorf("field %s: missing %g not in [0, 1)", f.Name, f.Missing)
		}
		names[f.Name] = true
	}
	for _, d := range p.Dense {
		if !(d.Missing >= 0 && d.Missing < 1) || !(d.Negative >= 0 && d.Zero >= 0 && d.Negative+d.Zero <= 1) || !(d.Sigma >= 0) || math.IsNaN(d.Mu) {
			return fmt.Errorf("dense %s: parameters out of range", d.Name)
		}
		names[d.Name] = true
	}
	for _, g := range p.MissGroups {
		for _, n := range g {
			if !names[n] {
				return fmt.Errorf("missing group names unknown column %q", n)
			}
		}
	}
	l := p.Label
	if !(l.CTR > 0 && l.CTR < 1) || l.First < 0 || l.Pair < 0 || l.Dense < 0 || l.DenseBend < 0 {
		return fmt.Errorf("label: parameters out of range: %+v", l)
	}
	return nil
}

// sliceReader reads records held in memory.
type sliceReader struct {
	schema *Schema
	recs   []*Record
	i      int
}

func (r *sliceReader) Schema() *Schema { return r.schema }
func (r *sliceReader) Close() error    { return nil }
func (r *sliceReader) Read(rec *Record) error {
	if r.i >= len(r.recs) {
		return io.EOF
	}
	src := r.recs[r.i]
	r.i++
	rec.Label = src.Label
	copy(rec.Dense, src.Dense)
	copy(rec.DenseValid, src.DenseValid)
	copy(rec.Cat, src.Cat)
	return nil
}

// FitOptions configures FitPreset.
type FitOptions struct {
	Name   string
	Source string
	// Rows and Cardinalities are the real row count and the per-field
	// distinct counts the fitted laws must reach there.
	Rows          int64
	Cardinalities []int64
	Shuffles      int    // random orders the real curve is averaged over (default 20)
	Seed          uint64 // for the shuffles
	Label         PresetLabel
}

// FitPreset fits a preset to real Criteo-layout rows: see Preset. Each
// field's (S, Q) is searched on a grid, then refined, minimising the squared
// log error of the expected distinct counts against the real curve (plus
// the singleton count and the top-10 share), with N solved for each (S, Q)
// so that the expected distinct count at opt.Rows present rows is the real
// cardinality. It also returns the real curves it fitted to.
func FitPreset(r RecordReader, opt FitOptions) (*Preset, []FieldCurve, error) {
	sch := r.Schema()
	if sch.NumCat() != genNumCat || sch.NumDense() != genNumDen {
		return nil, nil, fmt.Errorf("fit preset: want the Criteo layout (%d dense, %d categorical), have %d, %d", genNumDen, genNumCat, sch.NumDense(), sch.NumCat())
	}
	if len(opt.Cardinalities) != genNumCat || opt.Rows < 1 {
		return nil, nil, errors.New("fit preset: want 26 cardinalities and the real row count")
	}
	if opt.Shuffles == 0 {
		opt.Shuffles = 20
	}
	var recs []*Record
	for {
		rec := NewRecord(sch)
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("fit preset: row %d: %w", len(recs)+1, err)
		}
		// Cat strings may alias the reader's buffer.
		for i, c := range rec.Cat {
			rec.Cat[i] = strings.Clone(c)
		}
		recs = append(recs, rec)
	}
	if len(recs) < 100 {
		return nil, nil, fmt.Errorf("fit preset: %d rows; want at least 100", len(recs))
	}
	curves, err := MeasureCurves(&sliceReader{schema: sch, recs: recs}, 0, opt.Shuffles, opt.Seed)
	if err != nil {
		return nil, nil, err
	}
	p := &Preset{Name: opt.Name, Source: opt.Source, Rows: opt.Rows, Label: opt.Label}
	for f, c := range curves {
		pf, err := fitField(c, opt.Cardinalities[f], opt.Rows)
		if err != nil {
			return nil, nil, fmt.Errorf("fit preset: field %s: %w", c.Field, err)
		}
		p.Fields = append(p.Fields, pf)
	}
	for j, name := range sch.Dense {
		p.Dense = append(p.Dense, fitDense(name, recs, j))
	}
	p.MissGroups = missGroups(sch, recs)
	return p, curves, p.Validate()
}

// fitDense measures one dense column's missing, negative and zero shares and
// the mean and spread of log1p(x) over its positive values.
func fitDense(name string, recs []*Record, j int) PresetDense {
	d := PresetDense{Name: name}
	var present, neg, zero, pos float64
	var sum, sum2 float64
	for _, r := range recs {
		if !r.DenseValid[j] {
			continue
		}
		present++
		switch v := r.Dense[j]; {
		case v < 0:
			neg++
		case v == 0:
			zero++
		default:
			l := math.Log1p(float64(v))
			sum += l
			sum2 += l * l
			pos++
		}
	}
	d.Missing = 1 - present/float64(len(recs))
	if present > 0 {
		d.Negative, d.Zero = neg/present, zero/present
	}
	if pos > 0 {
		d.Mu = sum / pos
		d.Sigma = math.Sqrt(max(0, sum2/pos-d.Mu*d.Mu))
	}
	return d
}

// missGroups finds columns that go missing together: columns with a missing
// rate of at least 1% whose missing indicators agree on at least 99% of the
// rows, grouped greedily by the first such column.
func missGroups(sch *Schema, recs []*Record) [][]string {
	type col struct {
		name string
		miss []bool
		rate float64
	}
	var cols []col
	add := func(name string, missing func(*Record) bool) {
		m := make([]bool, len(recs))
		var n float64
		for i, r := range recs {
			m[i] = missing(r)
			if m[i] {
				n++
			}
		}
		if rate := n / float64(len(recs)); rate >= 0.01 {
			cols = append(cols, col{name, m, rate})
		}
	}
	for f, name := range sch.Categorical {
		add(name, func(r *Record) bool { return r.Cat[f] == "" })
	}
	for j, name := range sch.Dense {
		add(name, func(r *Record) bool { return !r.DenseValid[j] })
	}
	used := make([]bool, len(cols))
	var groups [][]string
	for a := range cols {
		if used[a] {
			continue
		}
		g := []string{cols[a].name}
		for b := a + 1; b < len(cols); b++ {
			if used[b] {
				continue
			}
			var agree float64
			for i := range recs {
				if cols[a].miss[i] == cols[b].miss[i] {
					agree++
				}
			}
			if agree/float64(len(recs)) >= 0.99 {
				g = append(g, cols[b].name)
				used[b] = true
			}
		}
		if len(g) > 1 {
			groups = append(groups, g)
		}
	}
	return groups
}

// fitField fits one field's law; see FitPreset.
func fitField(c FieldCurve, card, rows int64) (PresetField, error) {
	pf := PresetField{Name: c.Field, Missing: c.Missing, Cardinality: card}
	if c.Present == 0 {
		return pf, errors.New("no values in the real rows")
	}
	nEnd := float64(rows) * (1 - c.Missing)
	type cand struct {
		s, q, loss float64
		n          uint64
	}
	eval := func(s, q float64) (cand, bool) {
		n, ok := solveSupport(s, q, card, nEnd)
		if !ok {
			return cand{}, false
		}
		z, _ := NewZipfMandelbrot(s, q, n)
		return cand{s: s, q: q, n: n, loss: curveLoss(z, c)}, true
	}
	best := cand{loss: math.Inf(1)}
	qs := []float64{0, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192}
	var ss []float64
	for s := 0.3; s <= 3.0001; s += 0.05 {
		ss = append(ss, s)
	}
	// fields with a few common values and rare others over 45M rows (C6:
	// 7 values in 12k rows, 24 in 45.8M) need steep laws
	for s := 3.25; s <= 8.0001; s += 0.25 {
		ss = append(ss, s)
	}
	for _, s := range ss {
		for _, q := range qs {
			if cd, ok := eval(s, q); ok && cd.loss < best.loss {
				best = cd
			}
		}
	}
	if math.IsInf(best.loss, 1) {
		return pf, fmt.Errorf("no Zipf-Mandelbrot law reaches %d distinct values at %.0f rows", card, nEnd)
	}
	// refine around the best grid point
	for round := 0; round < 3; round++ {
		ds := 0.05 / math.Pow(4, float64(round))
		qf := math.Pow(2, 1/math.Pow(2, float64(round)))
		center := best
		for i := -4; i <= 4; i++ {
			for _, qm := range []float64{1 / qf, 1, qf} {
				s := center.s + float64(i)*ds/4
				q := center.q * qm
				if center.q == 0 {
					q = []float64{0, 0.25, 0.5}[int(qm*2)%3]
				}
				if s <= 0.05 {
					continue
				}
				if cd, ok := eval(s, q); ok && cd.loss < best.loss {
					best = cd
				}
			}
		}
	}
	pf.S, pf.Q, pf.N = best.s, best.q, best.n
	z, _ := NewZipfMandelbrot(best.s, best.q, best.n)
	var se float64
	var k int
	for i, n := range c.N {
		d, _, _ := z.Expect(float64(n))
		e := math.Log(d) - math.Log(c.Distinct[i])
		se += e * e
		k++
	}
	pf.FitRMSLE = math.Sqrt(se / float64(k))
	return pf, nil
}

// curveLoss is the fit's objective: squared log errors of the expected
// distinct counts at the real curve's points, of the singletons at the end,
// and 4 × the squared error of the top-10 share.
func curveLoss(z *ZipfMandelbrot, c FieldCurve) float64 {
	var loss float64
	for i, n := range c.N {
		d, _, _ := z.Expect(float64(n))
		e := math.Log(d) - math.Log(c.Distinct[i])
		loss += e * e
	}
	_, sing, top := z.Expect(float64(c.Present))
	e := math.Log1p(sing) - math.Log1p(float64(c.Singletons))
	loss += e*e + 4*(top-c.Top10)*(top-c.Top10)
	return loss
}

// solveSupport returns the smallest support N whose law (S, Q) has an
// expected distinct count of at least card - 0.5 after nEnd draws, or false
// when no N up to 1e11 reaches it.
func solveSupport(s, q float64, card int64, nEnd float64) (uint64, bool) {
	distinct := func(n uint64) float64 {
		z, _ := NewZipfMandelbrot(s, q, n)
		d, _, _ := z.Expect(nEnd)
		return d
	}
	target := float64(card) - 0.5
	lo, hi := uint64(card), uint64(1e11)
	if distinct(lo) >= target {
		return lo, true
	}
	if distinct(hi) < target {
		return 0, false
	}
	// bisect on log N, then finish on integers for small supports
	for hi-lo > 1 && float64(hi)/float64(lo) > 1.0001 {
		mid := uint64(math.Sqrt(float64(lo) * float64(hi)))
		if mid <= lo {
			mid = lo + 1
		}
		if mid >= hi {
			mid = hi - 1
		}
		if distinct(mid) >= target {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}
