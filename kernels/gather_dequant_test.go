package kernels_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/quant"
)

var codecs = []quant.Codec{quant.FP32, quant.FP16, quant.Int8, quant.Int4}

// useImpl makes GatherDequant use the implementation name until the test
// ends, by disabling the faster ones.
func useImpl(t testing.TB, name string) {
	t.Helper()
	switch name {
	case "avx512":
	case "avx2":
		t.Cleanup(kernels.DisableAVX512())
	case "generic":
		t.Cleanup(kernels.DisableAVX512())
		t.Cleanup(kernels.DisableAVX2())
	default:
		t.Fatalf("unknown impl %q", name)
	}
	if got := kernels.Impl(); got != name {
		t.Fatalf("Impl() = %q, want %q", got, name)
	}
}

// testTable quantizes rows random rows of dim values (Gaussian with a
// per-row offset and spread) with c, rows aligned to align bytes.
func testTable(t testing.TB, c quant.Codec, rows, dim, align int, seed uint64) *quant.Table {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(dim)))
	p := make([]float32, rows*dim)
	for i := range rows {
		mu, sigma := rng.NormFloat64(), math.Exp(rng.NormFloat64())
		for j := range dim {
			p[i*dim+j] = float32(mu + sigma*rng.NormFloat64())
		}
	}
	tab, _, err := quant.QuantizeWith(p, rows, dim, c, quant.Options{Align: align})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// testBags returns nbags random bags of 0..maxBag indices below rows (with
// repeats and empty bags), with weights if weighted.
func testBags[I kernels.Index](rng *rand.Rand, nbags, maxBag, rows int, weighted bool) kernels.Bags[I] {
	b := kernels.Bags[I]{Offsets: []I{0}}
	for range nbags {
		n := rng.IntN(maxBag + 1)
		if rng.IntN(5) == 0 {
			n = 0
		}
		for range n {
			b.Indices = append(b.Indices, I(rng.IntN(rows)))
		}
		b.Offsets = append(b.Offsets, I(len(b.Indices)))
	}
	if weighted {
		b.Weights = make([]float32, len(b.Indices))
		for i := range b.Weights {
			b.Weights[i] = float32(rng.NormFloat64())
		}
	}
	return b
}

// spec computes GatherDequant's reference semantics directly from
// quant.Table.DecodeRow: out_b[j] = post · Σ_i float32(w_i·x̂_ij), in index
// order. It also returns, per output value, a bound on the magnitudes
// involved, for the tolerance of the vectorised implementations.
func spec[I kernels.Index](t testing.TB, tab *quant.Table, b kernels.Bags[I], pool kernels.Pooling) (out, mag []float32) {
	t.Helper()
	d := tab.Dim()
	row := make([]float32, d)
	pooled := func(o, m []float32, idx []I, w []float32, post float32) {
		for i, r := range idx {
			if err := tab.DecodeRow(int(r), row); err != nil {
				t.Fatal(err)
			}
			wi := float32(1)
			if w != nil {
				wi = w[i]
			}
			amax := float32(0)
			for _, x := range row {
				amax = max(amax, float32(math.Abs(float64(x))))
			}
			for j, x := range row {
				o[j] += float32(wi * x)
				// |q·scale| + |bias| <= 3·max|x̂| + a step.
				m[j] += float32(math.Abs(float64(wi))) * 4 * amax
			}
		}
		for j := range o {
			o[j] *= post
			m[j] *= post
		}
	}
	if pool == kernels.None {
		out, mag = make([]float32, len(b.Indices)*d), make([]float32, len(b.Indices)*d)
		for i := range b.Indices {
			var w []float32
			if b.Weights != nil {
				w = b.Weights[i : i+1]
			}
			pooled(out[i*d:(i+1)*d], mag[i*d:(i+1)*d], b.Indices[i:i+1], w, 1)
		}
		return out, mag
	}
	bags := len(b.Offsets) - 1
	out, mag = make([]float32, bags*d), make([]float32, bags*d)
	for k := range bags {
		lo, hi := b.Offsets[k], b.Offsets[k+1]
		var w []float32
		if b.Weights != nil {
			w = b.Weights[lo:hi]
		}
		post := float32(1)
		if pool == kernels.Mean && hi > lo {
			post = 1 / float32(hi-lo)
		}
		pooled(out[k*d:(k+1)*d], mag[k*d:(k+1)*d], b.Indices[lo:hi], w, post)
	}
	return out, mag
}

