//go:build !amd64 || noasm || purego

package kernels

// bagFunc is the signature of the amd64 assembly kernels, which this build
// does not have.
type bagFunc func(out *float32, cols int, base *byte, stride int, rowBytes int, idx *byte, n int, npf int, w *float32, wstep int, post float32)

// asmKernel returns nil: this build has the generic Go code only.
func asmKernel(impl, format, bool) bagFunc { return nil }
