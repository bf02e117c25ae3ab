// Command _asm generates the amd64 assembly of package kernels with avo:
// one fused gather-dequantize-pool bag kernel per (codec, index type,
// instruction set). Run it through go generate in package kernels:
//
//	cd kernels && go generate
//
// It writes ../gen_gather_dequant_amd64.s and the Go declarations in
// ../gen_gather_dequant_amd64.go.
//
// # The kernel
//
// Every generated function has the signature
//
//	func(out *float32, cols int, base *byte, stride int, rowBytes int,
//	     idx *byte, n int, npf int, w *float32, wstep int, post float32)
//
// and computes, for the n row indices at idx (int32 or int64),
//
//	out[0:cols] = post · Σ_i w_i · decode(row idx[i])[0:cols]
//
// where row r starts at base + r·stride, decode is the codec's (see package
// quant), and w_i is *w, with w advanced by wstep bytes per row (wstep 0
// with w pointing at 1.0 for unweighted bags). cols must be a multiple of
// 8; the caller does the remaining columns. Integer codecs accumulate
// Σ (w·scale)·q with FMAs and add Σ w·bias at the end. The caller has
// checked every index. While it works on row i, the kernel prefetches the
// cache lines of row idx[i+prefetchRows] when i+prefetchRows < npf, so that
// the next bag's rows are on their way too.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// prefetchRows is how many rows ahead the kernels prefetch.
const prefetchRows = 10

// codec describes how one codec's rows are addressed and decoded.
type codec struct {
	name string
	// unit16 is the number of column units per 16 columns; columns are
	// counted in units so that row and output addresses are base+k·scale
	// with scales 1, 2, 4 or 8: one unit is a column for fp32, fp16 and
	// int8, and a byte (two columns) for int4.
	unit16   int
	rowScale uint8 // bytes of row per unit
	outScale uint8 // bytes of output per unit
	// sbBack is how many bytes before the row's end the scale and bias
	// start (0: none).
	sbBack int
}

var codecs = []codec{
	{name: "FP32", unit16: 16, rowScale: 4, outScale: 4},
	{name: "FP16", unit16: 16, rowScale: 2, outScale: 4},
	{name: "Int8", unit16: 16, rowScale: 1, outScale: 4, sbBack: 8},
	{name: "Int4", unit16: 8, rowScale: 1, outScale: 8, sbBack: 4},
}

type isa struct {
	name   string
	avx512 bool
}

var isas = []isa{{"AVX2", false}, {"AVX512", true}}

type index struct {
	name string
	size int
}

var indexes = []index{{"I32", 4}, {"I64", 8}}

var nibbleMask Mem

func main() {
	ConstraintExpr("!noasm,!purego")
	nibbleMask = GLOBL("nibbleMask", RODATA|NOPTR)
	for i := 0; i < 16; i += 4 {
		DATA(i, U32(0x0f0f0f0f))
	}
	cpuidF16C()
	for _, s := range isas {
		for _, c := range codecs {
			for _, ix := range indexes {
				bag(c, s, ix)
			}
		}
	}
	Generate()
}

