package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var (
	fuzzSchema = newSchemaIndex([]string{"C1", "C2", "C3"}, []string{"I1", "I2"}, []string{"B1", "B2"})
	fuzzLimits = limits{MaxBatch: 8, MaxFields: 6, MaxBagValues: 4}
	fuzzSeeds  = []string{
		`{"features": {"C1": "a", "I1": 3}}`,
		`{"context": {"C1": "u", "I2": 1}, "instances": [{"C2": "x"}, {"C2": "y", "I1": 2}]}`,
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
		`{"features": {"C1": "a", "C1": "b"}}`,
		`{"features": {}, "features": {}}`,
		`{"instances": [{"C1": "a"}], "instances": [{}]}`,
		`{"instances": null, "features": {"C2": 1}}`,
		`{"instances": [{}], "fields": null, "pooling": null}`,
		`{"instances": [{"C1": [1, {"a": [2]}]}]}`,
		`{"features": {"B1": ["a", 2, null], "C1": "x"}, "fields": ["B1", "C1"]}`,
		`{"context": {"B2": ["h1", "h2"]}, "instances": [{"C1": "a"}, {"B1": []}]}`,
		`{"features": {"B1": ["a", "b", "c", "d", "e"]}}`,
		`{"features": {"B1": "a"}}`,
		`{"features": {"B2": [["x"]]}}`,
		`{"features": {"B1": null}}`,
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

// checkAccepted fails unless an accepted body is one valid JSON object:
// the streaming decoder must not accept what encoding/json rejects.
func checkAccepted(t *testing.T, body []byte) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("accepted a body encoding/json rejects (%v): %q", err, body)
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
	nb := len(fuzzSchema.bags)
	if b.Bags != nil && len(b.Bags) != b.N*nb {
		t.Fatalf("batch of %d instances with %d bag values", b.N, len(b.Bags))
	}
	for _, vs := range b.Bags {
		if len(vs) > fuzzLimits.MaxBagValues || slices.Contains(vs, "") {
			t.Fatalf("bag %q: over the limit, or an empty value kept", vs)
		}
	}
	for _, f := range b.Shared {
		if f < 0 || f >= nf {
			t.Fatalf("shared field %d", f)
		}
		for i := range b.N {
			if b.Cat[i*nf+f] != b.Cat[f] {
				t.Fatalf("shared field %d differs in instance %d", f, i)
			}
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
		checkAccepted(t, body)
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
		checkAccepted(t, body)
		if !slices.Contains([]string{poolNone, poolSum, poolMean}, q.Pooling) {
			t.Fatalf("pooling %q", q.Pooling)
		}
		inputs := len(fuzzSchema.cat) + len(fuzzSchema.bags)
		if len(q.Fields) == 0 || len(q.Fields) > inputs {
			t.Fatalf("fields %v", q.Fields)
		}
		seen := map[int]bool{}
		for _, f := range q.Fields {
			if f < 0 || f >= inputs || seen[f] {
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

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestDecodeStream: the decoder stops reading at the first instance over
// the limit (a body of many small instances is not held whole), and it
// rejects repeated keys that encoding/json would resolve to the last one.
func TestDecodeStream(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		contains   string
	}{
		{"repeated feature", `{"features": {"C1": "a", "C1": "b"}}`, 400, `key "C1" given twice`},
		{"repeated escaped feature", `{"instances": [{}, {"C1": "a", "C\u0031": "b"}]}`, 400, `instance 1: key "C1" given twice`},
		{"repeated dense feature", `{"features": {"I1": 1, "I1": 2}}`, 400, "twice"},
		{"repeated top-level key", `{"instances": [{}], "instances": [{}]}`, 400, `key "instances" given twice`},
		{"both forms", `{"instances": [{}], "features": {}}`, 400, "not both"},
		{"both forms, features first", `{"features": {}, "instances": [{}]}`, 400, "not both"},
		{"instances not a list", `{"instances": {}}`, 400, "want a list"},
		{"features not an object", `{"features": []}`, 400, "want an object"},
		{"one over the batch limit", `{"instances": [{}, {}, {}, {}, {}, {}, {}, {}, {}]}`, 413, "at most 8"},
		{"at the batch limit", `{"instances": [{}, {}, {}, {}, {}, {}, {}, {}]}`, 0, ""},
		{"over the key limit", `{"features": {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1}}`, 413, "at most 6"},
		{"unknown top-level key", `{"instances": [{}], "x": 1}`, 400, `unknown field "x"`},
		{"fields on score", `{"instances": [{}], "fields": ["C1"]}`, 400, `unknown field "fields"`},
		{"truncated", `{"instances": [{"C1": "a"}`, 400, "invalid JSON"},
		{"top-level array", `[{}]`, 400, "want an object"},
	}
	lim := fuzzLimits
	lim.IgnoreUnknown = true // the key limit case has unknown names
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeScore(strings.NewReader(tc.body), fuzzSchema, lim)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("%s: %v", tc.body, err)
				}
				return
			}
			var re *requestError
			if !errors.As(err, &re) || re.status != tc.status || !strings.Contains(re.msg, tc.contains) {
				t.Fatalf("%s: got %v, want %d containing %q", tc.body, err, tc.status, tc.contains)
			}
		})
	}

	// 4 MiB of empty instances: rejected (413). The body is read whole
	// (bounded by --max-body in the server) before its instances are
	// counted: the price of walking valid JSON without encoding/json's
	// per-value re-scan.
	var big bytes.Buffer
	big.WriteString(`{"instances": [{}`)
	for big.Len() < 4<<20 {
		big.WriteString(`, {}`)
	}
	big.WriteString(`]}`)
	size := big.Len()
	cr := &countingReader{r: &big}
	_, err := decodeScore(cr, fuzzSchema, fuzzLimits)
	var re *requestError
	if !errors.As(err, &re) || re.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("4 MiB of instances: %v, want 413", err)
	}
	if cr.n != size {
		t.Errorf("4 MiB of instances: read %d of %d bytes", cr.n, size)
	}
}

