package quant_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/embtab/embtab/quant"
	"github.com/embtab/embtab/quant/quanttest"
)

var builtins = []quant.Codec{quant.FP32, quant.FP16, quant.Int8, quant.Int4}

// params returns rows·dim values like a trained embedding table.
func params(rows, dim int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := make([]float32, rows*dim)
	for i := range p {
		p[i] = float32(rng.NormFloat64() * 0.05)
	}
	return p
}

func TestRegistry(t *testing.T) {
	if got := quant.Codecs(); len(got) != 4 || got[0] != "fp16" || got[3] != "int8" {
		t.Errorf("Codecs() = %v", got)
	}
	for _, c := range builtins {
		got, err := quant.Lookup(c.Name())
		if err != nil || got != c {
			t.Errorf("Lookup(%q) = %v, %v", c.Name(), got, err)
		}
	}
	if _, err := quant.Lookup("int3"); !errors.Is(err, quant.ErrUnknownCodec) {
		t.Errorf("Lookup(int3) = %v, want ErrUnknownCodec", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering int8 twice did not panic")
		}
	}()
	quant.Register(quant.Int8)
}

func TestQuantize(t *testing.T) {
	const rows, dim = 3000, 13
	p := params(rows, dim, 1)
	for _, c := range builtins {
		t.Run(c.Name(), func(t *testing.T) {
			tab, st, err := quant.Quantize(p, rows, dim, c)
			if err != nil {
				t.Fatal(err)
			}
			if tab.Len() != rows || tab.Dim() != dim || tab.Stride() != c.RowBytes(dim) || tab.RowBytes() != c.RowBytes(dim) {
				t.Fatalf("table %d x %d stride %d", tab.Len(), tab.Dim(), tab.Stride())
			}
			if tab.Bytes() != int64(rows*c.RowBytes(dim)) || tab.Codec() != c {
				t.Fatalf("Bytes() = %d", tab.Bytes())
			}
			// Stats against a direct computation.
			var maxErr, sum, sumX float64
			got := make([]float32, dim)
			for i := range rows {
				want := make([]byte, c.RowBytes(dim))
				if err := c.EncodeRow(want, p[i*dim:(i+1)*dim]); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(tab.Row(i), want) {
					t.Fatalf("row %d differs from EncodeRow", i)
				}
				if err := tab.DecodeRow(i, got); err != nil {
					t.Fatal(err)
				}
				for j, v := range got {
					x := float64(p[i*dim+j])
					e := math.Abs(float64(v) - x)
					maxErr = max(maxErr, e)
					sum += e * e
					sumX += x * x
				}
			}
			want := quant.Stats{MaxAbsErr: maxErr, RMSE: math.Sqrt(sum / (rows * dim)), RelErr: math.Sqrt(sum / sumX)}
			if !close(st.MaxAbsErr, want.MaxAbsErr) || !close(st.RMSE, want.RMSE) || !close(st.RelErr, want.RelErr) {
				t.Fatalf("stats %+v, want %+v", st, want)
			}
			if c == quant.FP32 && st != (quant.Stats{}) {
				t.Fatalf("fp32 stats %+v, want zero", st)
			}
			t.Logf("%s: %+v", c.Name(), st)
		})
	}
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// The codecs' errors on N(0, 0.05) rows stay within their documented
// bounds; relative errors are what the PTQ literature reports.
func TestQuantizeErrorLevels(t *testing.T) {
	const rows, dim = 2000, 64
	p := params(rows, dim, 2)
	for _, c := range []struct {
		codec  quant.Codec
		maxRel float64
	}{{quant.FP16, 5e-4}, {quant.Int8, 0.02}, {quant.Int4, 0.3}} {
		_, st, err := quant.Quantize(p, rows, dim, c.codec)
		if err != nil {
			t.Fatal(err)
		}
		if st.RelErr <= 0 || st.RelErr > c.maxRel {
			t.Errorf("%s: relative error %g, want in (0, %g]", c.codec.Name(), st.RelErr, c.maxRel)
		}
	}
}

func TestQuantizeThreadsAndAlign(t *testing.T) {
	const rows, dim = 5000, 17
	p := params(rows, dim, 3)
	one, st1, err := quant.QuantizeWith(p, rows, dim, quant.Int4, quant.Options{Threads: 1, Align: 16})
	if err != nil {
		t.Fatal(err)
	}
	many, st4, err := quant.QuantizeWith(p, rows, dim, quant.Int4, quant.Options{Threads: 4, Align: 16})
	if err != nil {
		t.Fatal(err)
	}
	if st1 != st4 || !bytes.Equal(one.Data(), many.Data()) {
		t.Fatalf("threads change the result: %+v vs %+v", st1, st4)
	}
	if one.Stride() != 16 || one.RowBytes() != 13 {
		t.Fatalf("stride %d row bytes %d, want 16 and 13", one.Stride(), one.RowBytes())
	}
	for i := range rows {
		if pad := one.Data()[i*16+13 : i*16+16]; !bytes.Equal(pad, []byte{0, 0, 0}) {
			t.Fatalf("row %d padding %v", i, pad)
		}
	}
	for _, align := range []int{3, -2, 8192} {
		if _, _, err := quant.QuantizeWith(p, rows, dim, quant.Int8, quant.Options{Align: align}); !errors.Is(err, quant.ErrShape) {
			t.Errorf("align %d: %v, want ErrShape", align, err)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	p := params(10, 4, 4)
	for _, c := range []struct {
		name      string
		p         []float32
		rows, dim int
		codec     quant.Codec
		want      error
	}{
		{"nil codec", p, 10, 4, nil, quant.ErrUnknownCodec},
		{"short", p[:39], 10, 4, quant.Int8, quant.ErrShape},
		{"long", p, 9, 4, quant.Int8, quant.ErrShape},
		{"zero dim", nil, 10, 0, quant.Int8, quant.ErrShape},
		{"zero rows", nil, 0, 4, quant.Int8, quant.ErrShape},
	} {
		if _, _, err := quant.Quantize(c.p, c.rows, c.dim, c.codec); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, c := range builtins {
		bad := append([]float32(nil), p...)
		bad[7*4+2] = float32(math.NaN())
		_, _, err := quant.Quantize(bad, 10, 4, c)
		if !errors.Is(err, quant.ErrRange) {
			t.Errorf("%s with NaN: %v, want ErrRange", c.Name(), err)
		}
		bad[7*4+2] = 1e6
		_, _, err = quant.Quantize(bad, 10, 4, c)
		if c == quant.FP16 || c == quant.Int4 {
			if !errors.Is(err, quant.ErrRange) {
				t.Errorf("%s with 1e6: %v, want ErrRange", c.Name(), err)
			}
		} else if err != nil {
			t.Errorf("%s with 1e6: %v", c.Name(), err)
		}
	}
}

func TestNewTable(t *testing.T) {
	src, _, err := quant.QuantizeWith(params(7, 5, 5), 7, 5, quant.Int8, quant.Options{Align: 16})
	if err != nil {
		t.Fatal(err)
	}
	data := append(src.Data(), 1, 2, 3) // a footer the table must not expose
	tab, err := quant.NewTable(quant.Int8, 7, 5, 16, data)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Bytes() != 7*16 {
		t.Errorf("Bytes() = %d, want %d", tab.Bytes(), 7*16)
	}
	// The last row need not be padded.
	if _, err := quant.NewTable(quant.Int8, 7, 5, 16, data[:6*16+13]); err != nil {
		t.Errorf("unpadded last row: %v", err)
	}
	for _, c := range []struct {
		name              string
		codec             quant.Codec
		rows, dim, stride int
		n                 int
		want              error
	}{
		{"nil codec", nil, 7, 5, 16, 112, quant.ErrUnknownCodec},
		{"short", quant.Int8, 7, 5, 16, 6*16 + 12, quant.ErrShape},
		{"stride", quant.Int8, 7, 5, 12, 112, quant.ErrShape},
		{"rows", quant.Int8, 0, 5, 16, 112, quant.ErrShape},
		{"dim", quant.Int8, 7, 0, 16, 112, quant.ErrShape},
		{"empty", quant.Int8, 1, 5, 16, 0, quant.ErrShape},
	} {
		if _, err := quant.NewTable(c.codec, c.rows, c.dim, c.stride, data[:c.n]); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestGatherRows(t *testing.T) {
	const rows, dim = 100, 9
	for _, c := range builtins {
		tab, _, err := quant.Quantize(params(rows, dim, 6), rows, dim, c)
		if err != nil {
			t.Fatal(err)
		}
		idx := []int32{5, 99, 0, 5, 42}
		out := make([]float32, len(idx)*dim)
		if err := tab.GatherRows(idx, out); err != nil {
			t.Fatal(err)
		}
		row := make([]float32, dim)
		for k, r := range idx {
			if err := tab.DecodeRow(int(r), row); err != nil {
				t.Fatal(err)
			}
			for j := range row {
				if out[k*dim+j] != row[j] {
					t.Fatalf("%s: out[%d][%d] = %v, want %v", c.Name(), k, j, out[k*dim+j], row[j])
				}
			}
		}
		if n := testing.AllocsPerRun(10, func() { _ = tab.GatherRows(idx, out) }); n != 0 {
			t.Errorf("%s: GatherRows allocates %v times", c.Name(), n)
		}
		if err := tab.GatherRows([]int32{1, 100}, make([]float32, 2*dim)); !errors.Is(err, quant.ErrIndex) {
			t.Errorf("index 100: %v, want ErrIndex", err)
		}
		if err := tab.GatherRows([]int32{-1}, make([]float32, dim)); !errors.Is(err, quant.ErrIndex) {
			t.Errorf("index -1: %v, want ErrIndex", err)
		}
		if err := tab.GatherRows([]int32{1}, make([]float32, dim+1)); !errors.Is(err, quant.ErrShape) {
			t.Errorf("long out: %v, want ErrShape", err)
		}
		if err := tab.SetRow(rows, row); !errors.Is(err, quant.ErrIndex) {
			t.Errorf("SetRow(%d): %v, want ErrIndex", rows, err)
		}
		if err := tab.SetRow(0, row[:dim-1]); !errors.Is(err, quant.ErrShape) {
			t.Errorf("SetRow short: %v, want ErrShape", err)
		}
		if err := tab.DecodeRow(0, row[:dim-1]); !errors.Is(err, quant.ErrShape) {
			t.Errorf("DecodeRow short: %v, want ErrShape", err)
		}
	}
}

// A training table stored in int8 re-encodes rows stochastically after each
// update; small updates then survive on average instead of rounding away.
func TestStochasticTraining(t *testing.T) {
	const dim, steps, lr = 64, 4000, 1e-5
	row := quanttest.Rows(1, dim, 1)[0]
	row[0], row[1] = -1, 1 // fix the range: scale 2/255, updates stay inside
	sr := make([]byte, quant.Int8.RowBytes(dim))
	if err := quant.Int8.EncodeRow(sr, row); err != nil {
		t.Fatal(err)
	}
	rn := append([]byte(nil), sr...)
	start := make([]float32, dim)
	_ = quant.Int8.DecodeRow(start, sr)
	rng := rand.NewPCG(9, 9)
	cur := make([]float32, dim)
	step := func(enc []byte, stochastic bool) {
		if err := quant.Int8.DecodeRow(cur, enc); err != nil {
			t.Fatal(err)
		}
		for j := 2; j < dim; j++ {
			cur[j] += lr
		}
		var err error
		if stochastic {
			err = quant.Int8.EncodeRowStochastic(rng, enc, cur)
		} else {
			err = quant.Int8.EncodeRow(enc, cur)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for range steps {
		step(sr, true)
		step(rn, false)
	}
	drift := func(enc []byte) float64 {
		_ = quant.Int8.DecodeRow(cur, enc)
		sum := 0.0
		for j := 2; j < dim; j++ {
			sum += float64(cur[j] - start[j])
		}
		return sum / (dim - 2)
	}
	want := steps * lr
	if got := drift(sr); math.Abs(got-want) > 0.25*want {
		t.Errorf("stochastic rounding: mean drift %g, want about %g", got, want)
	}
	if got := drift(rn); math.Abs(got) > 0.1*want {
		t.Errorf("round to nearest: mean drift %g, want about 0 (updates below half a step vanish)", got)
	}
}
