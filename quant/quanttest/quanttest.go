// Package quanttest checks implementations of quant.Codec against the
// contract of package quant, in the manner of testing/fstest.TestFS: a
// codec's tests are one line each.
//
//	func TestInt8(t *testing.T) {
//		quanttest.TestCodec(t, quant.Int8, quanttest.RowRange(255, 0x1p-20, 1e-36))
//	}
//
//	func FuzzInt8(f *testing.F) {
//		quanttest.Fuzz(f, quant.Int8, quanttest.RowRange(255, 0x1p-20, 1e-36))
//	}
//
// The [Bound] says how far a decoded value may be from the encoded one with
// round to nearest; stochastic rounding may err by twice as much (one step
// instead of half a step). The suite encodes values in [-1000, 1000] and
// expects every codec to represent them.
package quanttest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/embtab/embtab/quant"
)

// Bound returns the largest error allowed for element j of row src after
// encoding with round to nearest and decoding.
type Bound func(src []float32, j int) float64

// Exact allows no error.
func Exact(src []float32, j int) float64 { return 0 }

// Relative allows rel·|x| + abs, the bound of a floating-point format
// (binary16: rel 2⁻¹¹, abs 2⁻²⁵ for its subnormals).
func Relative(rel, abs float64) Bound {
	return func(src []float32, j int) float64 { return rel*math.Abs(float64(src[j])) + abs }
}

// RowRange allows half a step of an affine code with levels+1 codes over the
// row's range, (max-min)/levels/2, inflated by the factor 1+rel, plus
// rel·max|x| + abs for the rounding of scale, bias and decoding.
func RowRange(levels int, rel, abs float64) Bound {
	return func(src []float32, j int) float64 {
		lo, hi, amax := math.Inf(1), math.Inf(-1), 0.0
		for _, x := range src {
			v := float64(x)
			lo, hi, amax = min(lo, v), max(hi, v), max(amax, math.Abs(v))
		}
		return (hi-lo)/float64(levels)/2*(1+rel) + rel*amax + abs
	}
}

// suiteDims are the dims TestCodec encodes: small, odd, powers of two and
// one past them.
var suiteDims = []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257}

// TestCodec runs the conformance suite on c, as subtests:
//
//   - Name: a non-empty name; if the name is registered, Lookup returns a
//     codec that encodes like c.
//   - RowBytes: positive and non-decreasing in dim.
//   - RoundTrip: rows of many shapes (random, constant, zero, tiny,
//     mixed magnitudes) decode within bound, and encoding is deterministic.
//   - Sizes: wrong buffer lengths and empty rows give errors wrapping
//     quant.ErrRowSize, never panics.
//   - NonFinite: NaN and ±Inf either round-trip or give quant.ErrRange.
//   - Garbage: any bytes of the right length decode without error.
//   - Stochastic (codecs implementing quant.StochasticEncoder): one draw
//     per value, reproducible for a seed, within twice the bound, unbiased.
//   - Allocs: EncodeRow and DecodeRow do not allocate.
//   - Concurrent: goroutines encoding and decoding at once agree.
func TestCodec(t *testing.T, c quant.Codec, bound Bound) {
	t.Run("Name", func(t *testing.T) { testName(t, c) })
	t.Run("RowBytes", func(t *testing.T) { testRowBytes(t, c) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, c, bound) })
	t.Run("Sizes", func(t *testing.T) { testSizes(t, c) })
	t.Run("NonFinite", func(t *testing.T) { testNonFinite(t, c) })
	t.Run("Garbage", func(t *testing.T) { testGarbage(t, c) })
	t.Run("Stochastic", func(t *testing.T) {
		s, ok := c.(quant.StochasticEncoder)
		if !ok {
			t.Skipf("%s does not implement quant.StochasticEncoder", c.Name())
		}
		testStochastic(t, c, s, bound)
	})
	t.Run("Allocs", func(t *testing.T) { testAllocs(t, c) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, c) })
}

func testName(t *testing.T, c quant.Codec) {
	if c.Name() == "" {
		t.Fatal("empty name")
	}
	r, err := quant.Lookup(c.Name())
	if err != nil {
		t.Logf("%s is not registered: %v", c.Name(), err)
		return
	}
	src := Rows(1, 33, 1)[0]
	a, b := encode(t, c, src), encode(t, r, src)
	if !bytes.Equal(a, b) {
		t.Errorf("registered codec %q encodes differently from the one under test", c.Name())
	}
}

