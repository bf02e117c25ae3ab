package datasets

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"unsafe"

	"github.com/embtab/embtab/hashing"
)

// CriteoCardinalities are the per-field vocabulary sizes of Criteo Kaggle
// C1..C26, counted on the full training set.
var CriteoCardinalities = [26]int64{1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683,
	8351593, 3194, 27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572}

// GenConfig configures the synthetic Criteo-like generator.
type GenConfig struct {
	Rows int64 // rows to generate
	// Scale multiplies the vocabularies of the fields that have more than
	// 1000 values in Criteo (small fields such as hour-like ones keep their
	// size). 1 gives Criteo's ~33.8M distinct values.
	Scale float64
	Seed  uint64
	// Zipf is the exponent s > 1 of the per-field Zipf law over value ranks
	// (default 1.1: a long tail, as in Criteo).
	Zipf float64
	// CTR is the target click rate (default 0.25, about Criteo Kaggle's).
	CTR float64
	// Noise scales the hidden model's logit (default 1): higher is an easier
	// problem, lower a noisier one.
	Noise float64
	// Preset, when set, names a calibrated preset (see Preset and
	// LoadPreset: "criteo-kaggle" or a preset .json file) that replaces the
	// vocabularies, value laws, missing rates, dense distributions and label
	// model above; Scale and Zipf are then ignored, CTR and Noise still
	// apply (CTR 0 takes the preset's).
	Preset string
	// Drift and Part make the output part Part (from 0) of a drifting
	// stream: from one part to the next, each field's value popularity
	// moves by Drift of its vocabulary (the value at Zipf rank r of part n
	// is value (r + round(n·Drift·card)) mod card: the head moves to values
	// unseen before, the old head sinks into the tail) and the hidden
	// model turns by an angle of Drift·π/2 (each value's effect and latent
	// factors are cos θ_n times its part-0 ones plus sin θ_n times an
	// independent draw, θ_n = n·Drift·π/2, so the model's scale stays).
	// Parts draw from their own random streams; Part 0, or Drift 0, is the
	// undrifted generator. Not with Preset.
	Drift float64
	Part  int
}

func (c *GenConfig) fill() error {
	if c.Preset != "" && c.CTR == 0 {
		c.CTR = -1 // the preset's, set once it is loaded
	}
	if c.Scale == 0 {
		c.Scale = 0.01
	}
	if c.Zipf == 0 {
		c.Zipf = 1.1
	}
	if c.CTR == 0 {
		c.CTR = 0.25
	}
	if c.Noise == 0 {
		c.Noise = 1
	}
	switch {
	case c.Rows < 0:
		return fmt.Errorf("gen: rows %d < 0", c.Rows)
	case c.Scale < 0 || math.IsNaN(c.Scale):
		return fmt.Errorf("gen: scale %v must be > 0", c.Scale)
	case !(c.Zipf > 1):
		return fmt.Errorf("gen: zipf exponent %v must be > 1", c.Zipf)
	case !(c.CTR > 0 && c.CTR < 1) && !(c.Preset != "" && c.CTR == -1):
		return fmt.Errorf("gen: ctr %v must be in (0,1)", c.CTR)
	case !(c.Drift >= 0 && c.Drift <= 1) || c.Part < 0:
		return fmt.Errorf("gen: drift %v must be in [0, 1] and part %d >= 0", c.Drift, c.Part)
	case c.Preset != "" && c.Drift > 0:
		return fmt.Errorf("gen: drift is not supported with a preset (%s)", c.Preset)
	}
	return nil
}

// Cardinalities returns the per-field vocabulary sizes for the config.
func (c GenConfig) Cardinalities() []int64 {
	if c.Scale == 0 {
		c.Scale = 0.01
	}
	out := make([]int64, len(CriteoCardinalities))
	for f, n := range CriteoCardinalities {
		if n > 1000 {
			n = max(2, int64(math.Round(float64(n)*c.Scale)))
		}
		out[f] = n
	}
	return out
}

