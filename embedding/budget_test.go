package embedding_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
)

// criteoLike are cardinalities shaped like Criteo's 26 fields.
var criteoLike = []int64{1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
	27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572}

func TestHashedForBudget(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	type tc struct {
		name   string
		budget int64
		card   []int64
		dim    int
	}
	cases := []tc{
		{"exact minimum", 3 * 16 * 4, []int64{10, 20, 30}, 16},
		{"tiny", 100 * 16 * 4, criteoLike, 16},
		{"1/100 of full", embedding.FullTableBytes(criteoLike, 16) / 100, criteoLike, 16},
		{"1/2 of full", embedding.FullTableBytes(criteoLike, 16) / 2, criteoLike, 16},
		{"full", embedding.FullTableBytes(criteoLike, 16), criteoLike, 16},
		{"more than full", 10 * embedding.FullTableBytes(criteoLike, 16), criteoLike, 16},
		{"zero cardinality", 1000, []int64{0, 0, 5}, 2},
		{"odd budget", 1001, []int64{7, 1000}, 3},
	}
	for range 50 {
		card := make([]int64, 1+rng.IntN(30))
		for f := range card {
			card[f] = int64(math.Exp(rng.Float64() * 17))
		}
		dim := 1 + rng.IntN(64)
		cases = append(cases, tc{"random", int64(len(card)*dim*4) + rng.Int64N(embedding.FullTableBytes(card, dim)), card, dim})
	}
	for _, c := range cases {
		rows, err := embedding.HashedForBudget(c.budget, c.card, c.dim)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cfg := embedding.Config{Method: "hashed", Dim: c.dim, Rows: rows}
		if got := cfg.ParamBytes(); got > c.budget {
			t.Fatalf("%s: %d bytes over the budget %d", c.name, got, c.budget)
		}
		full := embedding.FullTableBytes(c.card, c.dim)
		slack := int64(c.dim * 4) // less than one row of the budget unused...
		if c.budget <= full && c.budget-cfg.ParamBytes() >= slack {
			t.Fatalf("%s: %d of %d bytes unused", c.name, c.budget-cfg.ParamBytes(), c.budget)
		}
		if c.budget >= full && cfg.ParamBytes() != full { // ...or every field at its cap
			t.Fatalf("%s: %d bytes, want the full %d", c.name, cfg.ParamBytes(), full)
		}
		for f, n := range rows {
			if n < 1 || int64(n) > c.card[f]+1 {
				t.Fatalf("%s: field %d (cardinality %d) has %d rows", c.name, f, c.card[f], n)
			}
		}
		// Proportional: a field below its cap never has fewer rows than a
		// smaller field (up to rounding).
		for f := range rows {
			for g := range rows {
				if c.card[f] > c.card[g] && int64(rows[f]) <= c.card[f] && rows[f]+1 < rows[g] {
					t.Fatalf("%s: field %d (card %d) has %d rows, field %d (card %d) %d",
						c.name, f, c.card[f], rows[f], g, c.card[g], rows[g])
				}
			}
		}
	}
	for _, c := range []struct {
		rows int64
		card []int64
		want []int
	}{
		// One row each, then 997 in proportion (99.7, 299.1, 598.2): the
		// largest fraction takes the rounding remainder.
		{1000, []int64{1e6, 3e6, 6e6}, []int{101, 300, 599}},
		{1000, []int64{9, 1e6, 1e6}, []int{1, 500, 499}},
		{1010, []int64{10, 1000}, []int{11, 999}},
		{1011, []int64{10, 1000}, []int{11, 1000}},
		{1012, []int64{10, 1000}, []int{11, 1001}}, // the full table
		{5000, []int64{10, 1000}, []int{11, 1001}},
	} {
		rows, err := embedding.HashedForBudget(c.rows*4, c.card, 1)
		if err != nil || !slices.Equal(rows, c.want) {
			t.Errorf("%d rows for %v: %v, %v; want %v", c.rows, c.card, rows, err, c.want)
		}
	}
}

