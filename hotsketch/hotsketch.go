// Package hotsketch is HotSketch, the streaming sketch of CAFE (Zhang et
// al., "CAFE: Towards Compact, Adaptive, and Fast Embedding for
// Large-scale Recommendation Models", SIGMOD'24; reference code
// github.com/HugoZHL/CAFE, embeddings/sketch.cpp): it finds the keys of a
// stream whose accumulated score (an id's gradient norms, or its
// frequency) is large, in memory proportional to the number of keys it
// reports, and admits at most Capacity of them as "hot", each with a
// handle in [0, Capacity) that stays its own while it is hot (a CAFE table
// gives the id of a hot handle its own embedding row; online training
// uses the same sketch as its admission policy).
//
// # Structure
//
// Keys hash to one of Buckets buckets of [SlotsPerBucket] (4) slots; a
// slot holds a key, its score and its handle (or none). Slots of a bucket
// stay sorted by score, largest first. [Sketch.Insert] adds a score to
// its key: a key already in its bucket adds to its slot; a new key takes
// an empty slot, or, when the bucket is full, replaces the bucket's
// smallest slot and inherits its score (as Space-Saving does, so a score
// never underestimates a key's total while it stays in the sketch) unless
// that slot is hot, in which case the insertion is dropped. A key whose
// own slot reaches Threshold becomes hot when a handle is free (handles
// are handed out first in, first out). Every DecayEvery of total inserted
// score, [Sketch.Decay] multiplies every score by Decay and demotes the
// hot keys whose score falls below Threshold, freeing their handles: the
// hot set follows a drifting stream.
//
// # Choices, and where we differ from the reference
//
//   - The reference promotes only a key already in its bucket; we also
//     promote a new key that takes an empty slot when its first score
//     reaches Threshold (its score is exact there). A key that replaced
//     another is not promoted on that insertion, as in the reference.
//   - The reference does not keep a bucket sorted when a key takes an
//     empty slot; we do, so that the smallest slot is always the last.
//   - The reference checks for a decay once per batch; Insert checks
//     before every insertion (the same rule, finer grained, and no notion
//     of a batch in the API).
//   - Scores of zero, negative or NaN are ignored (a zero gradient says
//     nothing about a key's importance).
//
// Keys are uint64 (hashed ids; a caller with several fields salts its
// keys per field). Two keys are the same key only if they are equal.
//
// # Concurrency
//
// Hot, Score, Owner, Len and Each are safe for concurrent use with each
// other; Insert, Decay and Load need exclusive access. A Sketch does not
// allocate after New (Load reuses its arrays).
package hotsketch

import (
	"errors"
	"fmt"
	"math"

	"github.com/embtab/embtab/hashing"
)

// SlotsPerBucket is the number of slots of a bucket.
const SlotsPerBucket = 4

// DefaultDecay is the decay factor of a Config that gives none (the
// reference's default).
const DefaultDecay = 0.99

// DecayPeriods is the reference's decay period in units of
// Threshold·Buckets: with DecayEvery 0, a decay follows every
// DecayPeriods·Threshold·Buckets of inserted score.
const DecayPeriods = 10

// ErrConfig reports an invalid Config; ErrCorrupt a state stream that
// does not fit its sketch.
var (
	ErrConfig  = errors.New("hotsketch: invalid configuration")
	ErrCorrupt = errors.New("hotsketch: corrupt sketch state")
)

// Config shapes a Sketch.
type Config struct {
	// Buckets is the number of buckets (>= 1); the sketch tracks
	// SlotsPerBucket·Buckets keys.
	Buckets int `json:"buckets"`
	// Capacity is the most keys hot at once (>= 0); handles are
	// [0, Capacity).
	Capacity int `json:"capacity"`
	// Threshold is the score at which a key becomes hot (> 0).
	Threshold float32 `json:"threshold"`
	// Decay is the factor every score is multiplied by at a decay, in
	// (0, 1]; 0 means DefaultDecay, 1 no decay.
	Decay float32 `json:"decay"`
	// DecayEvery is the total inserted score between decays; 0 means
	// DecayPeriods·Threshold·Buckets.
	DecayEvery float64 `json:"decay_every"`
	// Seed seeds the bucket hash.
	Seed uint64 `json:"seed"`
}

