package hotsketch

import (
	"bytes"
	"errors"
	"math/rand"
	"slices"
	"testing"

	"github.com/embtab/embtab/hashing"
)

func mustNew(t testing.TB, c Config) *Sketch {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// zipfStream returns n keys drawn from a Zipf law of exponent a over
// universe ranks (rank r is key hashing.Mix64(r+salt)), with the true
// count of each key.
func zipfStream(n int, a float64, universe uint64, seed int64, salt uint64) ([]uint64, map[uint64]int) {
	z := rand.NewZipf(rand.New(rand.NewSource(seed)), a, 1, universe-1)
	keys := make([]uint64, n)
	counts := map[uint64]int{}
	for i := range keys {
		keys[i] = hashing.Mix64(z.Uint64() + salt)
		counts[keys[i]]++
	}
	return keys, counts
}

// topK returns the k keys of largest count (ties by key).
func topK(counts map[uint64]int, k int) []uint64 {
	keys := make([]uint64, 0, len(counts))
	for key := range counts {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, func(a, b uint64) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		if a < b {
			return -1
		}
		return 1
	})
	return keys[:min(k, len(keys))]
}

func recall(got, want []uint64) float64 {
	n := 0
	for _, k := range want {
		if slices.Contains(got, k) {
			n++
		}
	}
	return float64(n) / float64(len(want))
}

// TestRecallZipf: on Zipf streams, the keys the sketch reports hot (its
// capacity is k) are the stream's true top k, better with more slots per
// reported key. (The sketch's scores are upper bounds: a slot that
// replaced another inherits its score, so ranking every slot by score is
// not a top-k estimate; the hot set is what the sketch reports.)
func TestRecallZipf(t *testing.T) {
	const k = 200
	for _, tc := range []struct {
		name      string
		a         float64
		slotsPerK int // SlotsPerBucket·Buckets / k
		threshold float32
		minRecall float64 // of the true top k among the hot keys
		min2k     float64 // fraction of the hot keys in the true top 2k
	}{
		{"a1.1/slots=1k", 1.1, 1, 50, 0.55, 0.7},
		{"a1.1/slots=4k", 1.1, 4, 50, 0.68, 0.8},
		{"a1.1/slots=16k", 1.1, 16, 50, 0.9, 0.97},
		{"a1.1/slots=4k/threshold=200", 1.1, 4, 200, 0.6, 0.75},
		{"a1.3/slots=4k", 1.3, 4, 50, 0.75, 0.88},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, counts := zipfStream(400_000, tc.a, 1_000_000, 1, 0)
			s := mustNew(t, Config{Buckets: tc.slotsPerK * k / SlotsPerBucket, Capacity: k, Threshold: tc.threshold, Decay: 1})
			for _, key := range keys {
				s.Insert(key, 1)
			}
			var hot []uint64
			for h := range k {
				key, ok := s.Owner(h)
				if !ok {
					continue
				}
				if got, ok := s.Hot(key); !ok || got != h {
					t.Fatalf("Owner(%d) = %x, but Hot says %d, %v", h, key, got, ok)
				}
				hot = append(hot, key)
			}
			r, r2 := recall(hot, topK(counts, k)), recall(topK(counts, 2*k), hot)
			t.Logf("%d hot keys with %d slots: recall@%d %.3f, %.3f of them in the true top %d", len(hot), len(s.slots), k, r, r2, 2*k)
			if r < tc.minRecall || r2 < tc.min2k {
				t.Errorf("recall@%d = %.3f (want >= %.2f), %.3f of the hot keys in the top %d (want >= %.2f)", k, r, tc.minRecall, r2, 2*k, tc.min2k)
			}
		})
	}
}