func TestQRForBudget(t *testing.T) {
	full := embedding.FullTableBytes(criteoLike, 16)
	prev := int64(0)
	for _, budget := range []int64{52 * 64, 1e5, 1e6, full / 1000, full / 100, full / 10, full / 2, full, 2 * full} {
		quo, rem, err := embedding.QRForBudget(budget, criteoLike, 16)
		if err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		cfg := embedding.Config{Method: "qr", Dim: 16, Rows: quo, RemRows: rem}
		got := cfg.ParamBytes()
		if got > budget {
			t.Fatalf("budget %d: %d bytes", budget, got)
		}
		for f := range quo {
			q, r, n := int64(quo[f]), int64(rem[f]), criteoLike[f]
			if q < 1 || r < 1 || q-r < 0 || q-r > 1 {
				t.Fatalf("budget %d field %d: split q %d r %d is not balanced", budget, f, q, r)
			}
			if q+r > max(2, n+1) {
				t.Fatalf("budget %d field %d: q+r %d above the full table's %d rows", budget, f, q+r, n+1)
			}
		}
		// The table grows with its budget until it has the full table's
		// rows: it uses all of a budget below the full table (but for less
		// than a row per field of rounding), and 1x is not 10x.
		if budget <= full && got < budget-int64(len(criteoLike))*16*4 {
			t.Fatalf("budget %d: only %d bytes used", budget, got)
		}
		if budget >= full && got != full {
			t.Fatalf("budget %d at or above the full table: %d bytes, want the full table's %d", budget, got, full)
		}
		if got < prev {
			t.Fatalf("budget %d: %d bytes, less than %d at a smaller budget", budget, got, prev)
		}
		prev = got
	}
	// Any cardinality: at an unbounded budget q+r is the full table's rows
	// (at least 2), split evenly; q·r then covers n.
	for n := int64(0); n < 3000; n++ {
		quo, rem, err := embedding.QRForBudget(1<<40, []int64{n}, 1)
		if err != nil {
			t.Fatal(err)
		}
		q, r := int64(quo[0]), int64(rem[0])
		if q+r != max(2, n+1) || q-r < 0 || q-r > 1 || q*r < n {
			t.Fatalf("n %d: q %d r %d", n, q, r)
		}
	}
}

func TestBudgetErrors(t *testing.T) {
	cases := []struct {
		name   string
		budget int64
		card   []int64
		dim    int
		want   error
	}{
		{"below one row per field", 3*16*4 - 1, []int64{10, 20, 30}, 16, embedding.ErrBudgetTooSmall},
		{"no fields", 1000, nil, 16, embedding.ErrConfig},
		{"dim", 1000, []int64{10}, 0, embedding.ErrConfig},
		{"negative budget", -1, []int64{10}, 1, embedding.ErrConfig},
		{"negative cardinality", 1000, []int64{-1}, 1, embedding.ErrConfig},
	}
	for _, c := range cases {
		if _, err := embedding.HashedForBudget(c.budget, c.card, c.dim); !errors.Is(err, c.want) {
			t.Errorf("hashed %s: error %v, want %v", c.name, err, c.want)
		}
	}
	if _, _, err := embedding.QRForBudget(3*2*16*4-1, []int64{10, 20, 30}, 16); !errors.Is(err, embedding.ErrBudgetTooSmall) {
		t.Errorf("qr below two rows per field: error %v", err)
	}
	if got := embedding.FullTableBytes([]int64{9, 0}, 2); got != 11*2*4 {
		t.Errorf("FullTableBytes = %d, want %d", got, 11*2*4)
	}
}

func TestHashedForBudgetDims(t *testing.T) {
	card := []int64{10, 1000, 100000}
	cases := []struct {
		name   string
		budget int64
		dims   []int
	}{
		{"uniform dims match HashedForBudget", 64 << 10, []int{16, 16, 16}},
		{"mixed", 64 << 10, []int{16, 2, 4}},
		{"generous: every field capped", 1 << 30, []int{8, 3, 1}},
		{"tight", 4 * (16 + 2 + 4), []int{16, 2, 4}},
	}
	for _, c := range cases {
		rows, err := embedding.HashedForBudgetDims(c.budget, card, c.dims)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var bytes int64
		for f, n := range rows {
			if n < 1 || int64(n) > card[f]+1 {
				t.Errorf("%s: field %d has %d rows", c.name, f, n)
			}
			bytes += int64(n) * int64(c.dims[f]) * 4
		}
		if bytes > c.budget {
			t.Errorf("%s: %d bytes over the budget %d", c.name, bytes, c.budget)
		}
		if c.name == "uniform dims match HashedForBudget" {
			want, _ := embedding.HashedForBudget(c.budget, card, 16)
			for f := range want {
				if want[f] != rows[f] {
					t.Errorf("uniform dims: %v, HashedForBudget %v", rows, want)
					break
				}
			}
		}
	}
	if _, err := embedding.HashedForBudgetDims(4*21, card, []int{16, 2, 4}); !errors.Is(err, embedding.ErrBudgetTooSmall) {
		t.Errorf("below the minimum: %v", err)
	}
}
