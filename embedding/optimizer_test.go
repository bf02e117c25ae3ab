package embedding_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/embedding"
)

// refOptimizer is a float64 scalar reference of the optimizers' documented
// formulas, one row at a time.
type refOptimizer struct {
	o        embedding.Optimizer // with defaults
	w        [][]float64
	acc      []float64   // rowwise_adagrad
	accE     [][]float64 // adagrad
	m, v     [][]float64 // lazy_adam
	stepsRow []int       // lazy_adam
}

func newRef(o embedding.Optimizer, w [][]float64) *refOptimizer {
	r := &refOptimizer{o: o, w: w, acc: make([]float64, len(w)), stepsRow: make([]int, len(w))}
	for range w {
		r.accE = append(r.accE, make([]float64, len(w[0])))
		r.m = append(r.m, make([]float64, len(w[0])))
		r.v = append(r.v, make([]float64, len(w[0])))
	}
	return r
}

// apply sums the gradients of each row, then updates each touched row.
func (r *refOptimizer) apply(idx []int32, grads []float32) {
	d := len(r.w[0])
	sum := map[int32][]float64{}
	for i, row := range idx {
		if sum[row] == nil {
			sum[row] = make([]float64, d)
		}
		for j := range d {
			sum[row][j] += float64(grads[i*d+j])
		}
	}
	lr, eps := float64(r.o.LR), float64(r.o.Eps)
	b1, b2 := float64(r.o.Beta1), float64(r.o.Beta2)
	for row, g := range sum {
		w := r.w[row]
		switch r.o.Name {
		case embedding.SGD:
			for j := range w {
				w[j] -= lr * g[j]
			}
		case embedding.RowwiseAdagrad:
			var s float64
			for _, x := range g {
				s += x * x
			}
			r.acc[row] += s / float64(d)
			for j := range w {
				w[j] -= lr * g[j] / (math.Sqrt(r.acc[row]) + eps)
			}
		case embedding.Adagrad:
			for j := range w {
				r.accE[row][j] += g[j] * g[j]
				w[j] -= lr * g[j] / (math.Sqrt(r.accE[row][j]) + eps)
			}
		case embedding.LazyAdam:
			r.stepsRow[row]++
			t := float64(r.stepsRow[row])
			lrt := lr * math.Sqrt(1-math.Pow(b2, t)) / (1 - math.Pow(b1, t))
			for j := range w {
				r.m[row][j] = b1*r.m[row][j] + (1-b1)*g[j]
				r.v[row][j] = b2*r.v[row][j] + (1-b2)*g[j]*g[j]
				w[j] -= lrt * r.m[row][j] / (math.Sqrt(r.v[row][j]) + eps)
			}
		}
	}
}

func TestOptimizersMatchScalarReference(t *testing.T) {
	cases := []embedding.Optimizer{
		{Name: embedding.SGD, LR: 0.1},
		{Name: embedding.RowwiseAdagrad, LR: 0.05},
		{Name: embedding.RowwiseAdagrad, LR: 0.05, Eps: 0.5},
		{Name: embedding.Adagrad, LR: 0.05},
		{Name: embedding.Adagrad, LR: 0.05, Eps: 0.5},
		{Name: embedding.LazyAdam, LR: 0.01},
		{Name: embedding.LazyAdam, LR: 0.01, Eps: 0.5, Beta1: 0.5, Beta2: 0.9},
	}
	const rows, dim = 5, 4
	for _, o := range cases {
		t.Run(fmt.Sprintf("%s/eps=%g", o.Name, o.Eps), func(t *testing.T) {
			r, err := embedding.NewRows(rows, dim, o)
			if err != nil {
				t.Fatal(err)
			}
			r.InitUniform(0, rows, 0.5, 1, 0)
			w := make([][]float64, rows)
			for i := range w {
				for _, x := range r.Row(i) {
					w[i] = append(w[i], float64(x))
				}
			}
			ref := newRef(r.Optimizer(), w)
			rng := rand.New(rand.NewPCG(2, 3))
			for step := range 30 {
				// Rows 0..2 only, with duplicates; rows 3 and 4 join late.
				n := 1 + rng.IntN(6)
				idx := make([]int32, n)
				for i := range idx {
					idx[i] = int32(rng.IntN(3))
					if step > 20 {
						idx[i] = int32(rng.IntN(rows))
					}
				}
				grads := make([]float32, n*dim)
				for i := range grads {
					grads[i] = float32(rng.NormFloat64())
				}
				r.Apply(idx, grads)
				ref.apply(idx, grads)
			}
			for i := range rows {
				for j, x := range r.Row(i) {
					want := ref.w[i][j]
					if math.Abs(float64(x)-want) > 1e-5*math.Max(1, math.Abs(want)) {
						t.Errorf("row %d [%d] = %v, reference %v", i, j, x, want)
					}
				}
			}
		})
	}
}

