package embedding

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/embtab/embtab/hashing"
)

// MaxRows is the largest number of rows of one [Rows] store (and so of one
// table): row indices are int32.
const MaxRows = math.MaxInt32

// DefaultInitScale is the half-width of the uniform initialisation when a
// Config gives none: rows start in U(-0.05, 0.05), as in the PyTorch peer.
const DefaultInitScale = 0.05

// initBlockRows is the number of rows drawn from one generator by
// [Rows.InitUniform]. It is part of the init specification: changing it
// changes every initial table.
const initBlockRows = 4096

// minKeysPerThread is the least number of (row, entry) pairs for which
// [Rows.Apply] starts another goroutine.
const minKeysPerThread = 1024

// Rows is a dense store of n rows of dim parameters with the per-row state
// of its optimizer, and the engine that applies sparse gradients to it.
// Every table in this package keeps its rows in Rows: one for the whole
// table, or with per-field dims (Config.FieldDims) one per field, each as
// wide as its field's dim. Other packages can build their own tables on it.
//
// Parameters are float32 (StorageFP32, row-major: row i is
// Params()[i*dim:(i+1)*dim]) or row-wise int8 (StorageInt8, see
// [Storage]); either way Gather, ReadRows and Apply see and compute in
// float32. Optimizer state is float32 and lives beside the parameters in
// arrays indexed by the same row. The readers (Gather, GatherAdd, ReadRows,
// Row) are safe for concurrent use with each other; Apply, WriteRows, the
// Init methods, Fill, SetThreads and Load need exclusive access.
type Rows struct {
	n, dim int
	opt    Optimizer // with defaults
	kind   optKind
	stride int       // state floats per row
	params []float32 // n*dim (fp32 storage), else nil
	codes  []byte    // n*(dim+8) (int8 storage), else nil
	state  []float32 // n*stride
	steps  []uint32  // n if the optimizer counts steps, else nil

	// seed is Storage.Seed; for int8 storage, rseed seeds the stochastic
	// rounding and applies counts the Applies that had entries (see
	// Storage).
	seed, rseed uint64
	applies     uint64

	// alpt is the learned-step state of StorageALPT (nil otherwise).
	alpt *alptState

	threads int

	// Apply scratch, reused across calls.
	keys, tmp []uint64
	counts    []int
	workers   []worker // one per goroutine
	bounds    []int
}

// worker is the Apply scratch of one goroutine.
type worker struct {
	gsum  []float32 // a row's summed gradient
	w, w0 []float32 // int8: the decoded row being updated, and before the update
	rng   rand.PCG  // int8: stochastic rounding
	_     [64]byte  // keeps the workers' rng states off each other's cache lines
}

// NewRows returns n rows of dim zeros with zero optimizer state for opt,
// stored as float32. It is NewRowsWithStorage with the zero Storage.
func NewRows(n, dim int, opt Optimizer) (*Rows, error) {
	return NewRowsWithStorage(n, dim, opt, Storage{})
}

// NewRowsWithStorage returns n rows of dim zeros with zero optimizer state
// for opt, stored as s says. The errors wrap [ErrConfig] (also for an
// unknown precision), [ErrTooManyRows] or [ErrUnknownOptimizer].
func NewRowsWithStorage(n, dim int, opt Optimizer, s Storage) (*Rows, error) {
	if n < 1 || dim < 1 {
		return nil, fmt.Errorf("rows %d x dim %d: both must be positive: %w", n, dim, ErrConfig)
	}
	if n > MaxRows {
		return nil, fmt.Errorf("%d rows (max %d): %w", n, MaxRows, ErrTooManyRows)
	}
	quantized, err := s.quantized()
	if err != nil {
		return nil, err
	}
	opt, err = opt.WithDefaults()
	if err != nil {
		return nil, err
	}
	spec := optimizers[opt.Name]
	r := &Rows{
		n: n, dim: dim, opt: opt, kind: spec.kind,
		stride:  spec.stateFloats(dim),
		seed:    s.Seed,
		threads: 1,
	}
	if quantized {
		r.codes = make([]byte, n*int8RowBytes(dim))
		r.rseed = hashing.Mix64(s.Seed ^ roundingSalt)
		switch s.Precision {
		case StorageALPT:
			r.alpt = newALPTState(n, opt, 8)
		case StorageALPT4:
			r.alpt = newALPTState(n, opt, 4)
		}
	} else {
		r.params = make([]float32, n*dim)
	}
	if r.stride > 0 {
		r.state = make([]float32, n*r.stride)
	}
	if spec.steps {
		r.steps = make([]uint32, n)
	}
	return r, nil
}

