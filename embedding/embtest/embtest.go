// Package embtest checks implementations of embedding.Trainable against the
// contract of package embedding, in the manner of testing/fstest.TestFS.
//
// A table's test is one line:
//
//	func TestTable(t *testing.T) {
//		embtest.TestTable(t, func() embedding.Trainable { return newSmallTable() })
//	}
//
// newTable must return a fresh table, identical (same config and seed) on
// every call, small enough to build dozens of times, with a learning rate
// below about 0.5 and at least a few hundred rows per field for hashed
// methods (so that a few rows stay untouched by a 32-example batch). The
// suite draws ids from [IDs]: a table that knows only some ids, such as a
// full table, should be built with a vocabulary taken from them.
//
// Tables that keep their rows in low precision and round updates
// stochastically (embedding's int8 storage) pass [Tolerance]:
//
//	embtest.TestTable(t, newInt8Table, embtest.Tolerance(0.01))
package embtest

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// PoolSize is the number of distinct ids per field that the suite uses.
const PoolSize = 256

// poolSeed seeds the suite's ids.
const poolSeed = 0xE3B7AB

// IDs returns the ids the suite draws from: PoolSize salted hashes for each
// of fields fields (ids[f][k]), the same on every call.
func IDs(fields int) [][]uint64 {
	ids := make([][]uint64, fields)
	for f := range ids {
		ids[f] = make([]uint64, PoolSize)
		salt := hashing.FieldSalt(poolSeed, f)
		for k := range ids[f] {
			ids[f][k] = hashing.Mix64(salt + uint64(k))
		}
	}
	return ids
}

// An Option adjusts what TestTable expects of a table.
type Option func(*options)

type options struct {
	tol   float64 // absolute slack of the inexact checks
	dense bool    // every id reads parameters every other id reads (SharedParameters)
}

// Tolerance is for tables that store rows in low precision and round
// updates stochastically (such as embedding.StorageInt8), where a gradient
// that differs from another in its last bit can move a stored value by a
// whole quantization step, and rounding the initial rows can move them by
// a few float32 ulps. It lets the checks that the contract states up to
// float rounding differ by up to abs: Duplicates (ids twice against summed
// gradients) and Init's bound (values may exceed InitScale by abs). Every
// check that the contract makes exact stays bitwise: determinism, SameID,
// ZeroGrad, Untouched, Threads and SaveLoad.
func Tolerance(abs float64) Option {
	return func(o *options) { o.tol = abs }
}

// Optional capabilities the suite checks when a table has them.
type (
	configurer interface{ Config() embedding.Config }
	threader   interface{ SetThreads(n int) }
)

// TestTable runs the conformance suite on the tables newTable returns, as
// subtests:
//
//   - Init: lookups are deterministic (per table and across constructions),
//     finite, not all zero, and within [-InitScale, InitScale] when the
//     table has a Config method.
//   - SameID: an id looked up twice gives the same vector.
//   - Shapes: Lookup and Apply panic on buffers of the wrong length.
//   - ConcurrentLookup: concurrent Lookups agree with a serial one (run
//     with -race).
//   - ZeroGrad: Apply with zero gradients changes no lookup.
//   - Descent: Apply with the gradient of 0.5*||out-1||² lowers that loss.
//   - Duplicates: a batch with every id twice (gradients g1 and g2) trains
//     like one with each id once and gradient g1+g2.
//   - Untouched: ids that share no row with a training batch never change
//     (sharing is detected by training each probe alone on another table).
//   - Threads: with SetThreads, training is bit-identical for 1 and 4
//     goroutines.
//   - SaveLoad: for an embedding.Persister, Save then Load into a fresh
//     table gives identical lookups, identical further training and an
//     identical second Save; Load rejects truncated and corrupt streams.
//   - Bytes: Bytes is plausible and constant under Lookup and Apply.
//   - Allocs: steady-state Lookup and single-threaded Apply do not allocate.
//   - Fields: for an embedding.FieldTrainable, LookupFields and ApplyFields
//     over whole examples (fields 0, 1, ..., F-1, 0, ...) equal Lookup and
//     Apply bit for bit through several steps; LookupFields of a bag-shaped
//     list (any count of a field, any order) gives each id the vector
//     Lookup gives it; mismatched fields and out-of-range fields panic.
//
// Options (such as [Tolerance]) adjust the expectations.
func TestTable(t *testing.T, newTable func() embedding.Trainable, opts ...Option) {
	t.Helper()
	tbl := newTable()
	if tbl.Fields() < 1 || tbl.Dim() < 1 {
		t.Fatalf("Fields() = %d, Dim() = %d: both must be positive", tbl.Fields(), tbl.Dim())
	}
	s := &suite{newTable: newTable, fields: tbl.Fields(), dim: tbl.Dim(), pool: IDs(tbl.Fields())}
	for _, o := range opts {
		o(&s.opt)
	}
	t.Run("Init", s.testInit)
	t.Run("SameID", s.testSameID)
	t.Run("Shapes", s.testShapes)
	t.Run("ConcurrentLookup", s.testConcurrentLookup)
	t.Run("ZeroGrad", s.testZeroGrad)
	t.Run("Descent", s.testDescent)
	t.Run("Duplicates", s.testDuplicates)
	t.Run("Untouched", s.testUntouched)
	t.Run("Threads", s.testThreads)
	t.Run("SaveLoad", s.testSaveLoad)
	t.Run("Bytes", s.testBytes)
	t.Run("Allocs", s.testAllocs)
	t.Run("Fields", s.testFields)
}

