package dimsearch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/embtab/embtab/densenet/optim"
)

// AutoDim's defaults.
const (
	// DefaultAutoDimLR is the Adam learning rate of the architecture
	// weights.
	DefaultAutoDimLR = 1e-2
	// DefaultAutoDimTemp is the Gumbel-softmax temperature at the start of
	// the search; it anneals geometrically to DefaultAutoDimMinTemp.
	DefaultAutoDimTemp    = 1.0
	DefaultAutoDimMinTemp = 0.1
)

// Candidates returns AutoDim's candidate dimensions for base dimension
// dim: the powers of two below dim, and dim (2, 4, 8, 16 for 16).
func Candidates(dim int) []int {
	var c []int
	for d := 2; d < dim; d *= 2 {
		c = append(c, d)
	}
	return append(c, dim)
}

// DimMixer is AutoDim's search layer (Zhao et al., WWW'21), with the
// candidates sharing one table: field f's vector e (Dim floats) becomes
// Σ_k p_fk · e[:d_k] (zero past d_k), p_f = softmax((α_f + G)/τ) for
// Gumbel noise G drawn per batch and field, so value j is scaled by
// c_fj = Σ_{k: d_k > j} p_fk. The paper gives each candidate its own
// table and a projection to a common width; sharing the leading values
// (as OptEmbed's supernet does) keeps the search at one table's memory
// and makes the candidates nested. The model trains on training batches
// through it (Forward, Backward) with α fixed, and α trains on validation
// batches (Forward, Update): the bi-level scheme AutoDim takes from DARTS.
// The temperature anneals from DefaultAutoDimTemp to
// DefaultAutoDimMinTemp over the search (SetProgress).
//
// A DimMixer is not safe for concurrent use.
type DimMixer struct {
	fields, dim int
	cands       []int
	alpha       []float32 // fields × candidates
	galpha      []float32
	opt         *optim.Adam
	rng         *rand.Rand
	temp        float64

	p   []float64 // fields × candidates: the batch's softmax
	c   []float32 // fields × dim: the batch's value scales
	raw []float32
	gp  []float64
	gc  []float64 // fields × dim: dL/dc of a validation batch
}

// NewDimMixer returns a mixer over Candidates(dim) with every α at 0
// (uniform choice); lr is α's Adam rate (0: DefaultAutoDimLR).
func NewDimMixer(fields, dim int, lr float64, seed uint64) (*DimMixer, error) {
	if fields < 1 || dim < 2 {
		return nil, fmt.Errorf("autodim: %d fields of dim %d (dim must be >= 2)", fields, dim)
	}
	if lr == 0 {
		lr = DefaultAutoDimLR
	}
	if !(lr > 0) {
		return nil, fmt.Errorf("autodim: lr %g must be > 0", lr)
	}
	cands := Candidates(dim)
	m := &DimMixer{fields: fields, dim: dim, cands: cands, temp: DefaultAutoDimTemp,
		alpha: make([]float32, fields*len(cands)), galpha: make([]float32, fields*len(cands)),
		rng: rand.New(rand.NewPCG(seed, 0x6175746f64696d)),
		p:   make([]float64, fields*len(cands)), c: make([]float32, fields*dim), gp: make([]float64, fields*len(cands)),
		gc: make([]float64, fields*dim)}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: lr}, [][]float32{m.alpha}, [][]float32{m.galpha})
	if err != nil {
		return nil, fmt.Errorf("autodim: %w", err)
	}
	m.opt = opt
	return m, nil
}

// Candidates returns the mixer's candidate dimensions.
func (m *DimMixer) Candidates() []int { return slices.Clone(m.cands) }

// Alpha returns a copy of the architecture weights, field-major.
func (m *DimMixer) Alpha() []float32 { return slices.Clone(m.alpha) }

// SetProgress sets the temperature for a search that is the fraction
// done of the way through (0 to 1): τ = τ₀·(τ_min/τ₀)^done.
func (m *DimMixer) SetProgress(done float64) {
	done = min(max(done, 0), 1)
	m.temp = DefaultAutoDimTemp * math.Pow(DefaultAutoDimMinTemp/DefaultAutoDimTemp, done)
}

// sample draws the batch's choice weights p (with Gumbel noise when
// noisy) and the value scales c.
func (m *DimMixer) sample(noisy bool) {
	K := len(m.cands)
	for f := range m.fields {
		z := m.p[f*K : (f+1)*K]
		hi := math.Inf(-1)
		for k := range z {
			g := 0.0
			if noisy {
				g = -math.Log(-math.Log(m.rng.Float64()*(1-2e-12) + 1e-12))
			}
			z[k] = (float64(m.alpha[f*K+k]) + g) / m.temp
			hi = max(hi, z[k])
		}
		var sum float64
		for k := range z {
			z[k] = math.Exp(z[k] - hi)
			sum += z[k]
		}
		for k := range z {
			z[k] /= sum
		}
		c := m.c[f*m.dim : (f+1)*m.dim]
		for j := range c {
			var s float64
			for k, d := range m.cands {
				if d > j {
					s += z[k]
				}
			}
			c[j] = float32(s)
		}
	}
}

