package embedding

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/quant"
)

// Storage precisions, the values of [Storage].Precision and of the tables'
// Config.Storage.
const (
	// StorageFP32 keeps parameters as float32: 4·dim bytes per row.
	StorageFP32 = "fp32"
	// StorageInt8 keeps each row in package quant's int8 row-wise format
	// (quant.Int8Codec): dim uint8 codes, then a float32 scale and a
	// float32 bias, dim+8 bytes per row. Training is low-precision: every
	// update is rounded stochastically (see [Storage]).
	StorageInt8 = "int8"
	// StorageALPT is ALPT's adaptive low-precision training (Li et al.,
	// AAAI'23): rows in the same int8 row format, symmetric (codes
	// q+128 for q in [-128, 127], bias -128·scale) with a per-row step
	// (the scale) learned by gradient descent; see [Rows.ApplyScales].
	// Serving reads them as int8 rows.
	StorageALPT = "alpt"
	// StorageALPT4 is ALPT at 4 bits: rows exactly on quant.Int4's grid
	// (see [StorageALPT] and [Rows.EncodedAs]).
	StorageALPT4 = "alpt4"
)

// roundingSalt separates the stochastic-rounding streams of int8 storage
// from the init streams drawn with the same seed.
const roundingSalt = 0x6A09E667F3BCC909

// Storage selects how a [Rows] store keeps its parameters. The zero value
// is fp32.
//
// With StorageInt8 a row of dim values is stored as quant.Int8 encodes it:
// codes q[j] in [0, 255], scale and bias, decoding to q[j]·scale + bias
// (evaluated in float32, product rounded first, so the same bits on every
// platform). Readers (Gather, ReadRows, the tables' Lookup) decode; Apply
// decodes each touched row, applies the optimizer to the decoded values in
// float32 exactly as for fp32 storage, and re-encodes the row with
// quant.Int8.EncodeRowStochastic: bias = the row's new minimum,
// scale = its range/255, q = floor((x-bias)/scale + u) for a uniform u, so
// the stored value is an unbiased estimate of the updated one (an update
// smaller than a step still moves the row on average). The optimizer state
// stays float32. A row whose update changes no value keeps its codes, so a
// zero gradient is exact.
//
// The uniform draws are reproducible: when Apply number k (counting from 0
// the Applies with at least one entry, saved with the table) updates row
// i, they come from a rand.PCG seeded with
//
//	(hashing.Mix64(hashing.Mix64(Seed ^ 0x6A09E667F3BCC909) + k), hashing.Mix64(i))
//
// one Uint64 per value in order; they depend neither on the other rows nor
// on the number of threads. (Tables with per-field dims give field f's
// store the seed hashing.FieldSalt(Seed, f), and i counts rows within it.) InitUniform, Fill and WriteRows round to
// nearest (quant.Int8.EncodeRow). A row that int8 cannot represent (a
// value that is NaN, infinite or beyond ±2¹²⁰, as a diverging update
// gives) is stored with codes 0 and NaN scale and bias, so it reads as NaN,
// as the fp32 row would.
type Storage struct {
	// Precision is StorageFP32 (or ""), StorageInt8, StorageALPT or
	// StorageALPT4.
	Precision string
	// Seed seeds the stochastic rounding of int8 updates; the tables pass
	// their Config.Seed.
	Seed uint64
}

// quantized reports whether s keeps int8 rows (int8 or ALPT storage); the
// error wraps ErrConfig for an unknown precision.
func (s Storage) quantized() (bool, error) {
	switch s.Precision {
	case "", StorageFP32:
		return false, nil
	case StorageInt8, StorageALPT, StorageALPT4:
		return true, nil
	}
	return false, fmt.Errorf("storage %q (want %s, %s, %s or %s): %w", s.Precision, StorageFP32, StorageInt8, StorageALPT, StorageALPT4, ErrConfig)
}

// Storage returns how the store keeps its parameters; Precision is
// StorageFP32, StorageInt8 or StorageALPT.
func (r *Rows) Storage() Storage {
	switch {
	case r.codes == nil:
		return Storage{Precision: StorageFP32, Seed: r.seed}
	case r.alpt != nil && r.alpt.half:
		return Storage{Precision: StorageALPT4, Seed: r.seed}
	case r.alpt != nil:
		return Storage{Precision: StorageALPT, Seed: r.seed}
	}
	return Storage{Precision: StorageInt8, Seed: r.seed}
}

// Int8Data returns the rows of an int8 store in package quant's int8 row
// format, packed: row i is Int8Data()[i*(Dim()+8) : (i+1)*(Dim()+8)], dim
// codes then the float32 scale and bias. Like Params it aliases the store
// (valid until the next Load; writes change the table), and it is nil for
// fp32 storage. quant.NewTable(quant.Int8, Len(), Dim(), Dim()+8,
// Int8Data()) wraps it without copying (to export the trained rows as
// they are), and a copy of it restores the parameters exactly.
func (r *Rows) Int8Data() []byte { return r.codes }

// ReadRows writes the parameters of rows lo, lo+1, ... to dst, as float32
// (decoded, for int8 storage): len(dst)/Dim() rows. With Params it is the
// way to read a whole store that works for every storage. It panics if
// len(dst) is not a multiple of Dim() or the rows are out of range.
func (r *Rows) ReadRows(lo int, dst []float32) {
	d := r.dim
	k := r.checkRange("ReadRows", lo, len(dst))
	if r.codes == nil {
		copy(dst, r.params[lo*d:(lo+k)*d])
		return
	}
	rb := int8RowBytes(d)
	for i := range k {
		o := (lo + i) * rb
		decodeInt8(dst[i*d:(i+1)*d], r.codes[o:o+rb])
	}
}

