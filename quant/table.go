package quant

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
)

// MaxAlign is the largest row alignment [Options.Align] accepts.
const MaxAlign = 4096

// quantizeBlockRows is the number of rows one goroutine of Quantize takes at
// a time; statistics are summed per block and then in block order, so they do
// not depend on the number of goroutines.
const quantizeBlockRows = 1024

// Table is n rows of dim values, all encoded with one codec, stored
// contiguously: row i is Data()[i·Stride() : i·Stride()+RowBytes], where
// RowBytes = Codec().RowBytes(Dim()) and Stride() >= RowBytes. Bytes
// between RowBytes and Stride are padding (zero in tables built by
// [Quantize]). Alignment is relative to the start of Data; a Go allocation
// of 32 KiB or more, like an mmap'ed file, starts on a page boundary.
//
// Reads (Row, DecodeRow, GatherRows) are safe for concurrent use. SetRow
// writes one row: it may run concurrently with SetRow and reads of other
// rows, not of the same row.
type Table struct {
	codec    Codec
	rows     int
	dim      int
	stride   int
	rowBytes int
	data     []byte
}

// Options tune [QuantizeWith]. The zero value packs rows and uses every CPU.
type Options struct {
	// Align rounds the row stride up to a multiple of Align bytes: a power
	// of two up to MaxAlign. 0 or 1 packs rows (stride = RowBytes).
	Align int
	// Threads is the number of goroutines that encode; <= 0 means
	// runtime.GOMAXPROCS(0). The table and Stats do not depend on it.
	Threads int
}

// Stats are the errors of a post-training quantization, over all rows·dim
// values x of the source and their decoded values x̂.
type Stats struct {
	MaxAbsErr float64 // max |x̂ - x|
	RMSE      float64 // sqrt(mean((x̂ - x)²))
	// RelErr is the relative error of the whole table, ‖x̂ - x‖₂ / ‖x‖₂
	// (0 for an all-zero source, which every codec encodes exactly).
	RelErr float64
}

// NewTable wraps data, rows of dim values encoded with c at the given
// stride (for example an mmap'ed table file), without copying. data must
// hold at least (rows-1)·stride + RowBytes bytes; the table keeps the first
// min(len(data), rows·stride). The errors wrap [ErrShape] or
// [ErrUnknownCodec] (a nil codec).
func NewTable(c Codec, rows, dim, stride int, data []byte) (*Table, error) {
	if c == nil {
		return nil, fmt.Errorf("quant: NewTable: nil codec: %w", ErrUnknownCodec)
	}
	if rows < 1 || dim < 1 {
		return nil, fmt.Errorf("quant: NewTable: %d rows x dim %d: both must be positive: %w", rows, dim, ErrShape)
	}
	rb := c.RowBytes(dim)
	if stride < rb {
		return nil, fmt.Errorf("quant: NewTable: stride %d < %s row of %d bytes: %w", stride, c.Name(), rb, ErrShape)
	}
	if len(data) < rb || (len(data)-rb)/stride < rows-1 {
		return nil, fmt.Errorf("quant: NewTable: %d bytes of data for %d rows of stride %d: %w", len(data), rows, stride, ErrShape)
	}
	if int64(rows)*int64(stride) < int64(len(data)) {
		data = data[:rows*stride]
	}
	return &Table{codec: c, rows: rows, dim: dim, stride: stride, rowBytes: rb, data: data}, nil
}

// Quantize encodes rows·dim row-major params (row i is
// params[i·dim:(i+1)·dim], as embedding.Rows.Params holds them) with c,
// rounding to nearest, into a packed table, and measures the error: it is
// QuantizeWith with zero Options.
func Quantize(params []float32, rows, dim int, c Codec) (*Table, Stats, error) {
	return QuantizeWith(params, rows, dim, c, Options{})
}

// QuantizeWith is [Quantize] with options. params must be finite; the
// errors wrap [ErrShape], [ErrUnknownCodec] (a nil codec) or [ErrRange]
// (with the row at fault).
func QuantizeWith(params []float32, rows, dim int, c Codec, opt Options) (*Table, Stats, error) {
	if c == nil {
		return nil, Stats{}, fmt.Errorf("quant: Quantize: nil codec: %w", ErrUnknownCodec)
	}
	if rows < 1 || dim < 1 || len(params)/dim != rows || len(params)%dim != 0 {
		return nil, Stats{}, fmt.Errorf("quant: Quantize: %d params for %d rows x dim %d: %w", len(params), rows, dim, ErrShape)
	}
	align := max(opt.Align, 1)
	if opt.Align < 0 || align > MaxAlign || bits.OnesCount(uint(align)) != 1 {
		return nil, Stats{}, fmt.Errorf("quant: Quantize: align %d is not a power of two <= %d: %w", opt.Align, MaxAlign, ErrShape)
	}
	rb := c.RowBytes(dim)
	stride := (rb + align - 1) &^ (align - 1)
	t := &Table{codec: c, rows: rows, dim: dim, stride: stride, rowBytes: rb, data: make([]byte, rows*stride)}

	type part struct{ maxAbs, sumSq, sumSqX float64 }
	blocks := (rows + quantizeBlockRows - 1) / quantizeBlockRows
	parts := make([]part, blocks)
	errs := make([]error, blocks)
	var failed atomic.Bool
	work := func(next *atomic.Int64) {
		dec := make([]float32, dim)
		for k := int(next.Add(1) - 1); k < blocks && !failed.Load(); k = int(next.Add(1) - 1) {
			p := &parts[k]
			for i := k * quantizeBlockRows; i < min((k+1)*quantizeBlockRows, rows); i++ {
				src := params[i*dim : (i+1)*dim]
				err := checkFinite(src)
				if err == nil {
					err = t.SetRow(i, src)
				}
				if err == nil {
					err = c.DecodeRow(dec, t.data[i*stride:i*stride+rb])
				}
				if err != nil {
					errs[k] = fmt.Errorf("quant: Quantize: row %d: %w", i, err)
					failed.Store(true)
					return
				}
				for j, x := range src {
					e := math.Abs(float64(dec[j]) - float64(x))
					p.maxAbs = max(p.maxAbs, e)
					p.sumSq += e * e
					p.sumSqX += float64(x) * float64(x)
				}
			}
		}
	}
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(threads, blocks) - 1 {
		wg.Go(func() { work(&next) })
	}
	work(&next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, Stats{}, err
		}
	}
	var total part
	for _, p := range parts {
		total.maxAbs = max(total.maxAbs, p.maxAbs)
		total.sumSq += p.sumSq
		total.sumSqX += p.sumSqX
	}
	st := Stats{MaxAbsErr: total.maxAbs, RMSE: math.Sqrt(total.sumSq / float64(len(params)))}
	if total.sumSqX > 0 {
		st.RelErr = math.Sqrt(total.sumSq / total.sumSqX)
	}
	return t, st, nil
}

