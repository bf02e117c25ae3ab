package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
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
	got, err := LogLoss([]float32{0.9, 0.2}, []float32{1, 0})
	want := -(math.Log(0.9) + math.Log(0.8)) / 2
	if err != nil || math.Abs(got-want) > 1e-6 {
		t.Fatalf("LogLoss = %v, %v want %v", got, err, want)
	}
	if l, err := LogLoss([]float32{0, 1}, []float32{1, 0}); err != nil || math.IsInf(l, 0) || l < 10 {
		t.Fatalf("clipping failed: %v, %v", l, err)
	}
}

// TestBadInputs: a NaN score used to hang AUC (its tie loop never
// advanced, NaN != NaN) and LogLoss indexed labels out of range or
// returned NaN; both now fail with a named error.
func TestBadInputs(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		fn     func([]float32, []float32) (float64, error)
		s, y   []float32
		target error
	}{
		{"auc NaN score", AUC, []float32{0.1, nan, 0.3}, []float32{0, 1, 1}, ErrNaN},
		{"auc all NaN", AUC, []float32{nan, nan}, []float32{0, 1}, ErrNaN},
		{"auc length", AUC, []float32{0.1}, []float32{0, 1}, ErrLength},
		{"logloss NaN", LogLoss, []float32{0.5, nan}, []float32{0, 1}, ErrNaN},
		{"logloss short labels", LogLoss, []float32{0.5, 0.5}, []float32{0}, ErrLength},
		{"logloss short probs", LogLoss, []float32{0.5}, []float32{0, 1}, ErrLength},
	}
	for _, tc := range tests {
		done := make(chan error, 1)
		go func() {
			_, err := tc.fn(tc.s, tc.y)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, tc.target) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.target)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no answer after 5s (hang)", tc.name)
		}
	}
	// ±Inf scores are ordered, not errors.
	inf := float32(math.Inf(1))
	if auc, err := AUC([]float32{-inf, 0, inf}, []float32{0, 1, 1}); err != nil || auc != 1 {
		t.Errorf("AUC with ±Inf = %v, %v; want 1", auc, err)
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

// bruteDeLong is DeLong's variance from its definition: the placements
// V10_i = mean_j ψ(x_i, y_j) and V01_j = mean_i ψ(x_i, y_j).
func bruteDeLong(s, y []float32) (auc, se float64) {
	var pos, neg []float32
	for i, v := range s {
		if y[i] == 1 {
			pos = append(pos, v)
		} else {
			neg = append(neg, v)
		}
	}
	psi := func(a, b float32) float64 {
		switch {
		case a > b:
			return 1
		case a == b:
			return 0.5
		}
		return 0
	}
	v10 := make([]float64, len(pos))
	v01 := make([]float64, len(neg))
	for i, p := range pos {
		for j, q := range neg {
			v10[i] += psi(p, q) / float64(len(neg))
			v01[j] += psi(p, q) / float64(len(pos))
		}
	}
	for _, v := range v10 {
		auc += v / float64(len(pos))
	}
	return auc, math.Sqrt(sampleVar(v10, auc)/float64(len(pos)) + sampleVar(v01, auc)/float64(len(neg)))
}

func TestAUCDeLong(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		name string
		n    int
		ties bool
	}{{"small", 12, false}, {"ties", 60, true}, {"larger", 400, false}} {
		s, y := make([]float32, tc.n), make([]float32, tc.n)
		for i := range s {
			y[i] = float32(i % 2)
			s[i] = float32(rng.NormFloat64()) + 0.7*y[i]
			if tc.ties {
				s[i] = float32(math.Round(float64(s[i]) * 2))
			}
		}
		got, err := AUCDeLong(s, y)
		if err != nil {
			t.Fatal(err)
		}
		auc, se := bruteDeLong(s, y)
		plain, _ := AUC(s, y)
		if math.Abs(got.AUC-auc) > 1e-12 || math.Abs(got.AUC-plain) > 1e-12 || math.Abs(got.SE-se) > 1e-12 {
			t.Errorf("%s: AUCDeLong = %+v; definition: auc %v se %v; AUC %v", tc.name, got, auc, se, plain)
		}
		if got.Low > got.AUC || got.High < got.AUC || math.Abs(got.High-got.Low-2*1.96*got.SE) > 1e-9 && got.Low > 0 && got.High < 1 {
			t.Errorf("%s: interval %+v", tc.name, got)
		}
	}
	// Over repeated binormal samples, the SE matches the AUC's spread.
	var aucs, ses []float64
	for range 300 {
		s, y := make([]float32, 400), make([]float32, 400)
		for i := range s {
			y[i] = float32(i % 3 % 2)
			s[i] = float32(rng.NormFloat64()) + y[i]
		}
		r, err := AUCDeLong(s, y)
		if err != nil {
			t.Fatal(err)
		}
		aucs, ses = append(aucs, r.AUC), append(ses, r.SE)
	}
	var m, meanSE float64
	for i := range aucs {
		m += aucs[i] / float64(len(aucs))
		meanSE += ses[i] / float64(len(ses))
	}
	sd := math.Sqrt(sampleVar(aucs, m))
	if r := meanSE / sd; r < 0.85 || r > 1.15 {
		t.Errorf("mean DeLong SE %v, spread of the AUCs %v (ratio %v)", meanSE, sd, r)
	}
	if _, err := AUCDeLong([]float32{1, 2}, []float32{1, 1}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: %v", err)
	}
	if r, err := AUCDeLong([]float32{1, 2, 3}, []float32{1, 0, 0}); err != nil || !math.IsInf(r.SE, 1) {
		t.Errorf("one positive: %+v, %v", r, err)
	}
	if _, err := AUCDeLong([]float32{float32(math.NaN()), 1}, []float32{1, 0}); !errors.Is(err, ErrNaN) {
		t.Errorf("NaN: %v", err)
	}
}
