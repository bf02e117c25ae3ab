package embedding

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
)

// Sizing to a memory budget. The budget counts the fp32 embedding
// parameters only (rows × dim × 4 bytes): optimizer state and indexes are
// reported apart by Bytes, as in the VLDB'24 benchmark and Unified
// Embedding. Fields are sized by the same rule for every method:
//
//  1. The budget buys R = budget / (dim*4) rows.
//  2. Every field gets its minimum (hashed: 1 row; QR: 1 quotient and 1
//     remainder row); if R cannot pay for that, the error wraps
//     [ErrBudgetTooSmall].
//  3. The remaining rows go to the fields in proportion to their
//     cardinalities, each field capped at the rows that can still help it:
//     cardinality+1, the size of a full table with its OOV row (QR: at
//     least 2). Rows a capped field
//     cannot take are shared again among the others, in proportion, until
//     no field exceeds its cap (water-filling); the rounding remainder goes
//     one row each to the fields with the largest fractional shares.
//
// The total never exceeds R, so the parameters never exceed the budget; it
// is smaller when every field reaches its cap.

// HashedForBudget returns the rows per field of a hashed table whose fp32
// parameters fit in budgetBytes, by the rule above (minimum 1 row, cap
// cardinality+1). Use the result as Config.Rows.
func HashedForBudget(budgetBytes int64, cardinalities []int64, dim int) ([]int, error) {
	if err := checkSizing(budgetBytes, cardinalities, dim); err != nil {
		return nil, fmt.Errorf("size hashed table: %w", err)
	}
	lo := make([]int64, len(cardinalities))
	hi := make([]int64, len(cardinalities))
	for f, n := range cardinalities {
		lo[f], hi[f] = 1, n+1
	}
	rows, err := allocateRows(budgetBytes/(int64(dim)*4), cardinalities, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("size hashed table to %d bytes at dim %d: %w", budgetBytes, dim, err)
	}
	out := make([]int, len(rows))
	for f, n := range rows {
		out[f] = int(n)
	}
	return out, nil
}

// HashedForBudgetDims is HashedForBudget for a table whose field f has
// dims[f] floats per row (Config.FieldDims): the rule above applied to
// floats rather than rows (the budget buys budgetBytes/4 floats; field f
// needs at least dims[f] of them, is capped at (cardinality+1)·dims[f]
// and weighs cardinality·dims[f]), each field's floats then rounded down
// to whole rows. Equal dims give exactly HashedForBudget's rows.
func HashedForBudgetDims(budgetBytes int64, cardinalities []int64, dims []int) ([]int, error) {
	if len(dims) != len(cardinalities) {
		return nil, fmt.Errorf("size hashed table: %d dims for %d fields: %w", len(dims), len(cardinalities), ErrConfig)
	}
	if err := checkSizing(budgetBytes, cardinalities, 1); err != nil {
		return nil, fmt.Errorf("size hashed table: %w", err)
	}
	if len(dims) > 0 && !slices.ContainsFunc(dims, func(d int) bool { return d != dims[0] }) {
		return HashedForBudget(budgetBytes, cardinalities, dims[0]) // whole rows, no rounding loss
	}
	lo := make([]int64, len(cardinalities))
	hi := make([]int64, len(cardinalities))
	w := make([]int64, len(cardinalities))
	for f, n := range cardinalities {
		d := int64(dims[f])
		if d < 1 {
			return nil, fmt.Errorf("size hashed table: field %d dim %d: %w", f, d, ErrConfig)
		}
		lo[f], hi[f], w[f] = d, (n+1)*d, n*d
	}
	floats, err := allocateRows(budgetBytes/4, w, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("size hashed table to %d bytes at dims %v: %w", budgetBytes, dims, err)
	}
	out := make([]int, len(floats))
	for f, n := range floats {
		out[f] = int(n / int64(dims[f]))
	}
	return out, nil
}

