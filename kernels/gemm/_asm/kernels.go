package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// gemmKernel generates gemm<ISA>P (A at a + p·aStride + 4r) or, with
// rowMajorA, gemm<ISA>R (A at a + r·aStride + 4p).
func gemmKernel(s isa, rowMajorA bool) {
	mode, how := "P", "p-major (packed, or transposed in place)"
	if rowMajorA {
		mode, how = "R", "row-major in place"
	}
	name := "gemm" + s.name + mode
	nr := s.nv * s.width / 4
	TEXT(name, NOSPLIT, kernelSig)
	Doc(fmt.Sprintf("%s computes a %dx%d tile of C with A %s (see _asm/gen.go).", name, s.mr, nr, how))

	regs := ymm
	if s.avx512 {
		regs = zmm
	}
	nAcc := s.mr * s.nv
	acc := func(r, v int) VecPhysical { return regs[r*s.nv+v] }
	bv := regs[nAcc : nAcc+s.nv]        // B vectors
	bc := regs[nAcc+s.nv : nAcc+s.nv+2] // broadcasts of A
	zero := func(z VecPhysical) {
		if s.avx512 {
			VPXORD(z, z, z)
		} else {
			VXORPS(z, z, z)
		}
	}
	for i := range nAcc {
		zero(regs[i])
	}

	// AVX-512: K1, K2 = column masks of the two vectors of a row.
	if s.avx512 {
		n := Load(Param("nr"), GP64())
		ones, bits := GP64(), GP64()
		MOVQ(I32(-1), ones)
		BZHIQ(n, ones, bits)
		KMOVW(bits.As32(), K1)
		SHRQ(U8(16), bits)
		KMOVW(bits.As32(), K2)
	}
	kmask := []Op{K1, K2}

	b := Load(Param("b"), GP64())
	bs := Load(Param("bStride"), GP64())
	k := Load(Param("kc"), GP64())
	a := Load(Param("a"), GP64())
	as := Load(Param("aStride"), GP64())
	// aMem(r, u) addresses A(r, p+u) for the R kernels (bases[q] is row
	// 3q), A(r, p) for the P kernels.
	var bases []Register
	var aMem func(r, u int) Mem
	if rowMajorA {
		as3 := GP64()
		LEAQ(Mem{Base: as, Index: as, Scale: 2}, as3)
		bases = append(bases, a)
		for q := 1; 3*q < s.mr; q++ {
			r := GP64()
			LEAQ(Mem{Base: bases[q-1], Index: as3, Scale: 1}, r)
			bases = append(bases, r)
		}
		aMem = func(r, u int) Mem {
			m := Mem{Base: bases[r/3], Disp: 4 * u}
			if r%3 != 0 {
				m.Index, m.Scale = as, uint8(r%3)
			}
			return m
		}
	} else {
		aMem = func(r, _ int) Mem { return Mem{Base: a, Disp: 4 * r} }
	}

	// step does one k: acc += A(:, p)·B(p, :).
	step := func(u int) {
		for v := range s.nv {
			m := Mem{Base: b, Disp: v * s.width}
			if s.avx512 {
				VMOVUPS_Z(m, kmask[v], bv[v])
			} else {
				VMOVUPS(m, bv[v])
			}
		}
		ADDQ(bs, b)
		for r := range s.mr {
			t := bc[r%2]
			VBROADCASTSS(aMem(r, u), t)
			for v := range s.nv {
				VFMADD231PS(bv[v], t, acc(r, v))
			}
		}
		if !rowMajorA {
			ADDQ(as, a)
		}
	}
	advance := func(n int) {
		for _, r := range bases {
			ADDQ(U32(4*n), r)
		}
	}
	Label(name + "_loop")
	CMPQ(k, U32(unroll))
	JL(LabelRef(name + "_tail"))
	for u := range unroll {
		step(u)
	}
	advance(unroll)
	SUBQ(U32(unroll), k)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(k, k)
	JE(LabelRef(name + "_epilogue"))
	step(0)
	advance(1)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))

	Label(name + "_epilogue")
	epilogue(s, name, acc)
	VZEROUPPER()
	RET()
}