func (s *suite) testFields(t *testing.T) {
	if _, ok := s.newTable().(embedding.FieldTrainable); !ok {
		t.Skip("not an embedding.FieldTrainable")
	}
	a, b := s.newTable(), s.newTable().(embedding.FieldTrainable)
	rng := newRand(21)
	for step := range 3 {
		ids := s.batch(rng, 32)
		fields := make([]int, len(ids))
		for i := range fields {
			fields[i] = i % s.fields
		}
		la := s.lookup(a, ids)
		lb := make([]float32, len(la))
		b.LookupFields(ids, fields, lb)
		if i := diff(la, lb); i >= 0 {
			t.Fatalf("step %d: LookupFields over whole examples differs from Lookup at float %d", step, i)
		}
		g := s.grads(rng, ids)
		a.Apply(ids, g)
		b.ApplyFields(ids, fields, g)
	}
	// A bag-shaped list: field f k times for k in 0..3, shuffled.
	var ids []uint64
	var fields []int
	for f := range s.fields {
		for range rng.IntN(4) {
			ids = append(ids, s.pool[f][rng.IntN(PoolSize)])
			fields = append(fields, f)
		}
	}
	for len(ids) < 2 {
		ids, fields = append(ids, s.pool[0][rng.IntN(PoolSize)]), append(fields, 0)
	}
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i]; fields[i], fields[j] = fields[j], fields[i] })
	got := make([]float32, len(ids)*s.dim)
	b.LookupFields(ids, fields, got)
	row := s.batch(rng, 1)
	for i, id := range ids {
		ex := append([]uint64(nil), row...)
		ex[fields[i]] = id
		want := s.lookup(b, ex)[fields[i]*s.dim:][:s.dim]
		if j := diff(want, got[i*s.dim:(i+1)*s.dim]); j >= 0 {
			t.Fatalf("LookupFields of id %d (field %d) differs from Lookup at float %d", i, fields[i], j)
		}
	}
	mustPanic(t, "LookupFields with fewer fields than ids", func() {
		b.LookupFields(ids[:2], fields[:1], make([]float32, 2*s.dim))
	})
	mustPanic(t, "LookupFields of a field out of range", func() {
		b.LookupFields(ids[:1], []int{s.fields}, make([]float32, s.dim))
	})
	mustPanic(t, "ApplyFields with a short gradient", func() {
		b.ApplyFields(ids[:2], fields[:2], make([]float32, s.dim))
	})
}

type suite struct {
	newTable    func() embedding.Trainable
	fields, dim int
	pool        [][]uint64
	opt         options
}

// batch returns n examples of ids drawn from the pool with rng.
func (s *suite) batch(rng *rand.Rand, n int) []uint64 {
	ids := make([]uint64, n*s.fields)
	for i := range ids {
		ids[i] = s.pool[i%s.fields][rng.IntN(PoolSize)]
	}
	return ids
}

// grads returns gradients in [-1, 1) for ids.
func (s *suite) grads(rng *rand.Rand, ids []uint64) []float32 {
	g := make([]float32, len(ids)*s.dim)
	for i := range g {
		g[i] = 2*rng.Float32() - 1
	}
	return g
}

func (s *suite) lookup(tbl embedding.Table, ids []uint64) []float32 {
	out := make([]float32, len(ids)*s.dim)
	tbl.Lookup(ids, out)
	return out
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5EED)) }

// diff returns the first index where a and b differ bitwise, or -1.
func diff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

