package main

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"
)

var (
	fuzzSchema = newSchemaIndex([]string{"C1", "C2", "C3"}, []string{"I1", "I2"})
	fuzzLimits = limits{MaxBatch: 8, MaxFields: 6}
	fuzzSeeds  = []string{
		`{"features": {"C1": "a", "I1": 3}}`,
		`{"instances": [{"C1": "a", "C2": null, "I2": "4.5"}, {"C3": 12, "I1": -1e3}]}`,
		`{"features": {"C1": "a"}, "fields": ["C2", "C1"], "pooling": "mean"}`,
		`{"instances": [null]}`,
		`{"features": {"C1": true}}`,
		`{"features": {"I1": "NaN"}}`,
		`{"features": {"I1": 1e39}}`,
		`{"features": {}, "instances": []}`,
		`{"features": {"C\u0031": "\ud800"}}`,
		`{"instances": [{}, {}, {}, {}, {}, {}, {}, {}, {}]}`,
		`[]`, `null`, `{`, ``, `{"features": {}} x`,
	}
)

// checkRequestError fails unless err is a client error.
func checkRequestError(t *testing.T, err error) {
	var re *requestError
	if !errors.As(err, &re) {
		t.Fatalf("error is not a request error: %T %v", err, err)
	}
	if re.status < 400 || re.status >= 500 || re.msg == "" {
		t.Fatalf("request error with status %d, message %q", re.status, re.msg)
	}
}

// checkBatch checks the invariants of a decoded batch.
func checkBatch(t *testing.T, b *batch, withDense bool) {
	nf, nd := len(fuzzSchema.cat), len(fuzzSchema.dense)
	if b.N < 1 || b.N > fuzzLimits.MaxBatch || len(b.Cat) != b.N*nf {
		t.Fatalf("batch of %d instances with %d categorical values", b.N, len(b.Cat))
	}
	if withDense && len(b.Dense) != b.N*nd {
		t.Fatalf("batch of %d instances with %d dense values", b.N, len(b.Dense))
	}
	for _, v := range b.Dense {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("dense value %v", v)
		}
	}
}

func FuzzDecodeScore(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := decodeScore(bytes.NewReader(body), fuzzSchema, fuzzLimits)
		if err != nil {
			checkRequestError(t, err)
			return
		}
		checkBatch(t, b, true)
	})
}

func FuzzDecodeEmbed(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := decodeEmbed(bytes.NewReader(body), fuzzSchema, fuzzLimits)
		if err != nil {
			checkRequestError(t, err)
			return
		}
		checkBatch(t, &q.batch, false)
		if !slices.Contains([]string{poolNone, poolSum, poolMean}, q.Pooling) {
			t.Fatalf("pooling %q", q.Pooling)
		}
		if len(q.Fields) == 0 || len(q.Fields) > len(fuzzSchema.cat) {
			t.Fatalf("fields %v", q.Fields)
		}
		seen := map[int]bool{}
		for _, f := range q.Fields {
			if f < 0 || f >= len(fuzzSchema.cat) || seen[f] {
				t.Fatalf("fields %v", q.Fields)
			}
			seen[f] = true
		}
	})
}

// TestDecodeValues is the table of feature value encodings.
func TestDecodeValues(t *testing.T) {
	tests := []struct {
		body    string
		cat     []string
		dense   []float32
		wantErr string
	}{
		{`{"features": {"C1": "x", "C2": 42, "C3": -1.5e3, "I1": 7, "I2": "2.5"}}`, []string{"x", "42", "-1.5e3"}, []float32{7, 2.5}, ""},
		{`{"features": {"C1": null, "I1": null}}`, []string{"", "", ""}, []float32{0, 0}, ""},
		{`{"features": {"C1": " spaced "}}`, []string{" spaced ", "", ""}, []float32{0, 0}, ""},
		{`{"features": {"I1": " 3 "}}`, []string{"", "", ""}, []float32{3, 0}, ""},
		{`{"features": {"C1": ["a"]}}`, nil, nil, "want a string"},
		{`{"features": {"C1": {"a": 1}}}`, nil, nil, "want a string"},
		{`{"features": {"I1": true}}`, nil, nil, "want a number"},
		{`{"features": {"I1": "Inf"}}`, nil, nil, "finite"},
		{`{"features": {"I1": "0x10"}}`, nil, nil, ""},
		{`{"features": {"I1": ""}}`, nil, nil, "not a number"},
	}
	for _, tc := range tests {
		b, err := decodeScore(bytes.NewReader([]byte(tc.body)), fuzzSchema, fuzzLimits)
		if tc.cat == nil && tc.wantErr == "" {
			continue // accepted or not, it must not panic
		}
		if tc.wantErr != "" {
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr)) {
				t.Errorf("%s: got %v, want an error containing %q", tc.body, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if !slices.Equal(b.Cat, tc.cat) || !slices.Equal(b.Dense, tc.dense) {
			t.Errorf("%s: got %q %v, want %q %v", tc.body, b.Cat, b.Dense, tc.cat, tc.dense)
		}
	}
}