// epilogue generates the epilogue steps of a GEMM micro-kernel.
func epilogue(s isa, name string, acc func(r, v int) VecPhysical) {
	regs := ymm
	if s.avx512 {
		regs = zmm
	}
	nAcc := s.mr * s.nv
	zero, tmp := regs[nAcc], regs[nAcc+1]
	flags := Load(Param("flags"), GP64())
	mr := Load(Param("mr"), GP64())
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	if s.avx512 {
		VPXORD(zero, zero, zero)
	} else {
		VXORPS(zero, zero, zero)
	}

	// AVX2: lane masks of the two vectors of a row (c0 = min(nr, 8),
	// c1 = min(max(nr-8, 0), 8) columns), kept in the two registers after
	// tmp.
	var lane []VecPhysical // AVX2 only; AVX-512 uses K1 and K2
	if !s.avx512 {
		lane = regs[nAcc+2 : nAcc+4]
		n := Load(Param("nr"), GP64())
		eight, c0, c1, z, tab := GP64(), GP64(), GP64(), GP64(), GP64()
		MOVQ(U32(8), eight)
		XORQ(z, z)
		LEAQ(edgeMask, tab)
		MOVQ(n, c0)
		CMPQ(c0, eight)
		CMOVQGT(eight, c0)
		MOVQ(n, c1)
		SUBQ(U32(8), c1)
		CMPQ(c1, z)
		CMOVQLT(z, c1)
		CMPQ(c1, eight)
		CMOVQGT(eight, c1)
		for v, cv := range []Register{c0, c1} {
			NEGQ(cv)
			VMOVUPS(Mem{Base: tab, Index: cv, Scale: 4, Disp: 32}, lane[v])
		}
	}
	kmask := []Op{K1, K2}

	// rows emits body(r) for r = 0.. while r < mr, then the label end.
	rows := func(end string, from int, body func(r int)) {
		for r := from; r < s.mr; r++ {
			if r > 0 {
				CMPQ(mr, U32(r))
				JLE(LabelRef(end))
			}
			body(r)
		}
		Label(end)
	}
	skipUnless := func(flag int, label string) {
		TESTQ(U32(flag), flags)
		JZ(LabelRef(label))
	}
	// load(m, v, dst): dst = the columns of vector v at m (masked).
	load := func(m Mem, v int, dst VecPhysical) {
		if s.avx512 {
			VMOVUPS_Z(m, kmask[v], dst)
		} else {
			VMASKMOVPS(m, lane[v], dst)
		}
	}

	// acc *= alpha.
	skipUnless(flagAlpha, name+"_noalpha")
	alpha, err := Param("alpha").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(alpha.Addr, tmp)
	for i := range nAcc {
		VMULPS(tmp, regs[i], regs[i])
	}
	Label(name + "_noalpha")

	// acc += C.
	cp := GP64()
	skipUnless(flagAccumulate, name+"_noacc")
	MOVQ(c, cp)
	rows(name+"_noacc", 0, func(r int) {
		for v := range s.nv {
			m := Mem{Base: cp, Disp: v * s.width}
			if s.avx512 {
				VADDPS(m, acc(r, v), kmask[v], acc(r, v))
			} else {
				VMASKMOVPS(m, lane[v], tmp)
				VADDPS(tmp, acc(r, v), acc(r, v))
			}
		}
		ADDQ(ldc, cp)
	})

	// acc += bias (every row: rows past mr are neither stored nor summed).
	skipUnless(flagBias, name+"_nobias")
	bias := Load(Param("bias"), GP64())
	if s.avx512 {
		bvec := regs[nAcc+2 : nAcc+4]
		for v := range s.nv {
			load(Mem{Base: bias, Disp: v * s.width}, v, bvec[v])
		}
		for r := range s.mr {
			for v := range s.nv {
				VADDPS(bvec[v], acc(r, v), acc(r, v))
			}
		}
	} else {
		for v := range s.nv {
			load(Mem{Base: bias, Disp: v * s.width}, v, tmp)
			for r := range s.mr {
				VADDPS(tmp, acc(r, v), acc(r, v))
			}
		}
	}
	Label(name + "_nobias")

	// acc = max(acc, 0).
	skipUnless(flagReLU, name+"_norelu")
	for i := range nAcc {
		VMAXPS(zero, regs[i], regs[i])
	}
	Label(name + "_norelu")

	// acc = 0 where mask <= 0.
	skipUnless(flagMask, name+"_nomask")
	mp := Load(Param("mask"), GP64())
	ldm := Load(Param("ldm"), GP64())
	rows(name+"_nomask", 0, func(r int) {
		for v := range s.nv {
			m := Mem{Base: mp, Disp: v * s.width}
			if s.avx512 {
				// K3 = column mask ∧ (0 < mask).
				VCMPPS(U8(1), m, zero, kmask[v], K3)
				VMOVUPS_Z(acc(r, v), K3, acc(r, v))
			} else {
				VMASKMOVPS(m, lane[v], tmp)
				VCMPPS(U8(1), tmp, zero, tmp)
				VANDPS(tmp, acc(r, v), acc(r, v))
			}
		}
		ADDQ(ldm, mp)
	})

	// Store C.
	MOVQ(c, cp)
	rows(name+"_stored", 0, func(r int) {
		for v := range s.nv {
			m := Mem{Base: cp, Disp: v * s.width}
			if s.avx512 {
				VMOVUPS(acc(r, v), kmask[v], m)
			} else {
				VMASKMOVPS(acc(r, v), lane[v], m)
			}
		}
		ADDQ(ldc, cp)
	})

	// colsum += Σ_{r<mr} acc[r], summed into acc[0].
	skipUnless(flagColSum, name+"_done")
	rows(name+"_summed", 1, func(r int) {
		for v := range s.nv {
			VADDPS(acc(r, v), acc(0, v), acc(0, v))
		}
	})
	cs := Load(Param("colsum"), GP64())
	for v := range s.nv {
		m := Mem{Base: cs, Disp: v * s.width}
		if s.avx512 {
			VADDPS(m, acc(0, v), kmask[v], acc(0, v))
			VMOVUPS(acc(0, v), kmask[v], m)
		} else {
			VMASKMOVPS(m, lane[v], tmp)
			VADDPS(acc(0, v), tmp, tmp)
			VMASKMOVPS(tmp, lane[v], m)
		}
	}
	Label(name + "_done")
}