func (s *suite) testInit(t *testing.T) {
	ids := s.batch(newRand(1), 64)
	a, b := s.newTable(), s.newTable()
	la := s.lookup(a, ids)
	if i := diff(la, s.lookup(a, ids)); i >= 0 {
		t.Fatalf("two Lookups of one batch differ at float %d", i)
	}
	if i := diff(la, s.lookup(b, ids)); i >= 0 {
		t.Fatalf("two tables from newTable differ at float %d: construction is not deterministic", i)
	}
	bound := float32(math.Inf(1))
	if c, ok := a.(configurer); ok {
		bound = c.Config().InitScale + float32(s.opt.tol)
	}
	nonzero := false
	for i, v := range la {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("initial value %d is %v", i, v)
		}
		if v < -bound || v > bound {
			t.Fatalf("initial value %d = %v outside [-%v, %v]", i, v, bound, bound)
		}
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Fatal("every initial value is 0")
	}
}

func (s *suite) testSameID(t *testing.T) {
	rng := newRand(2)
	tbl := s.newTable()
	ids := s.batch(rng, 32)
	// Examples 16..31 repeat examples 0..15 in reverse order.
	for e := 16; e < 32; e++ {
		copy(ids[e*s.fields:(e+1)*s.fields], ids[(31-e)*s.fields:(32-e)*s.fields])
	}
	check := func(when string) {
		out := s.lookup(tbl, ids)
		rowLen := s.fields * s.dim
		for e := 16; e < 32; e++ {
			if i := diff(out[e*rowLen:(e+1)*rowLen], out[(31-e)*rowLen:(32-e)*rowLen]); i >= 0 {
				t.Fatalf("%s: examples %d and %d have the same ids but differ at float %d", when, e, 31-e, i)
			}
		}
	}
	check("at init")
	tbl.Apply(ids, s.grads(rng, ids))
	check("after Apply")
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

func (s *suite) testShapes(t *testing.T) {
	tbl := s.newTable()
	ids := s.batch(newRand(3), 2)
	n := len(ids) * s.dim
	mustPanic(t, "Lookup with a short out", func() { tbl.Lookup(ids, make([]float32, n-1)) })
	mustPanic(t, "Lookup with a long out", func() { tbl.Lookup(ids, make([]float32, n+1)) })
	mustPanic(t, "Apply with short grads", func() { tbl.Apply(ids, make([]float32, n-1)) })
	if s.fields > 1 {
		mustPanic(t, "Lookup of a partial example", func() {
			tbl.Lookup(ids[:len(ids)-1], make([]float32, n-s.dim))
		})
	}
	// Empty batches are fine.
	tbl.Lookup(nil, nil)
	tbl.Apply(nil, nil)
}

func (s *suite) testConcurrentLookup(t *testing.T) {
	tbl := s.newTable()
	rng := newRand(4)
	warm := s.batch(rng, 64)
	tbl.Apply(warm, s.grads(rng, warm))
	ids := s.batch(rng, 256)
	want := s.lookup(tbl, ids)
	var wg sync.WaitGroup
	errs := make([]int, 4)
	for g := range errs {
		wg.Go(func() {
			errs[g] = -1
			for range 8 {
				if i := diff(want, s.lookup(tbl, ids)); i >= 0 {
					errs[g] = i
					return
				}
			}
		})
	}
	wg.Wait()
	for g, i := range errs {
		if i >= 0 {
			t.Fatalf("goroutine %d: concurrent Lookup differs from a serial one at float %d", g, i)
		}
	}
}

func (s *suite) testZeroGrad(t *testing.T) {
	tbl := s.newTable()
	rng := newRand(5)
	ids := s.batch(rng, 64)
	probe := s.batch(rng, 64)
	before, pb := s.lookup(tbl, ids), s.lookup(tbl, probe)
	tbl.Apply(ids, make([]float32, len(ids)*s.dim))
	if i := diff(before, s.lookup(tbl, ids)); i >= 0 {
		t.Fatalf("Apply with zero gradients changed float %d of the batch", i)
	}
	if i := diff(pb, s.lookup(tbl, probe)); i >= 0 {
		t.Fatalf("Apply with zero gradients changed float %d of other ids", i)
	}
}

func (s *suite) testDescent(t *testing.T) {
	tbl := s.newTable()
	ids := s.batch(newRand(6), 32)
	loss := func() (float64, []float32) {
		out := s.lookup(tbl, ids)
		var l float64
		for i, v := range out {
			d := v - 1
			l += 0.5 * float64(d) * float64(d)
			out[i] = d // dL/dout
		}
		return l, out
	}
	l0, g := loss()
	for step := range 3 {
		tbl.Apply(ids, g)
		var l float64
		l, g = loss()
		if !(l < l0) {
			t.Fatalf("step %d: loss %v did not decrease from %v", step, l, l0)
		}
		l0 = l
	}
}

// closeTo returns the first index where a and b differ by more than a
// relative tolerance (the sum of products need not be bitwise the product
// of sums) plus the absolute slack tol, or -1.
func closeTo(a, b []float32, tol float64) int {
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > tol+1e-6+1e-5*math.Abs(float64(b[i])) {
			return i
		}
	}
	return -1
}

