package hashing

import (
	"fmt"
	"math"
	"testing"
)

// Golden values pin the hash across machines and versions: a change here
// silently invalidates every trained artifact.
func TestGolden(t *testing.T) {
	h := New(DefaultSeed, 3)
	cases := []struct {
		field int
		v     string
	}{{0, ""}, {0, "68fd1e64"}, {1, "68fd1e64"}, {2, "a"}}
	seen := map[uint64]bool{}
	for _, c := range cases {
		id := h.HashString(c.field, c.v)
		if id != h.Hash(c.field, []byte(c.v)) {
			t.Fatalf("Hash and HashString disagree for %q", c.v)
		}
		if seen[id] {
			t.Fatalf("collision among golden cases at %q", c.v)
		}
		seen[id] = true
	}
	if got, want := h.HashString(0, "68fd1e64"), goldenCriteo; got != want {
		t.Fatalf("hash of field 0 value 68fd1e64 = %#x, want %#x (hash changed: artifacts would break)", got, want)
	}
}

// goldenCriteo was computed once with zeebo/xxh3 v1.1.0 and frozen.
const goldenCriteo uint64 = 0xef043bd3364cc1a9

func TestBucketUniform(t *testing.T) {
	for _, n := range []uint64{1, 7, 1000, 1 << 20} {
		h := New(1, 1)
		const samples = 200000
		counts := make(map[uint64]int)
		for i := 0; i < samples; i++ {
			b := Bucket(h.HashString(0, fmt.Sprint(i)), n)
			if b >= n {
				t.Fatalf("Bucket out of range: %d >= %d", b, n)
			}
			if n <= 1000 {
				counts[b]++
			}
		}
		if n > 1 && n <= 1000 {
			exp := float64(samples) / float64(n)
			chi := 0.0
			for b := uint64(0); b < n; b++ {
				d := float64(counts[b]) - exp
				chi += d * d / exp
			}
			// chi2 with n-1 dof: mean n-1, sd sqrt(2(n-1)); allow 6 sd.
			if lim := float64(n-1) + 6*math.Sqrt(2*float64(n-1)); chi > lim {
				t.Errorf("n=%d: chi2=%.1f > %.1f, not uniform", n, chi, lim)
			}
		}
	}
}

func TestQR(t *testing.T) {
	tests := []struct{ q, r uint64 }{{1, 1}, {3, 5}, {100, 1000}}
	for _, tc := range tests {
		for i := uint64(0); i < 10000; i++ {
			id := Mix64(i)
			quo, rem := QR(id, tc.q, tc.r)
			if quo >= tc.q || rem >= tc.r {
				t.Fatalf("QR(%d,%d,%d) = (%d,%d) out of range", id, tc.q, tc.r, quo, rem)
			}
			if quo*tc.r+rem != Bucket(id, tc.q*tc.r) {
				t.Fatalf("QR does not invert to the virtual bucket")
			}
		}
	}
}

func TestProbesIndependent(t *testing.T) {
	same := 0
	for i := uint64(0); i < 100000; i++ {
		if Bucket(Probe(i, 0), 1000) == Bucket(Probe(i, 1), 1000) {
			same++
		}
	}
	// expect ~100 coincidences
	if same > 200 {
		t.Fatalf("probes 0 and 1 agree %d/100000 times, want ~100", same)
	}
}

func TestFieldSaltsDiffer(t *testing.T) {
	h := New(DefaultSeed, 26)
	seen := map[uint64]int{}
	for f := 0; f < 26; f++ {
		id := h.HashString(f, "same")
		if g, ok := seen[id]; ok {
			t.Fatalf("fields %d and %d hash the same value to the same id", g, f)
		}
		seen[id] = f
	}
}

func BenchmarkHashString8(b *testing.B) {
	h := New(DefaultSeed, 26)
	b.SetBytes(8)
	for i := 0; i < b.N; i++ {
		_ = h.HashString(i%26, "68fd1e64")
	}
}