const (
	genLatent  = 4  // latent size of the hidden interaction model
	genNumDen  = 13 // dense fields
	genNumCat  = 26 // categorical fields
	genHexSize = 8
)

// Generator produces Criteo-like records from a hidden model:
//
//	logit = b + sum_f w_f(v_f) + sum_{(f,g) in P} k * <u_f(v_f), u_g(v_g)> + sum_j beta_j*(log1p(x_j) - mu_j)
//
// Value ranks follow a Zipf law per field; a value's weight w_f(v) ~
// N(0, sigma_f^2) and latent factors u_f(v) ~ U(-1/2, 1/2)^4 are derived
// from a hash of (seed, field, rank), so nothing is stored and any row can be
// regenerated. Field importances sigma_f differ (some fields matter much
// more than others) and P pairs 13 fields with partners 5 apart, so a model
// needs both good per-value embeddings and interactions; collisions in a
// small table blur exactly the tail values that carry signal, which makes
// table quality show in AUC. Labels are Bernoulli(sigmoid(logit)) with b
// calibrated to the target CTR. Deterministic for a given config.
type Generator struct {
	cfg     GenConfig
	card    []int64
	rng     *rand.Rand
	zipf    []*rand.Zipf
	sigma   [genNumCat]float64
	miss    [genNumCat]float64
	mu      [genNumDen]float64
	beta    [genNumDen]float64
	bias    float64
	row     int64
	hex     []byte
	schema  *Schema
	ranks   [genNumCat]uint64
	present [genNumCat]bool
	// drift: each field's popularity shift and the model's angle (cos,
	// sin) of this part (GenConfig.Drift); turned is false at angle 0.
	shift    [genNumCat]uint64
	cos, sin float64
	turned   bool

	preset *presetGen // nil: the original Zipf generator above
}

// NewGenerator returns a generator; it implements RecordReader.
func NewGenerator(cfg GenConfig) (*Generator, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, card: cfg.Cardinalities(), hex: make([]byte, genNumCat*genHexSize)}
	g.schema, _ = SchemaFor("criteo")
	if cfg.Preset != "" {
		p, err := LoadPreset(cfg.Preset, os.ReadFile)
		if err != nil {
			return nil, fmt.Errorf("gen: %w", err)
		}
		if g.cfg.CTR == -1 {
			g.cfg.CTR = p.Label.CTR
		}
		return g.initPreset(p)
	}
	prm := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	for f := range g.sigma {
		// importances spread over [0.05, 0.8], a few fields dominant
		g.sigma[f] = 0.05 + 0.75*math.Pow(prm.Float64(), 2)
		// missing rates: most fields rarely missing, some often (as in Criteo)
		switch r := prm.Float64(); {
		case r < 0.6:
			g.miss[f] = 0.01 * prm.Float64()
		case r < 0.85:
			g.miss[f] = 0.1 + 0.2*prm.Float64()
		default:
			g.miss[f] = 0.3 + 0.2*prm.Float64()
		}
	}
	for j := range g.mu {
		g.mu[j] = 0.5 + 2.5*prm.Float64()
		if j < 6 {
			g.beta[j] = 0.1 + 0.2*prm.Float64()
			if prm.IntN(2) == 0 {
				g.beta[j] = -g.beta[j]
			}
		}
	}
	if d := cfg.Drift * float64(cfg.Part); d > 0 {
		for f, n := range g.card {
			g.shift[f] = uint64(math.Round(d*float64(n))) % uint64(n)
		}
		th := d * math.Pi / 2
		g.cos, g.sin, g.turned = math.Cos(th), math.Sin(th), true
	}
	g.calibrate()
	g.rng = rand.New(rand.NewPCG(g.streamSeed(), 0xc0ffee))
	g.zipf = make([]*rand.Zipf, genNumCat)
	for f, n := range g.card {
		g.zipf[f] = rand.NewZipf(g.rng, cfg.Zipf, 1, uint64(n-1))
	}
	return g, nil
}