func testRowBytes(t *testing.T, c quant.Codec) {
	prev := 0
	for dim := 1; dim <= 1024; dim++ {
		n := c.RowBytes(dim)
		if n < 1 || n < prev {
			t.Fatalf("RowBytes(%d) = %d after RowBytes(%d) = %d", dim, n, dim-1, prev)
		}
		prev = n
	}
}

// Rows returns n test rows of dim values in [-1000, 1000] of the kind
// selected by shape (0..NumShapes-1; others wrap): Gaussian, uniform,
// constant, zeros, tiny, mixed magnitudes, one outlier, integers, all
// negative. It is deterministic.
func Rows(n, dim, shape int) [][]float32 {
	rng := rand.New(rand.NewPCG(uint64(n)<<32|uint64(dim), uint64(shape)))
	rows := make([][]float32, n)
	for i := range rows {
		r := make([]float32, dim)
		c := float32(rng.NormFloat64())
		for j := range r {
			var v float64
			switch shape % NumShapes {
			case 0:
				v = rng.NormFloat64() * 0.05
			case 1:
				v = rng.Float64()*2 - 1
			case 2:
				v = float64(c)
			case 3:
				v = 0
			case 4:
				v = rng.NormFloat64() * 1e-6
			case 5:
				v = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-4))
			case 6:
				v = rng.NormFloat64() * 0.01
				if j == dim/2 {
					v = 900
				}
			case 7:
				v = float64(rng.IntN(21) - 10)
			case 8:
				v = -rng.Float64()*500 - 1
			}
			r[j] = float32(v)
		}
		rows[i] = r
	}
	return rows
}

// NumShapes is the number of row shapes of [Rows].
const NumShapes = 9

func encode(t *testing.T, c quant.Codec, src []float32) []byte {
	t.Helper()
	dst := make([]byte, c.RowBytes(len(src)))
	if err := c.EncodeRow(dst, src); err != nil {
		t.Fatalf("%s EncodeRow(dim %d): %v", c.Name(), len(src), err)
	}
	return dst
}

func decode(t *testing.T, c quant.Codec, src []byte, dim int) []float32 {
	t.Helper()
	dst := make([]float32, dim)
	if err := c.DecodeRow(dst, src); err != nil {
		t.Fatalf("%s DecodeRow(dim %d): %v", c.Name(), dim, err)
	}
	return dst
}

// CheckBound reports the first value of got farther from src than
// scale·bound allows.
func CheckBound(t testing.TB, src, got []float32, bound Bound, scale float64) {
	t.Helper()
	for j, x := range src {
		if e, b := math.Abs(float64(got[j])-float64(x)), scale*bound(src, j); !(e <= b) {
			t.Fatalf("dim %d: element %d: %g decoded as %g, error %g > bound %g", len(src), j, x, got[j], e, b)
		}
	}
}

func testRoundTrip(t *testing.T, c quant.Codec, bound Bound) {
	for _, dim := range suiteDims {
		for shape := range NumShapes {
			for _, src := range Rows(3, dim, shape) {
				enc := encode(t, c, src)
				if again := encode(t, c, src); !bytes.Equal(enc, again) {
					t.Fatalf("dim %d shape %d: EncodeRow is not deterministic", dim, shape)
				}
				CheckBound(t, src, decode(t, c, enc, dim), bound, 1)
			}
		}
	}
}

func testSizes(t *testing.T, c quant.Codec) {
	for _, dim := range []int{1, 2, 7, 16, 33} {
		n := c.RowBytes(dim)
		src := make([]float32, dim)
		for _, bad := range []int{0, n - 1, n + 1} {
			if bad == n || bad < 0 {
				continue
			}
			if err := c.EncodeRow(make([]byte, bad), src); !errors.Is(err, quant.ErrRowSize) {
				t.Errorf("EncodeRow(%d bytes, dim %d) = %v, want ErrRowSize", bad, dim, err)
			}
			if err := c.DecodeRow(src, make([]byte, bad)); !errors.Is(err, quant.ErrRowSize) {
				t.Errorf("DecodeRow(dim %d, %d bytes) = %v, want ErrRowSize", dim, bad, err)
			}
		}
	}
	buf := make([]byte, c.RowBytes(1))
	if err := c.EncodeRow(buf, nil); !errors.Is(err, quant.ErrRowSize) {
		t.Errorf("EncodeRow of an empty row = %v, want ErrRowSize", err)
	}
	if err := c.DecodeRow(nil, buf); !errors.Is(err, quant.ErrRowSize) {
		t.Errorf("DecodeRow into an empty row = %v, want ErrRowSize", err)
	}
}

