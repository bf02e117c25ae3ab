package embedding_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/embedding"
)

// stream is a test stream of ids with weights.
type stream struct {
	name    string
	ids     []uint64
	weights []uint64 // nil: all 1
}

func zipfStream(n int, s float64, imax uint64, seed uint64) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 1)), s, 1, imax)
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = z.Uint64()*0x9E3779B97F4A7C15 + 7 // spread, never 0
	}
	return ids
}

func sketchStreams() []stream {
	rng := rand.New(rand.NewPCG(3, 4))
	uniform := make([]uint64, 20000)
	for i := range uniform {
		uniform[i] = rng.Uint64N(5000)
	}
	// Adversarial for Space-Saving: a long run of distinct ids between
	// bursts of a few heavy ones keeps evicting the light counters.
	var adv []uint64
	for round := range 200 {
		for h := range 5 {
			for range 10 {
				adv = append(adv, uint64(h))
			}
		}
		for k := range 100 {
			adv = append(adv, uint64(1000+round*100+k))
		}
	}
	// Ascending blocks: every id appears once, heavy ids last.
	var blocks []uint64
	for k := range 3000 {
		blocks = append(blocks, uint64(k))
	}
	for h := range 10 {
		for range 400 {
			blocks = append(blocks, uint64(1<<40+h))
		}
	}
	weighted := zipfStream(5000, 1.2, 1<<20, 9)
	w := make([]uint64, len(weighted))
	for i := range w {
		w[i] = 1 + rng.Uint64N(20)
	}
	return []stream{
		{name: "zipf1.1", ids: zipfStream(50000, 1.1, 1<<20, 1)},
		{name: "zipf2", ids: zipfStream(50000, 2, 1<<20, 2)},
		{name: "uniform", ids: uniform},
		{name: "adversarial", ids: adv},
		{name: "blocks", ids: blocks},
		{name: "weighted", ids: weighted, weights: w},
	}
}

func TestSpaceSavingGuarantees(t *testing.T) {
	for _, st := range sketchStreams() {
		for _, capacity := range []int{1, 16, 100, 1000} {
			t.Run(fmt.Sprintf("%s/%d", st.name, capacity), func(t *testing.T) {
				s := must(embedding.NewSpaceSaving(capacity))
				exact := make(map[uint64]uint64)
				var n uint64
				for i, id := range st.ids {
					w := uint64(1)
					if st.weights != nil {
						w = st.weights[i]
					}
					s.AddN(id, w)
					exact[id] += w
					n += w
				}
				if s.N() != n {
					t.Fatalf("N() = %d, want %d", s.N(), n)
				}
				if s.Len() != min(capacity, len(exact)) {
					t.Fatalf("Len() = %d, want %d", s.Len(), min(capacity, len(exact)))
				}
				minCount := s.MinCount()
				if s.Len() == capacity && minCount*uint64(capacity) > n {
					t.Errorf("least count %d > N/m = %d/%d", minCount, n, capacity)
				}
				top := s.Top(0)
				var sum uint64
				for _, h := range top {
					f := exact[h.ID]
					if h.Count < f || h.Count-h.Err > f {
						t.Fatalf("id %d: count %d err %d does not bound frequency %d", h.ID, h.Count, h.Err, f)
					}
					if h.Err > minCount {
						t.Fatalf("id %d: err %d above the least count %d", h.ID, h.Err, minCount)
					}
					sum += h.Count
				}
				if s.Len() == capacity && sum != n {
					t.Errorf("counts sum to %d, want N = %d", sum, n)
				}
				for id, f := range exact {
					_, ok := s.Estimate(id)
					if f > minCount && !ok {
						t.Fatalf("id %d of frequency %d > least count %d is not monitored", id, f, minCount)
					}
					if f*uint64(capacity) > n && !ok {
						t.Fatalf("id %d of frequency %d > N/m is not monitored", id, f)
					}
				}
				for i := 1; i < len(top); i++ {
					if top[i].Count > top[i-1].Count {
						t.Fatalf("Top is not sorted by decreasing count at %d", i)
					}
				}
				// Top(k) holds every id more frequent than the (k+1)-th count.
				for _, k := range []int{1, 5, 10} {
					if k >= len(top) {
						continue
					}
					in := make(map[uint64]bool)
					for _, h := range s.Top(k) {
						in[h.ID] = true
					}
					for id, f := range exact {
						if f > top[k].Count && !in[id] {
							t.Fatalf("Top(%d) misses id %d of frequency %d > %d", k, id, f, top[k].Count)
						}
					}
				}
			})
		}
	}
}