// calibrate sets the bias so that the mean click probability is the
// target CTR, on a sample drawn (missing values included) from an
// independent stream.
func (g *Generator) calibrate() {
	g.rng = rand.New(rand.NewPCG(g.streamSeed(), 0xca1b))
	if g.preset == nil {
		g.zipf = make([]*rand.Zipf, genNumCat)
		for f, n := range g.card {
			g.zipf[f] = rand.NewZipf(g.rng, g.cfg.Zipf, 1, uint64(n-1))
		}
	}
	const n = 20000
	logits := make([]float64, n)
	rec := NewRecord(g.schema)
	for i := range logits {
		logits[i] = g.draw(rec)
	}
	lo, hi := -20.0, 20.0
	for it := 0; it < 60; it++ {
		mid := (lo + hi) / 2
		var p float64
		for _, l := range logits {
			p += 1 / (1 + math.Exp(-(l + mid)))
		}
		if p/n > g.cfg.CTR {
			hi = mid
		} else {
			lo = mid
		}
	}
	g.bias = (lo + hi) / 2
}

// streamSeed seeds the part's random streams: the seed itself for part 0
// (the undrifted generator), a mix of seed and part otherwise.
func (g *Generator) streamSeed() uint64 {
	if g.cfg.Part == 0 {
		return g.cfg.Seed
	}
	return hashing.Mix64(g.cfg.Seed ^ hashing.Mix64(uint64(g.cfg.Part)+0xd1f7))
}

// unit maps a hash to a uniform float in [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

func (g *Generator) valueHash(f int, rank uint64) uint64 {
	return hashing.Mix64(g.cfg.Seed ^ hashing.Mix64(uint64(f)<<40^rank))
}

// valueEffect returns the hidden effect z ≈ N(0, 1) of field f's value of
// this rank and sets its latent factors u ~ U(−½, ½)^4, both derived from a
// hash of (seed, field, rank).
func (g *Generator) valueEffect(f int, rank uint64, u *[genLatent]float64) float64 {
	z := g.effectOf(g.valueHash(f, rank), u)
	if !g.turned {
		return z
	}
	// The part's model: turned toward an independent draw (GenConfig.Drift).
	var w [genLatent]float64
	z2 := g.effectOf(hashing.Mix64(g.valueHash(f, rank)^0x7e57ab1e), &w)
	for k := range u {
		u[k] = g.cos*u[k] + g.sin*w[k]
	}
	return g.cos*z + g.sin*z2
}

// effectOf derives an effect z ≈ N(0, 1) and latent factors u from h.
func (g *Generator) effectOf(h uint64, u *[genLatent]float64) float64 {
	// approximately normal: sum of 4 uniforms, standardised
	h1, h2 := hashing.Mix64(h+1), hashing.Mix64(h+2)
	z := (unit(h1) + unit(h2) + unit(hashing.Mix64(h+3)) + unit(hashing.Mix64(h+4)) - 2) * math.Sqrt(3)
	x := h2
	for k := 0; k < genLatent; k++ {
		x = hashing.Mix64(x + uint64(k) + 5)
		u[k] = unit(x) - 0.5
	}
	return z
}

// putHex prints v as field f's 8 hex digits, like Criteo's hashed ids, in
// the generator's buffer: valid until the next Read.
func (g *Generator) putHex(f int, v uint32) string {
	buf := g.hex[f*genHexSize : (f+1)*genHexSize]
	const digits = "0123456789abcdef"
	for k := genHexSize - 1; k >= 0; k-- {
		buf[k] = digits[v&15]
		v >>= 4
	}
	return unsafe.String(&buf[0], genHexSize)
}

