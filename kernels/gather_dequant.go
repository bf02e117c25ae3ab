package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/embtab/embtab/quant"
)

//go:generate sh -c "cd _asm && go run . -out ../gen_gather_dequant_amd64.s -stubs ../gen_gather_dequant_amd64.go -pkg kernels"

// Table describes quantized rows for the kernels: Rows rows of Dim values
// encoded with Codec, row r at Data[r·Stride : r·Stride+RowBytes] where
// RowBytes = Codec.RowBytes(Dim). Codec must be one of quant's built-in
// codecs (quant.FP32, quant.FP16, quant.Int8, quant.Int4); the byte layouts
// are theirs. [TableOf] describes a quant.Table.
type Table struct {
	Codec  quant.Codec
	Data   []byte
	Rows   int
	Dim    int
	Stride int // bytes from one row to the next
}

// TableOf returns the Table of t's rows.
func TableOf(t *quant.Table) Table {
	return Table{Codec: t.Codec(), Data: t.Data(), Rows: t.Len(), Dim: t.Dim(), Stride: t.Stride()}
}

// Pooling says how the rows of a bag combine into its output row.
type Pooling uint8

const (
	// Sum writes Σ w_i·row_i per bag (0 for an empty bag).
	Sum Pooling = iota
	// Mean writes Σ w_i·row_i / n per bag of n rows (0 for an empty bag).
	Mean
	// None writes one output row w_i·row_i per index; offsets are ignored.
	None
)

var poolingNames = [...]string{Sum: "sum", Mean: "mean", None: "none"}

// String returns "sum", "mean" or "none".
func (p Pooling) String() string {
	if int(p) < len(poolingNames) {
		return poolingNames[p]
	}
	return fmt.Sprintf("Pooling(%d)", uint8(p))
}

// Index is the type of row indices and bag offsets.
type Index interface{ int32 | int64 }

// Bags is a batch of bags of row indices in CSR form, as PyTorch's
// EmbeddingBag takes them with include_last_offset: bag b is
// Indices[Offsets[b]:Offsets[b+1]], so len(Offsets) is the number of bags
// plus one, Offsets[0] is 0 and the last offset is len(Indices). Weights,
// when not nil, holds one weight per index.
type Bags[I Index] struct {
	Indices []I
	Offsets []I
	Weights []float32
}

// minWorkPerThread is the least number of indices for which GatherDequant
// starts another goroutine.
var minWorkPerThread = 2048

// format identifies a built-in codec.
type format uint8

const (
	fmtFP32 format = iota
	fmtFP16
	fmtInt8
	fmtInt4
	numFormats
)

// accumulators are the reference row kernels, by format.
var accumulators = [numFormats]func(acc []float32, row []byte, c0 int, w float32){
	fmtFP32: accFP32, fmtFP16: accFP16, fmtInt8: accInt8, fmtInt4: accInt4,
}

// kernel is a validated GatherDequant call's table and code.
type kernel struct {
	data     []byte
	stride   int
	dim      int
	rowBytes int
	acc      func(acc []float32, row []byte, c0 int, w float32)
	asm      bagFunc // nil: the reference only
	cols     int     // leading columns the asm kernel does, a multiple of 8
}

// one is the weight of unweighted rows in the asm kernels.
var one = float32(1)