// Len returns the number of rows.
func (r *Rows) Len() int { return r.n }

// Dim returns the number of floats per row.
func (r *Rows) Dim() int { return r.dim }

// Optimizer returns the optimizer, with its defaults filled in.
func (r *Rows) Optimizer() Optimizer { return r.opt }

// Row returns the parameters of row i of an fp32 store. The slice aliases
// the store: it is valid until the next Load and must not be written while
// other goroutines read the store. For int8 storage there is no float32
// row to alias and Row returns nil: use ReadRows.
func (r *Rows) Row(i int) []float32 {
	if r.params == nil {
		return nil
	}
	return r.params[i*r.dim : (i+1)*r.dim : (i+1)*r.dim]
}

// Params returns all parameters of an fp32 store, row-major, aliasing the
// store (see Row); for int8 storage it returns nil. [Rows.ReadRows] and
// [Rows.WriteRows] read and rewrite rows whatever the storage.
func (r *Rows) Params() []float32 { return r.params }

// span returns rows [lo, hi) of an fp32 store, aliasing it, or nil for
// int8 storage.
func (r *Rows) span(lo, hi int) []float32 {
	if r.params == nil {
		return nil
	}
	return r.params[lo*r.dim : hi*r.dim]
}

// Bytes reports the parameter bytes as stored (4·dim per row for fp32,
// dim+8 for int8) and the optimizer-state bytes. Apply's scratch buffers
// (a few bytes per id of the largest batch, and per goroutine) are not
// counted.
func (r *Rows) Bytes() Bytes {
	b := Bytes{
		Params:    int64(len(r.params))*4 + int64(len(r.codes)),
		Optimizer: int64(len(r.state))*4 + int64(len(r.steps))*4,
	}
	if r.alpt != nil {
		b.Optimizer += int64(len(r.alpt.acc)+len(r.alpt.master)) * 4
	}
	return b
}

// SetThreads sets the number of goroutines Apply may use; n <= 0 means
// runtime.GOMAXPROCS(0). The default is 1. Results do not depend on it.
func (r *Rows) SetThreads(n int) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	r.threads = n
}

// Threads returns the number of goroutines Apply may use.
func (r *Rows) Threads() int { return r.threads }

// Fill sets every parameter of rows [from, to) to v (exactly, for int8
// storage too: a constant row has scale 0 and bias v).
func (r *Rows) Fill(from, to int, v float32) {
	if r.codes == nil {
		p := r.params[from*r.dim : to*r.dim]
		for i := range p {
			p[i] = v
		}
		return
	}
	if r.alpt != nil {
		r.alpt.dropHold()
	}
	row := make([]float32, r.dim)
	for i := range row {
		row[i] = v
	}
	for i := from; i < to; i++ {
		r.encodeRow(i, row)
	}
}

// InitUniform fills rows [from, to) with values drawn uniformly from
// [-scale, scale) and leaves the optimizer state alone.
//
// The draw is specified, so a seed in a manifest reproduces a table: rows
// are taken in blocks of 4096 from the start of the range; block k uses
// rand.NewPCG(seed, hashing.Mix64(hashing.Mix64(stream)+k)), and each
// Uint64 x gives two values, first from bits 63..40 then from bits 31..8:
// for a 24-bit u, (u*2⁻²³ - 1) * scale. The values of row from+i thus
// depend only on (seed, stream, i), not on the range's position, the other
// rows or the number of goroutines, which is GOMAXPROCS. Int8 storage
// rounds each drawn row to nearest (quant.Int8.EncodeRow), so its rows
// decode to the fp32 table's rows within half a step.
func (r *Rows) InitUniform(from, to int, scale float32, seed, stream uint64) {
	if from < 0 || to > r.n || from > to {
		panic(fmt.Sprintf("embedding: InitUniform rows [%d, %d) out of [0, %d)", from, to, r.n))
	}
	if r.alpt != nil {
		r.alpt.dropHold()
	}
	d := r.dim
	blocks := (to - from + initBlockRows - 1) / initBlockRows
	sbase := hashing.Mix64(stream)
	// buf holds a block's values before int8 encoding; nil for fp32.
	fill := func(k int, buf []float32) {
		lo := from + k*initBlockRows
		hi := min(lo+initBlockRows, to)
		p := r.span(lo, hi)
		if p == nil {
			p = buf[:(hi-lo)*d]
		}
		g := rand.NewPCG(seed, hashing.Mix64(sbase+uint64(k)))
		const unit = 1.0 / (1 << 23)
		i := 0
		for ; i+1 < len(p); i += 2 {
			x := g.Uint64()
			p[i] = (float32(x>>40)*unit - 1) * scale
			p[i+1] = (float32((x>>8)&0xFFFFFF)*unit - 1) * scale
		}
		if i < len(p) {
			p[i] = (float32(g.Uint64()>>40)*unit - 1) * scale
		}
		if r.codes != nil {
			for j := lo; j < hi; j++ {
				r.encodeRow(j, p[(j-lo)*d:(j-lo+1)*d])
			}
		}
	}
	newBuf := func() []float32 {
		if r.codes == nil {
			return nil
		}
		return make([]float32, min(initBlockRows, to-from)*d)
	}
	workers := min(runtime.GOMAXPROCS(0), blocks)
	if workers <= 1 {
		buf := newBuf()
		for k := range blocks {
			fill(k, buf)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := newBuf()
			for k := int(next.Add(1) - 1); k < blocks; k = int(next.Add(1) - 1) {
				fill(k, buf)
			}
		})
	}
	wg.Wait()
}

