package kernels_test

import (
	"fmt"

	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/quant"
)

func ExampleGatherDequant() {
	// Three rows of dim 4, stored as int8 (each row's range is 0..255, so
	// the codes are exact).
	params := []float32{
		0, 1, 2, 255,
		255, 0, 3, 4,
		0, 20, 30, 255,
	}
	tab, _, err := quant.Quantize(params, 3, 4, quant.Int8)
	if err != nil {
		panic(err)
	}
	// Two bags: rows {0, 1} and rows {2, 2, 0}, the second weighted.
	bags := kernels.Bags[int32]{
		Indices: []int32{0, 1, 2, 2, 0},
		Offsets: []int32{0, 2, 5},
		Weights: []float32{1, 1, 0.5, 0.5, 2},
	}
	out := make([]float32, 2*4)
	if err := kernels.GatherDequant(out, kernels.TableOf(tab), bags, kernels.Sum, 1); err != nil {
		panic(err)
	}
	fmt.Println(out[:4], out[4:])
	// Output: [255 1 5 259] [0 22 34 765]
}
