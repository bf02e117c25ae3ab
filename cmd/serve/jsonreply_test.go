package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAppendFloat32MatchesEncodingJSON checks the hand-written float
// formatting against encoding/json byte for byte, on edge values and
// random bit patterns.
func TestAppendFloat32MatchesEncodingJSON(t *testing.T) {
	vals := []float32{0, 1, -1, 0.1, 1e-6, 9.99e-7, 1e-7, -1e-7, 1e20, 1e21, 3.4e38, -3.4e38, math.SmallestNonzeroFloat32,
		1.5e-45, 123456.79, 1e-10, 5e-324 * 0, float32(math.Copysign(0, -1))}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		x := math.Float32frombits(rng.Uint32())
		if x-x == 0 { // finite
			vals = append(vals, x)
		}
	}
	for _, x := range vals {
		want, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFloat32(nil, x); string(got) != string(want) {
			t.Fatalf("%v (%08x): %s, encoding/json %s", x, math.Float32bits(x), got, want)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quo"te`, `back\slash`, "new\nline\t\r", "ctl\x01\x1f", "<a&b>", "ünïcødé", "C1"} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, encoding/json %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("x<y")
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Fatalf("%q: invalid JSON: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q round-trips to %q, encoding/json to %q", s, back, wantBack)
		}
	})
}
