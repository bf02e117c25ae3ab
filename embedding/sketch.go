package embedding

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// SpaceSaving is the Space-Saving heavy-hitter sketch (Metwally, Agrawal
// and El Abbadi 2005, "Efficient Computation of Frequent and Top-k Elements
// in Data Streams"): it finds the most frequent ids of a stream too large
// for an exact count, in memory proportional to its capacity m.
//
// It monitors at most m ids, each with a count and an error bound. An id
// already monitored has its count raised; a new id is added while there is
// room, and otherwise replaces the monitored id of least count c, starting
// at count c+w with error c. After a stream of total weight N:
//
//   - Counts never underestimate: for a monitored id of true frequency f,
//     Count-Err <= f <= Count.
//   - The least count (0 until the sketch is full) is at most N/m, and an id
//     that is not monitored has f <= the least count.
//   - Hence every id with f > N/m is monitored, and the k ids of largest
//     Count hold every id more frequent than the (k+1)-th Count.
//   - Once the sketch is full, the counts sum to N.
//
// Updates cost O(log m) (a min-heap keyed by count plus a hash map). A
// SpaceSaving is not safe for concurrent use.
type SpaceSaving struct {
	capacity int
	n        uint64
	heap     []HeavyHitter    // min-heap by (Count, ID)
	pos      map[uint64]int32 // id -> index in heap
}

// HeavyHitter is an id monitored by a [SpaceSaving] sketch: its true
// frequency f satisfies Count-Err <= f <= Count.
type HeavyHitter struct {
	ID    uint64
	Count uint64
	Err   uint64
}

// NewSpaceSaving returns an empty sketch monitoring at most capacity ids.
// It guarantees to find every id more frequent than N/capacity. The error
// wraps [ErrConfig] if capacity is not positive or above [MaxRows].
func NewSpaceSaving(capacity int) (*SpaceSaving, error) {
	if capacity < 1 || capacity > MaxRows {
		return nil, fmt.Errorf("space-saving sketch: capacity %d: %w", capacity, ErrConfig)
	}
	return &SpaceSaving{
		capacity: capacity,
		heap:     make([]HeavyHitter, 0, min(capacity, 1<<16)),
		pos:      make(map[uint64]int32, min(capacity, 1<<16)),
	}, nil
}

// Capacity returns the most ids the sketch monitors.
func (s *SpaceSaving) Capacity() int { return s.capacity }

// Len returns the number of ids monitored.
func (s *SpaceSaving) Len() int { return len(s.heap) }

// N returns the total weight observed (saturating at 2⁶⁴-1).
func (s *SpaceSaving) N() uint64 { return s.n }

// Bytes estimates the sketch's memory: its heap and the hash map (about 16
// bytes an entry plus load slack).
func (s *SpaceSaving) Bytes() int64 {
	return int64(cap(s.heap))*24 + int64(len(s.pos))*24
}

// MinCount returns the least monitored count once the sketch is full, and
// 0 before: an id not monitored has at most this frequency.
func (s *SpaceSaving) MinCount() uint64 {
	if len(s.heap) < s.capacity {
		return 0
	}
	return s.heap[0].Count
}

// Add observes id once.
func (s *SpaceSaving) Add(id uint64) { s.AddN(id, 1) }

// AddN observes id w times (w = 0 is ignored). Counts saturate at 2⁶⁴-1.
func (s *SpaceSaving) AddN(id uint64, w uint64) {
	if w == 0 {
		return
	}
	s.n = satAdd(s.n, w)
	if i, ok := s.pos[id]; ok {
		s.heap[i].Count = satAdd(s.heap[i].Count, w)
		s.down(int(i))
		return
	}
	if len(s.heap) < s.capacity {
		s.heap = append(s.heap, HeavyHitter{ID: id, Count: w})
		s.pos[id] = int32(len(s.heap) - 1)
		s.up(len(s.heap) - 1)
		return
	}
	// Replace the least counted id: the newcomer inherits its count as
	// error.
	old := s.heap[0]
	delete(s.pos, old.ID)
	s.heap[0] = HeavyHitter{ID: id, Count: satAdd(old.Count, w), Err: old.Count}
	s.pos[id] = 0
	s.down(0)
}

