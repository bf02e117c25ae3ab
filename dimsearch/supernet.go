package dimsearch

import (
	"github.com/embtab/embtab/densenet/optim"

	"fmt"
	"math"
	"math/rand/v2"
)

// Supernet defaults (OptEmbed's settings scaled to our batch sizes).
const (
	// DefaultThresholdLR is the Adam learning rate of the thresholds.
	DefaultThresholdLR = 1e-3
	// DefaultPruneReg is α of the regulariser α·Σ_f exp(−t_f).
	DefaultPruneReg = 1e-3
)

// SupernetConfig configures a Supernet.
type SupernetConfig struct {
	// Fields and Dim are the table's shape: batch rows of Fields vectors of
	// Dim floats, as embedding.Table.Lookup writes them.
	Fields, Dim int
	// ThresholdLR is the Adam learning rate of the thresholds and PruneReg
	// the weight α of the regulariser; 0 means the defaults.
	ThresholdLR, PruneReg float64
	// InitThreshold is every threshold's start (0: no row is pruned until
	// the regulariser raises it).
	InitThreshold float32
	// FixedDim disables the dimension sampling (every vector keeps all Dim
	// values): row pruning alone.
	FixedDim bool
	// Seed seeds the dimension sampling.
	Seed uint64
}

// Supernet is OptEmbed's training-time layer between the table lookup and
// the dense net. Forward masks a batch's vectors in place: a (sample,
// field) vector e is zeroed unless ||e||₁ > t_f (row pruning), and kept to
// its first d values, d ~ U{1..Dim} drawn per (sample, field) (the
// supernet's dimension sampling). Backward turns the net's gradient with
// respect to the masked vectors into the gradient with respect to the
// table's rows and steps the thresholds: through the hard step it uses
// the long-tailed straight-through estimator of Dynamic Sparse Training
// (Liu et al. 2020), which OptEmbed adopts: dstep(x)/dx = 2−4|x| for
// |x| ≤ 0.4, 0.4 for |x| ≤ 1, else 0, with x = ||e||₁ − t_f.
//
// A Supernet is not safe for concurrent use: one Forward, then one
// Backward, per training batch.
type Supernet struct {
	cfg SupernetConfig
	t   []float32   // thresholds
	opt *optim.Adam // steps t on g
	g   []float32   // the thresholds' gradient of the step
	rng *rand.Rand

	raw   []float32 // unmasked vectors of the last Forward
	dims  []uint16  // sampled dimension per (sample, field)
	gates []float32 // ||e||₁ − t_f per (sample, field)
	gt    []float64 // threshold gradients of the batch
}

// NewSupernet returns a Supernet with every threshold at InitThreshold.
func NewSupernet(c SupernetConfig) (*Supernet, error) {
	if c.Fields < 1 || c.Dim < 1 || c.Dim > math.MaxUint16 {
		return nil, fmt.Errorf("supernet: %d fields of dim %d", c.Fields, c.Dim)
	}
	if c.ThresholdLR == 0 {
		c.ThresholdLR = DefaultThresholdLR
	}
	if c.PruneReg == 0 {
		c.PruneReg = DefaultPruneReg
	}
	if c.ThresholdLR < 0 || c.PruneReg < 0 {
		return nil, fmt.Errorf("supernet: threshold lr %g and prune reg %g must be >= 0", c.ThresholdLR, c.PruneReg)
	}
	s := &Supernet{cfg: c, t: make([]float32, c.Fields), g: make([]float32, c.Fields),
		gt: make([]float64, c.Fields), rng: rand.New(rand.NewPCG(c.Seed, 0x6f7074656d626564))}
	for f := range s.t {
		s.t[f] = c.InitThreshold
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: c.ThresholdLR}, [][]float32{s.t}, [][]float32{s.g})
	if err != nil {
		return nil, fmt.Errorf("supernet: %w", err)
	}
	s.opt = opt
	return s, nil
}

// Thresholds returns a copy of the per-field thresholds.
func (s *Supernet) Thresholds() []float32 { return append([]float32(nil), s.t...) }