// TestDuplicateKeys: the bodies decoded whole (retrieve, reload, rows)
// reject a key repeated in one object at any depth, and accept the same
// key in different objects.
func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		body string
		dup  string // "" when accepted
	}{
		{`{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}]}`, ""},
		{`{"a": 1, "a": 2}`, "a"},
		{`{"a": {"x": [1, {"y": 1, "y": 2}]}}`, "y"},
		{`{"a": [{"b": {}}, "a"], "a": 0}`, "a"},
		{`{"s": "a", "t": "a"}`, ""},
		{`[{"k": 1}, {"k": 1}]`, ""},
		{`{"k": `, ""}, // a syntax error is the decoder's
	}
	for _, tc := range tests {
		err := checkDuplicateKeys([]byte(tc.body))
		if tc.dup == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.body, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), `"`+tc.dup+`" given twice`) {
			t.Errorf("%s: %v, want %q given twice", tc.body, err, tc.dup)
		}
	}
	userAt := map[string]int{"user_id": 0, "gender": 1}
	_, err := decodeRetrieve(strings.NewReader(`{"features": {"user_id": "1", "gender": "F", "gender": "M"}}`), userAt, retrieveLimits{MaxK: 10, MaxFields: 4})
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("retrieve with a repeated user feature: %v", err)
	}
}

// FuzzLexerMatchesDecoder: on a valid body the fast token reader and
// encoding/json's Decoder decode the same request or fail the same way.
func FuzzLexerMatchesDecoder(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"instances": [{"C1": "a\u00e9\n", "I1": "3.5"}, {"C2": 7, "I2": null}]}`), false)
	f.Add([]byte(`{"features": {"C1": "x"}, "fields": ["C1"], "pooling": "sum"}`), true)
	f.Fuzz(func(t *testing.T, body []byte, embed bool) {
		if !json.Valid(body) {
			return
		}
		a, errA := decodeTokens(&validLexer{data: body}, fuzzSchema, fuzzLimits, !embed, embed)
		b, errB := decodeTokens(json.NewDecoder(bytes.NewReader(body)), fuzzSchema, fuzzLimits, !embed, embed)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("lexer %v, decoder %v", errA, errB)
		}
		if errA != nil {
			if errA.Error() != errB.Error() {
				t.Fatalf("lexer %q, decoder %q", errA, errB)
			}
			return
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("lexer %+v, decoder %+v", a, b)
		}
	})
}