// compare checks got against the spec: bit for bit for the generic code,
// within float32 rounding of the magnitudes for the others.
func compare(t testing.TB, impl string, got, want, mag []float32, n int) {
	t.Helper()
	for i := range want {
		g, w := got[i], want[i]
		if impl == "generic" {
			if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
				t.Fatalf("out[%d] = %v, want %v exactly", i, g, w)
			}
			continue
		}
		tol := float64(n+4) * 0x1p-22 * float64(mag[i])
		if !(math.Abs(float64(g)-float64(w)) <= tol) {
			t.Fatalf("out[%d] = %v, want %v (tolerance %g)", i, g, w, tol)
		}
	}
}

// TestGatherDequant runs every implementation against the spec on random
// inputs: every dim from 1 to 257, every codec and pooling mode, with and
// without weights, int32 and int64 indices, packed and padded rows.
func TestGatherDequant(t *testing.T) {
	dims := make([]int, 0, 257)
	for d := 1; d <= 257; d++ {
		dims = append(dims, d)
	}
	if testing.Short() {
		dims = []int{1, 7, 8, 9, 16, 17, 31, 32, 33, 64, 100, 128, 255, 257}
	}
	for _, impl := range kernels.Impls() {
		t.Run(impl, func(t *testing.T) {
			useImpl(t, impl)
			for _, c := range codecs {
				t.Run(c.Name(), func(t *testing.T) {
					for _, dim := range dims {
						align := []int{0, 16, 64}[dim%3]
						tab := testTable(t, c, 37, dim, align, uint64(dim))
						rng := rand.New(rand.NewPCG(uint64(dim), 99))
						for _, pool := range []kernels.Pooling{kernels.Sum, kernels.Mean, kernels.None} {
							for _, weighted := range []bool{false, true} {
								name := fmt.Sprintf("dim %d %v weighted=%v", dim, pool, weighted)
								if (dim+int(pool))%2 == 0 {
									checkGather(t, name+" int32", impl, tab, testBags[int32](rng, 9, 30, 37, weighted), pool, 1)
								} else {
									checkGather(t, name+" int64", impl, tab, testBags[int64](rng, 9, 30, 37, weighted), pool, 1)
								}
							}
						}
					}
				})
			}
		})
	}
}

func checkGather[I kernels.Index](t *testing.T, name, impl string, tab *quant.Table, b kernels.Bags[I], pool kernels.Pooling, threads int) {
	t.Helper()
	want, mag := spec(t, tab, b, pool)
	got := make([]float32, len(want))
	for i := range got {
		got[i] = float32(math.NaN()) // every value must be written
	}
	if err := kernels.GatherDequant(got, kernels.TableOf(tab), b, pool, threads); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	maxBag := 1
	for k := 1; k < len(b.Offsets); k++ {
		maxBag = max(maxBag, int(b.Offsets[k]-b.Offsets[k-1]))
	}
	t.Run(name, func(t *testing.T) { compare(t, impl, got, want, mag, maxBag) })
}

