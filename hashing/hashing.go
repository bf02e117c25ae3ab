// Package hashing maps raw categorical feature values to 64-bit ids and ids to
// table rows.
//
// A value is hashed with XXH3-64 (github.com/zeebo/xxh3), seeded with a salt
// derived from a global seed and the field index, so the same string in two
// fields gives unrelated ids. The hash is specified (XXH3 is a published,
// stable algorithm) and does not depend on the process, the machine or the Go
// version: the seed recorded in a manifest reproduces every id. It is not a
// cryptographic hash.
//
// Ids are reduced to rows with [Bucket] (multiply-shift range reduction, which
// uses the high bits of the id and has no modulo bias worth measuring),
// quotient-remainder pairs ([QR]) and k salted probes ([Probe]).
//
// All functions are safe for concurrent use; a [Hasher] is immutable.
package hashing

import (
	"math/bits"

	"github.com/zeebo/xxh3"
)

// DefaultSeed is the seed used when a configuration gives none.
const DefaultSeed uint64 = 0x9E3779B97F4A7C15

// Mix64 is the SplitMix64 finaliser: a bijective mixing of 64 bits. It derives
// salts from (seed, field, probe) triples.
func Mix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// FieldSalt is the XXH3 seed for field f under the global seed.
func FieldSalt(seed uint64, field int) uint64 {
	return Mix64(seed ^ Mix64(uint64(field)+1))
}

// Hasher hashes raw values of a fixed number of fields. The zero value is not
// usable; build one with [New].
type Hasher struct {
	seed  uint64
	salts []uint64
}

// New returns a Hasher for nfields fields under seed.
func New(seed uint64, nfields int) *Hasher {
	h := &Hasher{seed: seed, salts: make([]uint64, nfields)}
	for f := range h.salts {
		h.salts[f] = FieldSalt(seed, f)
	}
	return h
}

// Seed returns the global seed (record it in artifacts).
func (h *Hasher) Seed() uint64 { return h.seed }

// Fields returns the number of fields.
func (h *Hasher) Fields() int { return len(h.salts) }

// Hash returns the id of raw value v in field f.
func (h *Hasher) Hash(field int, v []byte) uint64 {
	return xxh3.HashSeed(v, h.salts[field])
}

// HashString is Hash for a string value.
func (h *Hasher) HashString(field int, v string) uint64 {
	return xxh3.HashStringSeed(v, h.salts[field])
}

// Bucket maps id uniformly to [0, n) using the high bits of id*n
// (Lemire's multiply-shift reduction). n must be > 0.
func Bucket(id uint64, n uint64) uint64 {
	hi, _ := bits.Mul64(id, n)
	return hi
}

// QR splits id into a quotient-remainder pair for tables of q and r rows:
// the id is first reduced to the virtual space [0, q*r), then
// remainder = x mod r and quotient = x / r. Two distinct values collide in
// both tables only when they collide in the virtual space (Shi et al. 2020).
func QR(id uint64, q, r uint64) (quo, rem uint64) {
	x := Bucket(id, q*r)
	return x / r, x % r
}

// Probe returns the k-th salted re-hash of id (k = 0 returns Mix64(id) so
// every probe is mixed the same way). Probes of one id are independent.
func Probe(id uint64, k int) uint64 {
	return Mix64(id ^ Mix64(uint64(k)*0xD6E8FEB86659FD93+1))
}
