package embedding

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/quant"
)

// ALPT (adaptive low-precision training, Li et al., AAAI'23; Hetu's
// ALPTEmbTrainer is the reference implementation) keeps each row as
// symmetric int8 codes q in [-128, 127] and a learned step Δ: the row
// reads as q·Δ. A training step has two passes:
//
//  1. Apply(idx, g): each touched row is decoded, updated by the row
//     optimizer to w' in float32 and held; its codes become the nearest
//     grid point of the current step, clip(round(w'/Δ), -128, 127), so a
//     lookup now reads the LSQ-rounded update.
//  2. ApplyScales(idx, g2, batch), with g2 the loss's gradient at those
//     rounded rows (a second forward and backward pass of the dense net):
//     each row's step gets the LSQ gradient
//     Σ_j g2_j·(round(v_j)-v_j), v = w'/Δ (the clip bound -128 or 127
//     where v is outside), times 1/sqrt(batch·dim·127), and one Adagrad
//     step at Optimizer.ScaleLR; then w' is stored with the new step by
//     stochastic rounding, q = clip(floor(w'/Δ + u), -128, 127).
//
// Rows are in package quant's int8 row format (codes q+128, scale Δ, bias
// -128·Δ), so kernels and serving read them as any int8 rows. Δ starts at
// max|x|/127 when a row is written (init, Fill, WriteRows), so the first
// values are represented at full resolution; a row that is all zeros gets
// its first step that way too, at its first update. Δ never goes below
// [ALPTMinStep]. The steps' Adagrad accumulators are one float32 per row,
// saved with the rows.
//
// [StorageALPT4] is the same at 4 bits: q in [-8, 7], kept in the int8
// row format as codes q+8 with bias -8·Δ, where Δ is the float16 nearest
// to a float32 master step (one more float32 a row, saved), so that the
// rows are exactly quant.Int4 rows (4-bit codes, float16 scale and bias,
// the same decode arithmetic): [Rows.EncodedAs] converts them, and an
// artifact of them serves the trained values bit for bit at ceil(dim/2)+4
// bytes a row. Training memory stays at int8's dim+8 bytes a row. Hetu gives the steps the embedding optimizer's
// type; here they always take Adagrad, the scalar form of the default
// row-wise Adagrad.
//
// Without ApplyScales (a caller unaware of ALPT) a table trains with
// nearest rounding at fixed steps: updates under half a step are lost. The
// next Apply, WriteRows, Fill, InitUniform or Load drops what an Apply
// held.

// DefaultALPTScaleLR is the steps' learning rate when Optimizer.ScaleLR
// is 0: Hetu's 2e-5 for its ALPT runs.
const DefaultALPTScaleLR = 2e-5

// ALPTMinStep is the smallest step ALPT keeps (at 4 bits: the smallest
// float16, 2⁻²⁴).
const ALPTMinStep = 1e-8

const alptMinStep4 = 0x1p-24

// alptState is a store's learned-step state: the grid, the steps'
// accumulators (and at 4 bits their float32 masters) and what the last
// Apply holds for ApplyScales.
type alptState struct {
	lr, eps float32
	// The grid: q in [-zero, qmax], stored as code q+zero, bias -zero·Δ.
	zero, qmax float32
	half       bool // steps are float16 values (4 bits)
	acc        []float32
	master     []float32 // per row at 4 bits (nil at 8): the float32 steps
	// keys are the held Apply's sorted (row<<32 | entry) keys (empty:
	// nothing held), w the updated rows of its row groups, the group
	// starting at keys[i] at w[i*dim:], step its number.
	keys []uint64
	w    []float32
	step uint64
}

func newALPTState(n int, opt Optimizer, bits int) *alptState {
	lr := opt.ScaleLR
	if lr == 0 {
		lr = DefaultALPTScaleLR
	}
	a := &alptState{lr: lr, eps: 1e-10, acc: make([]float32, n), zero: 128, qmax: 127}
	if bits == 4 {
		a.zero, a.qmax, a.half = 8, 7, true
		a.master = make([]float32, n)
	}
	return a
}

// effective returns the step a row stores for the master step m: m itself
// at 8 bits, the nearest float16 at 4 (at least alptMinStep4).
func (a *alptState) effective(m float32) float32 {
	if !a.half {
		return max(m, ALPTMinStep)
	}
	return max(quant.FromFloat16(quant.ToFloat16(m)), alptMinStep4)
}

