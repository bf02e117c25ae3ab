package dimsearch

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestCandidates(t *testing.T) {
	for _, tc := range []struct {
		dim  int
		want []int
	}{{2, []int{2}}, {10, []int{2, 4, 8, 10}}, {16, []int{2, 4, 8, 16}}, {64, []int{2, 4, 8, 16, 32, 64}}} {
		if got := Candidates(tc.dim); !slices.Equal(got, tc.want) {
			t.Errorf("Candidates(%d) = %v, want %v", tc.dim, got, tc.want)
		}
	}
}

// mixLoss is the loss Σ w·Forward(e) of one batch at the mixer's current
// softmax (no noise), for the gradient check.
func mixLoss(m *DimMixer, e, w []float32, batch int) float64 {
	m.sample(false)
	var s float64
	for i := range batch * m.fields * m.dim {
		s += float64(w[i]) * float64(e[i]) * float64(m.c[i%len(m.c)])
	}
	return s
}

// TestDimMixerGradient checks Update's α gradient against finite
// differences of a linear loss, and Backward's against the scales.
func TestDimMixerGradient(t *testing.T) {
	const F, D, B = 3, 8, 4
	m, err := NewDimMixer(F, D, 1e-2, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.alpha {
		m.alpha[i] = float32(i%5)*0.3 - 0.5
	}
	m.temp = 0.7
	e, w := make([]float32, B*F*D), make([]float32, B*F*D)
	for i := range e {
		e[i] = float32(math.Sin(float64(i)))
		w[i] = float32(math.Cos(float64(3 * i)))
	}
	// Analytic: the gradient Update computes (galpha); its Adam step on α
	// is undone before the finite differences.
	m.sample(false)
	m.raw = append(m.raw[:0], e...)
	grad := slices.Clone(w)
	K := len(m.cands)
	alpha := slices.Clone(m.alpha)
	m.Update(grad, B)
	got := slices.Clone(m.galpha)
	copy(m.alpha, alpha)
	for k := range m.alpha {
		const h = 1e-3
		m.alpha[k] = alpha[k] + h
		up := mixLoss(m, e, w, B)
		m.alpha[k] = alpha[k] - h
		down := mixLoss(m, e, w, B)
		m.alpha[k] = alpha[k]
		num := (up - down) / (2 * h)
		if math.Abs(num-float64(got[k])) > 1e-3*(1+math.Abs(num)) {
			t.Fatalf("dL/dα[%d] (field %d, candidate %d) = %v, finite differences %v", k, k/K, m.cands[k%K], got[k], num)
		}
	}
	// Backward scales by c.
	m.sample(false)
	g := slices.Clone(w)
	m.Backward(g, B)
	for i := range g {
		if g[i] != w[i]*m.c[i%len(m.c)] {
			t.Fatalf("Backward[%d] = %v, want %v", i, g[i], w[i]*m.c[i%len(m.c)])
		}
	}
}

func TestDimMixerChoiceAndBudget(t *testing.T) {
	m, err := NewDimMixer(3, 16, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Field 0 prefers 16, field 1 prefers 4, field 2 prefers 8 (weakly).
	copy(m.alpha, []float32{0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0.1, 0})
	if got := m.Choice(); !slices.Equal(got, []int{16, 4, 8}) {
		t.Fatalf("Choice = %v", got)
	}
	rows := []int64{1000, 1000, 1000}
	if got, err := m.FitBudget(rows, Cost(rows, []int{16, 4, 8})); err != nil || !slices.Equal(got, []int{16, 4, 8}) {
		t.Fatalf("FitBudget at the choice's cost = %v, %v", got, err)
	}
	// One step down: field 2's 8 -> 4 gives up the least weight.
	got, err := m.FitBudget(rows, Cost(rows, []int{16, 4, 8})-1)
	if err != nil || !slices.Equal(got, []int{16, 4, 4}) {
		t.Fatalf("FitBudget one byte under = %v, %v", got, err)
	}
	if _, err := m.FitBudget(rows, Cost(rows, []int{1, 1, 1})-1); !errors.Is(err, ErrBudget) {
		t.Fatalf("FitBudget below dimension 1: %v", err)
	}
	if got, err := m.FitBudget(rows, Cost(rows, []int{1, 1, 1})); err != nil || !slices.Equal(got, []int{1, 1, 1}) {
		t.Fatalf("FitBudget at dimension 1 = %v, %v", got, err)
	}
}

// TestDimMixerLearns trains α on a gradient that rewards the first 2
// values of field 0 and all 8 of field 1 and penalises field 0's others:
// the argmax must become 2 for field 0 and 8 for field 1.
func TestDimMixerLearns(t *testing.T) {
	const F, D, B = 2, 8, 64
	m, err := NewDimMixer(F, D, 5e-2, 3)
	if err != nil {
		t.Fatal(err)
	}
	e := make([]float32, B*F*D)
	for i := range e {
		e[i] = 1
	}
	// Loss -Σ useful values: the gradient rewards keeping field 1's
	// values and field 0's first two; field 0's others cost.
	grad := make([]float32, B*F*D)
	for i := range grad {
		f, j := (i/D)%F, i%D
		switch {
		case f == 1 || j < 2:
			grad[i] = -1
		default:
			grad[i] = 1
		}
	}
	for range 300 {
		x := slices.Clone(e)
		m.Forward(x, B)
		m.Update(slices.Clone(grad), B)
	}
	if got := m.Choice(); !slices.Equal(got, []int{2, 8}) {
		t.Fatalf("Choice = %v, want [2 8] (alpha %v)", got, m.Alpha())
	}
}
