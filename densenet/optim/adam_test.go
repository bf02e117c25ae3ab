package optim

import (
	"math"
	"testing"
)

// TestAdamFirstStep checks Adam's first step: every parameter moves by
// about lr against the sign of its gradient, whatever the gradient's
// size, and the split over a runner does not change the result.
func TestAdamFirstStep(t *testing.T) {
	tests := []struct {
		name string
		cfg  AdamConfig
		grad []float32
	}{
		{"defaults", AdamConfig{}, []float32{1, -2, 0.001, -1000}},
		{"lr 0.1", AdamConfig{LR: 0.1}, []float32{3, -0.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := make([]float32, len(tc.grad))
			a, err := NewAdam(tc.cfg, [][]float32{p}, [][]float32{tc.grad})
			if err != nil {
				t.Fatal(err)
			}
			a.Step(nil)
			lr := a.Config().LR
			for i, g := range tc.grad {
				want := -lr * math.Copysign(1, float64(g))
				if math.Abs(float64(p[i])-want) > 1e-4*lr {
					t.Errorf("param %d after one step on gradient %g: %g, want %g", i, g, p[i], want)
				}
			}
			if a.Steps() != 1 {
				t.Errorf("Steps %d, want 1", a.Steps())
			}
		})
	}
}

// halves is a Runner that splits the range in two.
type halves struct{}

func (halves) Run(n, _ int, fn func(lo, hi int)) {
	fn(0, n/2)
	fn(n/2, n)
}

func TestAdamRunnerSplit(t *testing.T) {
	mk := func() ([][]float32, [][]float32) {
		return [][]float32{{1, 2, 3}, {4, 5}}, [][]float32{{0.1, -0.2, 0.3}, {-0.4, 0.5}}
	}
	p1, g1 := mk()
	p2, g2 := mk()
	a1, _ := NewAdam(AdamConfig{}, p1, g1)
	a2, _ := NewAdam(AdamConfig{}, p2, g2)
	for range 3 {
		a1.Step(nil)
		a2.Step(halves{})
	}
	for i := range p1 {
		for j := range p1[i] {
			if p1[i][j] != p2[i][j] {
				t.Errorf("tensor %d[%d]: %g sequential, %g split", i, j, p1[i][j], p2[i][j])
			}
		}
	}
}

func TestAdamErrors(t *testing.T) {
	if _, err := NewAdam(AdamConfig{Beta1: 1}, nil, nil); err == nil {
		t.Error("beta1 = 1 accepted")
	}
	if _, err := NewAdam(AdamConfig{}, [][]float32{{1}}, [][]float32{{1, 2}}); err == nil {
		t.Error("gradient of another shape accepted")
	}
}