// TestAdagradFirstStep pins the first update on exact numbers: with a zero
// accumulator, Adagrad moves each element by lr*g/(|g|+eps).
func TestAdagradFirstStep(t *testing.T) {
	r, err := embedding.NewRows(1, 2, embedding.Optimizer{Name: embedding.Adagrad, LR: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	r.Apply([]int32{0, 0}, []float32{1, -2, 1, 0}) // summed: (2, -2)
	got := r.Row(0)
	if math.Abs(float64(got[0])+0.5) > 1e-6 || math.Abs(float64(got[1])-0.5) > 1e-6 {
		t.Fatalf("row after one step = %v, want [-0.5 0.5]", got)
	}
}

func TestOptimizerDefaults(t *testing.T) {
	cases := []struct {
		in   embedding.Optimizer
		want embedding.Optimizer
	}{
		{embedding.Optimizer{Name: "sgd", LR: 1}, embedding.Optimizer{Name: "sgd", LR: 1}},
		{embedding.Optimizer{Name: "rowwise_adagrad", LR: 1}, embedding.Optimizer{Name: "rowwise_adagrad", LR: 1, Eps: 1e-8}},
		{embedding.Optimizer{Name: "adagrad", LR: 1}, embedding.Optimizer{Name: "adagrad", LR: 1, Eps: 1e-10}},
		{embedding.Optimizer{Name: "lazy_adam", LR: 1}, embedding.Optimizer{Name: "lazy_adam", LR: 1, Eps: 1e-7, Beta1: 0.9, Beta2: 0.999}},
	}
	for _, c := range cases {
		got, err := c.in.WithDefaults()
		if err != nil || got != c.want {
			t.Errorf("%+v.WithDefaults() = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []struct {
		o    embedding.Optimizer
		want error
	}{
		{embedding.Optimizer{Name: "adam", LR: 1}, embedding.ErrUnknownOptimizer},
		{embedding.Optimizer{LR: 1}, embedding.ErrUnknownOptimizer},
		{embedding.Optimizer{Name: "sgd"}, embedding.ErrConfig},
		{embedding.Optimizer{Name: "sgd", LR: -1}, embedding.ErrConfig},
		{embedding.Optimizer{Name: "sgd", LR: float32(math.Inf(1))}, embedding.ErrConfig},
		{embedding.Optimizer{Name: "sgd", LR: float32(math.NaN())}, embedding.ErrConfig},
		{embedding.Optimizer{Name: "adagrad", LR: 1, Eps: -1}, embedding.ErrConfig},
		{embedding.Optimizer{Name: "adagrad", LR: 1, Beta1: 0.9}, embedding.ErrConfig},
		{embedding.Optimizer{Name: "lazy_adam", LR: 1, Beta2: 1}, embedding.ErrConfig},
	}
	for _, c := range bad {
		if _, err := c.o.WithDefaults(); !errors.Is(err, c.want) {
			t.Errorf("%+v.WithDefaults() error = %v, want %v", c.o, err, c.want)
		}
	}
	if got := embedding.OptimizerNames(); len(got) != 4 {
		t.Errorf("OptimizerNames() = %v", got)
	}
}

func TestOptimizerStateBytes(t *testing.T) {
	const rows, dim = 10, 16
	for _, c := range []struct {
		name string
		want int64
	}{{"sgd", 0}, {"rowwise_adagrad", rows * 4}, {"adagrad", rows * dim * 4}, {"lazy_adam", rows * (2*dim*4 + 4)}} {
		o := embedding.Optimizer{Name: c.name, LR: 1}
		if got := o.StateBytes(rows, dim); got != c.want {
			t.Errorf("%s: StateBytes = %d, want %d", c.name, got, c.want)
		}
		r, err := embedding.NewRows(rows, dim, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Bytes(); got.Optimizer != c.want || got.Params != rows*dim*4 {
			t.Errorf("%s: Rows.Bytes = %+v, want optimizer %d", c.name, got, c.want)
		}
	}
}
