package dimsearch

import (
	"github.com/embtab/embtab/densenet/optim"

	"fmt"
	"math"
	"sort"
)

// DefaultSelectLR is the Adam learning rate of DNIS's selection weights.
const DefaultSelectLR = 1e-2

// SoftSelect is DNIS's soft selection layer: a weight w[f][j] per field f
// and dimension j that scales the j-th value of every field-f vector. The
// model trains on training batches through it (Forward, then Backward
// for the table's gradient; the weights stay fixed), and the weights
// train on validation batches (Forward, then Update with the gradient of
// the validation loss): the bi-level scheme of DNIS, alternating
// validation and training steps (the trainer's SelectEvery sets the
// ratio; default one validation step per training step).
//
// PruneByWeight then ranks the dimensions by |w[f][j]| (Importance), as
// DNIS does.
type SoftSelect struct {
	fields, dim int
	l1          float64
	w           []float32
	opt         *optim.Adam // steps w on gw
	gw          []float32
	raw         []float32
	g           []float64
}

// NewSoftSelect returns a layer with every weight 1; lr is the weights'
// Adam learning rate (0: DefaultSelectLR) and l1 an optional L1 penalty
// on them.
func NewSoftSelect(fields, dim int, lr, l1 float64) (*SoftSelect, error) {
	if fields < 1 || dim < 1 {
		return nil, fmt.Errorf("soft selection: %d fields of dim %d", fields, dim)
	}
	if lr == 0 {
		lr = DefaultSelectLR
	}
	if lr < 0 || l1 < 0 {
		return nil, fmt.Errorf("soft selection: lr %g and l1 %g must be >= 0", lr, l1)
	}
	n := fields * dim
	s := &SoftSelect{fields: fields, dim: dim, l1: l1, w: make([]float32, n),
		gw: make([]float32, n), g: make([]float64, n)}
	for i := range s.w {
		s.w[i] = 1
	}
	opt, err := optim.NewAdam(optim.AdamConfig{LR: lr}, [][]float32{s.w}, [][]float32{s.gw})
	if err != nil {
		return nil, fmt.Errorf("soft selection: %w", err)
	}
	s.opt = opt
	return s, nil
}

// Weights returns a copy of the weights, field-major (w[f*dim+j]).
func (s *SoftSelect) Weights() []float32 { return append([]float32(nil), s.w...) }

// Forward scales a batch's vectors in place and remembers the unscaled
// ones for Update.
func (s *SoftSelect) Forward(emb []float32, batch int) {
	n := batch * s.fields * s.dim
	s.raw = append(s.raw[:0], emb[:n]...)
	w := s.w
	for i := range n {
		emb[i] *= w[i%len(w)]
	}
}

// Backward rewrites dEmb in place into the gradient with respect to the
// unscaled vectors (the table's rows): dEmb ⊙ w.
func (s *SoftSelect) Backward(dEmb []float32, batch int) {
	w := s.w
	for i := range batch * s.fields * s.dim {
		dEmb[i] *= w[i%len(w)]
	}
}

// Update takes one Adam step of the weights on a validation batch:
// dEmb is the validation loss's gradient with respect to Forward's
// output.
func (s *SoftSelect) Update(dEmb []float32, batch int) {
	clear(s.g)
	nw := len(s.w)
	for i := range batch * nw {
		k := i % nw
		s.g[k] += float64(dEmb[i]) * float64(s.raw[i])
	}
	for k := range s.w {
		g := s.g[k]
		if s.l1 > 0 {
			switch {
			case s.w[k] > 0:
				g += s.l1
			case s.w[k] < 0:
				g -= s.l1
			}
		}
		s.gw[k] = float32(g)
	}
	s.opt.Step(nil)
}

// Importance returns |w[f][j]| for every (field, dimension),
// field-major: DNIS's ranking of the dimensions. (Weighting it by the
// mean |e[f][j]| of the hold-out vectors was measured in the sweep of
// experiments/results: about the same mean gain over uniform dimensions,
// but losses of 0.008 AUC on MovieLens at 2x and 4x where |w| has none
// beyond 0.002.)
func (s *SoftSelect) Importance() []float64 {
	out := make([]float64, len(s.w))
	for k, w := range s.w {
		out[k] = math.Abs(float64(w))
	}
	return out
}

// PruneByWeight keeps, per field, the dimensions of highest importance
// (field-major: importance[f*dim+j]) until the full table of the given
// rows (distinct values per field; each field also keeps an OOV row)
// fits the budget: it drops (field, dimension) pairs in ascending order
// of the given importance, never a field's last one, and returns the kept
// count of each field. Like DNIS's magnitude pruning it ignores how many
// rows (bytes) a dimension of the field costs.
func PruneByWeight(importance []float64, rows []int64, dim int, budget int64) ([]int, error) {
	F := len(rows)
	if len(importance) != F*dim {
		return nil, fmt.Errorf("prune: %d importances for %d fields of dim %d", len(importance), F, dim)
	}
	dims := make([]int, F)
	for f := range dims {
		dims[f] = dim
	}
	ones := make([]int, F)
	for f := range ones {
		ones[f] = 1
	}
	if Cost(rows, ones) > budget {
		return nil, fmt.Errorf("prune: dimension 1 everywhere costs %d bytes, budget %d: %w", Cost(rows, ones), budget, ErrBudget)
	}
	order := make([]int, len(importance))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return importance[order[a]] < importance[order[b]] })
	cost := Cost(rows, dims)
	for _, k := range order {
		if cost <= budget {
			break
		}
		f := k / dim
		if dims[f] == 1 {
			continue
		}
		dims[f]--
		cost -= (rows[f] + 1) * 4
	}
	return dims, nil
}
