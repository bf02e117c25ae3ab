// Command _asm generates the amd64 distance kernels of package ann with
// avo. Run it through go generate in package ann:
//
//	cd ann && go generate
//
// It writes ../gen_distance_amd64.s and the Go declarations in
// ../gen_distance_amd64.go. Every kernel takes n, a multiple of 8 (the
// caller does the remaining values in Go), and uses AVX2 with FMA: two
// ymm accumulators over blocks of 16 values, one more block of 8, then a
// horizontal sum.
package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// kind is what a kernel accumulates per block of 8 values.
type kind int

const (
	kDot kind = iota // a·b
	kL2              // (a-b)²
	kU8              // a·float(c), c uint8
)

func kernel(name string, k kind) {
	second := "b *float32"
	if k == kU8 {
		second = "c *byte"
	}
	TEXT(name, NOSPLIT, "func(a *float32, "+second+", n int) float32")
	Pragma("noescape")
	pa := GP64()
	Load(Param("a"), pa)
	pb := GP64()
	if k == kU8 {
		Load(Param("c"), pb)
	} else {
		Load(Param("b"), pb)
	}
	n := GP64()
	Load(Param("n"), n)
	acc0, acc1 := YMM(), YMM()
	VXORPS(acc0, acc0, acc0)
	VXORPS(acc1, acc1, acc1)
	bstep := 4
	if k == kU8 {
		bstep = 1
	}
	// block accumulates the 8 values at offset off (in values) into acc.
	block := func(acc VecVirtual, off int) {
		x := YMM()
		VMOVUPS(Mem{Base: pa, Disp: 4 * off}, x)
		switch k {
		case kDot:
			VFMADD231PS(Mem{Base: pb, Disp: 4 * off}, x, acc)
		case kL2:
			VSUBPS(Mem{Base: pb, Disp: 4 * off}, x, x)
			VFMADD231PS(x, x, acc)
		case kU8:
			y := YMM()
			VPMOVZXBD(Mem{Base: pb, Disp: off}, y)
			VCVTDQ2PS(y, y)
			VFMADD231PS(y, x, acc)
		}
	}
	Label(name + "_loop16")
	CMPQ(n, Imm(16))
	JL(LabelRef(name + "_tail8"))
	block(acc0, 0)
	block(acc1, 8)
	ADDQ(Imm(64), pa)
	ADDQ(Imm(uint64(16*bstep)), pb)
	SUBQ(Imm(16), n)
	JMP(LabelRef(name + "_loop16"))
	Label(name + "_tail8")
	CMPQ(n, Imm(8))
	JL(LabelRef(name + "_sum"))
	block(acc0, 0)
	Label(name + "_sum")
	VADDPS(acc1, acc0, acc0)
	hi := XMM()
	VEXTRACTF128(Imm(1), acc0, hi)
	lo := acc0.AsX()
	VADDPS(hi, lo, lo)
	VMOVHLPS(lo, hi, hi)
	VADDPS(hi, lo, lo)
	VPSHUFD(Imm(1), lo, hi)
	VADDSS(hi, lo, lo)
	VZEROUPPER()
	Store(lo, ReturnIndex(0))
	RET()
}

func main() {
	ConstraintExpr("!noasm,!purego")
	kernel("dotAVX2", kDot)
	kernel("l2AVX2", kL2)
	kernel("dotU8AVX2", kU8)

	TEXT("prefetch", NOSPLIT, "func(p *float32)")
	Doc("prefetch asks for the cache line at p (PREFETCHT0).")
	Pragma("noescape")
	p := GP64()
	Load(Param("p"), p)
	PREFETCHT0(Mem{Base: p})
	RET()
	Generate()
}