// checkFinite returns an error wrapping ErrRange if src has a NaN or Inf.
func checkFinite(src []float32) error {
	for j, x := range src {
		if !(abs32(x) <= math.MaxFloat32) {
			return fmt.Errorf("element %d = %g is not finite: %w", j, x, ErrRange)
		}
	}
	return nil
}

// Codec returns the codec of every row.
func (t *Table) Codec() Codec { return t.codec }

// Len returns the number of rows.
func (t *Table) Len() int { return t.rows }

// Dim returns the number of values per row.
func (t *Table) Dim() int { return t.dim }

// Stride returns the number of bytes from the start of one row to the next.
func (t *Table) Stride() int { return t.stride }

// RowBytes returns the encoded size of one row, Codec().RowBytes(Dim()).
func (t *Table) RowBytes() int { return t.rowBytes }

// Data returns the encoded rows, aliasing the table.
func (t *Table) Data() []byte { return t.data }

// Bytes returns the memory the table's rows take, padding included.
func (t *Table) Bytes() int64 { return int64(len(t.data)) }

// Row returns the encoded row i (RowBytes bytes), aliasing the table. It
// panics if i is out of range.
func (t *Table) Row(i int) []byte {
	if uint(i) >= uint(t.rows) {
		panic(fmt.Sprintf("quant: Row(%d) out of [0, %d)", i, t.rows))
	}
	o := i * t.stride
	return t.data[o : o+t.rowBytes : o+t.rowBytes]
}

// SetRow encodes src (Dim() values) into row i, rounding to nearest. The
// errors wrap ErrIndex, ErrShape or the codec's errors; on error the row's
// contents are unspecified.
func (t *Table) SetRow(i int, src []float32) error {
	if uint(i) >= uint(t.rows) {
		return fmt.Errorf("quant: SetRow: row %d out of [0, %d): %w", i, t.rows, ErrIndex)
	}
	if len(src) != t.dim {
		return fmt.Errorf("quant: SetRow: %d values for dim %d: %w", len(src), t.dim, ErrShape)
	}
	o := i * t.stride
	return t.codec.EncodeRow(t.data[o:o+t.rowBytes], src)
}

// DecodeRow decodes row i into dst (Dim() values). The errors wrap
// ErrIndex or ErrShape.
func (t *Table) DecodeRow(i int, dst []float32) error {
	if uint(i) >= uint(t.rows) {
		return fmt.Errorf("quant: DecodeRow: row %d out of [0, %d): %w", i, t.rows, ErrIndex)
	}
	if len(dst) != t.dim {
		return fmt.Errorf("quant: DecodeRow: %d values for dim %d: %w", len(dst), t.dim, ErrShape)
	}
	o := i * t.stride
	return t.codec.DecodeRow(dst, t.data[o:o+t.rowBytes])
}

// GatherRows decodes row rowIdx[k] into out[k·Dim():(k+1)·Dim()] for every
// k: the lookup of an embedding table whose ids already map to rows. It
// returns an error wrapping ErrShape if len(out) != len(rowIdx)·Dim(), or
// ErrIndex for the first index out of range (out is then partly written).
// It does not allocate. For pooled lookups of many bags, vectorised and on
// several threads, see package kernels.
func (t *Table) GatherRows(rowIdx []int32, out []float32) error {
	d := t.dim
	if len(out) != len(rowIdx)*d {
		return fmt.Errorf("quant: GatherRows: len(out)=%d, want %d rows x dim %d: %w", len(out), len(rowIdx), d, ErrShape)
	}
	for k, r := range rowIdx {
		if r < 0 || int(r) >= t.rows {
			return fmt.Errorf("quant: GatherRows: index %d = %d out of [0, %d): %w", k, r, t.rows, ErrIndex)
		}
		o := int(r) * t.stride
		if err := t.codec.DecodeRow(out[k*d:(k+1)*d], t.data[o:o+t.rowBytes]); err != nil {
			return err
		}
	}
	return nil
}