// TestInsert: the slot rules of the package doc, one bucket.
func TestInsert(t *testing.T) {
	s := mustNew(t, Config{Buckets: 1, Capacity: 2, Threshold: 10, Decay: 1})
	steps := []struct {
		key      uint64
		score    float32
		hot      bool // key hot after the insertion
		promoted bool
		wantSc   float32 // key's score after
	}{
		{1, 4, false, false, 4},
		{2, 3, false, false, 3},
		{3, 2, false, false, 2},
		{4, 1, false, false, 1},
		{5, 0.5, false, false, 1.5}, // full: replaces key 4 (the smallest) and inherits its 1
		{1, 6, true, true, 10},      // reaches the threshold: handle 0
		{1, 1, true, false, 11},     // already hot
		{6, 0, false, false, 0},     // zero scores are ignored
		{2, 20, true, true, 23},     // handle 1: the capacity is reached
		{3, 30, false, false, 32},   // over the threshold, but no handle is free
	}
	for i, st := range steps {
		h, p := s.Insert(st.key, st.score)
		if (h >= 0) != st.hot || p != st.promoted {
			t.Fatalf("step %d: Insert(%d, %v) = %d, %v; want hot %v, promoted %v", i, st.key, st.score, h, p, st.hot, st.promoted)
		}
		if got := s.Score(st.key); got != st.wantSc {
			t.Fatalf("step %d: Score(%d) = %v, want %v", i, st.key, got, st.wantSc)
		}
	}
	if s.Score(4) != 0 {
		t.Errorf("replaced key 4 still has score %v", s.Score(4))
	}
	// The bucket is sorted; the smallest slot (key 5) is replaced next.
	var order []uint64
	s.Each(func(key uint64, _ float32, _ int) { order = append(order, key) })
	if !slices.Equal(order, []uint64{3, 2, 1, 5}) {
		t.Fatalf("bucket order %v, want [3 2 1 5] (by score)", order)
	}
	s.Insert(7, 1)
	if s.Score(5) != 0 || s.Score(7) != 2.5 {
		t.Fatalf("after a new key in a full bucket: scores 5: %v, 7: %v; want 0, 2.5", s.Score(5), s.Score(7))
	}
	// Hot slots are never replaced: with every slot hot, a new key is dropped.
	all := mustNew(t, Config{Buckets: 1, Capacity: 4, Threshold: 1, Decay: 1})
	for k := range uint64(4) {
		all.Insert(k, 1)
	}
	if all.Len() != 4 {
		t.Fatalf("%d hot keys, want 4", all.Len())
	}
	if h, _ := all.Insert(9, 100); h >= 0 || all.Score(9) != 0 {
		t.Fatalf("a key displaced a hot slot (handle %d, score %v)", h, all.Score(9))
	}
}

// TestDecay: a decay scales every score and demotes the hot keys that
// fall below the threshold, freeing their handles first in, first out; it
// comes every DecayEvery of inserted score; after a shift of the stream
// the hot set follows the new distribution.
func TestDecay(t *testing.T) {
	s := mustNew(t, Config{Buckets: 8, Capacity: 3, Threshold: 10, Decay: 0.5, DecayEvery: 1e9})
	for key, sc := range []float32{12, 30, 11} {
		if _, p := s.Insert(uint64(key), sc); !p {
			t.Fatalf("key %d (score %v) not promoted", key, sc)
		}
	}
	s.Insert(9, 4)
	if n := s.Decay(); n != 2 {
		t.Fatalf("Decay demoted %d keys, want 2 (keys 0 and 2 fall below 10)", n)
	}
	for key, want := range map[uint64]float32{0: 6, 1: 15, 2: 5.5, 9: 2} {
		if got := s.Score(key); got != want {
			t.Errorf("after a decay of 0.5, Score(%d) = %v, want %v", key, got, want)
		}
	}
	if _, ok := s.Hot(1); !ok || s.Len() != 1 {
		t.Fatalf("key 1 (15 after the decay) should stay hot alone: Len %d", s.Len())
	}
	// The freed handles (0 and 2, of keys 0 and 2) are handed out in order.
	h, p := s.Insert(20, 10)
	h2, p2 := s.Insert(21, 10)
	if !p || !p2 || h != 0 && h != 2 || h2 != 2 && h2 != 0 || h == h2 {
		t.Fatalf("new hot keys got handles %d, %d (promoted %v, %v): want the two freed ones", h, h2, p, p2)
	}

	// Automatic decay: every DecayEvery of score.
	a := mustNew(t, Config{Buckets: 4, Capacity: 1, Threshold: 1, Decay: 0.9, DecayEvery: 10})
	for range 25 {
		a.Insert(1, 1)
	}
	if a.Decays() != 2 {
		t.Fatalf("%d decays after a score of 25 at one per 10, want 2", a.Decays())
	}

	// Drift: stream A, then stream B over other keys; with decay, the hot
	// keys at the end are mostly B's top keys.
	const k = 50
	d := mustNew(t, Config{Buckets: 4 * k, Capacity: k, Threshold: 20, Decay: 0.5})
	ka, _ := zipfStream(100_000, 1.2, 100_000, 2, 1<<40)
	kb, cb := zipfStream(400_000, 1.2, 100_000, 3, 2<<40)
	for _, key := range ka {
		d.Insert(key, 1)
	}
	for _, key := range kb {
		d.Insert(key, 1)
	}
	if d.Decays() == 0 {
		t.Fatal("no decay in 500k insertions")
	}
	var hot []uint64
	for h := range k {
		if key, ok := d.Owner(h); ok {
			hot = append(hot, key)
		}
	}
	if f := recall(topK(cb, 4*k), hot); len(hot) < k/2 || f < 0.8 {
		t.Errorf("after the shift, %d hot keys, %.2f of them in B's top %d: want most hot keys from B", len(hot), f, 4*k)
	}
	// Without decay the early hot keys stay.
	nd := mustNew(t, Config{Buckets: 4 * k, Capacity: k, Threshold: 20, Decay: 1})
	for _, key := range append(append([]uint64(nil), ka...), kb...) {
		nd.Insert(key, 1)
	}
	hot = hot[:0]
	for h := range k {
		if key, ok := nd.Owner(h); ok {
			hot = append(hot, key)
		}
	}
	if f := recall(topK(cb, 2*k), hot); f > 0.2 {
		t.Errorf("without decay %.2f of the hot keys are B's: the A keys should hold the handles", f)
	}
}