// FieldSketches holds one [SpaceSaving] sketch per field, for streams of
// row-major batches (ids[b*len(s)+f] is field f of example b). Not safe for
// concurrent use.
type FieldSketches []*SpaceSaving

// NewFieldSketches returns fields empty sketches of the given capacity
// each. The error wraps [ErrConfig].
func NewFieldSketches(fields, capacity int) (FieldSketches, error) {
	if fields < 1 {
		return nil, fmt.Errorf("field sketches: %d fields: %w", fields, ErrConfig)
	}
	s := make(FieldSketches, fields)
	for f := range s {
		var err error
		if s[f], err = NewSpaceSaving(capacity); err != nil {
			return nil, fmt.Errorf("field sketches: %w", err)
		}
	}
	return s, nil
}

// Observe adds every id of a row-major batch to the sketch of its field.
// It panics if len(ids) is not a multiple of len(s).
func (s FieldSketches) Observe(ids []uint64) {
	if len(s) == 0 || len(ids)%len(s) != 0 {
		panic(fmt.Sprintf("embedding: FieldSketches.Observe: %d ids for %d fields", len(ids), len(s)))
	}
	f := 0
	for _, id := range ids {
		s[f].Add(id)
		if f++; f == len(s) {
			f = 0
		}
	}
}

// Frequencies returns each field's [SpaceSaving.Frequencies], the input of
// [HybridForBudget].
func (s FieldSketches) Frequencies() []Frequencies {
	out := make([]Frequencies, len(s))
	for f, sk := range s {
		out[f] = sk.Frequencies()
	}
	return out
}

// Estimate returns the monitored count and error of id; ok is false if id
// is not monitored (its frequency is then at most MinCount).
func (s *SpaceSaving) Estimate(id uint64) (h HeavyHitter, ok bool) {
	i, ok := s.pos[id]
	if !ok {
		return HeavyHitter{ID: id}, false
	}
	return s.heap[i], true
}

// Top returns the k monitored ids of largest count (all of them if k <= 0
// or k >= Len), by decreasing count and then increasing id. An id is a
// guaranteed member of the true top k when its Count-Err is at least the
// (k+1)-th Count.
func (s *SpaceSaving) Top(k int) []HeavyHitter {
	out := slices.Clone(s.heap)
	slices.SortFunc(out, func(a, b HeavyHitter) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if k > 0 && k < len(out) {
		out = out[:k]
	}
	return out
}

// Frequencies returns the monitored ids and their counts (saturated to
// uint32) in the form [HybridForBudget] takes. Distinct is left 0: the
// sketch does not know how many distinct ids the stream had.
func (s *SpaceSaving) Frequencies() Frequencies {
	fr := Frequencies{IDs: make([]uint64, len(s.heap)), Counts: make([]uint32, len(s.heap))}
	for i, h := range s.heap {
		fr.IDs[i] = h.ID
		fr.Counts[i] = uint32(min(h.Count, math.MaxUint32))
	}
	return fr
}

func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

// less orders the heap by count, then id, so that ties are broken the same
// way on every run.
func (s *SpaceSaving) less(i, j int) bool {
	a, b := &s.heap[i], &s.heap[j]
	return a.Count < b.Count || a.Count == b.Count && a.ID < b.ID
}

func (s *SpaceSaving) swap(i, j int) {
	h := s.heap
	h[i], h[j] = h[j], h[i]
	s.pos[h[i].ID] = int32(i)
	s.pos[h[j].ID] = int32(j)
}

func (s *SpaceSaving) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *SpaceSaving) down(i int) {
	n := len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			return
		}
		s.swap(i, m)
		i = m
	}
}