// Forward scales a batch's vectors in place (fresh Gumbel noise) and
// remembers the unscaled ones.
func (m *DimMixer) Forward(emb []float32, batch int) {
	m.sample(true)
	n := batch * m.fields * m.dim
	m.raw = append(m.raw[:0], emb[:n]...)
	for i := range n {
		emb[i] *= m.c[i%len(m.c)]
	}
}

// Backward rewrites dEmb in place into the gradient with respect to the
// unscaled vectors: dEmb ⊙ c.
func (m *DimMixer) Backward(dEmb []float32, batch int) {
	for i := range batch * m.fields * m.dim {
		dEmb[i] *= m.c[i%len(m.c)]
	}
}

// Update takes one Adam step of α on a validation batch, dEmb being the
// validation loss's gradient with respect to Forward's output: dL/dp_k =
// Σ_{j < d_k} dEmb_j·e_j over the batch, through the softmax (÷ τ).
func (m *DimMixer) Update(dEmb []float32, batch int) {
	K, D := len(m.cands), m.dim
	gc := m.gc
	clear(gc)
	for i := range batch * m.fields * D {
		gc[i%len(gc)] += float64(dEmb[i]) * float64(m.raw[i])
	}
	for f := range m.fields {
		p := m.p[f*K : (f+1)*K]
		gp := m.gp[f*K : (f+1)*K]
		var dot float64
		for k, d := range m.cands {
			var s float64
			for j := range d {
				s += gc[f*D+j]
			}
			gp[k] = s
			dot += p[k] * s
		}
		for k := range p {
			m.galpha[f*K+k] = float32(p[k] * (gp[k] - dot) / m.temp)
		}
	}
	m.opt.Step(nil)
}

// Choice returns each field's candidate of largest α (AutoDim's argmax).
func (m *DimMixer) Choice() []int {
	K := len(m.cands)
	dims := make([]int, m.fields)
	for f := range dims {
		best := 0
		for k := 1; k < K; k++ {
			if m.alpha[f*K+k] > m.alpha[f*K+best] {
				best = k
			}
		}
		dims[f] = m.cands[best]
	}
	return dims
}

// FitBudget returns Choice cut to the budget: while the plan over fields
// of the given rows costs more, the field whose next smaller candidate
// gives up the least softmax(α) weight per byte saved steps down (a field
// at the smallest candidate goes to dimension 1 last). The error wraps
// ErrBudget when dimension 1 everywhere does not fit.
func (m *DimMixer) FitBudget(rows []int64, budget int64) ([]int, error) {
	K := len(m.cands)
	dims := m.Choice()
	ones := make([]int, m.fields)
	for f := range ones {
		ones[f] = 1
	}
	if c := Cost(rows, ones); c > budget {
		return nil, fmt.Errorf("autodim: dimension 1 everywhere costs %d bytes, budget %d: %w", c, budget, ErrBudget)
	}
	prob := make([]float64, m.fields*K)
	for f := range m.fields {
		hi := math.Inf(-1)
		for k := range K {
			hi = max(hi, float64(m.alpha[f*K+k]))
		}
		var s float64
		for k := range K {
			prob[f*K+k] = math.Exp(float64(m.alpha[f*K+k]) - hi)
			s += prob[f*K+k]
		}
		for k := range K {
			prob[f*K+k] /= s
		}
	}
	// next is the candidate below d (1 below the smallest).
	next := func(d int) (int, int) {
		k := slices.Index(m.cands, d)
		if k <= 0 {
			return 1, -1
		}
		return m.cands[k-1], k - 1
	}
	for Cost(rows, dims) > budget {
		best, bestScore := -1, math.Inf(1)
		for f, d := range dims {
			if d == 1 {
				continue
			}
			nd, nk := next(d)
			saved := float64(FieldCost(rows[f], d) - FieldCost(rows[f], nd))
			loss := 1.0 // to dimension 1: after every candidate step
			if nk >= 0 {
				loss = prob[f*K+slices.Index(m.cands, d)] - prob[f*K+nk]
			}
			if s := loss / saved; s < bestScore {
				best, bestScore = f, s
			}
		}
		dims[best], _ = next(dims[best])
	}
	return dims, nil
}
