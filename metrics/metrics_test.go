package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// bruteAUC counts correctly ordered (positive, negative) pairs, ties 1/2.
func bruteAUC(s, y []float32) float64 {
	var num, den float64
	for i := range s {
		for j := range s {
			if y[i] == 1 && y[j] == 0 {
				den++
				switch {
				case s[i] > s[j]:
					num++
				case s[i] == s[j]:
					num += 0.5
				}
			}
		}
	}
	return num / den
}

func TestAUC(t *testing.T) {
	tests := []struct {
		name string
		s, y []float32
		want float64
	}{
		{"perfect", []float32{0.1, 0.2, 0.8, 0.9}, []float32{0, 0, 1, 1}, 1},
		{"inverted", []float32{0.9, 0.8, 0.2, 0.1}, []float32{0, 0, 1, 1}, 0},
		{"all tied", []float32{0.5, 0.5, 0.5}, []float32{0, 1, 0}, 0.5},
		{"sklearn example", []float32{0.1, 0.4, 0.35, 0.8}, []float32{0, 0, 1, 1}, 0.75},
	}
	for _, tc := range tests {
		got, err := AUC(tc.s, tc.y)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: AUC = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		n := 1 + r.IntN(300)
		s, y := make([]float32, n), make([]float32, n)
		for i := range s {
			s[i] = float32(r.IntN(20)) / 20 // many ties
			y[i] = float32(r.IntN(2))
		}
		got, err := AUC(s, y)
		if errors.Is(err, ErrOneClass) {
			continue
		}
		if want := bruteAUC(s, y); math.Abs(got-want) > 1e-9 {
			t.Fatalf("trial %d: AUC %v, brute force %v", trial, got, want)
		}
	}
	if _, err := AUC([]float32{1, 2}, []float32{1, 1}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: err = %v", err)
	}
}

func TestLogLoss(t *testing.T) {
	got := LogLoss([]float32{0.9, 0.2}, []float32{1, 0})
	want := -(math.Log(0.9) + math.Log(0.8)) / 2
	if math.Abs(got-want) > 1e-6 {
		t.Fatalf("LogLoss = %v want %v", got, want)
	}
	if l := LogLoss([]float32{0, 1}, []float32{1, 0}); math.IsInf(l, 0) || l < 10 {
		t.Fatalf("clipping failed: %v", l)
	}
}

func BenchmarkAUC1M(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	s, y := make([]float32, 1<<20), make([]float32, 1<<20)
	for i := range s {
		s[i] = r.Float32()
		y[i] = float32(r.IntN(2))
	}
	for i := 0; i < b.N; i++ {
		AUC(s, y)
	}
}
