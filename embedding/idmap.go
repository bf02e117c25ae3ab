package embedding

import "math/bits"

// idMap is an open-addressing hash map from uint64 ids to int32 values,
// built once and then read-only (reads are safe for concurrent use). It
// uses linear probing over a power-of-two slot array filled to at most
// maxLoad; slot keys are ids, and key 0, which marks an empty slot, is kept
// aside. Ids are hashes already, but a Fibonacci multiply spreads even
// sequential ids over the slots.
//
// It exists because a Go map[uint64]int32 costs about twice the memory and
// several times the lookup time on the gather path.
type idMap struct {
	slots []idSlot
	mask  uint64
	shift uint8
	zero  int32 // value of key 0, or -1
	n     int
}

type idSlot struct {
	key uint64
	val int32
}

const (
	fibMul  = 0x9E3779B97F4A7C15
	maxLoad = 0.7
)

// newIDMap returns an empty map with room for n keys.
func newIDMap(n int) idMap {
	size := 8
	for float64(n) > maxLoad*float64(size) {
		size *= 2
	}
	return idMap{
		slots: make([]idSlot, size),
		mask:  uint64(size - 1),
		shift: uint8(64 - bits.TrailingZeros(uint(size))),
		zero:  -1,
	}
}

// put inserts k -> v and reports whether k was absent (a present key keeps
// its value). The map must have been sized for all its keys.
func (m *idMap) put(k uint64, v int32) bool {
	if k == 0 {
		if m.zero >= 0 {
			return false
		}
		m.zero = v
		m.n++
		return true
	}
	for i := (k * fibMul) >> m.shift; ; i = (i + 1) & m.mask {
		s := &m.slots[i]
		if s.key == k {
			return false
		}
		if s.key == 0 {
			s.key, s.val = k, v
			m.n++
			return true
		}
	}
}

// get returns the value of k and whether k is present.
func (m *idMap) get(k uint64) (int32, bool) {
	if k == 0 {
		return m.zero, m.zero >= 0
	}
	slots := m.slots
	for i := (k * fibMul) >> m.shift; ; i = (i + 1) & m.mask {
		s := slots[i]
		if s.key == k {
			return s.val, true
		}
		if s.key == 0 {
			return -1, false
		}
	}
}

// len returns the number of keys.
func (m *idMap) len() int { return m.n }

// keys writes each key to out[value]; out must have len() elements and the
// values must be a permutation of [0, len()).
func (m *idMap) keys(out []uint64) {
	if m.zero >= 0 {
		out[m.zero] = 0
	}
	for _, s := range m.slots {
		if s.key != 0 {
			out[s.val] = s.key
		}
	}
}

// bytes returns the memory of the slot array.
func (m *idMap) bytes() int64 { return int64(len(m.slots)) * 16 }
