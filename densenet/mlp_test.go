package densenet

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/kernels/gemm"
)

// TestMLPGradient checks MLP.Backward against central differences of
// L = Σ out·c for a fixed random c.
func TestMLPGradient(t *testing.T) {
	tests := []struct {
		name       string
		in         int
		widths     []int
		linearLast bool
	}{
		{"relu-linear", 3, []int{5, 2}, true},
		{"all-relu", 4, []int{3, 3, 2}, false},
		{"one-layer", 2, []int{3}, true},
	}
	ctx := gemm.NewContext(1)
	defer ctx.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMLP(tc.in, tc.widths, tc.linearLast)
			rng := rand.New(rand.NewPCG(1, 2))
			fill := func(n int) []float32 {
				s := make([]float32, n)
				for i := range s {
					s[i] = float32(rng.NormFloat64())*0.5 + 0.1
				}
				return s
			}
			var params, grads [][]float32
			for _, l := range m.Layers {
				params = append(params, fill(l.In*l.Out), fill(l.Out))
				grads = append(grads, make([]float32, l.In*l.Out), make([]float32, l.Out))
			}
			const batch = 4
			out := tc.widths[len(tc.widths)-1]
			x, c := fill(batch*tc.in), fill(batch*out)
			loss := func() float64 {
				var p MLPPass
				y, err := m.Forward(ctx, params, x, batch, &p)
				if err != nil {
					t.Fatal(err)
				}
				var s float64
				for i, v := range y {
					s += float64(v) * float64(c[i])
				}
				return s
			}
			var p MLPPass
			if _, err := m.Forward(ctx, params, x, batch, &p); err != nil {
				t.Fatal(err)
			}
			dx := make([]float32, len(x))
			if err := m.Backward(ctx, params, grads, x, batch, &p, c, dx); err != nil {
				t.Fatal(err)
			}
			check := func(what string, v []float32, g []float32) {
				for i := range v {
					const h = 1e-2
					old := v[i]
					v[i] = old + h
					up := loss()
					v[i] = old - h
					down := loss()
					v[i] = old
					num := (up - down) / (2 * h)
					if math.Abs(num-float64(g[i])) > 2e-2*max(1, math.Abs(num)) {
						t.Errorf("%s[%d]: backward %g, numeric %g", what, i, g[i], num)
					}
				}
			}
			for k := range params {
				check("param", params[k], grads[k])
			}
			check("x", x, dx)
		})
	}
}