// pairTabEntry is the layout of gemm's pairEntry: the byte offset of a
// vector's pair row (int64), then its two 16-lane masks (uint32 each).
const (
	pairEntrySize = 16
	pairEntryM1   = 8
	pairEntryM2   = 12
)

// pairDots generates pairDotsAVX512: per batch row, the Gram matrix of
// the n ≤ 32 vectors v_0 = x row, v_i = y row + 64(i-1), in two column
// blocks of 16 lanes (gathered into Z0..Z15, d-major: Zd lane j = v_j[d]),
// each row i computed with 16 broadcast FMAs and stored with tab[i]'s
// masks at z + tab[i].off (+64 for the second block).
func pairDots() {
	TEXT("pairDotsAVX512", NOSPLIT, "func(n int, rows int, x *float32, ldx int, y *float32, ldy int, z *float32, ldz int, tab *byte)")
	Doc("pairDotsAVX512 writes the pairwise dots of n ≤ 32 vectors of 16 floats for rows batch rows (see pairdots.go).")
	n := Load(Param("n"), GP64())
	rows := Load(Param("rows"), GP64())
	x := Load(Param("x"), GP64())
	ldx := Load(Param("ldx"), GP64())
	y := Load(Param("y"), GP64())
	ldy := Load(Param("ldy"), GP64())
	z := Load(Param("z"), GP64())
	ldz := Load(Param("ldz"), GP64())
	tab := Load(Param("tab"), GP64())

	// Gather masks: g1 = vectors 1..min(n,16)-1, g2 = vectors 16..n-1.
	g1, g2, t, ones := GP64(), GP64(), GP64(), GP64()
	MOVQ(I32(-1), ones)
	MOVQ(U32(16), t)
	CMPQ(n, t)
	CMOVQLT(n, t)
	BZHIQ(t, ones, g1)
	ANDQ(I32(-2), g1)
	MOVQ(n, t)
	SUBQ(U32(16), t)
	XORQ(g2, g2)
	CMPQ(t, g2)
	CMOVQLT(g2, t)
	BZHIQ(t, ones, g2)
	MOVL(U32(1), t.As32())
	KMOVW(t.As32(), K2) // lane 0: v_0 comes from x
	idx1, idx2 := Z31, Z30
	VMOVDQU32(pairIdx1, idx1)
	VMOVDQU32(pairIdx2, idx2)
	n1 := GP64() // rows with pairs: i < n-1
	LEAQ(Mem{Base: n, Disp: -1}, n1)

	Label("pd_row")
	TESTQ(rows, rows)
	JE(LabelRef("pd_done"))

	vmem := func(i, d int) Mem {
		if i == 0 {
			return Mem{Base: x, Disp: 4 * d}
		}
		return Mem{Base: y, Disp: 64*(i-1) + 4*d}
	}
	block := func(blk int, maxRows int, end string) {
		for i := range maxRows {
			CMPQ(n1, U32(i))
			JLE(LabelRef(end))
			// Four partial sums (Z16+4·(i%2)..), then their sum.
			part := zmm[16+4*(i%2) : 20+4*(i%2)]
			for q := range 4 {
				VMULPS_BCST(vmem(i, q), zmm[q], part[q])
			}
			for d := 4; d < 16; d++ {
				VFMADD231PS_BCST(vmem(i, d), zmm[d], part[d%4])
			}
			VADDPS(part[1], part[0], part[0])
			VADDPS(part[3], part[2], part[2])
			VADDPS(part[2], part[0], part[0])
			MOVQ(Mem{Base: tab, Disp: pairEntrySize * i}, t)
			if blk == 0 {
				KMOVW(Mem{Base: tab, Disp: pairEntrySize*i + pairEntryM1}, K3)
				VMOVUPS(part[0], K3, Mem{Base: z, Index: t, Scale: 1})
			} else {
				KMOVW(Mem{Base: tab, Disp: pairEntrySize*i + pairEntryM2}, K3)
				VMOVUPS(part[0], K3, Mem{Base: z, Index: t, Scale: 1, Disp: 64})
			}
		}
		Label(end)
	}

	// Block 1: columns j = 0..15.
	for d := range 16 {
		KMOVW(g1.As32(), K1)
		VGATHERDPS(Mem{Base: y, Index: idx1, Scale: 1, Disp: 4 * d}, K1, zmm[d])
		VBROADCASTSS(Mem{Base: x, Disp: 4 * d}, K2, zmm[d])
	}
	block(0, 16, "pd_block1")
	// Block 2: columns j = 16..31, when n > 16.
	CMPQ(n, U32(16))
	JLE(LabelRef("pd_next"))
	for d := range 16 {
		KMOVW(g2.As32(), K1)
		VGATHERDPS(Mem{Base: y, Index: idx2, Scale: 1, Disp: 4 * d}, K1, zmm[d])
	}
	block(1, 32, "pd_block2")

	Label("pd_next")
	ADDQ(ldx, x)
	ADDQ(ldy, y)
	ADDQ(ldz, z)
	DECQ(rows)
	JMP(LabelRef("pd_row"))
	Label("pd_done")
	VZEROUPPER()
	RET()
}

