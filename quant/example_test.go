package quant_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/embtab/embtab/quant"
)

func ExampleQuantize() {
	// A trained 10000 x 64 fp32 table, row-major as embedding.Rows.Params
	// holds it.
	const rows, dim = 10000, 64
	rng := rand.New(rand.NewPCG(1, 2))
	params := make([]float32, rows*dim)
	for i := range params {
		params[i] = float32(rng.NormFloat64() * 0.05)
	}
	for _, name := range []string{"fp16", "int8", "int4"} {
		c, err := quant.Lookup(name)
		if err != nil {
			panic(err)
		}
		tab, st, err := quant.Quantize(params, rows, dim, c)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %d bytes per row, %.1fx smaller, relative error %.1e\n",
			name, tab.Stride(), float64(rows*dim*4)/float64(tab.Bytes()), st.RelErr)
	}
	// Output:
	// fp16: 128 bytes per row, 2.0x smaller, relative error 2.1e-04
	// int8: 72 bytes per row, 3.6x smaller, relative error 5.3e-03
	// int4: 36 bytes per row, 7.1x smaller, relative error 8.9e-02
}

func ExampleStochasticEncoder() {
	// An int8 training table re-encodes a row after each update. Stochastic
	// rounding keeps updates smaller than the quantization step on average.
	row := []float32{-1, 0.25, 1}
	enc := make([]byte, quant.Int8.RowBytes(len(row)))
	rng := rand.NewPCG(42, 0) // seeded: reproducible
	if err := quant.Int8.EncodeRowStochastic(rng, enc, row); err != nil {
		panic(err)
	}
	dec := make([]float32, len(row))
	if err := quant.Int8.DecodeRow(dec, enc); err != nil {
		panic(err)
	}
	fmt.Printf("%.4f\n", dec)
	// Output: [-1.0000 0.2549 1.0000]
}
