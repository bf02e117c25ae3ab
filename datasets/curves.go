package datasets

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/zeebo/xxh3"
)

// FieldCurve is how one categorical field's vocabulary grows with the rows
// read: the distinct values after n present (non-missing) occurrences, for n
// on a doubling grid, and the shape of the value counts at the end.
type FieldCurve struct {
	Field   string  `json:"field"`
	Rows    int64   `json:"rows"`    // rows read
	Present int64   `json:"present"` // rows where the field has a value
	Missing float64 `json:"missing"` // 1 - Present/Rows
	// N are present-occurrence counts (16, 32, 64, ... and Present) and
	// Distinct the distinct values seen after the first N[i] of them (the
	// mean over shuffles when the curve was measured on shuffled rows).
	N        []int64   `json:"n"`
	Distinct []float64 `json:"distinct"`
	// Singletons are the values seen exactly once in all Present
	// occurrences; Top10 the share of the occurrences that the ten most
	// frequent values take.
	Singletons int64   `json:"singletons"`
	Top10      float64 `json:"top10"`
}

// curvePoints is the doubling grid of present counts up to n, ending at n.
func curvePoints(n int64) []int64 {
	var pts []int64
	for p := int64(16); p < n; p *= 2 {
		pts = append(pts, p)
	}
	if n > 0 {
		pts = append(pts, n)
	}
	return pts
}

// MeasureCurves reads up to maxRows rows of r (0: all) and returns the curve
// of each categorical field. With shuffles > 0 the rows are held in memory
// and the distinct counts are averaged over that many random orders (seeded):
// use it for a small sample whose order is not random (a file's first lines
// are one stretch of time); with shuffles = 0 the rows are counted in the
// order read, in memory proportional to the distinct values, which suits a
// generator's independent rows at any size.
func MeasureCurves(r RecordReader, maxRows int64, shuffles int, seed uint64) ([]FieldCurve, error) {
	sch := r.Schema()
	nf := len(sch.Categorical)
	rec := NewRecord(sch)
	var rows int64
	curves := make([]FieldCurve, nf)
	counts := make([]map[uint64]int64, nf)
	var held [][]uint64
	if shuffles > 0 {
		held = make([][]uint64, nf)
	}
	for f := range curves {
		curves[f].Field = sch.Categorical[f]
		counts[f] = make(map[uint64]int64)
	}
	// stream mode records the curve as it goes
	next := make([]int64, nf)
	for f := range next {
		next[f] = 16
	}
	for maxRows <= 0 || rows < maxRows {
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("measure curves: row %d: %w", rows+1, err)
		}
		rows++
		for f, v := range rec.Cat {
			if v == "" {
				continue
			}
			h := xxh3.HashString(v)
			c := &curves[f]
			c.Present++
			counts[f][h]++
			if held != nil {
				held[f] = append(held[f], h)
			} else if c.Present == next[f] {
				c.N = append(c.N, c.Present)
				c.Distinct = append(c.Distinct, float64(len(counts[f])))
				next[f] *= 2
			}
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0xc0e5))
	for f := range curves {
		c := &curves[f]
		c.Rows = rows
		if rows > 0 {
			c.Missing = 1 - float64(c.Present)/float64(rows)
		}
		if held != nil {
			c.N = curvePoints(c.Present)
			c.Distinct = make([]float64, len(c.N))
			vals := held[f]
			seen := make(map[uint64]struct{}, len(counts[f]))
			for s := 0; s < shuffles; s++ {
				rng.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
				clear(seen)
				p := 0
				for i, h := range vals {
					seen[h] = struct{}{}
					for p < len(c.N) && int64(i+1) == c.N[p] {
						c.Distinct[p] += float64(len(seen))
						p++
					}
				}
			}
			for p := range c.Distinct {
				c.Distinct[p] /= float64(shuffles)
			}
		} else if c.Present > 0 && (len(c.N) == 0 || c.N[len(c.N)-1] != c.Present) {
			c.N = append(c.N, c.Present)
			c.Distinct = append(c.Distinct, float64(len(counts[f])))
		}
		freq := make([]int64, 0, len(counts[f]))
		for _, n := range counts[f] {
			freq = append(freq, n)
			if n == 1 {
				c.Singletons++
			}
		}
		slices.SortFunc(freq, func(a, b int64) int { return int(b - a) })
		var top int64
		for _, n := range freq[:min(10, len(freq))] {
			top += n
		}
		if c.Present > 0 {
			c.Top10 = float64(top) / float64(c.Present)
		}
	}
	return curves, nil
}