// TestSaveLoad: a loaded sketch answers and continues exactly as the
// saved one; bad streams are refused and leave the sketch unchanged.
func TestSaveLoad(t *testing.T) {
	c := Config{Buckets: 64, Capacity: 40, Threshold: 5, Decay: 0.8, Seed: 7}
	keys, _ := zipfStream(20_000, 1.1, 10_000, 4, 0)
	a := mustNew(t, c)
	for _, key := range keys[:10_000] {
		a.Insert(key, 1)
	}
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	b := mustNew(t, c)
	if err := b.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	for _, key := range keys[10_000:] {
		ha, pa := a.Insert(key, 1)
		hb, pb := b.Insert(key, 1)
		if ha != hb || pa != pb {
			t.Fatalf("after Load, Insert(%x) = %d, %v; the saved sketch %d, %v", key, hb, pb, ha, pa)
		}
	}
	var sa, sb bytes.Buffer
	if err := a.Save(&sa); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(&sb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sa.Bytes(), sb.Bytes()) {
		t.Fatal("the loaded sketch's state diverged")
	}
	data := buf.Bytes()
	other := c
	other.Seed = 8
	for _, tc := range []struct {
		name string
		into Config
		data []byte
	}{
		{"empty", c, nil},
		{"truncated", c, data[:len(data)-1]},
		{"bad magic", c, append([]byte{'X'}, data[1:]...)},
		{"other config", other, data},
		{"handle out of range", c, corruptSlotHandle(data, c)},
	} {
		s := mustNew(t, tc.into)
		var before bytes.Buffer
		s.Save(&before)
		if err := s.Load(bytes.NewReader(tc.data)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Load = %v, want ErrCorrupt", tc.name, err)
		}
		var after bytes.Buffer
		s.Save(&after)
		if !bytes.Equal(before.Bytes(), after.Bytes()) {
			t.Errorf("%s: a failed Load changed the sketch", tc.name)
		}
	}
}

// corruptSlotHandle returns data with the first slot's handle set past
// the capacity.
func corruptSlotHandle(data []byte, c Config) []byte {
	d := slices.Clone(data)
	o := headerBytes + 12
	d[o], d[o+1], d[o+2], d[o+3] = byte(c.Capacity), 0, 0, 0
	return d
}

func TestConfig(t *testing.T) {
	for _, c := range []Config{
		{Buckets: 0, Capacity: 1, Threshold: 1},
		{Buckets: 1, Capacity: -1, Threshold: 1},
		{Buckets: 1, Capacity: 1, Threshold: 0},
		{Buckets: 1, Capacity: 1, Threshold: 1, Decay: 1.5},
		{Buckets: 1, Capacity: 1, Threshold: 1, DecayEvery: -1},
	} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", c, err)
		}
	}
	s := mustNew(t, Config{Buckets: 3, Capacity: 0, Threshold: 2})
	if c := s.Config(); c.Decay != DefaultDecay || c.DecayEvery != DecayPeriods*2*3 {
		t.Errorf("defaults: %+v", c)
	}
	if h, p := s.Insert(1, 100); h >= 0 || p {
		t.Errorf("a sketch of capacity 0 made a key hot")
	}
}

func TestInsertAllocs(t *testing.T) {
	s := mustNew(t, Config{Buckets: 64, Capacity: 16, Threshold: 3, Decay: 0.5, DecayEvery: 100})
	keys, _ := zipfStream(1000, 1.1, 5000, 5, 0)
	if n := testing.AllocsPerRun(5, func() {
		for _, k := range keys {
			s.Insert(k, 1)
		}
	}); n != 0 {
		t.Errorf("Insert allocates %v times per 1000 insertions", n)
	}
}

func BenchmarkInsert(b *testing.B) {
	s := mustNew(b, Config{Buckets: 1 << 16, Capacity: 1 << 16, Threshold: 50})
	keys, _ := zipfStream(1<<16, 1.1, 1<<22, 6, 0)
	b.ResetTimer()
	for i := range b.N {
		s.Insert(keys[i&(1<<16-1)], 1)
	}
}
