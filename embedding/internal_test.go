package embedding

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSortKeysMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, nrows := range []int{1, 2, 3, 255, 256, 1000, 1 << 17, 10_000_000, MaxRows} {
		for _, n := range []int{0, 1, 10, 256, 257, 5000} {
			r := &Rows{n: nrows, tmp: make([]uint64, n)}
			keys := make([]uint64, n)
			for i := range keys {
				// Few distinct rows, so that equal rows are common.
				row := rng.IntN(min(nrows, 1+n/4))
				if rng.IntN(2) == 0 {
					row = rng.IntN(nrows)
				}
				keys[i] = uint64(row)<<32 | uint64(i)
			}
			want := slices.Clone(keys)
			slices.Sort(want)
			if got := r.sortKeys(keys); !slices.Equal(got, want) {
				t.Fatalf("rows %d, n %d: radix sort differs from slices.Sort", nrows, n)
			}
		}
	}
}

func TestIDMap(t *testing.T) {
	for _, n := range []int{0, 1, 5, 6, 1000} {
		m := newIDMap(n)
		keys := make([]uint64, n)
		for i := range keys {
			keys[i] = uint64(i) * 3 // includes 0 and sequential ids
			if !m.put(keys[i], int32(i)) {
				t.Fatalf("n %d: put(%d) reported a duplicate", n, keys[i])
			}
		}
		if n > 0 && m.put(keys[n-1], 99) {
			t.Fatalf("n %d: second put of %d succeeded", n, keys[n-1])
		}
		if m.len() != n {
			t.Fatalf("len = %d, want %d", m.len(), n)
		}
		if float64(n) > maxLoad*float64(len(m.slots)) {
			t.Fatalf("n %d in %d slots: over the load limit", n, len(m.slots))
		}
		for i, k := range keys {
			if v, ok := m.get(k); !ok || v != int32(i) {
				t.Fatalf("get(%d) = %d, %v; want %d", k, v, ok, i)
			}
			if _, ok := m.get(k + 1); ok {
				t.Fatalf("get(%d) found an absent key", k+1)
			}
		}
		got := make([]uint64, n)
		m.keys(got)
		if !slices.Equal(got, keys) {
			t.Fatalf("keys() = %v, want %v", got, keys)
		}
	}
}