// QRForBudget returns the quotient and remainder rows per field of a QR
// table whose fp32 parameters fit in budgetBytes. Each field's row count m
// comes from the rule above (minimum 2, cap max(2, n+1) for cardinality
// n: the full table's rows, as for a hashed table) and is split evenly, q
// = ceil(m/2), r = floor(m/2), the split with the largest virtual space
// q·r for its rows. The cap is not the smallest q+r with q·r ≥ n: ids are
// hashed into the virtual space [0, q·r) (hashing.QR), so a space of
// about n slots still puts most values on a pair another value shares;
// every further row widens the space and thins the sharing of each row,
// so the table keeps growing with its budget up to the full table's
// rows. Use the results as Config.Rows and Config.RemRows.
func QRForBudget(budgetBytes int64, cardinalities []int64, dim int) (quo, rem []int, err error) {
	if err := checkSizing(budgetBytes, cardinalities, dim); err != nil {
		return nil, nil, fmt.Errorf("size qr table: %w", err)
	}
	lo := make([]int64, len(cardinalities))
	hi := make([]int64, len(cardinalities))
	for f, n := range cardinalities {
		lo[f], hi[f] = 2, max(2, n+1)
	}
	rows, err := allocateRows(budgetBytes/(int64(dim)*4), cardinalities, lo, hi)
	if err != nil {
		return nil, nil, fmt.Errorf("size qr table to %d bytes at dim %d: %w", budgetBytes, dim, err)
	}
	quo = make([]int, len(rows))
	rem = make([]int, len(rows))
	for f, m := range rows {
		quo[f], rem[f] = int(m-m/2), int(m/2)
	}
	return quo, rem, nil
}

// FullTableBytes returns the fp32 parameter bytes of a full table: one row
// per distinct value plus one OOV row per field. It is the reference for
// compression ratios.
func FullTableBytes(cardinalities []int64, dim int) int64 {
	var rows int64
	for _, n := range cardinalities {
		rows += n + 1
	}
	return rows * int64(dim) * 4
}

func checkSizing(budget int64, cardinalities []int64, dim int) error {
	if dim < 1 || budget < 0 || len(cardinalities) == 0 {
		return fmt.Errorf("budget %d, dim %d, %d fields: %w", budget, dim, len(cardinalities), ErrConfig)
	}
	for f, n := range cardinalities {
		if n < 0 || n >= MaxRows {
			return fmt.Errorf("field %d cardinality %d: %w", f, n, ErrConfig)
		}
	}
	return nil
}

// allocateRows water-fills total rows over fields with weights w, minimum
// lo and cap hi (lo <= hi), as the sizing rule above describes. Shares are
// computed exactly in 128 bits.
func allocateRows(total int64, w, lo, hi []int64) ([]int64, error) {
	rows := slices.Clone(lo)
	var need int64
	for _, n := range lo {
		need += n
	}
	if total < need {
		return nil, fmt.Errorf("%d rows for a minimum of %d: %w", total, need, ErrBudgetTooSmall)
	}
	extra := total - need
	active := make([]int, 0, len(w))
	for f := range w {
		if hi[f] > lo[f] {
			active = append(active, f)
		}
	}
	share := make([]int64, len(w))
	frac := make([]uint64, len(w))
	for len(active) > 0 && extra > 0 {
		var sum uint64
		for _, f := range active {
			sum += uint64(w[f])
		}
		if sum == 0 {
			break
		}
		capped := false
		for _, f := range active {
			h, l := bits.Mul64(uint64(extra), uint64(w[f]))
			q, r := bits.Div64(h, l, sum) // q <= extra since w[f] <= sum
			share[f], frac[f] = int64(q), r
			if share[f] >= hi[f]-rows[f] {
				capped = true
			}
		}
		if capped {
			// Fill the capped fields and share again among the rest.
			active = slices.DeleteFunc(active, func(f int) bool {
				if share[f] < hi[f]-rows[f] {
					return false
				}
				extra -= hi[f] - rows[f]
				rows[f] = hi[f]
				return true
			})
			continue
		}
		given := int64(0)
		for _, f := range active {
			rows[f] += share[f]
			given += share[f]
		}
		// Largest fractional shares first, then lower field index; each
		// such field is below its cap by more than one row.
		slices.SortStableFunc(active, func(a, b int) int { return cmp.Compare(frac[b], frac[a]) })
		for _, f := range active[:extra-given] {
			rows[f]++
		}
		break
	}
	var sum int64
	for _, n := range rows {
		sum += n
	}
	if sum > MaxRows {
		return nil, fmt.Errorf("%d rows: %w", sum, ErrTooManyRows)
	}
	return rows, nil
}