// WithDefaults returns c with its zero fields defaulted, or an error
// wrapping ErrConfig.
func (c Config) WithDefaults() (Config, error) {
	if c.Decay == 0 {
		c.Decay = DefaultDecay
	}
	if c.DecayEvery == 0 {
		c.DecayEvery = DecayPeriods * float64(c.Threshold) * float64(c.Buckets)
	}
	switch {
	case c.Buckets < 1 || c.Buckets > math.MaxInt32/SlotsPerBucket:
		return c, fmt.Errorf("hotsketch: %d buckets: %w", c.Buckets, ErrConfig)
	case c.Capacity < 0 || c.Capacity >= math.MaxInt32:
		return c, fmt.Errorf("hotsketch: capacity %d: %w", c.Capacity, ErrConfig)
	case !(c.Threshold > 0) || math.IsInf(float64(c.Threshold), 0):
		return c, fmt.Errorf("hotsketch: threshold %v: %w", c.Threshold, ErrConfig)
	case !(c.Decay > 0 && c.Decay <= 1):
		return c, fmt.Errorf("hotsketch: decay %v not in (0, 1]: %w", c.Decay, ErrConfig)
	case !(c.DecayEvery > 0):
		return c, fmt.Errorf("hotsketch: decay every %v: %w", c.DecayEvery, ErrConfig)
	}
	return c, nil
}

// noHandle marks a slot that is not hot.
const noHandle = math.MaxUint32

// slot is one tracked key; score 0 marks an empty slot.
type slot struct {
	key    uint64
	score  float32
	handle uint32
}

// Sketch is a HotSketch. Build one with New.
type Sketch struct {
	cfg   Config
	slots []slot // Buckets·SlotsPerBucket, bucket b at [4b, 4b+4)

	// free handles: a ring of Capacity entries, n of them from head.
	ring        []uint32
	head, nfree int
	owner       []uint64 // key of each handle in use
	inUse       []bool

	total  float64 // score inserted since the last decay
	decays uint64  // decays so far
}

// New returns an empty sketch; every handle is free.
func New(c Config) (*Sketch, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sketch{cfg: c, slots: make([]slot, c.Buckets*SlotsPerBucket),
		ring: make([]uint32, c.Capacity), owner: make([]uint64, c.Capacity), inUse: make([]bool, c.Capacity)}
	s.Reset()
	return s, nil
}

// Reset empties the sketch: no key tracked, every handle free.
func (s *Sketch) Reset() {
	for i := range s.slots {
		s.slots[i] = slot{handle: noHandle}
	}
	for h := range s.ring {
		s.ring[h] = uint32(h)
		s.inUse[h] = false
		s.owner[h] = 0
	}
	s.head, s.nfree = 0, len(s.ring)
	s.total, s.decays = 0, 0
}

// Config returns the sketch's config, defaults filled in.
func (s *Sketch) Config() Config { return s.cfg }

// Len returns the number of hot keys.
func (s *Sketch) Len() int { return s.cfg.Capacity - s.nfree }

// Decays returns the number of decays so far.
func (s *Sketch) Decays() uint64 { return s.decays }

// Bytes returns the sketch's memory: its slots (16 bytes each) and its
// per-handle arrays (13 bytes a handle).
func (s *Sketch) Bytes() int64 {
	return int64(len(s.slots))*16 + int64(s.cfg.Capacity)*13
}

// bucket returns the slots of key's bucket.
func (s *Sketch) bucket(key uint64) []slot {
	b := int(hashing.Bucket(hashing.Mix64(key^s.cfg.Seed), uint64(s.cfg.Buckets)))
	return s.slots[b*SlotsPerBucket : (b+1)*SlotsPerBucket : (b+1)*SlotsPerBucket]
}