// bag generates the bag kernel of codec c for instruction set s and
// index type ix.
func bag(c codec, s isa, ix index) {
	name := fmt.Sprintf("bag%s%s%s", c.name, s.name, ix.name)
	TEXT(name, NOSPLIT, "func(out *float32, cols int, base *byte, stride int, rowBytes int, idx *byte, n int, npf int, w *float32, wstep int, post float32)")
	Doc(fmt.Sprintf("%s pools n %s rows of %s indices into out[0:cols] (see package doc of kernels/_asm).", name, c.name, ix.name))
	Pragma("noescape")

	out := Load(Param("out"), GP64())
	kEnd := Load(Param("cols"), GP64())
	if c.unit16 == 8 {
		SHRQ(U8(1), kEnd) // int4: units are bytes
	}
	base := Load(Param("base"), GP64())
	stride := Load(Param("stride"), GP64())
	last := Load(Param("rowBytes"), GP64())
	DECQ(last) // offset of the row's last byte
	idx := Load(Param("idx"), GP64())
	n := Load(Param("n"), GP64())
	npf := Load(Param("npf"), GP64())
	// idxEnd = idx + n·size; pfLimit = idx + (npf-prefetchRows)·size.
	idxEnd := GP64()
	LEAQ(Mem{Base: idx, Index: n, Scale: uint8(ix.size)}, idxEnd)
	pfLimit := GP64()
	SUBQ(U32(prefetchRows), npf)
	LEAQ(Mem{Base: idx, Index: npf, Scale: uint8(ix.size)}, pfLimit)
	wp := Load(Param("w"), GP64())
	wstep := Load(Param("wstep"), GP64())

	p, k, tmp := GP64(), GP64(), GP64()
	ws := vec(s) // broadcast w·scale (or w)
	acc, v, t := vec(s), vec(s), vec(s)
	bsum := XMM()
	VXORPS(bsum, bsum, bsum)

	outAt := func(k Register) Mem { return Mem{Base: out, Index: k, Scale: c.outScale} }
	rowAt := func(k Register) Mem { return Mem{Base: p, Index: k, Scale: c.rowScale} }

	// Zero the output.
	zero := vec(s)
	VXORPS(zero.AsY(), zero.AsY(), zero.AsY())
	columns(name+"_zero", c, s, k, kEnd, tmp,
		func(k Register) { VMOVUPS(zero, outAt(k)) },
		func(k Register) { VMOVUPS(zero.AsY(), outAt(k)) })

	Label(name + "_row")
	CMPQ(idx, idxEnd)
	JGE(LabelRef(name + "_final"))

	// Prefetch every cache line of row idx[prefetchRows], using p and k.
	CMPQ(idx, pfLimit)
	JGE(LabelRef(name + "_load"))
	loadIndex(ix, Mem{Base: idx, Disp: prefetchRows * ix.size}, p)
	IMULQ(stride, p)
	ADDQ(base, p)
	LEAQ(Mem{Base: p, Index: last, Scale: 1}, k)
	PREFETCHT0(Mem{Base: k})
	Label(name + "_prefetch")
	PREFETCHT0(Mem{Base: p})
	ADDQ(U32(64), p)
	CMPQ(p, k)
	JB(LabelRef(name + "_prefetch"))

	// p = row idx[0]; ws = broadcast w·scale; bsum += w·bias.
	Label(name + "_load")
	loadIndex(ix, Mem{Base: idx}, p)
	IMULQ(stride, p)
	ADDQ(base, p)
	if c.sbBack == 0 {
		VBROADCASTSS(Mem{Base: wp}, ws)
	} else {
		sb, wx := XMM(), XMM()
		at := Mem{Base: p, Index: last, Scale: 1, Disp: 1 - c.sbBack}
		if c.sbBack == 8 {
			VMOVQ(at, sb) // float32 scale, bias
		} else {
			VMOVD(at, sb) // binary16 scale, bias
			VCVTPH2PS(sb, sb)
		}
		VBROADCASTSS(Mem{Base: wp}, wx)
		VMULPS(wx, sb, sb) // [w·scale, w·bias]
		VBROADCASTSS(sb, ws)
		VMOVSHDUP(sb, wx)
		VADDSS(wx, bsum, bsum)
	}
	ADDQ(wstep, wp)

	// out[k] += ws · decode(row)[k], over the columns.
	columns(name+"_col", c, s, k, kEnd, tmp,
		func(k Register) {
			VMOVUPS(outAt(k), acc)
			decode16(c, rowAt(k), v, t)
			VFMADD231PS(v, ws, acc)
			VMOVUPS(acc, outAt(k))
		},
		func(k Register) {
			VMOVUPS(outAt(k), acc.AsY())
			decode8(c, rowAt(k), v, t)
			VFMADD231PS(v.AsY(), ws.AsY(), acc.AsY())
			VMOVUPS(acc.AsY(), outAt(k))
		})
	ADDQ(U32(ix.size), idx)
	JMP(LabelRef(name + "_row"))

	// out = (out + Σ w·bias) · post.
	Label(name + "_final")
	scale := vec(s)
	post, err := Param("post").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(post.Addr, scale) // not MOVSS: no SSE after AVX
	bias := vec(s)
	if c.sbBack != 0 {
		VBROADCASTSS(bsum, bias)
	}
	columns(name+"_post", c, s, k, kEnd, tmp,
		func(k Register) {
			VMOVUPS(outAt(k), acc)
			if c.sbBack != 0 {
				VADDPS(bias, acc, acc)
			}
			VMULPS(scale, acc, acc)
			VMOVUPS(acc, outAt(k))
		},
		func(k Register) {
			VMOVUPS(outAt(k), acc.AsY())
			if c.sbBack != 0 {
				VADDPS(bias.AsY(), acc.AsY(), acc.AsY())
			}
			VMULPS(scale.AsY(), acc.AsY(), acc.AsY())
			VMOVUPS(acc.AsY(), outAt(k))
		})
	VZEROUPPER()
	RET()
}

