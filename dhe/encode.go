package dhe

import (
	"math/bits"

	"github.com/embtab/embtab/hashing"
)

// mersenne61 is p, the prime of the universal hashes.
const mersenne61 = 1<<61 - 1

// encoder is one field's k universal hashes: h_i(x) = (a_i·x + b_i) mod p,
// a_i in [1, p), b_i in [0, p).
type encoder struct {
	a, b    []uint64
	buckets uint64
	scale   float64 // 2/(m-1)
}

// newEncoder draws field f's hash constants from seed.
func newEncoder(seed uint64, f, k int, buckets uint64) encoder {
	e := encoder{a: make([]uint64, k), b: make([]uint64, k), buckets: buckets, scale: 2 / float64(buckets-1)}
	salt := hashing.FieldSalt(seed, f)
	for i := range k {
		e.a[i] = 1 + hashing.Mix64(salt+uint64(2*i))%(mersenne61-1)
		e.b[i] = hashing.Mix64(salt+uint64(2*i+1)) % mersenne61
	}
	return e
}

// mod61 reduces x modulo p.
func mod61(x uint64) uint64 {
	x = (x & mersenne61) + (x >> 61)
	if x >= mersenne61 {
		x -= mersenne61
	}
	return x
}

// mulmod61 returns a·x mod p for a, x < p.
func mulmod61(a, x uint64) uint64 {
	hi, lo := bits.Mul64(a, x)
	r := (hi<<3 | lo>>61) + (lo & mersenne61)
	if r >= mersenne61 {
		r -= mersenne61
	}
	return r
}

// bucket returns hash i of x (x < p) in [0, m).
func (e *encoder) bucket(i int, x uint64) uint64 {
	h := mulmod61(e.a[i], x) + e.b[i]
	if h >= mersenne61 {
		h -= mersenne61
	}
	// h < 2^61: (h·m) >> 61 is in [0, m).
	hi, lo := bits.Mul64(h, e.buckets)
	return hi<<3 | lo>>61
}

// encode writes the uniform encoding of id into x (k values in [-1, 1]).
func (e *encoder) encode(id uint64, x []float32) {
	v := mod61(id)
	x = x[:len(e.a)]
	for i := range x {
		x[i] = float32(float64(e.bucket(i, v))*e.scale - 1)
	}
}
