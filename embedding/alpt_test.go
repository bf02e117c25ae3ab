package embedding_test

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/quant"
)

// alptRow returns the scale, bias and decoded values of row i of an ALPT
// store.
func alptRow(r *embedding.Rows, i int) (scale, bias float32, x []float32) {
	d := r.Dim()
	row := r.Int8Data()[i*(d+8) : (i+1)*(d+8)]
	scale = math.Float32frombits(binary.LittleEndian.Uint32(row[d:]))
	bias = math.Float32frombits(binary.LittleEndian.Uint32(row[d+4:]))
	x = make([]float32, d)
	r.ReadRows(i, x)
	return scale, bias, x
}

// onGrid reports whether every value of x is q·step for an integer q in
// [-128, 127] (to float32 rounding of the int8 decode).
func onGrid(x []float32, step float32) bool {
	for _, v := range x {
		q := float64(v) / float64(step)
		if math.Abs(q-math.Round(q)) > 1e-3 || q < -128.001 || q > 127.001 {
			return false
		}
	}
	return true
}

func TestALPTSteps(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	r := must(embedding.NewRowsWithStorage(2, 4, opt, embedding.Storage{Precision: embedding.StorageALPT, Seed: 1}))
	if !r.LearnsScales() || r.Storage().Precision != embedding.StorageALPT {
		t.Fatalf("storage %+v, learns scales %v", r.Storage(), r.LearnsScales())
	}
	x0 := []float32{0.5, -0.25, 0.1, 0, 1, 0, 0, 0}
	r.WriteRows(0, x0)
	step0, bias0, got := alptRow(r, 0)
	if want := float32(0.5 / 127); step0 != want || bias0 != -128*step0 {
		t.Fatalf("written row: step %v bias %v, want %v and -128·step", step0, bias0, want)
	}
	for j, v := range got {
		if math.Abs(float64(v-x0[j])) > float64(step0)/2+1e-7 || !onGrid(got, step0) {
			t.Fatalf("written row %v, want %v on the grid of %v", got, x0[:4], step0)
		}
	}

	// Pass 1: the row reads the nearest grid point of its SGD update.
	g := []float32{1, 1, 1, 1}
	r.Apply([]int32{0}, g)
	w1 := make([]float32, 4)
	for j := range w1 {
		w1[j] = got[j] - 0.1*g[j]
	}
	s, _, mid := alptRow(r, 0)
	if s != step0 || !onGrid(mid, step0) {
		t.Fatalf("after pass 1: step %v (want %v), row %v not on the grid", s, step0, mid)
	}
	for j, v := range mid {
		if math.Abs(float64(v-w1[j])) > float64(step0)/2+1e-6 {
			t.Fatalf("after pass 1: %v, want the nearest grid point of %v", mid, w1)
		}
	}

	// Pass 2: the LSQ gradient of the step, one Adagrad step, stochastic
	// rounding at the new step.
	g2 := []float32{0.3, -0.2, 0.5, 0.1}
	r.ApplyScales([]int32{0}, g2, 1)
	var gs float64
	for j, v := range w1 {
		q := float64(v) / float64(step0)
		sj := math.Floor(q+0.5) - q
		switch {
		case q <= -128:
			sj = -128
		case q >= 127:
			sj = 127
		}
		gs += float64(g2[j]) * sj
	}
	gs /= math.Sqrt(1 * 4 * 127)
	want := float64(step0) - embedding.DefaultALPTScaleLR*gs/(math.Abs(gs)+1e-10)
	s, b, fin := alptRow(r, 0)
	if math.Abs(float64(s)-want) > 1e-9 || b != -128*s {
		t.Fatalf("after pass 2: step %v bias %v, want %v and -128·step", s, b, want)
	}
	if !onGrid(fin, s) {
		t.Fatalf("after pass 2: %v not on the grid of %v", fin, s)
	}
	for j, v := range fin {
		if math.Abs(float64(v-w1[j])) > float64(s)+1e-6 {
			t.Fatalf("after pass 2: %v, want %v within a step", fin, w1)
		}
	}
}