// SetThresholds replaces the thresholds (a restored search).
func (s *Supernet) SetThresholds(t []float32) error {
	if len(t) != len(s.t) {
		return fmt.Errorf("supernet: %d thresholds for %d fields", len(t), len(s.t))
	}
	copy(s.t, t)
	return nil
}

func l1(e []float32) float32 {
	var n float32
	for _, x := range e {
		n += float32(math.Abs(float64(x)))
	}
	return n
}

// Forward masks the batch's vectors in emb (batch·Fields·Dim floats) in
// place, drawing a dimension for every (sample, field), and remembers what
// Backward needs.
func (s *Supernet) Forward(emb []float32, batch int) {
	F, D := s.cfg.Fields, s.cfg.Dim
	n := batch * F
	s.raw = append(s.raw[:0], emb[:n*D]...)
	if cap(s.dims) < n {
		s.dims, s.gates = make([]uint16, n), make([]float32, n)
	}
	s.dims, s.gates = s.dims[:n], s.gates[:n]
	for i := range n {
		f := i % F
		e := emb[i*D : (i+1)*D]
		x := l1(e) - s.t[f]
		s.gates[i] = x
		d := D
		if !s.cfg.FixedDim {
			d = 1 + s.rng.IntN(D)
		}
		s.dims[i] = uint16(d)
		if x <= 0 {
			clear(e)
			continue
		}
		clear(e[d:])
	}
}

// lte is the long-tailed straight-through derivative of the unit step.
func lte(x float32) float32 {
	switch a := float32(math.Abs(float64(x))); {
	case a <= 0.4:
		return 2 - 4*a
	case a <= 1:
		return 0.4
	}
	return 0
}

// Backward rewrites dEmb (the loss gradient with respect to Forward's
// output) in place into the gradient with respect to the table's rows,
// and takes one Adam step of the thresholds on the batch's gradient plus
// the regulariser's. The loss is the batch mean, as the nets compute it.
func (s *Supernet) Backward(dEmb []float32, batch int) {
	F, D := s.cfg.Fields, s.cfg.Dim
	if batch*F != len(s.dims) || len(dEmb) < batch*F*D {
		panic(fmt.Sprintf("dimsearch: Backward of %d rows (%d gradients) after a Forward of %d vectors", batch, len(dEmb), len(s.dims)))
	}
	clear(s.gt)
	for i := range batch * F {
		f := i % F
		g := dEmb[i*D : (i+1)*D]
		e := s.raw[i*D : (i+1)*D]
		d := int(s.dims[i])
		// dL/dmask = <g[:d], e[:d]>.
		var gm float32
		for j := range d {
			gm += g[j] * e[j]
		}
		kept := s.gates[i] > 0
		for j := d; j < D; j++ {
			g[j] = 0
		}
		if !kept {
			clear(g[:d])
		}
		ste := gm * lte(s.gates[i])
		if ste == 0 {
			continue
		}
		// Through ||e||₁: d||e||₁/de_j = sign(e_j).
		for j, x := range e {
			switch {
			case x > 0:
				g[j] += ste
			case x < 0:
				g[j] -= ste
			}
		}
		s.gt[f] -= float64(ste)
	}
	s.adam()
}

// adam steps the thresholds on s.gt plus the regulariser's gradient
// −α·exp(−t_f).
func (s *Supernet) adam() {
	for f := range s.t {
		s.g[f] = float32(s.gt[f] - s.cfg.PruneReg*math.Exp(-float64(s.t[f])))
	}
	s.opt.Step(nil)
}

// Mask applies a candidate to a batch for evaluation, in place: a vector
// is zeroed when its row is pruned (||e||₁ ≤ t_f) and cut to its field's
// dims[f] values otherwise.
func (s *Supernet) Mask(emb []float32, batch int, dims []int) {
	F, D := s.cfg.Fields, s.cfg.Dim
	for i := range batch * F {
		f := i % F
		e := emb[i*D : (i+1)*D]
		if l1(e) <= s.t[f] {
			clear(e)
			continue
		}
		clear(e[dims[f]:])
	}
}

// Kept reports whether a row (Dim floats) of field f survives pruning.
func (s *Supernet) Kept(f int, row []float32) bool { return l1(row) > s.t[f] }