// logit computes the hidden model's logit (without bias) for the current
// ranks and dense values.
func (g *Generator) logit(dense *[genNumDen]int64) float64 {
	var l float64
	var u [genNumCat][genLatent]float64
	for f := 0; f < genNumCat; f++ {
		if !g.present[f] {
			continue
		}
		l += g.sigma[f] * g.valueEffect(f, g.ranks[f], &u[f])
	}
	for f := 0; f < genNumCat; f += 2 {
		p := (f + 5) % genNumCat
		var d float64
		for k := 0; k < genLatent; k++ {
			d += u[f][k] * u[p][k]
		}
		l += 6 * d
	}
	for j := 0; j < genNumDen; j++ {
		if g.beta[j] != 0 && dense[j] >= 0 {
			l += g.beta[j] * (math.Log1p(float64(dense[j])) - g.mu[j])
		}
	}
	return l * g.cfg.Noise
}

func (g *Generator) drawDense(rng *rand.Rand, dense *[genNumDen]int64, valid []bool) {
	for j := range dense {
		v := math.Floor(math.Exp(g.mu[j]+rng.NormFloat64())) - 1
		if j == 1 && rng.Float64() < 0.1 {
			v = -1 // Criteo's I2 has small negative values
		}
		dense[j] = int64(v)
		if valid != nil {
			valid[j] = rng.Float64() >= 0.05*float64(j%4)
		}
	}
}

// Cardinalities returns the per-field vocabulary sizes values are drawn
// from (with a preset: the fitted supports, of which a finite run sees
// fewer).
func (g *Generator) Cardinalities() []int64 { return append([]int64(nil), g.card...) }

// Schema returns the Criteo schema.
func (g *Generator) Schema() *Schema { return g.schema }

// Read generates the next record. Cat strings alias a buffer of the
// generator and are valid until the next Read.
func (g *Generator) Read(rec *Record) error {
	if g.row >= g.cfg.Rows {
		return io.EOF
	}
	g.row++
	p := 1 / (1 + math.Exp(-(g.draw(rec) + g.bias)))
	rec.Label = 0
	if g.rng.Float64() < p {
		rec.Label = 1
	}
	return nil
}

// draw fills rec's features and returns the hidden logit without bias.
func (g *Generator) draw(rec *Record) float64 {
	if g.preset != nil {
		return g.drawPreset(rec)
	}
	var dense [genNumDen]int64
	g.drawDense(g.rng, &dense, rec.DenseValid)
	for j := range dense {
		if rec.DenseValid[j] {
			rec.Dense[j] = dense[j]
		} else {
			rec.Dense[j] = 0
			dense[j] = -1 // a missing value contributes nothing
		}
	}
	for f := 0; f < genNumCat; f++ {
		g.ranks[f] = g.zipf[f].Uint64()
		if g.shift[f] != 0 {
			g.ranks[f] = (g.ranks[f] + g.shift[f]) % uint64(g.card[f]) // the value at this rank in this part
		}
		g.present[f] = g.rng.Float64() >= g.miss[f]
		if !g.present[f] {
			rec.Cat[f] = ""
			continue
		}
		// a bijection of the rank on 32 bits, printed like Criteo's hashes
		v := uint32(g.ranks[f]*2654435761 + uint64(f)*0x9E3779B9)
		rec.Cat[f] = g.putHex(f, v)
	}
	return g.logit(&dense)
}

// Close does nothing.
func (g *Generator) Close() error { return nil }

// AppendCriteoTSV appends rec as one Criteo TSV line (with the newline).
func AppendCriteoTSV(dst []byte, rec *Record) []byte {
	dst = append(dst, '0'+byte(rec.Label))
	for j, v := range rec.Dense {
		dst = append(dst, '\t')
		if rec.DenseValid[j] {
			dst = strconv.AppendInt(dst, v, 10)
		}
	}
	for _, c := range rec.Cat {
		dst = append(dst, '\t')
		dst = append(dst, c...)
	}
	return append(dst, '\n')
}