// rangeStep is the step that represents x at full resolution, max|x|/qmax
// (rounded up to a float16 at 4 bits; the least step for a zero row).
func (a *alptState) rangeStep(x []float32) float32 {
	var m float32
	for _, v := range x {
		m = max(m, abs32(v))
	}
	s := m / a.qmax
	if a.half {
		h := quant.FromFloat16(quant.ToFloat16(s))
		if h < s {
			h = quant.FromFloat16(quant.ToFloat16(h) + 1)
		}
		return max(h, alptMinStep4)
	}
	return max(s, ALPTMinStep)
}

// setStep makes m row i's master step (4 bits) and returns the step its
// codes use.
func (a *alptState) setStep(i int, m float32) float32 {
	if a.master != nil {
		a.master[i] = m
	}
	return a.effective(m)
}

// masterStep returns row i's master step, whose row stores step.
func (a *alptState) masterStep(i int, step float32) float32 {
	if a.master != nil && a.master[i] > 0 {
		return a.master[i]
	}
	return step
}

// hold records the sorted keys of Apply number step, whose updated rows
// updateALPT writes.
func (a *alptState) hold(keys []uint64, dim int, step uint64) {
	a.keys = append(a.keys[:0], keys...)
	if n := len(keys) * dim; cap(a.w) < n {
		a.w = make([]float32, n)
	} else {
		a.w = a.w[:n]
	}
	a.step = step
}

// LearnsScales reports whether the store learns its rows' steps (ALPT
// storage): its Applies then want an ApplyScales after them.
func (r *Rows) LearnsScales() bool { return r.alpt != nil }

// updateALPT is pass 1 for row i: decode, update with the summed gradient
// g, hold the result at slot and store its nearest grid point.
func (r *Rows) updateALPT(i int, g []float32, wk *worker, slot int) {
	d := r.dim
	rb := int8RowBytes(d)
	row := r.codes[i*rb : (i+1)*rb]
	w := r.alpt.w[slot*d : (slot+1)*d : (slot+1)*d]
	decodeInt8(w, row)
	r.update(i, w, g)
	step, _ := int8ScaleBias(row, d)
	if !(step > 0) {
		step = r.alpt.setStep(i, r.alpt.rangeStep(w))
	}
	r.alpt.encode(row, w, step, nil)
}

// ApplyScales is ALPT's second pass (see [StorageALPT]): grads holds, for
// each entry of the preceding Apply (the same idx, in the same order), the
// loss's gradient at the row the entry now reads; batch is the number of
// examples the gradients are a mean over. It updates the steps of the rows
// the Apply updated and stores those rows at their new steps. For other
// storage, or with nothing held, it does nothing. It panics if idx is not
// the held Apply's.
func (r *Rows) ApplyScales(idx []int32, grads []float32, batch int) {
	a := r.alpt
	if a == nil || len(a.keys) == 0 {
		return
	}
	d := r.dim
	if len(idx) != len(a.keys) || len(grads) != len(idx)*d {
		panic(fmt.Sprintf("embedding: ApplyScales: %d entries and %d gradients after an Apply of %d entries of dim %d",
			len(idx), len(grads), len(a.keys), d))
	}
	for _, k := range a.keys {
		if e := k & 0xFFFFFFFF; uint64(uint32(idx[e])) != k>>32 {
			panic(fmt.Sprintf("embedding: ApplyScales: entry %d names row %d, the Apply's row %d", e, idx[e], k>>32))
		}
	}
	gscale := float32(1 / math.Sqrt(float64(max(batch, 1))*float64(d)*float64(a.qmax)))
	g := gradSource{grads: grads, stride: d}
	if r.groupThreads(len(a.keys)) <= 1 {
		r.growWorkers(1)
		r.commitSorted(a.keys, 0, g, gscale, &r.workers[0])
	} else {
		r.forGroups(a.keys, func(part []uint64, base int, wk *worker) { r.commitSorted(part, base, g, gscale, wk) })
	}
	a.keys = a.keys[:0]
}

// commitSorted runs commitALPT on each row group of sorted keys (base:
// their offset in the held keys).
func (r *Rows) commitSorted(keys []uint64, base int, g gradSource, gscale float32, wk *worker) {
	for i := 0; i < len(keys); {
		row := int(keys[i] >> 32)
		g2, j := groupGrad(keys, i, g, r.dim, wk.gsum)
		r.commitALPT(row, base+i, g2, gscale, wk)
		i = j
	}
}