// pairDotsGrad generates pairDotsGradAVX512: per batch row, the strictly
// upper triangular U (U[i][j] = dz of pair (i, j)) is built in the
// caller's zeroed 32×32 scratch from tab's offsets and masks, the n ≤ 30
// vectors are loaded into Z0..Z29, and dv_i = Σ_{j>i} U[i][j]·v_j +
// Σ_{j<i} U[j][i]·v_j with broadcast FMAs; dv_0 is added to dx, dv_i
// (i ≥ 1) stored at dy + 64(i-1).
func pairDotsGrad() {
	TEXT("pairDotsGradAVX512", NOSPLIT, "func(n int, rows int, x *float32, ldx int, y *float32, ldy int, dz *float32, ldz int, dx *float32, lddx int, dy *float32, lddy int, tab *byte, u *float32)")
	Doc("pairDotsGradAVX512 back-propagates the pairwise dots of n ≤ 30 vectors of 16 floats for rows batch rows (see pairdots.go).")
	const maxN = 30
	n := Load(Param("n"), GP64())
	rows := Load(Param("rows"), GP64())
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	dz := Load(Param("dz"), GP64())
	dx := Load(Param("dx"), GP64())
	dy := Load(Param("dy"), GP64())
	tab := Load(Param("tab"), GP64())
	u := Load(Param("u"), GP64())
	i, t, e, up := GP64(), GP64(), GP64(), GP64()
	n1 := GP64()
	LEAQ(Mem{Base: n, Disp: -1}, n1)
	for j := range maxN {
		VPXORD(zmm[j], zmm[j], zmm[j])
	}
	accs := []VecPhysical{Z30, Z31}

	Label("pg_row")
	TESTQ(rows, rows)
	JE(LabelRef("pg_done"))

	// U rows 0..n-2 from dz (rows n-1.. stay zero).
	XORQ(i, i)
	MOVQ(tab, e)
	MOVQ(u, up)
	Label("pg_u")
	CMPQ(i, n1)
	JGE(LabelRef("pg_loaded"))
	MOVQ(Mem{Base: e}, t)
	KMOVW(Mem{Base: e, Disp: pairEntryM1}, K1)
	KMOVW(Mem{Base: e, Disp: pairEntryM2}, K2)
	VMOVUPS_Z(Mem{Base: dz, Index: t, Scale: 1}, K1, Z30)
	VMOVUPS_Z(Mem{Base: dz, Index: t, Scale: 1, Disp: 64}, K2, Z31)
	VMOVUPS(Z30, Mem{Base: up})
	VMOVUPS(Z31, Mem{Base: up, Disp: 64})
	ADDQ(U32(pairEntrySize), e)
	ADDQ(U32(128), up)
	INCQ(i)
	JMP(LabelRef("pg_u"))

	// v_j into Zj for j < n.
	Label("pg_loaded")
	VMOVUPS(Mem{Base: x}, Z0)
	for j := 1; j < maxN; j++ {
		CMPQ(n, U32(j))
		JLE(LabelRef("pg_vecs"))
		VMOVUPS(Mem{Base: y, Disp: 64 * (j - 1)}, zmm[j])
	}
	Label("pg_vecs")

	for r := range maxN {
		if r > 0 {
			CMPQ(n, U32(r))
			JLE(LabelRef("pg_next"))
		}
		first := [2]bool{true, true}
		k := 0
		for j := range maxN {
			if j == r {
				continue
			}
			lo, hi := min(r, j), max(r, j)
			m := Mem{Base: u, Disp: 128*lo + 4*hi}
			a := accs[k%2]
			if first[k%2] {
				VMULPS_BCST(m, zmm[j], a)
				first[k%2] = false
			} else {
				VFMADD231PS_BCST(m, zmm[j], a)
			}
			k++
		}
		VADDPS(Z31, Z30, Z30)
		if r == 0 {
			VADDPS(Mem{Base: dx}, Z30, Z30)
			VMOVUPS(Z30, Mem{Base: dx})
		} else {
			VMOVUPS(Z30, Mem{Base: dy, Disp: 64 * (r - 1)})
		}
	}

	Label("pg_next")
	for _, p := range []struct {
		ptr Register
		ld  string
	}{{x, "ldx"}, {y, "ldy"}, {dz, "ldz"}, {dx, "lddx"}, {dy, "lddy"}} {
		ld, err := Param(p.ld).Resolve()
		if err != nil {
			panic(err)
		}
		ADDQ(ld.Addr, p.ptr)
	}
	DECQ(rows)
	JMP(LabelRef("pg_row"))
	Label("pg_done")
	VZEROUPPER()
	RET()
}