func (s *suite) testDuplicates(t *testing.T) {
	rng := newRand(7)
	a, b := s.newTable(), s.newTable()
	warm := s.batch(rng, 32)
	gw := s.grads(rng, warm)
	a.Apply(warm, gw)
	b.Apply(warm, gw)

	once := s.batch(rng, 16)
	twice := append(append([]uint64(nil), once...), once...)
	g1, g2 := s.grads(rng, once), s.grads(rng, once)
	sum := make([]float32, len(g1))
	for i := range sum {
		sum[i] = g1[i] + g2[i]
	}
	a.Apply(twice, append(append([]float32(nil), g1...), g2...))
	b.Apply(once, sum)
	check := append(append([]uint64(nil), once...), warm...)
	la, lb := s.lookup(a, check), s.lookup(b, check)
	if i := closeTo(la, lb, s.opt.tol); i >= 0 {
		t.Fatalf("ids twice with gradients g1, g2 give %v at float %d; once with g1+g2 gives %v",
			la[i], i, lb[i])
	}
}

func (s *suite) testUntouched(t *testing.T) {
	if s.opt.dense {
		t.Skip("every id reads the table's shared parameters (SharedParameters)")
	}
	rng := newRand(8)
	train := s.batch(rng, 32)
	gt := s.grads(rng, train)
	// A probe example shares no row with train iff training it alone on
	// another table leaves every lookup of train unchanged.
	detector := s.newTable()
	var free []uint64
	for range 64 {
		p := s.batch(rng, 1)
		before := s.lookup(detector, train)
		ones := make([]float32, len(p)*s.dim)
		for i := range ones {
			ones[i] = 1
		}
		detector.Apply(p, ones)
		if diff(before, s.lookup(detector, train)) < 0 {
			free = append(free, p...)
		}
	}
	if len(free) == 0 {
		t.Fatal("every one of 64 probes shares a row with a 32-example batch: either Apply " +
			"touches rows that the batch does not map to, or the table is too small for the suite")
	}
	tbl := s.newTable()
	want := s.lookup(tbl, free)
	for range 3 {
		tbl.Apply(train, gt)
	}
	if i := diff(want, s.lookup(tbl, free)); i >= 0 {
		t.Fatalf("float %d of ids sharing no row with the batch changed (%d such examples)",
			i, len(free)/s.fields)
	}
}

func (s *suite) testThreads(t *testing.T) {
	a, b := s.newTable(), s.newTable()
	ta, ok := a.(threader)
	if !ok {
		t.Skip("table has no SetThreads")
	}
	ta.SetThreads(1)
	b.(threader).SetThreads(4)
	rng := newRand(9)
	var ids []uint64
	for range 3 {
		ids = s.batch(rng, 2048)
		g := s.grads(rng, ids)
		a.Apply(ids, g)
		b.Apply(ids, g)
	}
	if i := diff(s.lookup(a, ids), s.lookup(b, ids)); i >= 0 {
		t.Fatalf("training with 1 and 4 threads differs at float %d", i)
	}
}