// Hot returns key's handle if it is hot.
func (s *Sketch) Hot(key uint64) (handle int, ok bool) {
	for _, sl := range s.bucket(key) {
		if sl.score > 0 && sl.key == key {
			if sl.handle != noHandle {
				return int(sl.handle), true
			}
			return -1, false
		}
	}
	return -1, false
}

// Score returns key's score (0 if the sketch does not track it).
func (s *Sketch) Score(key uint64) float32 {
	for _, sl := range s.bucket(key) {
		if sl.score > 0 && sl.key == key {
			return sl.score
		}
	}
	return 0
}

// Owner returns the key that holds handle h, if it is in use.
func (s *Sketch) Owner(h int) (key uint64, ok bool) {
	if h < 0 || h >= len(s.inUse) || !s.inUse[h] {
		return 0, false
	}
	return s.owner[h], true
}

// Each calls fn for every tracked key with its score and its handle (-1
// when it is not hot), bucket by bucket.
func (s *Sketch) Each(fn func(key uint64, score float32, handle int)) {
	for _, sl := range s.slots {
		if sl.score > 0 {
			h := -1
			if sl.handle != noHandle {
				h = int(sl.handle)
			}
			fn(sl.key, sl.score, h)
		}
	}
}

// Insert adds score to key (see the package doc) and returns key's handle
// when it is hot after the insertion (-1 otherwise), and whether this
// insertion made it hot. A decay due before the insertion happens first.
func (s *Sketch) Insert(key uint64, score float32) (handle int, promoted bool) {
	if !(score > 0) || math.IsInf(float64(score), 0) {
		return s.Hot(key)
	}
	if s.total >= s.cfg.DecayEvery {
		s.Decay()
	}
	s.total += float64(score)
	b := s.bucket(key)
	i := 0
	for ; i < SlotsPerBucket; i++ {
		if b[i].score == 0 || b[i].key == key {
			break
		}
	}
	switch {
	case i < SlotsPerBucket && b[i].score > 0: // the key's slot
		b[i].score += score
		promoted = s.promote(&b[i])
	case i < SlotsPerBucket: // an empty slot
		b[i] = slot{key: key, score: score, handle: noHandle}
		promoted = s.promote(&b[i])
	default: // full: replace the smallest unless it is hot
		i = SlotsPerBucket - 1
		if b[i].handle != noHandle {
			return -1, false
		}
		b[i].key = key
		b[i].score += score
	}
	for ; i > 0 && b[i].score > b[i-1].score; i-- {
		b[i], b[i-1] = b[i-1], b[i]
	}
	if b[i].handle != noHandle {
		return int(b[i].handle), promoted
	}
	return -1, false
}

// promote gives sl a handle if its score reached the threshold, it has
// none and one is free.
func (s *Sketch) promote(sl *slot) bool {
	if sl.handle != noHandle || sl.score < s.cfg.Threshold || s.nfree == 0 {
		return false
	}
	h := s.ring[s.head]
	s.head, s.nfree = (s.head+1)%len(s.ring), s.nfree-1
	sl.handle = h
	s.inUse[h], s.owner[h] = true, sl.key
	return true
}

// Decay multiplies every score by the decay factor and demotes the hot
// keys whose score falls below the threshold (their handles go to the
// back of the free queue, in slot order). It returns the number demoted.
func (s *Sketch) Decay() int {
	n := 0
	d := s.cfg.Decay
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.score == 0 {
			continue
		}
		sl.score *= d
		if sl.handle != noHandle && sl.score < s.cfg.Threshold {
			h := sl.handle
			s.ring[(s.head+s.nfree)%len(s.ring)] = h
			s.nfree++
			s.inUse[h], s.owner[h] = false, 0
			sl.handle = noHandle
			n++
		}
	}
	s.total = 0
	s.decays++
	return n
}