// Gather copies the parameters of rows idx[i] to out[i*Dim():(i+1)*Dim()]
// (decoded, for int8 storage). It panics if len(out) != len(idx)*Dim() or
// an index is out of range.
func (r *Rows) Gather(idx []int32, out []float32) {
	d := r.dim
	if len(out) != len(idx)*d {
		panic(fmt.Sprintf("embedding: Gather: len(out)=%d, want len(idx)*dim=%d", len(out), len(idx)*d))
	}
	if c := r.codes; c != nil {
		rb := int8RowBytes(d)
		for i, row := range idx {
			o := int(row) * rb
			decodeInt8(out[i*d:i*d+d], c[o:o+rb])
		}
		return
	}
	p := r.params
	for i, row := range idx {
		o := int(row) * d
		copyRow(out[i*d:i*d+d], p[o:o+d])
	}
}

// GatherAdd adds the parameters of rows idx[i] (decoded, for int8
// storage) to out[i*Dim():(i+1)*Dim()], elementwise in float32: the sum
// pooling of tables that add several rows per id. It panics as Gather
// does.
func (r *Rows) GatherAdd(idx []int32, out []float32) {
	d := r.dim
	if len(out) != len(idx)*d {
		panic(fmt.Sprintf("embedding: GatherAdd: len(out)=%d, want len(idx)*dim=%d", len(out), len(idx)*d))
	}
	if r.codes != nil {
		r.combineInt8(idx, out, false)
		return
	}
	p := r.params
	for i, row := range idx {
		o := int(row) * d
		add(out[i*d:i*d+d], p[o:o+d])
	}
}

// combineInt8 multiplies (mul) or adds the decoded parameters of rows
// idx[i] of an int8 store into out[i*Dim():(i+1)*Dim()], elementwise in
// float32: out[j] *= x[j] or out[j] += x[j]. The caller has checked that
// len(out) == len(idx)*Dim().
func (r *Rows) combineInt8(idx []int32, out []float32, mul bool) {
	d := r.dim
	rb := int8RowBytes(d)
	for i, row := range idx {
		o := out[i*d : i*d+d]
		src := r.codes[int(row)*rb : int(row)*rb+rb]
		scale, bias := int8ScaleBias(src, d)
		q := src[:len(o)]
		if mul {
			for j := range o {
				o[j] *= float32(float32(q[j])*scale) + bias
			}
		} else {
			for j := range o {
				o[j] += float32(float32(q[j])*scale) + bias
			}
		}
	}
}

// copyRow copies src to dst (equal lengths). Common dims copy as arrays,
// which compile to a few vector moves: about 1.6x faster than the memmove
// call of copy for 64-byte rows in cache.
func copyRow(dst, src []float32) {
	switch len(dst) {
	case 8:
		*(*[8]float32)(dst) = *(*[8]float32)(src)
	case 16:
		*(*[16]float32)(dst) = *(*[16]float32)(src)
	case 32:
		*(*[32]float32)(dst) = *(*[32]float32)(src)
	default:
		copy(dst, src)
	}
}

