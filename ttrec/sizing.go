package ttrec

import (
	"fmt"
	"math/bits"

	"github.com/embtab/embtab/embedding"
)

// DefaultDims returns the core dims of a dim-float vector: (s, dim/s², s)
// for the largest s with s² dividing dim.
func DefaultDims(dim int) [3]int {
	s := 1
	for k := 1; k*k <= dim; k++ {
		if dim%(k*k) == 0 {
			s = k
		}
	}
	return [3]int{s, dim / (s * s), s}
}

// CoreRows returns the slices of the three cores of a field of n ids:
// the benchmark's balanced factorization (the least a with a³ >= n, the
// least b with a·b² >= n, then c = ceil(n / (a·b))), the smallest of the
// three on the middle core.
func CoreRows(n int64) [3]int {
	n = max(n, 1)
	a := int64(1)
	for a*a*a < n {
		a++
	}
	b := int64(1)
	for a*b*b < n {
		b++
	}
	c := (n + a*b - 1) / (a * b)
	// a >= b >= c: the middle core (r² floats a slice) gets c.
	return [3]int{int(a), int(c), int(b)}
}

// DefaultMaxRank is the largest rank the sizing gives a core unless told
// otherwise (the max_rank setting, `train --max-rank`). The product costs
// d1·d2·r·(r + d3) multiply-adds an id forward and about twice that
// backward, and an id reads d1·r + d2·r² + d3·r floats, so the rank is the
// method's compute knob; a budget that buys more than this rank buys more
// core slices instead. On the default generated set (200k rows, dim 16)
// at 10x and 100x less than the full table, ranks 4, 8, 16 and 32 gave
// test AUC 0.710/0.620, 0.706/0.615, 0.708/0.609 and 0.698/0.609 (one
// seed) at 17.6k, 10.8k, 6.4k and 2.6k training samples/s at 10x: 8 is
// the paper's smallest common rank, near the best, and 4x faster than 32.
const DefaultMaxRank = 8

// maxSlices bounds the slices of one core (so n1·n2·n3 < 2^62).
const maxSlices = 1 << 20

// ForBudget returns the field shapes of a table for fields of the given
// cardinalities at dim whose fp32 rows fit in budget bytes, by the rule of
// the package doc, with ranks of at most maxRank (0: DefaultMaxRank). The
// errors wrap embedding.ErrConfig or embedding.ErrBudgetTooSmall.
func ForBudget(budget int64, cardinalities []int64, dim, maxRank int) ([]FieldConfig, error) {
	if maxRank == 0 {
		maxRank = DefaultMaxRank
	}
	if budget < 0 || dim < 1 || len(cardinalities) == 0 || maxRank < 1 || maxRank > MaxRank {
		return nil, fmt.Errorf("size ttrec table: budget %d, dim %d, %d fields, max rank %d: %w",
			budget, dim, len(cardinalities), maxRank, embedding.ErrConfig)
	}
	costs := make([]uint64, len(cardinalities))
	var total uint64
	for f, n := range cardinalities {
		if n < 0 || n >= embedding.MaxRows {
			return nil, fmt.Errorf("size ttrec table: field %d cardinality %d: %w", f, n, embedding.ErrConfig)
		}
		costs[f] = uint64(embedding.FullServingBytes([]int64{n}, dim))
		total += costs[f]
	}
	dims := DefaultDims(dim)
	rowBytes := int64(dim) * 4
	reserve := int64(len(cardinalities)) * rowBytes
	if budget < reserve {
		return nil, fmt.Errorf("size ttrec table to %d bytes at dim %d: %d fields need a row each (%d bytes): %w",
			budget, dim, len(cardinalities), reserve, embedding.ErrBudgetTooSmall)
	}
	rest := uint64(budget - reserve)
	out := make([]FieldConfig, len(cardinalities))
	for f, n := range cardinalities {
		hi, lo := bits.Mul64(rest, costs[f])
		q, _ := bits.Div64(hi, lo, total) // hi < total: rest < 2^63
		share := rowBytes + int64(q)
		rows := share / rowBytes
		if rows < n+1 {
			fc := FieldConfig{N: CoreRows(n), D: dims}
			if fc.Rank = fitRank(share/4, fc.N, dims, dim, maxRank); fc.Rank > 0 {
				if fc.Rank == maxRank {
					fc.N = grow(fc.N, dims, fc.Rank, share/4, n)
				}
				out[f] = fc
				continue
			}
		}
		out[f] = FieldConfig{Rows: int(min(rows, int64(embedding.MaxRows)))}
	}
	plain := 0
	for _, fc := range out {
		plain += fc.Rows
	}
	if plain > embedding.MaxRows {
		return nil, fmt.Errorf("size ttrec table: %d plain rows: %w", plain, embedding.ErrTooManyRows)
	}
	return out, nil
}

// grow returns the slices n of cores at dims d and rank r grown by one
// factor t (rounded down; each at least n[c], at most ids and maxSlices)
// so that their floats fit in floats: the floats are linear in each
// core's slices, so t = floats / ttFloats(n, d, r) fits up to rounding,
// which the last loop undoes.
func grow(n, d [3]int, r int, floats, ids int64) [3]int {
	t := float64(floats) / float64(ttFloats(n, d, r))
	if !(t > 1) {
		return n
	}
	g := n
	for c := range g {
		g[c] = max(n[c], int(min(float64(n[c])*t, float64(ids), maxSlices)))
	}
	for ttFloats(g, d, r) > floats {
		c := 0
		for k := range g {
			if g[k]-n[k] > g[c]-n[c] {
				c = k
			}
		}
		g[c]--
	}
	return g
}

// fitRank returns the rank of the cores of n slices at dims d whose
// floats fit in floats (0 if rank 1 does not): the largest up to maxRank
// and the rank where the train can already hold any table (min(n1·d1,
// n3·d3)), then, among the ranks within 1/8 below it, the one with the
// widest rows (ties: the larger).
func fitRank(floats int64, n, d [3]int, dim, maxRank int) int {
	hi := min(maxRank, n[0]*d[0], n[2]*d[2])
	r := 0
	for k := 1; k <= hi && ttFloats(n, d, k) <= floats; k++ {
		r = k
	}
	if r < 8 {
		return r
	}
	best, bw := r, rowWidth(dim, d, r)
	for k := r - 1; k >= r-r/8; k-- {
		if w := rowWidth(dim, d, k); w > bw {
			best, bw = k, w
		}
	}
	return best
}