// commitALPT updates row i's step with the gradient g2 at its held row
// (slot) and stores the row stochastically at the new step.
func (r *Rows) commitALPT(i, slot int, g2 []float32, gscale float32, wk *worker) {
	a := r.alpt
	d := r.dim
	rb := int8RowBytes(d)
	row := r.codes[i*rb : (i+1)*rb]
	w := a.w[slot*d : (slot+1)*d : (slot+1)*d]
	step, _ := int8ScaleBias(row, d)
	inv := 1 / step
	lo, hi := -a.zero, a.qmax
	var gs float32
	for j, x := range w {
		v := x * inv
		var s float32
		switch {
		case v <= lo:
			s = lo
		case v >= hi:
			s = hi
		default:
			s = float32(math.Floor(float64(v)+0.5)) - v
		}
		gs += g2[j] * s
	}
	gs *= gscale
	acc := a.acc[i] + gs*gs
	a.acc[i] = acc
	m := a.masterStep(i, step) - a.lr*gs/(sqrt32(acc)+a.eps)
	wk.rng.Seed(hashing.Mix64(r.rseed+a.step), hashing.Mix64(uint64(i)))
	a.encode(row, w, a.setStep(i, m), wk)
}

// dropHold forgets what the last Apply held: its rows stay at their
// nearest grid points.
func (a *alptState) dropHold() { a.keys = a.keys[:0] }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// encode stores x on the symmetric grid of step: codes
// clip(round(x/step), -zero, qmax)+zero (round to nearest when wk is nil,
// stochastically with wk's generator otherwise; a value on the grid keeps
// its code, so a zero update is exact), scale step, bias -zero·step. A row
// with a value that is not finite, or a step that is not, reads as NaN.
func (a *alptState) encode(row []byte, x []float32, step float32, wk *worker) {
	d := len(x)
	if !(step > 0) || math.IsInf(float64(step), 0) {
		setNaNRow(row)
		return
	}
	inv := float64(1 / step)
	bias := -a.zero * step
	lo, hi := float64(-a.zero), float64(a.qmax)
	for j, v := range x {
		if v != v || math.IsInf(float64(v), 0) {
			setNaNRow(row)
			return
		}
		q := float64(v) * inv
		near := min(max(math.Floor(q+0.5), lo), hi)
		if wk != nil {
			if c := uint8(near - lo); float32(float32(c)*step)+bias != v {
				near = min(max(math.Floor(q+float64(wk.rng.Uint64()>>11)*0x1p-53), lo), hi)
			}
		}
		row[j] = uint8(near - lo)
	}
	binary.LittleEndian.PutUint32(row[d:], math.Float32bits(step))
	binary.LittleEndian.PutUint32(row[d+4:], math.Float32bits(bias))
}

// EncodedAs returns the rows in the format of quant codec name when the
// store holds them exactly on that codec's grid, else nil: for "int8" the
// rows of int8 and ALPT storage (Int8Data, aliased), for "int4" those of
// ALPT-4 storage, converted (a new slice). An artifact writer writes such
// rows as they are, so the artifact serves the trained values bit for bit.
func (r *Rows) EncodedAs(name string) []byte {
	switch {
	case r.codes == nil:
		return nil
	case name == quant.Int8.Name() && (r.alpt == nil || !r.alpt.half):
		return r.codes
	case name != quant.Int4.Name() || r.alpt == nil || !r.alpt.half:
		return nil
	}
	d := r.dim
	rb, ob := int8RowBytes(d), quant.Int4.RowBytes(d)
	h := (d + 1) / 2
	out := make([]byte, r.n*ob)
	for i := range r.n {
		src, dst := r.codes[i*rb:(i+1)*rb], out[i*ob:(i+1)*ob]
		for j, c := range src[:d] {
			dst[j>>1] |= (c & 0xf) << (4 * (j & 1))
		}
		scale, bias := int8ScaleBias(src, d)
		binary.LittleEndian.PutUint16(dst[h:], quant.ToFloat16(scale))
		binary.LittleEndian.PutUint16(dst[h+2:], quant.ToFloat16(bias))
	}
	return out
}

// IsALPT reports whether storage is one of ALPT's (StorageALPT,
// StorageALPT4): its tables need the second pass of [ScaleLearner].
func IsALPT(storage string) bool { return storage == StorageALPT || storage == StorageALPT4 }

// ScaleLearner is implemented by tables that can learn their rows'
// quantization steps ([StorageALPT]); every table built on [Planned] is
// one. A trainer calls ApplyScales after each Apply when LearnsScales, with
// the loss's gradient at the vectors the ids read after the Apply.
type ScaleLearner interface {
	LearnsScales() bool
	ApplyScales(ids []uint64, grads []float32)
}

// StorageRowBytes returns the parameter bytes of a row of width floats
// under the precision storage ("" or StorageFP32: 4·width; StorageInt8,
// StorageALPT and StorageALPT4: width+8), for loaders that check a stream's length before
// allocating.
func StorageRowBytes(storage string, width int) int64 {
	if storage == StorageInt8 || IsALPT(storage) {
		return int64(int8RowBytes(width))
	}
	return 4 * int64(width)
}