// GatherDequant is the fused gather-dequantize-pool kernel: for each bag of
// b it decodes the rows its indices name from t, multiplies them by their
// weights (1 without Weights) and pools them into out, a row of t.Dim
// float32 values per bag (Sum, Mean) or per index (None), row-major.
//
// The reference semantics, which the generic Go code implements exactly, is
// out_b[j] = post · Σ_i float32(w_i · x̂_ij), summed in index order in
// float32 with x̂ the row as quant decodes it and post 1 (Sum, None) or
// float32(1/n) (Mean). Vectorised implementations fuse the scale into the
// weight (Σ (w·scale)·q + Σ w·bias, with FMAs) and differ from it by float32
// rounding only.
//
// It uses up to threads goroutines (<= 0: GOMAXPROCS), each writing the
// output rows of a contiguous range of bags holding about the same number of
// indices; results do not depend on threads. All arguments are checked
// before anything is written: the errors wrap [ErrCodec], [ErrTable],
// [ErrPooling], [ErrOffsets], [ErrIndex] or [ErrShape]. Apart from the
// goroutines it starts, it does not allocate.
func GatherDequant[I Index](out []float32, t Table, b Bags[I], pool Pooling, threads int) error {
	k, err := newKernel(t, unsafe.Sizeof(I(0)))
	if err != nil {
		return err
	}
	if err := b.check(pool, t.Rows, t.Dim, len(out)); err != nil {
		return err
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	units := len(b.Indices)
	if pool != None {
		units = len(b.Offsets) - 1
	}
	threads = min(threads, len(b.Indices)/minWorkPerThread, units)
	if threads <= 1 {
		work(&k, out, &b, pool, 0, units)
		return nil
	}
	parallel(threads, units, k, out, b, pool)
	return nil
}

// work writes the output rows of bags (or, for None, indices) [u0, u1).
func work[I Index](k *kernel, out []float32, b *Bags[I], pool Pooling, u0, u1 int) {
	if pool == None {
		for i := u0; i < u1; i++ {
			var w []float32
			if b.Weights != nil {
				w = b.Weights[i : i+1]
			}
			bag(k, out[i*k.dim:(i+1)*k.dim], b.Indices[i:u1], 1, w, 1)
		}
		return
	}
	end := int(b.Offsets[u1])
	for j := u0; j < u1; j++ {
		lo, hi := int(b.Offsets[j]), int(b.Offsets[j+1])
		post := float32(1)
		if pool == Mean && hi > lo {
			post = 1 / float32(hi-lo)
		}
		var w []float32
		if b.Weights != nil {
			w = b.Weights[lo:hi]
		}
		bag(k, out[j*k.dim:(j+1)*k.dim], b.Indices[lo:end], hi-lo, w, post)
	}
}

// parallel runs work on units cut into threads contiguous ranges, on as
// many goroutines (the caller's included). Pooled bags are cut so that the
// ranges hold about equal numbers of indices.
func parallel[I Index](threads, units int, k kernel, out []float32, b Bags[I], pool Pooling) {
	// cut(t) is where range t starts, for 0 < t < threads; range 0 starts
	// at 0 and the last ends at units.
	cut := func(t int) int { return units * t / threads }
	if pool != None {
		total := int64(len(b.Indices))
		cut = func(t int) int {
			// The first bag whose indices start at or after t/threads of
			// them; the offsets are non-decreasing.
			target := I(total * int64(t) / int64(threads))
			lo, hi := 0, units
			for lo < hi {
				m := int(uint(lo+hi) >> 1)
				if b.Offsets[m] < target {
					lo = m + 1
				} else {
					hi = m
				}
			}
			return lo
		}
	}
	var wg sync.WaitGroup
	end := func(t int) int { // where range t ends
		if t == threads-1 {
			return units
		}
		return cut(t + 1)
	}
	for t := 1; t < threads; t++ {
		if u0, u1 := cut(t), end(t); u0 < u1 {
			wg.Go(func() { work(&k, out, &b, pool, u0, u1) })
		}
	}
	work(&k, out, &b, pool, 0, end(0))
	wg.Wait()
}

// bag writes post·Σ_{i<n} w_i·row(idx[i]) to o (dim floats). idx may extend
// past the bag, up to the end of the worker's range: the asm kernels
// prefetch the rows of those indices. w is nil or n weights.
func bag[I Index](k *kernel, o []float32, idx []I, n int, w []float32, post float32) {
	if n == 0 {
		clear(o)
		return
	}
	c := 0
	if k.asm != nil && k.cols > 0 {
		wp, wstep := &one, 0
		if w != nil {
			wp, wstep = &w[0], 4
		}
		k.asm(&o[0], k.cols, &k.data[0], k.stride, k.rowBytes, (*byte)(unsafe.Pointer(&idx[0])), n, len(idx), wp, wstep, post)
		c = k.cols
	}
	if c == k.dim {
		return
	}
	// The reference, for all columns or those the asm kernel left.
	if c == 0 {
		touch(k, idx[:n])
	}
	tail := o[c:]
	clear(tail)
	for i, r := range idx[:n] {
		wi := float32(1)
		if w != nil {
			wi = w[i]
		}
		at := int(r) * k.stride
		k.acc(tail, k.data[at:at+k.rowBytes], c, wi)
	}
	if post != 1 {
		for j := range tail {
			tail[j] *= post
		}
	}
}

// touch loads a byte of every cache line of the rows of idx, so that their
// cache misses overlap: the decoding loop that follows, whose every row is
// hundreds of instructions, would otherwise wait for each row in turn. Go
// has no prefetch instruction (the asm kernels prefetch); touch is not
// inlined so that its loads, whose sum nobody uses, stay.
//
//go:noinline
func touch[I Index](k *kernel, idx []I) (sum byte) {
	for _, r := range idx {
		row := k.data[int(r)*k.stride:][:k.rowBytes]
		for j := 0; j < len(row); j += 64 {
			sum += row[j]
		}
		sum += row[len(row)-1]
	}
	return sum
}

// newKernel checks t and picks the code for its codec and an index of
// idxSize bytes.
func newKernel(t Table, idxSize uintptr) (kernel, error) {
	var f format
	switch t.Codec.(type) {
	case quant.FP32Codec:
		f = fmtFP32
	case quant.FP16Codec:
		f = fmtFP16
	case quant.Int8Codec:
		f = fmtInt8
	case quant.Int4Codec:
		f = fmtInt4
	default:
		return kernel{}, fmt.Errorf("kernels: codec %T: %w", t.Codec, ErrCodec)
	}
	if t.Dim < 1 || t.Rows < 0 {
		return kernel{}, fmt.Errorf("kernels: table of %d rows x dim %d: %w", t.Rows, t.Dim, ErrTable)
	}
	rb := t.Codec.RowBytes(t.Dim)
	if t.Stride < rb {
		return kernel{}, fmt.Errorf("kernels: stride %d < %s row of %d bytes: %w", t.Stride, t.Codec.Name(), rb, ErrTable)
	}
	if t.Rows > 0 && (len(t.Data) < rb || (len(t.Data)-rb)/t.Stride < t.Rows-1) {
		return kernel{}, fmt.Errorf("kernels: %d bytes of data for %d rows of stride %d: %w", len(t.Data), t.Rows, t.Stride, ErrTable)
	}
	k := kernel{data: t.Data, stride: t.Stride, dim: t.Dim, rowBytes: rb, acc: accumulators[f]}
	if k.asm = asmKernel(active(), f, idxSize == 8); k.asm != nil {
		k.cols = t.Dim &^ 7
	}
	return k, nil
}

// check validates the bags for a table of rows rows of dim values and an
// output of outLen floats.
func (b *Bags[I]) check(pool Pooling, rows, dim, outLen int) error {
	if pool > None {
		return fmt.Errorf("kernels: %v: %w", pool, ErrPooling)
	}
	n := len(b.Indices)
	want := n * dim
	if pool != None {
		off := b.Offsets
		if len(off) == 0 {
			return fmt.Errorf("kernels: no offsets (want bags+1, starting at 0): %w", ErrOffsets)
		}
		if off[0] != 0 {
			return fmt.Errorf("kernels: offsets[0] = %d, want 0: %w", off[0], ErrOffsets)
		}
		for i := 1; i < len(off); i++ {
			if off[i] < off[i-1] {
				return fmt.Errorf("kernels: offsets[%d] = %d < offsets[%d] = %d: %w", i, off[i], i-1, off[i-1], ErrOffsets)
			}
		}
		if last := off[len(off)-1]; int64(last) != int64(n) {
			return fmt.Errorf("kernels: last offset %d, want len(Indices) = %d: %w", last, n, ErrOffsets)
		}
		want = (len(off) - 1) * dim
	}
	for i, r := range b.Indices {
		if r < 0 || int64(r) >= int64(rows) {
			return fmt.Errorf("kernels: Indices[%d] = %d out of [0, %d): %w", i, r, rows, ErrIndex)
		}
	}
	if b.Weights != nil && len(b.Weights) != n {
		return fmt.Errorf("kernels: %d weights for %d indices: %w", len(b.Weights), n, ErrShape)
	}
	if outLen != want {
		return fmt.Errorf("kernels: len(out) = %d, want %d (%v pooling, dim %d): %w", outLen, want, pool, dim, ErrShape)
	}
	return nil
}

// The reference row kernels: acc[j] += float32(w · x̂[c0+j]) for
// j < len(acc), where x̂ is the row (RowBytes bytes) as quant decodes it.
// The explicit float32 conversions forbid fused multiply-adds, so that the
// results are the same on every platform.

func accFP32(acc []float32, row []byte, c0 int, w float32) {
	row = row[4*c0 : 4*(c0+len(acc))]
	for j := range acc {
		x := math.Float32frombits(binary.LittleEndian.Uint32(row[4*j:]))
		acc[j] += float32(w * x)
	}
}

func accFP16(acc []float32, row []byte, c0 int, w float32) {
	row = row[2*c0 : 2*(c0+len(acc))]
	for j := range acc {
		x := quant.FromFloat16(binary.LittleEndian.Uint16(row[2*j:]))
		acc[j] += float32(w * x)
	}
}

func accInt8(acc []float32, row []byte, c0 int, w float32) {
	sb := row[len(row)-8:]
	scale := math.Float32frombits(binary.LittleEndian.Uint32(sb))
	bias := math.Float32frombits(binary.LittleEndian.Uint32(sb[4:]))
	q := row[c0 : c0+len(acc)]
	for j := range acc {
		x := float32(float32(q[j])*scale) + bias
		acc[j] += float32(w * x)
	}
}

func accInt4(acc []float32, row []byte, c0 int, w float32) {
	// c0 is even (0, or the multiple of 8 where the asm kernel stopped),
	// so codes come in (low, high) nibble pairs from byte c0/2 on.
	sb := row[len(row)-4:]
	scale := quant.FromFloat16(binary.LittleEndian.Uint16(sb))
	bias := quant.FromFloat16(binary.LittleEndian.Uint16(sb[2:]))
	q := row[c0/2 : c0/2+(len(acc)+1)/2]
	j := 0
	for ; j+1 < len(acc); j += 2 {
		b := q[j/2]
		lo := float32(float32(b&0xf)*scale) + bias
		hi := float32(float32(b>>4)*scale) + bias
		acc[j] += float32(w * lo)
		acc[j+1] += float32(w * hi)
	}
	if j < len(acc) {
		x := float32(float32(q[j/2]&0xf)*scale) + bias
		acc[j] += float32(w * x)
	}
}