func (s *suite) testSaveLoad(t *testing.T) {
	a := s.newTable()
	pa, ok := a.(embedding.Persister)
	if !ok {
		t.Skip("table is not an embedding.Persister")
	}
	rng := newRand(10)
	var steps [4][]uint64
	var grads [4][]float32
	for k := range steps {
		steps[k] = s.batch(rng, 64)
		grads[k] = s.grads(rng, steps[k])
	}
	probe := s.batch(rng, 128)
	for k := range 2 {
		a.Apply(steps[k], grads[k])
	}
	var saved bytes.Buffer
	if err := pa.Save(&saved); err != nil {
		t.Fatalf("Save: %v", err)
	}
	b := s.newTable()
	pb := b.(embedding.Persister)
	if err := pb.Load(bytes.NewReader(saved.Bytes())); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if i := diff(s.lookup(a, probe), s.lookup(b, probe)); i >= 0 {
		t.Fatalf("loaded table differs from the saved one at float %d", i)
	}
	var again bytes.Buffer
	if err := pb.Save(&again); err != nil {
		t.Fatalf("Save of loaded table: %v", err)
	}
	if !bytes.Equal(saved.Bytes(), again.Bytes()) {
		t.Fatalf("Save of the loaded table differs from the saved stream (%d vs %d bytes)", again.Len(), saved.Len())
	}
	for k := 2; k < 4; k++ {
		a.Apply(steps[k], grads[k])
		b.Apply(steps[k], grads[k])
	}
	if i := diff(s.lookup(a, probe), s.lookup(b, probe)); i >= 0 {
		t.Fatalf("after two more steps, the loaded table differs from the original at float %d", i)
	}

	data := saved.Bytes()
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated header", data[:min(len(data), 10)]},
		{"truncated body", data[:len(data)/2]},
		{"no end", data[:len(data)-1]},
		{"bad magic", append([]byte{data[0] ^ 0xFF}, data[1:]...)},
	} {
		err := s.newTable().(embedding.Persister).Load(bytes.NewReader(c.data))
		if err == nil {
			t.Errorf("Load of a %s stream succeeded", c.name)
		}
	}
	if err := s.newTable().(embedding.Persister).Load(&failReader{data: data, n: len(data) / 3}); err == nil {
		t.Error("Load succeeded though the reader failed")
	}
}

// failReader returns its data up to n bytes, then an error.
type failReader struct {
	data []byte
	n    int
}

func (r *failReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, fmt.Errorf("embtest: injected read error")
	}
	k := copy(p[:min(len(p), r.n)], r.data)
	r.data, r.n = r.data[k:], r.n-k
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

func (s *suite) testBytes(t *testing.T) {
	tbl := s.newTable()
	b := tbl.Bytes()
	if b.Params < int64(s.dim) || b.Optimizer < 0 || b.Index < 0 {
		t.Fatalf("implausible Bytes %+v for dim %d", b, s.dim)
	}
	if b.Total() != b.Params+b.Optimizer+b.Index {
		t.Fatalf("Total %d != sum of %+v", b.Total(), b)
	}
	rng := newRand(11)
	ids := s.batch(rng, 64)
	tbl.Apply(ids, s.grads(rng, ids))
	s.lookup(tbl, ids)
	if b2 := tbl.Bytes(); b2 != b {
		t.Fatalf("Bytes changed from %+v to %+v after Apply and Lookup", b, b2)
	}
}

func (s *suite) testAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	tbl := s.newTable()
	if th, ok := tbl.(threader); ok {
		th.SetThreads(1)
	}
	rng := newRand(12)
	ids := s.batch(rng, 256)
	g := s.grads(rng, ids)
	out := make([]float32, len(ids)*s.dim)
	tbl.Apply(ids, g) // grow scratch buffers
	if n := testing.AllocsPerRun(5, func() { tbl.Lookup(ids, out) }); n != 0 {
		t.Errorf("Lookup allocates %v times per call", n)
	}
	if n := testing.AllocsPerRun(5, func() { tbl.Apply(ids, g) }); n != 0 {
		t.Errorf("Apply allocates %v times per call in steady state", n)
	}
}

// ZipfVocab returns a benchmark's vocabulary and batch: fields fields of
// perField ids each (hashed), their counts falling as 1/rank, and
// examples examples whose ids are drawn by Zipf's law (s = 1.1), the
// batch row-major as Table.Lookup takes it.
func ZipfVocab(fields, perField, examples int) (ids [][]uint64, counts [][]uint32, batch []uint64) {
	rng := rand.New(rand.NewPCG(1, 2))
	ids, counts = make([][]uint64, fields), make([][]uint32, fields)
	for f := range ids {
		for k := range perField {
			ids[f] = append(ids[f], hashing.Mix64(uint64(f)<<32|uint64(k)))
			counts[f] = append(counts[f], uint32(1+100000/(k+1)))
		}
	}
	z := rand.NewZipf(rng, 1.1, 1, uint64(perField-1))
	batch = make([]uint64, 0, examples*fields)
	for range examples {
		for f := range fields {
			batch = append(batch, ids[f][z.Uint64()])
		}
	}
	return ids, counts, batch
}
