//go:build !amd64 || noasm || purego

package gemm

// This build has the generic Go code only.

func hasPairDotsAsm(impl) bool { return false }

func pairDotsAsm(n, rows int, x *float32, ldx int, y *float32, ldy int, z *float32, ldz int, tab *pairTable) {
	panic("gemm: no assembly in this build")
}

func pairDotsGradAsm(n, rows int, x *float32, ldx int, y *float32, ldy int, dz *float32, ldz int, dx *float32, lddx int, dy *float32, lddy int, tab *pairTable, u *[32 * 32]float32) {
	panic("gemm: no assembly in this build")
}
