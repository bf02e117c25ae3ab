package embedding

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/quant"
)

// TestDecodeInt8MatchesQuant checks the store's decoder against
// quant.Int8.DecodeRow, bit for bit, on rows of random codes, scales and
// biases (NaN and infinities included).
func TestDecodeInt8MatchesQuant(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, float32(math.Inf(1)), float32(math.NaN()), 1e-30, 3e38}
	for _, d := range []int{1, 7, 16, 64, 67} {
		row := make([]byte, d+8)
		got, want := make([]float32, d), make([]float32, d)
		for range 200 {
			for j := range row {
				row[j] = byte(rng.Uint32())
			}
			if rng.IntN(4) == 0 {
				binary.LittleEndian.PutUint32(row[d:], math.Float32bits(specials[rng.IntN(len(specials))]))
				binary.LittleEndian.PutUint32(row[d+4:], math.Float32bits(specials[rng.IntN(len(specials))]))
			}
			decodeInt8(got, row)
			if err := quant.Int8.DecodeRow(want, row); err != nil {
				t.Fatal(err)
			}
			for j := range got {
				if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
					t.Fatalf("dim %d: value %d decodes to %v, quant gives %v", d, j, got[j], want[j])
				}
			}
		}
	}
}

func TestGatherAdd(t *testing.T) {
	for _, p := range []string{StorageFP32, StorageInt8} {
		r, err := NewRowsWithStorage(20, 5, Optimizer{Name: SGD, LR: 1}, Storage{Precision: p})
		if err != nil {
			t.Fatal(err)
		}
		r.InitUniform(0, 20, 1, 3, 0)
		idx := []int32{4, 19, 4}
		rows := make([]float32, len(idx)*5)
		r.Gather(idx, rows)
		out := make([]float32, len(rows))
		for i := range out {
			out[i] = float32(i) / 7
		}
		want := slices.Clone(out)
		for i := range want {
			want[i] += rows[i]
		}
		r.GatherAdd(idx, out)
		if !slices.Equal(out, want) {
			t.Errorf("%s: GatherAdd = %v, want %v", p, out, want)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: GatherAdd with a short out did not panic", p)
				}
			}()
			r.GatherAdd(idx, out[1:])
		}()
	}
}
