// Package cpuimpl chooses among a package's implementations of its
// kernels — the portable Go reference and each instruction set's assembly
// — at run time: the fastest one the build and the CPU have, minus the
// ones tests disabled to check every implementation against the
// reference. Packages kernels and kernels/gemm each hold a Set.
package cpuimpl

import "sync/atomic"

// Level is one implementation, ordered from slowest to fastest.
type Level uint8

// The implementations.
const (
	Generic Level = iota // the portable Go code, always available
	AVX2
	AVX512
	NumLevels
)

var names = [NumLevels]string{Generic: "generic", AVX2: "avx2", AVX512: "avx512"}

// String returns the level's name: "generic", "avx2" or "avx512".
func (l Level) String() string { return names[l] }

// A Set is the implementations one package has. The zero Set has only
// Generic; assembly builds mark theirs at init with SetAvailable.
type Set struct {
	available [NumLevels]bool
	disabled  [NumLevels]atomic.Bool
}

// SetAvailable records whether level l exists in this build on this CPU.
// Call it from init only.
func (s *Set) SetAvailable(l Level, ok bool) { s.available[l] = ok }

// Active returns the fastest available level not disabled.
func (s *Set) Active() Level {
	for l := NumLevels - 1; l > Generic; l-- {
		if s.available[l] && !s.disabled[l].Load() {
			return l
		}
	}
	return Generic
}

// Names returns the names of the available levels, fastest first, always
// ending with "generic".
func (s *Set) Names() []string {
	var out []string
	for l := NumLevels - 1; l > Generic; l-- {
		if s.available[l] {
			out = append(out, names[l])
		}
	}
	return append(out, names[Generic])
}

// Name returns the name of the active level.
func (s *Set) Name() string { return names[s.Active()] }

// Disable turns level l off until the returned function restores the
// previous setting. It is meant for tests and fuzzers: calls running
// meanwhile may use either implementation, and overlapping disables must
// restore in reverse order.
func (s *Set) Disable(l Level) (restore func()) {
	old := s.disabled[l].Swap(true)
	return func() { s.disabled[l].Store(old) }
}
