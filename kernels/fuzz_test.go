package kernels_test

import (
	"errors"
	"testing"

	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/quant"
)

// fuzzTables caches the fuzzer's tables by (codec, rows, dim).
var fuzzTables = map[[3]int]*quant.Table{}

func fuzzTable(t *testing.T, c, rows, dim int) *quant.Table {
	key := [3]int{c, rows, dim}
	if tab, ok := fuzzTables[key]; ok {
		return tab
	}
	tab := testTable(t, codecs[c], rows, dim, 0, uint64(rows))
	fuzzTables[key] = tab
	return tab
}

var sentinels = []error{kernels.ErrCodec, kernels.ErrTable, kernels.ErrPooling, kernels.ErrOffsets, kernels.ErrIndex, kernels.ErrShape}

// class returns the sentinel err wraps (nil for nil).
func class(t *testing.T, err error) error {
	if err == nil {
		return nil
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
	return nil
}

// FuzzGatherDequant feeds arbitrary indices, offsets, weights and output
// lengths to every implementation: each must return the same error or,
// for valid arguments, the spec's results; none may panic or read out of
// bounds (run with -asan or -race to check the asm too).
//
// flags: bit 0 int64 indices, bit 1 weights, bit 2 one weight short, bit 3
// output one float short, bit 4 offsets are bag sizes (valid CSR) rather
// than raw values, bits 5-6 pooling (3 is invalid).
func FuzzGatherDequant(f *testing.F) {
	f.Add(uint8(2), uint8(16), uint8(9), uint8(0x10), []byte{1, 2, 3, 4, 5, 0, 8}, []byte{3, 0, 4})
	f.Add(uint8(3), uint8(33), uint8(40), uint8(0x13), []byte{0, 39, 39, 7}, []byte{1, 3})
	f.Add(uint8(1), uint8(7), uint8(3), uint8(0x00), []byte{0, 1, 2}, []byte{0, 2, 1, 3})
	f.Add(uint8(0), uint8(8), uint8(5), uint8(0x40), []byte{4, 200, 3}, []byte{})
	f.Add(uint8(2), uint8(64), uint8(2), uint8(0x1e), []byte{1, 1, 1, 1}, []byte{2, 2})
	f.Add(uint8(0), uint8(9), uint8(1), uint8(0x60), []byte{0}, []byte{0, 1})
	f.Fuzz(func(t *testing.T, codec, dim, rows, flags uint8, rawIdx, rawOff []byte) {
		c, d, r := int(codec)%len(codecs), 1+int(dim)%70, 1+int(rows)%60
		tab := fuzzTable(t, c, r, d)
		pool := kernels.Pooling(flags >> 5 & 3)
		if flags&1 == 0 {
			fuzzGather[int32](t, tab, pool, flags, rawIdx, rawOff)
		} else {
			fuzzGather[int64](t, tab, pool, flags, rawIdx, rawOff)
		}
	})
}

func fuzzGather[I kernels.Index](t *testing.T, tab *quant.Table, pool kernels.Pooling, flags uint8, rawIdx, rawOff []byte) {
	var b kernels.Bags[I]
	for _, v := range rawIdx {
		b.Indices = append(b.Indices, I(int8(v))) // -128..127: in and out of range
	}
	if flags&0x10 != 0 {
		// Bag sizes: a valid CSR whatever the bytes, over as many indices
		// as they cover (then the last offset must match len(Indices)).
		b.Offsets = []I{0}
		total := 0
		for _, v := range rawOff {
			total = min(total+int(v%8), len(b.Indices))
			b.Offsets = append(b.Offsets, I(total))
		}
		b.Indices = b.Indices[:total]
	} else {
		for _, v := range rawOff {
			b.Offsets = append(b.Offsets, I(int8(v)))
		}
	}
	if flags&2 != 0 {
		b.Weights = make([]float32, len(b.Indices))
		for i := range b.Weights {
			b.Weights[i] = float32(i%5) - 1.5
		}
		if flags&4 != 0 && len(b.Weights) > 0 {
			b.Weights = b.Weights[1:]
		}
	}
	n := len(b.Indices)
	if pool != kernels.None {
		n = max(len(b.Offsets)-1, 0)
	}
	outLen := n * tab.Dim()
	if flags&8 != 0 && outLen > 0 {
		outLen--
	}
	var want, mag []float32
	var wantErr error
	first := true
	for _, impl := range kernels.Impls() {
		func() {
			restore := forceImpl(impl)
			defer restore()
			out := make([]float32, outLen)
			err := kernels.GatherDequant(out, kernels.TableOf(tab), b, pool, 2)
			if first {
				first, wantErr = false, class(t, err)
				if err == nil {
					want, mag = spec(t, tab, b, pool)
				}
			}
			if got := class(t, err); got != wantErr {
				t.Fatalf("%s: error %v, want class %v", impl, err, wantErr)
			}
			if err == nil {
				compare(t, impl, out, want, mag, len(b.Indices)+1)
			}
		}()
	}
}

// forceImpl is useImpl for code without a testing.TB cleanup.
func forceImpl(name string) (restore func()) {
	var undo []func()
	switch name {
	case "avx2":
		undo = append(undo, kernels.DisableAVX512())
	case "generic":
		undo = append(undo, kernels.DisableAVX512(), kernels.DisableAVX2())
	}
	return func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
}