// Apply updates the rows that idx names with the optimizer: entry i
// contributes the gradient grads[i*Dim():(i+1)*Dim()] to row idx[i].
// The gradients of entries sharing a row are summed in entry order first,
// and each touched row is updated once, so the result depends neither on
// the order in which rows are visited nor on the number of threads; rows
// that idx does not name are not read or written. With int8 storage each
// touched row is decoded, updated in float32 exactly as an fp32 row would
// be, and re-encoded with stochastic rounding (see [Storage]).
//
// Apply sorts (row, entry) pairs with a stable radix sort, splits the sorted
// pairs at row boundaries among up to Threads() goroutines, and sums and
// updates each row's group in place. It does not allocate once its scratch
// buffers have grown to the batch size, apart from the goroutines it starts.
// It panics if len(grads) != len(idx)*Dim(), an index is out of range or
// len(idx) >= 2³².
func (r *Rows) Apply(idx []int32, grads []float32) {
	d := r.dim
	if len(grads) != len(idx)*d {
		panic(fmt.Sprintf("embedding: Apply: len(grads)=%d, want len(idx)*dim=%d", len(grads), len(idx)*d))
	}
	r.apply(idx, grads, 0, d)
}

// apply is Apply with strided gradients: entry i's gradient is
// grads[off+i*stride : off+i*stride+Dim()] (stride >= Dim()). Tables with
// per-field dims pass the gradients of one field of a batch this way, in
// place: the leading FieldDims[f] floats of each of the field's vectors.
func (r *Rows) apply(idx []int32, grads []float32, off, stride int) {
	d := r.dim
	n := len(idx)
	if n > 0 && (off < 0 || stride < d || off+(n-1)*stride+d > len(grads)) {
		panic(fmt.Sprintf("embedding: Apply: %d gradients of dim %d at offset %d, stride %d do not fit in %d floats",
			n, d, off, stride, len(grads)))
	}
	if uint64(n) >= 1<<32 {
		panic(fmt.Sprintf("embedding: Apply: %d entries in one call (max 2^32-1)", n))
	}
	if n == 0 {
		return
	}
	if cap(r.keys) < n {
		c := max(n, 2*cap(r.keys)) // amortised: batches of a varying number of rows
		r.keys = make([]uint64, c)
		r.tmp = make([]uint64, c)
	}
	keys := r.keys[:n]
	rows := uint32(r.n)
	for i, row := range idx {
		if uint32(row) >= rows {
			panic(fmt.Sprintf("embedding: Apply: row %d out of [0, %d)", row, r.n))
		}
		keys[i] = uint64(row)<<32 | uint64(i)
	}
	keys = r.sortKeys(keys)

	step := r.applies
	r.applies++
	if r.alpt != nil {
		r.alpt.hold(keys, d, step)
	}
	g := gradSource{grads: grads, off: off, stride: stride}
	if r.groupThreads(n) <= 1 { // no closure: Apply does not allocate
		r.growWorkers(1)
		r.applySorted(keys, 0, g, &r.workers[0], step)
		return
	}
	r.forGroups(keys, func(part []uint64, base int, wk *worker) { r.applySorted(part, base, g, wk, step) })
}

// groupThreads is the goroutines forGroups uses for n keys.
func (r *Rows) groupThreads(n int) int { return min(r.threads, n/minKeysPerThread) }

// forGroups calls fn on parts of sorted keys split at row boundaries (no
// row in two parts), on up to Threads() goroutines at minKeysPerThread
// keys each; base is the part's offset in keys, wk its worker.
func (r *Rows) forGroups(keys []uint64, fn func(part []uint64, base int, wk *worker)) {
	n := len(keys)
	threads := r.groupThreads(n)
	r.growWorkers(max(threads, 1))
	if threads <= 1 {
		fn(keys, 0, &r.workers[0])
		return
	}
	b := append(r.bounds[:0], 0)
	for k := 1; k < threads; k++ {
		at := max(n*k/threads, b[len(b)-1])
		for at > 0 && at < n && keys[at]>>32 == keys[at-1]>>32 {
			at++
		}
		b = append(b, at)
	}
	b = append(b, n)
	r.bounds = b
	var wg sync.WaitGroup
	for k := 1; k < threads; k++ {
		if b[k] < b[k+1] {
			part, base, wk := keys[b[k]:b[k+1]], b[k], &r.workers[k]
			wg.Go(func() { fn(part, base, wk) })
		}
	}
	fn(keys[:b[1]], 0, &r.workers[0])
	wg.Wait()
}

