//go:build !amd64 || noasm || purego

package ann

// useAVX2 is false: this build has only the Go loops.
const useAVX2 = false

func setAVX2(bool) func() { return func() {} }

func dotAVX2(a, b *float32, n int) float32         { panic("ann: no asm kernels in this build") }
func l2AVX2(a, b *float32, n int) float32          { panic("ann: no asm kernels in this build") }
func dotU8AVX2(a *float32, c *byte, n int) float32 { panic("ann: no asm kernels in this build") }

// prefetch does nothing without asm.
func prefetch(*float32) {}