func testNonFinite(t *testing.T, c quant.Codec) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, dim := range []int{1, 5, 16} {
			src := Rows(1, dim, 1)[0]
			src[dim/2] = v
			dst := make([]byte, c.RowBytes(dim))
			err := c.EncodeRow(dst, src)
			if err != nil {
				if !errors.Is(err, quant.ErrRange) {
					t.Errorf("EncodeRow with %v = %v, want nil or ErrRange", v, err)
				}
				continue
			}
			got := decode(t, c, dst, dim)[dim/2]
			if got != v && !(v != v && got != got) {
				t.Errorf("%v decoded as %v", v, got)
			}
		}
	}
}

func testGarbage(t *testing.T, c quant.Codec) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, dim := range suiteDims {
		src := make([]byte, c.RowBytes(dim))
		dst := make([]float32, dim)
		for range 20 {
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			if err := c.DecodeRow(dst, src); err != nil {
				t.Fatalf("DecodeRow of garbage (dim %d): %v", dim, err)
			}
		}
	}
}

// countingSource counts the draws of a PCG.
type countingSource struct {
	pcg rand.PCG
	n   int
}

func (s *countingSource) Uint64() uint64 { s.n++; return s.pcg.Uint64() }

func testStochastic(t *testing.T, c quant.Codec, s quant.StochasticEncoder, bound Bound) {
	for _, dim := range suiteDims {
		for shape := range NumShapes {
			for _, src := range Rows(2, dim, shape) {
				a, b := make([]byte, c.RowBytes(dim)), make([]byte, c.RowBytes(dim))
				ra := &countingSource{pcg: *rand.NewPCG(1, uint64(dim))}
				rb := &countingSource{pcg: *rand.NewPCG(1, uint64(dim))}
				if err := s.EncodeRowStochastic(ra, a, src); err != nil {
					t.Fatalf("EncodeRowStochastic(dim %d): %v", dim, err)
				}
				if err := s.EncodeRowStochastic(rb, b, src); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(a, b) {
					t.Fatalf("dim %d shape %d: same seed, different rows", dim, shape)
				}
				if ra.n != dim {
					t.Fatalf("dim %d: %d draws, want one per value", dim, ra.n)
				}
				CheckBound(t, src, decode(t, c, a, dim), bound, 2)
			}
		}
	}
	// Unbiased: the mean of many stochastic encodings approaches the
	// value. Each draw errs by at most one step q = 2·bound, so the mean of
	// k draws is within 6·q/(2√k) but for a chance below 1e-8.
	const k = 4000
	for shape := range NumShapes {
		src := Rows(1, 24, shape)[0]
		sum := make([]float64, len(src))
		enc := make([]byte, c.RowBytes(len(src)))
		dec := make([]float32, len(src))
		rng := rand.NewPCG(2, uint64(shape))
		for range k {
			if err := s.EncodeRowStochastic(rng, enc, src); err != nil {
				t.Fatal(err)
			}
			if err := c.DecodeRow(dec, enc); err != nil {
				t.Fatal(err)
			}
			for j, v := range dec {
				sum[j] += float64(v)
			}
		}
		for j, x := range src {
			step := 2 * bound(src, j)
			mean := sum[j] / k
			if tol := 6*step/(2*math.Sqrt(k)) + 1e-6*math.Abs(float64(x)); math.Abs(mean-float64(x)) > tol {
				t.Errorf("shape %d element %d: mean of %d stochastic encodings of %g is %g (tolerance %g)", shape, j, k, x, mean, tol)
			}
		}
	}
}

func testAllocs(t *testing.T, c quant.Codec) {
	src := Rows(1, 64, 0)[0]
	enc := make([]byte, c.RowBytes(64))
	dec := make([]float32, 64)
	if n := testing.AllocsPerRun(20, func() { _ = c.EncodeRow(enc, src) }); n != 0 {
		t.Errorf("EncodeRow: %v allocations", n)
	}
	if n := testing.AllocsPerRun(20, func() { _ = c.DecodeRow(dec, enc) }); n != 0 {
		t.Errorf("DecodeRow: %v allocations", n)
	}
}