// growWorkers makes sure that r.workers has n workers with their buffers.
func (r *Rows) growWorkers(n int) {
	if len(r.workers) >= n {
		return
	}
	d := r.dim
	ws := make([]worker, n)
	copy(ws, r.workers)
	for k := len(r.workers); k < n; k++ {
		// One block per worker, padded by 64 bytes so that no two
		// workers' buffers share a cache line.
		buf := make([]float32, 3*d+16)
		ws[k].gsum = buf[:d:d]
		if r.codes != nil {
			ws[k].w, ws[k].w0 = buf[d:2*d:2*d], buf[2*d:3*d:3*d]
		}
	}
	r.workers = ws
}

// sortKeys sorts (row<<32 | entry) keys, given in entry order, by row and
// then entry, and returns the sorted slice (keys or r.tmp).
func (r *Rows) sortKeys(keys []uint64) []uint64 {
	n := len(keys)
	rowBits := bits.Len32(uint32(r.n - 1))
	if rowBits == 0 {
		return keys // one row: already in entry order
	}
	if n <= 256 {
		slices.Sort(keys)
		return keys
	}
	// LSD radix sort on the row bits only. It is stable, and the keys come
	// in entry order, so equal rows stay in entry order.
	passes := (rowBits + 10) / 11
	digit := (rowBits + passes - 1) / passes
	buckets := 1 << digit
	mask := uint64(buckets - 1)
	if cap(r.counts) < buckets {
		r.counts = make([]int, buckets)
	}
	counts := r.counts[:buckets]
	src, dst := keys, r.tmp[:n]
	for p := range passes {
		shift := uint(32 + p*digit)
		clear(counts)
		for _, k := range src {
			counts[(k>>shift)&mask]++
		}
		sum := 0
		for i, c := range counts {
			counts[i] = sum
			sum += c
		}
		for _, k := range src {
			b := (k >> shift) & mask
			dst[counts[b]] = k
			counts[b]++
		}
		src, dst = dst, src
	}
	return src
}

// gradSource locates the gradient of each entry of an Apply: entry e's is
// grads[off+e*stride:][:dim].
type gradSource struct {
	grads       []float32
	off, stride int
}

// of returns the gradient of entry e, dim floats.
func (s gradSource) of(e, dim int) []float32 {
	o := s.off + e*s.stride
	return s.grads[o : o+dim]
}

// applySorted sums the gradients of each row group of sorted keys, in entry
// order, into wk.gsum and updates the row; base is keys' offset in the
// Apply's sorted keys, step the Apply's number.
func (r *Rows) applySorted(keys []uint64, base int, grads gradSource, wk *worker, step uint64) {
	d := r.dim
	for i := 0; i < len(keys); {
		row := keys[i] >> 32
		g, j := groupGrad(keys, i, grads, d, wk.gsum)
		switch {
		case r.codes == nil:
			r.update(int(row), r.params[int(row)*d:int(row)*d+d], g)
		case r.alpt != nil:
			r.updateALPT(int(row), g, wk, base+i)
		default:
			r.updateInt8(int(row), g, wk, step)
		}
		i = j
	}
}

// groupGrad returns the summed gradient of the row group of sorted keys
// that starts at i (the entry's own gradient when it is alone, else the
// sum in entry order, in gs) and the start of the next group.
func groupGrad(keys []uint64, i int, grads gradSource, d int, gs []float32) ([]float32, int) {
	row := keys[i] >> 32
	g := grads.of(int(keys[i]&0xFFFFFFFF), d)
	j := i + 1
	if j < len(keys) && keys[j]>>32 == row {
		copy(gs, g)
		for ; j < len(keys) && keys[j]>>32 == row; j++ {
			add(gs, grads.of(int(keys[j]&0xFFFFFFFF), d))
		}
		g = gs
	}
	return g, j
}

func add(dst, src []float32) {
	src = src[:len(dst)]
	for j := range dst {
		dst[j] += src[j]
	}
}

// update applies the optimizer to row i, whose parameters are w, with its
// summed gradient g.
func (r *Rows) update(i int, w, g []float32) {
	d := r.dim
	switch r.kind {
	case kindSGD:
		updateSGD(w, g, r.opt.LR)
	case kindRowwiseAdagrad:
		updateRowwiseAdagrad(w, g, &r.state[i], r.opt.LR, r.opt.Eps)
	case kindAdagrad:
		updateAdagrad(w, g, r.state[i*d:i*d+d], r.opt.LR, r.opt.Eps)
	case kindLazyAdam:
		updateLazyAdam(w, g, r.state[i*2*d:(i+1)*2*d], &r.steps[i], &r.opt)
	}
}