// cpuidF16C generates hasF16C, which reports CPUID.1:ECX.F16C[bit 29]
// (golang.org/x/sys/cpu does not).
func cpuidF16C() {
	TEXT("hasF16C", NOSPLIT, "func() bool")
	Doc("hasF16C reports whether the CPU converts binary16 (F16C).")
	MOVL(U32(1), EAX)
	XORL(ECX, ECX)
	CPUID()
	SHRL(U8(29), ECX)
	ANDL(U32(1), ECX)
	Store(CL, ReturnIndex(0))
	RET()
}

// vec allocates a vector register of s's width.
func vec(s isa) VecVirtual {
	if s.avx512 {
		return ZMM()
	}
	return YMM()
}

// loadIndex loads the index at m into r, sign-extended.
func loadIndex(ix index, m Mem, r Register) {
	if ix.size == 4 {
		MOVLQSX(m, r)
	} else {
		MOVQ(m, r)
	}
}

// columns emits a loop over k = 0, unit, 2·unit, ... < kEnd: with AVX-512,
// body16 on 16 columns at a time, then body8 on the last 8 if any; with
// AVX2, body8 on 8 columns at a time. tmp is scratch.
func columns(label string, c codec, s isa, k, kEnd, tmp Register, body16, body8 func(k Register)) {
	unit8 := c.unit16 / 2
	XORQ(k, k)
	if s.avx512 {
		Label(label + "16")
		LEAQ(Mem{Base: k, Disp: c.unit16}, tmp)
		CMPQ(tmp, kEnd)
		JA(LabelRef(label + "8"))
		body16(k)
		ADDQ(U32(c.unit16), k)
		JMP(LabelRef(label + "16"))
	}
	Label(label + "8")
	CMPQ(k, kEnd)
	JAE(LabelRef(label + "done"))
	if s.avx512 {
		body8(k)
	} else {
		body8(k)
		ADDQ(U32(unit8), k)
		JMP(LabelRef(label + "8"))
	}
	Label(label + "done")
}

// decode16 loads 16 columns of the row at m into v (zmm) as float32 codes
// or values (t is scratch).
func decode16(c codec, m Mem, v, t VecVirtual) {
	switch c.name {
	case "FP32":
		VMOVUPS(m, v)
	case "FP16":
		VCVTPH2PS(m, v)
	case "Int8":
		VPMOVZXBD(m, v)
		VCVTDQ2PS(v, v)
	case "Int4":
		// 8 bytes hold 16 codes: spread each byte's nibbles to two bytes,
		// low nibble first, then widen the 16 bytes to dwords.
		VPMOVZXBW(m, v.AsX())
		VPSLLW(U8(4), v.AsX(), t.AsX())
		VPOR(t.AsX(), v.AsX(), v.AsX())
		VPAND(nibbleMask, v.AsX(), v.AsX())
		VPMOVZXBD(v.AsX(), v)
		VCVTDQ2PS(v, v)
	}
}

// decode8 is decode16 for 8 columns into the ymm half of v.
func decode8(c codec, m Mem, vv, t VecVirtual) {
	v := vv.AsY()
	switch c.name {
	case "FP32":
		VMOVUPS(m, v)
	case "FP16":
		VCVTPH2PS(m, v)
	case "Int8":
		VPMOVZXBD(m, v)
		VCVTDQ2PS(v, v)
	case "Int4":
		VMOVD(m, vv.AsX()) // 4 bytes, 8 codes
		VPMOVZXBW(vv.AsX(), vv.AsX())
		VPSLLW(U8(4), vv.AsX(), t.AsX())
		VPOR(t.AsX(), vv.AsX(), vv.AsX())
		VPAND(nibbleMask, vv.AsX(), vv.AsX())
		VPMOVZXBD(vv.AsX(), v)
		VCVTDQ2PS(v, v)
	}
}
