//go:build !noasm && !purego

package ann

import "golang.org/x/sys/cpu"

// useAVX2 says the CPU runs the generated kernels (AVX2 and FMA); read
// once at init, switched only by tests (setAVX2).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// setAVX2 switches the kernels on (if the CPU has them) or off and returns
// a func restoring the previous state. For tests.
func setAVX2(on bool) (restore func()) {
	old := useAVX2
	useAVX2 = on && cpu.X86.HasAVX2 && cpu.X86.HasFMA
	return func() { useAVX2 = old }
}