// TestALPTStepGrows checks that a value clipped at the grid's end, whose
// gradient asks for more, makes the step grow.
func TestALPTStepGrows(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.1, ScaleLR: 1e-3}
	r := must(embedding.NewRowsWithStorage(1, 4, opt, embedding.Storage{Precision: embedding.StorageALPT}))
	r.WriteRows(0, []float32{1, 0.5, 0, -0.5})
	step0, _, _ := alptRow(r, 0)
	r.Apply([]int32{0}, []float32{-10, 0, 0, 0}) // 1 -> 2: beyond 127 steps
	if _, _, x := alptRow(r, 0); x[0] > 127*step0*1.0001 {
		t.Fatalf("pass 1 did not clip: %v at step %v", x, step0)
	}
	r.ApplyScales([]int32{0}, []float32{-1, 0, 0, 0}, 1)
	if s, _, _ := alptRow(r, 0); !(s > step0) {
		t.Fatalf("step %v did not grow from %v", s, step0)
	}
}

func TestALPTApplyScalesChecks(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	r := must(embedding.NewRowsWithStorage(4, 2, opt, embedding.Storage{Precision: embedding.StorageALPT}))
	r.InitUniform(0, 4, 0.05, 1, 0)
	r.ApplyScales([]int32{1}, []float32{1, 1}, 1) // nothing held: no-op
	r.Apply([]int32{1, 2}, []float32{1, 1, 1, 1})
	defer func() {
		if recover() == nil {
			t.Fatal("ApplyScales with other rows than its Apply's did not panic")
		}
	}()
	r.ApplyScales([]int32{1, 3}, []float32{1, 1, 1, 1}, 1)
}

// TestALPTFP32Unaffected checks that other storage ignores ApplyScales.
func TestALPTFP32Unaffected(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.SGD, LR: 0.1}
	r := must(embedding.NewRows(2, 2, opt))
	r.Apply([]int32{0}, []float32{1, 1})
	before := append([]float32(nil), r.Params()...)
	r.ApplyScales([]int32{0}, []float32{5, 5}, 1)
	if r.LearnsScales() || before[0] != r.Params()[0] {
		t.Fatal("fp32 rows changed under ApplyScales")
	}
}

// TestALPT4 checks the 4-bit grid: codes in [0, 15] (q+8), float16 steps,
// and rows that EncodedAs("int4") turns into quant.Int4 rows decoding to
// the same values.
func TestALPT4(t *testing.T) {
	opt := embedding.Optimizer{Name: embedding.RowwiseAdagrad, LR: 0.1, ScaleLR: 1e-3}
	r := must(embedding.NewRowsWithStorage(50, 5, opt, embedding.Storage{Precision: embedding.StorageALPT4, Seed: 2}))
	r.InitUniform(0, 50, 0.05, 3, 0)
	for step := range 20 {
		idx := []int32{int32(step % 50), int32((step * 7) % 50), 3}
		g := make([]float32, len(idx)*5)
		for j := range g {
			g[j] = float32(j%3) - 1
		}
		r.Apply(idx, g)
		r.ApplyScales(idx, g, 4)
	}
	if r.EncodedAs("int8") != nil {
		t.Fatal("4-bit rows offered as int8 rows")
	}
	enc := r.EncodedAs("int4")
	c := quant.Int4
	rb := c.RowBytes(5)
	if len(enc) != 50*rb {
		t.Fatalf("%d bytes of int4 rows, want %d", len(enc), 50*rb)
	}
	got, want := make([]float32, 5), make([]float32, 5)
	for i := range 50 {
		row := r.Int8Data()[i*13 : (i+1)*13]
		for _, code := range row[:5] {
			if code > 15 {
				t.Fatalf("row %d: code %d outside the 4-bit grid", i, code)
			}
		}
		scale, bias, _ := alptRow(r, i)
		if quant.FromFloat16(quant.ToFloat16(scale)) != scale || bias != -8*scale {
			t.Fatalf("row %d: step %v is not a float16 or bias %v is not -8·step", i, scale, bias)
		}
		r.ReadRows(i, want)
		if err := c.DecodeRow(got, enc[i*rb:(i+1)*rb]); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("row %d: int4 rows decode to %v, the store reads %v", i, got, want)
		}
	}
}
