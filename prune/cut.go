package prune

import (
	"math"

	"github.com/embtab/embtab/embedding"
)

// buckets of |v| by the upper 16 bits of its float32 pattern (sign
// cleared): monotone in |v|, 128 buckets per octave.
const buckets = 1 << 15

func bucket(v float32) int { return int(math.Float32bits(v)&0x7fffffff) >> 16 }

// bucketFloor is the smallest magnitude in bucket b.
func bucketFloor(b int) float32 { return math.Float32frombits(uint32(b) << 16) }

// sizer counts, for a cut that keeps the values of |v| in bucket >= t,
// what the sparse form costs: the kept values, and the rows that keep at
// least one (with their index entries).
type sizer struct {
	dim  int
	vals [buckets]int64 // values by bucket
	rows [buckets]int64 // rows by their largest value's bucket
}

// add counts an id's row.
func (z *sizer) add(row []float32) {
	top := 0
	for _, v := range row {
		b := bucket(v)
		z.vals[b]++
		top = max(top, b)
	}
	z.rows[top]++
}

// addTable counts a full table's id rows (per field: the first
// len(vocab[f]) rows of params[f]).
func (z *sizer) addTable(vocab [][]uint64, params [][]float32) {
	d := z.dim
	for f, ids := range vocab {
		for i := range ids {
			z.add(params[f][i*d : (i+1)*d])
		}
	}
}

// cut returns the smallest magnitude to keep so that the sparse form
// fits budget (values below it are pruned; zeros always are), and the
// bytes it then takes. When no cut fits (the zero row alone is over), it
// returns +Inf and those bytes.
func (z *sizer) cut(budget int64) (float32, int64) {
	mw := int64(embedding.MaskWords(z.dim))
	bytes := 4 * mw // the all-zero row
	for t := buckets - 1; t >= 1; t-- {
		next := bytes + 4*z.vals[t] + (4*mw+embedding.IndexBytesPerID)*z.rows[t]
		if next > budget {
			if t == buckets-1 {
				return float32(math.Inf(1)), bytes
			}
			return bucketFloor(t + 1), bytes
		}
		bytes = next
	}
	return bucketFloor(1), bytes
}
