package datasets

import (
	"math"
	"math/rand/v2"

	"github.com/embtab/embtab/hashing"
)

// presetPairScale makes the pair term's spread 1 at Pair = 1 with all 26
// fields present: 325 pairs of 4 products of U(−½, ½) variables, each of
// variance 1/144.
var presetPairScale = 1 / math.Sqrt(325*4.0/144)

// presetGen is the state of a generator driven by a calibrated Preset. Its
// hidden model is
//
//	logit = b + Noise·( First·Σ_f σ_f z_f(v_f) + Pair·c·Σ_{f<g} <u_f(v_f), u_g(v_g)>
//	                    + Dense·Σ_j β_j d_j + DenseBend·Σ_j γ_j (d_j² − 1) )
//
// with z_f(v) ≈ N(0, 1) and u_f(v) ~ U(−½, ½)⁴ derived from a hash of
// (seed, field, rank) as in the original generator (every value, head or
// tail, carries an effect of the same spread: the one modelling choice the
// real statistics cannot pin down), d_j the standardised log1p of dense
// column j (0 when missing), and c = presetPairScale. The pair term is a
// rank-4 factorisation machine over all field pairs, so FM (and DLRM's dot
// interactions) can represent it exactly: LR learns the first and the linear
// dense terms, FM adds the pairs, and a model with an MLP over the dense
// columns (DLRM) adds the bends.
type presetGen struct {
	p     *Preset
	laws  [genNumCat]*ZipfMandelbrot
	gamma [genNumDen]float64
	// group[c] is column c's missing group (categorical 0..25, then dense
	// 26..38), -1 for an independent column; rate[c] its missing rate.
	group [genNumCat + genNumDen]int
	rate  [genNumCat + genNumDen]float64
	coins []bool
	first []int // each group's first column
}

func (g *Generator) initPreset(p *Preset) (*Generator, error) {
	pg := &presetGen{p: p}
	g.preset = pg
	col := map[string]int{}
	for f, pf := range p.Fields {
		z, err := NewZipfMandelbrot(pf.S, pf.Q, pf.N)
		if err != nil {
			return nil, err
		}
		pg.laws[f] = z
		g.card[f] = int64(pf.N)
		col[pf.Name] = f
		pg.rate[f] = pf.Missing
	}
	for j, d := range p.Dense {
		col[d.Name] = genNumCat + j
		pg.rate[genNumCat+j] = d.Missing
	}
	for c := range pg.group {
		pg.group[c] = -1
	}
	for gi, grp := range p.MissGroups {
		for _, name := range grp {
			pg.group[col[name]] = gi
		}
	}
	pg.coins = make([]bool, len(p.MissGroups))
	for _, grp := range p.MissGroups {
		pg.first = append(pg.first, col[grp[0]])
	}
	prm := rand.New(rand.NewPCG(g.cfg.Seed, 0x5eed))
	for f := range g.sigma {
		// importances spread over [0.05, 0.8], a few fields dominant
		g.sigma[f] = 0.05 + 0.75*math.Pow(prm.Float64(), 2)
	}
	for j := range g.beta {
		g.beta[j] = 0.3 + 0.7*prm.Float64()
		if prm.IntN(2) == 0 {
			g.beta[j] = -g.beta[j]
		}
		pg.gamma[j] = 0.3 + 0.7*prm.Float64()
		if prm.IntN(2) == 0 {
			pg.gamma[j] = -pg.gamma[j]
		}
	}
	g.calibrate()
	g.rng = rand.New(rand.NewPCG(g.cfg.Seed, 0xc0ffee))
	return g, nil
}

// drawCoins draws this row's coin per missing group; column c is then
// missing when pg.isMissing(c) says so.
func (pg *presetGen) drawCoins(rng *rand.Rand) {
	for gi := range pg.coins {
		// the group's rate is its first column's (they agree to 1%)
		pg.coins[gi] = rng.Float64() < pg.rate[pg.first[gi]]
	}
}

func (pg *presetGen) isMissing(rng *rand.Rand, c int) bool {
	if gi := pg.group[c]; gi >= 0 {
		return pg.coins[gi]
	}
	return rng.Float64() < pg.rate[c]
}

// drawPreset fills rec from the preset's laws and returns the hidden logit
// without bias.
func (g *Generator) drawPreset(rec *Record) float64 {
	pg := g.preset
	pg.drawCoins(g.rng)
	l := pg.p.Label
	var logit float64
	var d [genNumDen]float64
	for j, pd := range pg.p.Dense {
		if pg.isMissing(g.rng, genNumCat+j) {
			rec.DenseValid[j] = false
			rec.Dense[j] = 0
			continue
		}
		rec.DenseValid[j] = true
		var x int64
		switch u := g.rng.Float64(); {
		case u < pd.Negative:
			x = -1
		case u < pd.Negative+pd.Zero:
			x = 0
		default:
			x = max(1, int64(math.Floor(math.Expm1(pd.Mu+pd.Sigma*g.rng.NormFloat64())+0.5)))
		}
		rec.Dense[j] = x
		if pd.Sigma > 0 {
			d[j] = (math.Log1p(float64(max(x, 0))) - pd.Mu) / pd.Sigma
		}
		logit += l.Dense*g.beta[j]*d[j]/math.Sqrt(genNumDen) + l.DenseBend*pg.gamma[j]*(d[j]*d[j]-1)/math.Sqrt(genNumDen)
	}
	var u [genNumCat][genLatent]float64
	for f := 0; f < genNumCat; f++ {
		g.present[f] = !pg.isMissing(g.rng, f)
		if !g.present[f] {
			rec.Cat[f] = ""
			continue
		}
		rank := pg.laws[f].Sample(g.rng) - 1
		g.ranks[f] = rank
		// a hash of the rank on 32 bits, printed like Criteo's hashed ids
		// (ranks beyond 2^32 exist in the largest fields, so no bijection;
		// the rare collisions are Criteo's own kind)
		v := uint32(hashing.Mix64(rank ^ uint64(f)<<56 ^ 0x9E3779B97F4A7C15))
		rec.Cat[f] = g.putHex(f, v)
		logit += l.First * g.sigma[f] * g.valueEffect(f, rank, &u[f])
	}
	if l.Pair != 0 {
		// Σ_{f<g} <u_f, u_g> over the present fields = (|Σ u_f|² − Σ |u_f|²)/2
		var sum [genLatent]float64
		var sq float64
		for f := 0; f < genNumCat; f++ {
			if !g.present[f] {
				continue
			}
			for k, x := range u[f] {
				sum[k] += x
				sq += x * x
			}
		}
		var all float64
		for _, x := range sum {
			all += x * x
		}
		logit += l.Pair * presetPairScale * (all - sq) / 2
	}
	return logit * g.cfg.Noise
}
