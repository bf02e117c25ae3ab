package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestScoreContext: a ranking request (one context beside N candidates)
// scores what the same instances with the context's features copied in
// score, and the decoder's rules hold.
func TestScoreContext(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, testConfig(f.dir))
	// the first 3 categorical fields and the first dense one are the
	// "user"; candidates carry the rest
	user := map[string]any{}
	for _, name := range f.schema.Categorical[:3] {
		user[name] = f.instance(0)[name]
	}
	user[f.schema.Dense[0]] = f.instance(0)[f.schema.Dense[0]]
	var cands, full []map[string]any
	for i := range 6 {
		c, x := map[string]any{}, map[string]any{}
		for k, v := range f.instance(i) {
			x[k] = v
			if _, ok := user[k]; !ok {
				c[k] = v
			}
		}
		for k, v := range user {
			x[k] = v
		}
		cands, full = append(cands, c), append(full, x)
	}
	_, want := scores(t, hs.URL, map[string]any{"instances": full})
	_, got := scores(t, hs.URL, map[string]any{"context": user, "instances": cands})
	if !closeAll(got, want, 0) {
		t.Errorf("with context %v, copied in %v", got, want)
	}
	cat := f.schema.Categorical[0]
	for _, tc := range []struct {
		name, body, want string
	}{
		{"context after instances", `{"instances": [{}], "context": {}}`, "before"},
		{"feature twice", `{"context": {"` + cat + `": "a"}, "instances": [{"` + cat + `": "b"}]}`, "in the context too"},
		{"unknown in context", `{"context": {"nope": "a"}, "instances": [{}]}`, "context: unknown feature"},
		{"context alone", `{"context": {"` + cat + `": "a"}}`, "no instances"},
	} {
		code, out := do(t, "POST", hs.URL+"/v1/score", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.name, code, out, tc.want)
		}
	}
}