func TestSpaceSavingExactBelowCapacity(t *testing.T) {
	s := must(embedding.NewSpaceSaving(10))
	for i := range 10 {
		for range i + 1 {
			s.Add(uint64(i))
		}
	}
	s.AddN(3, 0) // ignored
	top := s.Top(3)
	want := []embedding.HeavyHitter{{ID: 9, Count: 10}, {ID: 8, Count: 9}, {ID: 7, Count: 8}}
	if !slices.Equal(top, want) {
		t.Fatalf("Top(3) = %v, want %v", top, want)
	}
	if h, ok := s.Estimate(0); !ok || h.Count != 1 || h.Err != 0 {
		t.Fatalf("Estimate(0) = %v, %t", h, ok)
	}
	if _, ok := s.Estimate(42); ok {
		t.Fatal("Estimate of an unseen id reports it monitored")
	}
	if s.MinCount() != 1 {
		t.Fatalf("MinCount = %d, want 1", s.MinCount())
	}
	// A new id replaces the least counted one and inherits its count.
	s.Add(100)
	if h, ok := s.Estimate(100); !ok || h.Count != 2 || h.Err != 1 {
		t.Fatalf("after replacement Estimate(100) = %v, %t; want count 2, err 1", h, ok)
	}
	if _, ok := s.Estimate(0); ok {
		t.Fatal("the least counted id was not evicted")
	}
	if s.Bytes() <= 0 {
		t.Fatalf("Bytes = %d", s.Bytes())
	}
}

func TestSpaceSavingErrors(t *testing.T) {
	for _, c := range []int{0, -1, embedding.MaxRows + 1} {
		if _, err := embedding.NewSpaceSaving(c); !errors.Is(err, embedding.ErrConfig) {
			t.Errorf("NewSpaceSaving(%d): err %v, want ErrConfig", c, err)
		}
	}
	if _, err := embedding.NewFieldSketches(0, 10); !errors.Is(err, embedding.ErrConfig) {
		t.Errorf("NewFieldSketches(0, 10): err %v, want ErrConfig", err)
	}
}

func TestFieldSketches(t *testing.T) {
	s := must(embedding.NewFieldSketches(3, 8))
	// Field f sees id f+10 in every example and id 99 in example 0 only.
	ids := []uint64{10, 11, 99, 10, 11, 12, 10, 11, 12}
	s.Observe(ids)
	fr := s.Frequencies()
	if len(fr) != 3 {
		t.Fatalf("%d frequencies, want 3", len(fr))
	}
	for f, want := range []map[uint64]uint32{{10: 3}, {11: 3}, {12: 2, 99: 1}} {
		got := make(map[uint64]uint32)
		for i, id := range fr[f].IDs {
			got[id] = fr[f].Counts[i]
		}
		if len(got) != len(want) || fr[f].Distinct != 0 {
			t.Fatalf("field %d: frequencies %v (distinct %d), want %v", f, got, fr[f].Distinct, want)
		}
		for id, c := range want {
			if got[id] != c {
				t.Fatalf("field %d: frequencies %v, want %v", f, got, want)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Observe of a partial example did not panic")
		}
	}()
	s.Observe(ids[:4])
}
