package embedding

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Frequencies are the (exact or estimated) frequencies of one field's
// values: IDs[i] was seen Counts[i] times. They come from a counting
// pre-pass (every distinct value with its exact count) or from a
// [SpaceSaving] sketch (the monitored values with their overestimated
// counts).
type Frequencies struct {
	IDs    []uint64
	Counts []uint32
	// Distinct is the number of distinct values of the field (at least
	// len(IDs)), or 0 if unknown, as with a sketch.
	Distinct int64
}

// HybridForBudget sizes a [Hybrid] table to budgetBytes of fp32
// parameters: it picks the head ids of each field and the tail rows per
// field, for [NewHybrid]. headFraction (0 means DefaultHeadFraction) is
// the share of the budget given to the head.
//
// The rule:
//
//  1. The budget buys R = budget / (dim*4) rows; every field needs at
//     least one tail row, else the error wraps [ErrBudgetTooSmall].
//  2. The head gets H = floor(headFraction*R) rows, at most R-fields and at
//     most the number of values with a positive count. They go to the H
//     most frequent values over all fields (a value's count is comparable
//     across fields: one value per field per example). Values tied at the
//     threshold count are shared among the fields in proportion to their
//     tied values (largest remainders first), each field taking its tied
//     values of least id. Each head is returned sorted by id.
//  3. The remaining R-H rows go to the tails as [HashedForBudget] shares
//     rows: at least one row per field, the rest in proportion to the
//     field's tail cardinality (Distinct minus its head), each field capped
//     at its tail cardinality plus one. When Distinct is unknown (0) the
//     weight is len(IDs) minus the head and there is no cap.
//
// Rows a capped tail cannot take are not given back to the head, so the
// parameters never exceed the budget and the head share is exactly as
// configured. The other errors wrap [ErrConfig] or [ErrTooManyRows].
func HybridForBudget(budgetBytes int64, freqs []Frequencies, dim int, headFraction float64) (heads [][]uint64, tailRows []int, err error) {
	if headFraction == 0 {
		headFraction = DefaultHeadFraction
	}
	if err := checkHybridSizing(budgetBytes, freqs, dim, headFraction); err != nil {
		return nil, nil, fmt.Errorf("size hybrid table: %w", err)
	}
	nf := int64(len(freqs))
	r := budgetBytes / (int64(dim) * 4)
	if r < nf {
		return nil, nil, fmt.Errorf("size hybrid table to %d bytes at dim %d: %d rows for %d fields: %w",
			budgetBytes, dim, r, nf, ErrBudgetTooSmall)
	}
	var positive int64
	for _, fr := range freqs {
		for _, c := range fr.Counts {
			if c > 0 {
				positive++
			}
		}
	}
	h := min(int64(math.Floor(headFraction*float64(r))), r-nf, positive)
	heads, err = pickHeads(freqs, h)
	if err != nil {
		return nil, nil, fmt.Errorf("size hybrid table: %w", err)
	}

	w := make([]int64, nf)
	lo := make([]int64, nf)
	hi := make([]int64, nf)
	for f, fr := range freqs {
		lo[f] = 1
		if fr.Distinct > 0 {
			w[f] = fr.Distinct - int64(len(heads[f]))
			hi[f] = w[f] + 1
		} else {
			w[f] = int64(len(fr.IDs) - len(heads[f]))
			hi[f] = MaxRows
		}
	}
	rows, err := allocateRows(r-h, w, lo, hi)
	if err != nil {
		return nil, nil, fmt.Errorf("size hybrid table to %d bytes at dim %d: tail: %w", budgetBytes, dim, err)
	}
	tailRows = make([]int, nf)
	for f, n := range rows {
		tailRows[f] = int(n)
	}
	return heads, tailRows, nil
}

func checkHybridSizing(budget int64, freqs []Frequencies, dim int, headFraction float64) error {
	if dim < 1 || budget < 0 || len(freqs) == 0 {
		return fmt.Errorf("budget %d, dim %d, %d fields: %w", budget, dim, len(freqs), ErrConfig)
	}
	if !(headFraction > 0 && headFraction <= 1) {
		return fmt.Errorf("head fraction %v not in (0, 1]: %w", headFraction, ErrConfig)
	}
	for f, fr := range freqs {
		if len(fr.IDs) != len(fr.Counts) {
			return fmt.Errorf("field %d: %d ids and %d counts: %w", f, len(fr.IDs), len(fr.Counts), ErrConfig)
		}
		if fr.Distinct < 0 || fr.Distinct > 0 && fr.Distinct < int64(len(fr.IDs)) || fr.Distinct >= MaxRows {
			return fmt.Errorf("field %d: %d distinct values for %d ids: %w", f, fr.Distinct, len(fr.IDs), ErrConfig)
		}
	}
	return nil
}

// pickHeads returns, per field, the ids of the h most frequent values over
// all fields (rule 2 of [HybridForBudget]), each field's sorted by id. h
// is at most the number of values with a positive count.
func pickHeads(freqs []Frequencies, h int64) ([][]uint64, error) {
	heads := make([][]uint64, len(freqs))
	if h <= 0 {
		return heads, nil
	}
	// Find the threshold count: values above it all make the head, values
	// at it fill the rest. A histogram of counts is small for the skewed
	// data this is for, and costs no per-value memory.
	hist := make(map[uint32]int64)
	for _, fr := range freqs {
		for _, c := range fr.Counts {
			if c > 0 {
				hist[c]++
			}
		}
	}
	counts := make([]uint32, 0, len(hist))
	for c := range hist {
		counts = append(counts, c)
	}
	slices.SortFunc(counts, func(a, b uint32) int { return cmp.Compare(b, a) })
	var above int64
	var thr uint32
	for _, c := range counts {
		if above+hist[c] >= h {
			thr = c
			break
		}
		above += hist[c]
	}
	// Share the h-above tied slots among the fields.
	tied := make([]int64, len(freqs))
	over := make([]int64, len(freqs))
	zero := make([]int64, len(freqs))
	for f, fr := range freqs {
		for _, c := range fr.Counts {
			if c > thr {
				over[f]++
			} else if c == thr {
				tied[f]++
			}
		}
	}
	quota, err := allocateRows(h-above, tied, zero, tied)
	if err != nil {
		return nil, err
	}
	for f, fr := range freqs {
		head := make([]uint64, 0, over[f]+quota[f])
		var ties []uint64
		if quota[f] > 0 {
			ties = make([]uint64, 0, tied[f])
		}
		for i, c := range fr.Counts {
			switch {
			case c > thr:
				head = append(head, fr.IDs[i])
			case c == thr && quota[f] > 0:
				ties = append(ties, fr.IDs[i])
			}
		}
		if quota[f] > 0 {
			slices.Sort(ties)
			head = append(head, ties[:quota[f]]...)
		}
		slices.Sort(head)
		heads[f] = head
	}
	return heads, nil
}