// TestThreads checks that results are the same bits for every thread
// count, with bag ranges cut at uneven places.
func TestThreads(t *testing.T) {
	t.Cleanup(kernels.SetMinWorkPerThread(1))
	for _, impl := range kernels.Impls() {
		t.Run(impl, func(t *testing.T) {
			useImpl(t, impl)
			for _, c := range codecs {
				tab := testTable(t, c, 500, 24, 0, 1)
				rng := rand.New(rand.NewPCG(5, 5))
				for _, pool := range []kernels.Pooling{kernels.Sum, kernels.Mean, kernels.None} {
					b := testBags[int32](rng, 301, 40, 500, true)
					// End with empty bags: the last range must still reach them.
					b.Offsets = append(b.Offsets, b.Offsets[len(b.Offsets)-1], b.Offsets[len(b.Offsets)-1])
					var first []float32
					for _, threads := range []int{1, 2, 3, 7, 0} {
						n := len(b.Offsets) - 1
						if pool == kernels.None {
							n = len(b.Indices)
						}
						out := make([]float32, n*24)
						for i := range out {
							out[i] = float32(math.NaN()) // every value must be written
						}
						if err := kernels.GatherDequant(out, kernels.TableOf(tab), b, pool, threads); err != nil {
							t.Fatal(err)
						}
						if first == nil {
							first = out
							want, mag := spec(t, tab, b, pool)
							compare(t, impl, out, want, mag, 40)
						} else if !slices.Equal(out, first) {
							for i := range out {
								if math.Float32bits(out[i]) != math.Float32bits(first[i]) {
									t.Fatalf("%s %v: %d threads: out[%d] = %v, want %v", c.Name(), pool, threads, i, out[i], first[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

func TestAllocs(t *testing.T) {
	tab := testTable(t, quant.Int8, 100, 33, 0, 1)
	b := testBags[int32](rand.New(rand.NewPCG(1, 1)), 50, 26, 100, true)
	out := make([]float32, 50*33)
	for _, impl := range kernels.Impls() {
		t.Run(impl, func(t *testing.T) {
			useImpl(t, impl)
			n := testing.AllocsPerRun(20, func() {
				if err := kernels.GatherDequant(out, kernels.TableOf(tab), b, kernels.Sum, 1); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%v allocations per call", n)
			}
		})
	}
}

// otherCodec is a codec without a kernel.
type otherCodec struct{ quant.Int8Codec }

func (otherCodec) Name() string { return "other" }

func TestErrors(t *testing.T) {
	tab := testTable(t, quant.Int8, 10, 4, 0, 1)
	good := kernels.TableOf(tab)
	bags := kernels.Bags[int32]{Indices: []int32{1, 2, 3}, Offsets: []int32{0, 1, 3}}
	mod := func(f func(t *kernels.Table)) kernels.Table { t := good; f(&t); return t }
	for _, c := range []struct {
		name string
		tab  kernels.Table
		bags kernels.Bags[int32]
		pool kernels.Pooling
		out  int
		want error
	}{
		{"nil codec", mod(func(t *kernels.Table) { t.Codec = nil }), bags, kernels.Sum, 8, kernels.ErrCodec},
		{"other codec", mod(func(t *kernels.Table) { t.Codec = otherCodec{} }), bags, kernels.Sum, 8, kernels.ErrCodec},
		{"dim 0", mod(func(t *kernels.Table) { t.Dim = 0 }), bags, kernels.Sum, 0, kernels.ErrTable},
		{"rows -1", mod(func(t *kernels.Table) { t.Rows = -1 }), bags, kernels.Sum, 8, kernels.ErrTable},
		{"stride", mod(func(t *kernels.Table) { t.Stride = 11 }), bags, kernels.Sum, 8, kernels.ErrTable},
		{"short data", mod(func(t *kernels.Table) { t.Data = t.Data[:len(t.Data)-1] }), bags, kernels.Sum, 8, kernels.ErrTable},
		{"more rows", mod(func(t *kernels.Table) { t.Rows = 11 }), bags, kernels.Sum, 8, kernels.ErrTable},
		{"pooling", good, bags, kernels.Pooling(3), 8, kernels.ErrPooling},
		{"no offsets", good, kernels.Bags[int32]{Indices: []int32{1}}, kernels.Sum, 0, kernels.ErrOffsets},
		{"first offset", good, kernels.Bags[int32]{Indices: []int32{1, 2}, Offsets: []int32{1, 2}}, kernels.Sum, 4, kernels.ErrOffsets},
		{"decreasing", good, kernels.Bags[int32]{Indices: []int32{1, 2}, Offsets: []int32{0, 2, 1, 2}}, kernels.Sum, 12, kernels.ErrOffsets},
		{"last offset short", good, kernels.Bags[int32]{Indices: []int32{1, 2}, Offsets: []int32{0, 1}}, kernels.Sum, 4, kernels.ErrOffsets},
		{"last offset long", good, kernels.Bags[int32]{Indices: []int32{1, 2}, Offsets: []int32{0, 3}}, kernels.Sum, 4, kernels.ErrOffsets},
		{"negative index", good, kernels.Bags[int32]{Indices: []int32{1, -1}, Offsets: []int32{0, 2}}, kernels.Sum, 4, kernels.ErrIndex},
		{"index = rows", good, kernels.Bags[int32]{Indices: []int32{10}, Offsets: []int32{0, 1}}, kernels.Sum, 4, kernels.ErrIndex},
		{"index none", good, kernels.Bags[int32]{Indices: []int32{10}}, kernels.None, 4, kernels.ErrIndex},
		{"weights", good, kernels.Bags[int32]{Indices: []int32{1, 2}, Offsets: []int32{0, 2}, Weights: []float32{1}}, kernels.Sum, 4, kernels.ErrShape},
		{"empty weights", good, kernels.Bags[int32]{Indices: []int32{1, 2}, Offsets: []int32{0, 2}, Weights: []float32{}}, kernels.Sum, 4, kernels.ErrShape},
		{"out short", good, bags, kernels.Sum, 7, kernels.ErrShape},
		{"out long", good, bags, kernels.Mean, 9, kernels.ErrShape},
		{"out none", good, bags, kernels.None, 8, kernels.ErrShape},
	} {
		out := make([]float32, c.out)
		for i := range out {
			out[i] = 42
		}
		err := kernels.GatherDequant(out, c.tab, c.bags, c.pool, 2)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		for i, v := range out {
			if v != 42 {
				t.Fatalf("%s: out[%d] written on error", c.name, i)
			}
		}
	}
	// Valid edge cases: no bags, no indices, an empty table with no lookups.
	if err := kernels.GatherDequant(nil, good, kernels.Bags[int64]{Offsets: []int64{0}}, kernels.Sum, 1); err != nil {
		t.Errorf("no bags: %v", err)
	}
	if err := kernels.GatherDequant(nil, good, kernels.Bags[int64]{}, kernels.None, 1); err != nil {
		t.Errorf("no indices: %v", err)
	}
	empty := kernels.Table{Codec: quant.FP16, Dim: 3, Stride: 6}
	out := []float32{1, 2, 3}
	if err := kernels.GatherDequant(out, empty, kernels.Bags[int32]{Offsets: []int32{0, 0}}, kernels.Mean, 1); err != nil || out[0] != 0 {
		t.Errorf("empty bag of an empty table: %v, %v", err, out)
	}
}

func TestImpls(t *testing.T) {
	impls := kernels.Impls()
	if impls[len(impls)-1] != "generic" {
		t.Fatalf("Impls() = %v, want generic last", impls)
	}
	if kernels.Impl() != impls[0] {
		t.Errorf("Impl() = %q, want the fastest, %q", kernels.Impl(), impls[0])
	}
	t.Logf("implementations: %v", impls)
	restore := kernels.DisableAVX512()
	restore2 := kernels.DisableAVX2()
	if kernels.Impl() != "generic" {
		t.Errorf("with both disabled: %q", kernels.Impl())
	}
	restore2()
	restore()
	if kernels.Impl() != impls[0] {
		t.Errorf("after restore: %q", kernels.Impl())
	}
	for p, s := range map[kernels.Pooling]string{kernels.Sum: "sum", kernels.Mean: "mean", kernels.None: "none", 7: "Pooling(7)"} {
		if p.String() != s {
			t.Errorf("%d.String() = %q", p, p.String())
		}
	}
}