func testConcurrent(t *testing.T, c quant.Codec) {
	rows := Rows(64, 33, 0)
	want := make([][]byte, len(rows))
	for i, r := range rows {
		want[i] = encode(t, c, r)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			enc := make([]byte, c.RowBytes(33))
			dec := make([]float32, 33)
			for i := range rows {
				i := (i + g*16) % len(rows)
				if err := c.EncodeRow(enc, rows[i]); err != nil || !bytes.Equal(enc, want[i]) {
					errs <- fmt.Errorf("goroutine %d row %d: encoding differs (err %v)", g, i, err)
					return
				}
				if err := c.DecodeRow(dec, enc); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Fuzz fuzzes c with f: inputs are a mode byte and a byte string.
//
//   - Decode: the first RowBytes(dim) bytes (cycled if short) decode without
//     error or panic, for dim = 1 + mode%300; a wrong length is ErrRowSize.
//   - Encode: the bytes read as little-endian values (raw float32 bits for
//     an even mode, int16/1000 for an odd one) either encode, decode within
//     bound, and encode stochastically within twice the bound, or give an
//     error wrapping quant.ErrRange.
func Fuzz(f *testing.F, c quant.Codec, bound Bound) {
	f.Add(uint16(0), []byte{0, 0, 128, 63, 0, 0, 0, 192})
	f.Add(uint16(1), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add(uint16(15), bytes.Repeat([]byte{0xff}, 70))
	f.Add(uint16(64), []byte{0x7f, 0x80, 0x00, 0x01, 0x55, 0xaa})
	f.Add(uint16(299), bytes.Repeat([]byte{0x3c, 0x01}, 129))
	f.Fuzz(func(t *testing.T, mode uint16, data []byte) {
		fuzzDecode(t, c, mode, data)
		fuzzEncode(t, c, bound, mode, data)
	})
}

func fuzzDecode(t *testing.T, c quant.Codec, mode uint16, data []byte) {
	dim := 1 + int(mode)%300
	src := make([]byte, c.RowBytes(dim))
	for i := range src {
		if len(data) > 0 {
			src[i] = data[i%len(data)]
		}
	}
	dst := make([]float32, dim)
	if err := c.DecodeRow(dst, src); err != nil {
		t.Fatalf("DecodeRow(dim %d) of %d bytes: %v", dim, len(src), err)
	}
	if err := c.DecodeRow(dst, src[:len(src)-1]); !errors.Is(err, quant.ErrRowSize) {
		t.Fatalf("DecodeRow of a short row = %v, want ErrRowSize", err)
	}
}

func fuzzEncode(t *testing.T, c quant.Codec, bound Bound, mode uint16, data []byte) {
	var src []float32
	if mode%2 == 0 {
		for i := 0; i+4 <= len(data); i += 4 {
			src = append(src, math.Float32frombits(binary.LittleEndian.Uint32(data[i:])))
		}
	} else {
		for i := 0; i+2 <= len(data); i += 2 {
			src = append(src, float32(int16(binary.LittleEndian.Uint16(data[i:])))/1000)
		}
	}
	if len(src) == 0 {
		return
	}
	enc := make([]byte, c.RowBytes(len(src)))
	if err := c.EncodeRow(enc, src); err != nil {
		if !errors.Is(err, quant.ErrRange) {
			t.Fatalf("EncodeRow: %v, want nil or ErrRange", err)
		}
		return
	}
	finite := true
	for _, x := range src {
		finite = finite && !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0)
	}
	dec := make([]float32, len(src))
	if err := c.DecodeRow(dec, enc); err != nil {
		t.Fatal(err)
	}
	if !finite {
		return // a codec that stores NaN/Inf has no error bound for them
	}
	CheckBound(t, src, dec, bound, 1)
	s, ok := c.(quant.StochasticEncoder)
	if !ok {
		return
	}
	if err := s.EncodeRowStochastic(rand.NewPCG(uint64(mode), uint64(len(data))), enc, src); err != nil {
		if !errors.Is(err, quant.ErrRange) {
			t.Fatalf("EncodeRowStochastic: %v, want nil or ErrRange", err)
		}
		return
	}
	if err := c.DecodeRow(dec, enc); err != nil {
		t.Fatal(err)
	}
	CheckBound(t, src, dec, bound, 2)
}