// WriteRows sets the parameters of rows lo, lo+1, ... to src: len(src)/Dim()
// rows, leaving the optimizer state alone. fp32 storage copies src. Int8
// storage keeps a row's scale and bias when they represent its new values
// exactly, so writing back what ReadRows read changes no value (and so no
// lookup and no later update); other rows are re-encoded with rounding to
// nearest, and a row int8 cannot represent reads as NaN (see [Storage]). It
// panics if len(src) is not a multiple of Dim() or the rows are out of
// range.
func (r *Rows) WriteRows(lo int, src []float32) {
	d := r.dim
	k := r.checkRange("WriteRows", lo, len(src))
	if r.codes == nil {
		copy(r.params[lo*d:(lo+k)*d], src)
		return
	}
	if r.alpt != nil {
		r.alpt.dropHold()
	}
	rb := int8RowBytes(d)
	for i := range k {
		row := r.codes[(lo+i)*rb : (lo+i+1)*rb]
		x := src[i*d : (i+1)*d]
		if !recodeExact(row, x) {
			r.encodeRow(lo+i, x)
		}
	}
}

// checkRange panics unless floats is a whole number of rows, all in range
// from lo, and returns that number.
func (r *Rows) checkRange(op string, lo, floats int) int {
	d := r.dim
	if floats%d != 0 {
		panic(fmt.Sprintf("embedding: %s: %d floats is not a multiple of dim %d", op, floats, d))
	}
	k := floats / d
	if lo < 0 || lo > r.n-k {
		panic(fmt.Sprintf("embedding: %s: rows [%d, %d) out of [0, %d)", op, lo, lo+k, r.n))
	}
	return k
}

// encodeRow rounds src to nearest into row i of an int8 store (for ALPT
// storage on the symmetric grid of step max|src|/127).
func (r *Rows) encodeRow(i int, src []float32) {
	rb := int8RowBytes(r.dim)
	if a := r.alpt; a != nil {
		a.encode(r.codes[i*rb:(i+1)*rb], src, a.setStep(i, a.rangeStep(src)), nil)
		return
	}
	encodeInt8(r.codes[i*rb:(i+1)*rb], src)
}

// updateInt8 decodes row i of an int8 store, applies the optimizer with
// gradient g and re-encodes the row with stochastic rounding (see Storage);
// step is the Apply's number.
func (r *Rows) updateInt8(i int, g []float32, wk *worker, step uint64) {
	rb := int8RowBytes(r.dim)
	row := r.codes[i*rb : (i+1)*rb]
	w := wk.w
	decodeInt8(w, row)
	copy(wk.w0, w)
	r.update(i, w, g)
	if slices.Equal(w, wk.w0) {
		return
	}
	wk.rng.Seed(hashing.Mix64(r.rseed+step), hashing.Mix64(uint64(i)))
	if quant.Int8.EncodeRowStochastic(&wk.rng, row, w) != nil {
		setNaNRow(row)
	}
}

// int8RowBytes is the size of an int8 row of dim values.
func int8RowBytes(dim int) int { return dim + 8 }

// int8ScaleBias returns the scale and bias of an int8 row of dim values.
func int8ScaleBias(row []byte, dim int) (scale, bias float32) {
	return math.Float32frombits(binary.LittleEndian.Uint32(row[dim:])),
		math.Float32frombits(binary.LittleEndian.Uint32(row[dim+4:]))
}

// decodeInt8 decodes the int8 row src into dst (len(dst) values), as
// quant.Int8.DecodeRow does.
func decodeInt8(dst []float32, src []byte) {
	scale, bias := int8ScaleBias(src, len(dst))
	q := src[:len(dst)]
	for j := range dst {
		dst[j] = float32(float32(q[j])*scale) + bias
	}
}

// encodeInt8 encodes src into row with rounding to nearest, or stores the
// NaN row if int8 cannot represent src.
func encodeInt8(row []byte, src []float32) {
	if quant.Int8.EncodeRow(row, src) != nil {
		setNaNRow(row)
	}
}

// setNaNRow makes row decode to NaN everywhere: codes 0, scale and bias NaN.
func setNaNRow(row []byte) {
	d := len(row) - 8
	clear(row[:d])
	nan := math.Float32bits(float32(math.NaN()))
	binary.LittleEndian.PutUint32(row[d:], nan)
	binary.LittleEndian.PutUint32(row[d+4:], nan)
}

// recodeExact writes to row the codes that give exactly the values x under
// row's current scale and bias, and reports whether all of x has such
// codes; if not, row's codes are partly overwritten.
func recodeExact(row []byte, x []float32) bool {
	d := len(x)
	scale, bias := int8ScaleBias(row, d)
	if !(scale >= 0) || math.IsInf(float64(scale), 0) || math.IsNaN(float64(bias)) {
		return false
	}
	inv := 0.0
	if scale > 0 {
		inv = 1 / float64(scale)
	}
	for j, v := range x {
		q := math.RoundToEven((float64(v) - float64(bias)) * inv)
		if !(q >= 0 && q <= 255) {
			return false
		}
		c := uint8(q)
		if float32(float32(c)*scale)+bias != v {
			return false
		}
		row[j] = c
	}
	return true
}
