package cpuimpl

import (
	"slices"
	"testing"
)

func TestSet(t *testing.T) {
	var s Set
	if s.Active() != Generic || !slices.Equal(s.Names(), []string{"generic"}) {
		t.Fatalf("zero set: %v %v", s.Active(), s.Names())
	}
	s.SetAvailable(AVX2, true)
	s.SetAvailable(AVX512, true)
	if s.Active() != AVX512 || !slices.Equal(s.Names(), []string{"avx512", "avx2", "generic"}) {
		t.Fatalf("full set: %v %v", s.Active(), s.Names())
	}
	r1 := s.Disable(AVX512)
	if s.Name() != "avx2" {
		t.Fatalf("AVX-512 disabled: %s", s.Name())
	}
	r2 := s.Disable(AVX2)
	if s.Name() != "generic" {
		t.Fatalf("both disabled: %s", s.Name())
	}
	r2()
	r1()
	if s.Active() != AVX512 {
		t.Fatalf("restored: %v", s.Active())
	}
	if AVX2.String() != "avx2" {
		t.Fatal(AVX2.String())
	}
}
