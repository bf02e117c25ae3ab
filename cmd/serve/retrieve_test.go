package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/retrieval"
)

// writeTinyMovieLens writes a MovieLens 1M directory of 60 users and 40
// movies: user u likes the movies of genre u mod 4; every fifth movie is
// also a Musical (genres "Comedy|Musical").
func writeTinyMovieLens(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	genres := []string{"Comedy", "Drama", "Horror", "War"}
	var users, movies, ratings strings.Builder
	for u := 1; u <= 60; u++ {
		fmt.Fprintf(&users, "%d::%s::%d::%d::%05d\n", u, []string{"F", "M"}[u%2], []int{18, 25, 35}[u%3], u%7, 20000+u%9)
	}
	for m := 1; m <= 40; m++ {
		g := genres[m%4]
		if m%5 == 0 {
			g += "|Musical"
		}
		fmt.Fprintf(&movies, "%d::Film %d (%d)::%s\n", m, m, 1990+m%5, g)
	}
	ts := 970000000
	for u := 1; u <= 60; u++ {
		for k := range 8 {
			m := 1 + (u%4+4*((u+3*k)%10))%40
			ts++
			fmt.Fprintf(&ratings, "%d::%d::%d::%d\n", u, m, 4+k%2, ts)
		}
	}
	for name, b := range map[string]*strings.Builder{"users.dat": &users, "movies.dat": &movies, "ratings.dat": &ratings} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// twoTowerArtifact trains a small two-tower model on the tiny data and
// exports it to a new directory.
func twoTowerArtifact(t *testing.T, data string, seed uint64) string {
	t.Helper()
	return twoTowerArtifactWith(t, data, retrieval.Config{Table: "hashed", Dim: 4, Hidden: 8, Out: 8, Epochs: 2, Batch: 32, Seed: seed})
}

// twoTowerArtifactWith is twoTowerArtifact for the model of cfg.
func twoTowerArtifactWith(t *testing.T, data string, cfg retrieval.Config) string {
	t.Helper()
	seed := cfg.Seed
	r, err := retrieval.OpenSource("movielens1m", data)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	in, err := retrieval.LoadInteractions(context.Background(), r, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := in.LeaveLastOut()
	m, err := retrieval.NewModel(cfg, in, sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := retrieval.Train(context.Background(), m, sp, retrieval.TrainHooks{}); err != nil {
		t.Fatal(err)
	}
	iv, err := m.ItemVectors(nil)
	if err != nil {
		t.Fatal(err)
	}
	uv, err := m.UserVectors(nil, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := retrieval.BuildIndex(iv, 8, 0, seed)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if _, err := retrieval.ExportArtifact(dir, m, ix, uv, iv, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// exactTopK opens the artifact at dir and returns the exact top k item
// keys for user key, optionally filtered, without the user's training
// items when seen.
func exactTopK(t *testing.T, dir, user string, k int, filter map[string][]string, seen bool) []string {
	t.Helper()
	a, err := artifact.Open(dir, artifact.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := retrieval.OpenRetriever(a)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q, ok := r.UserVector(user)
	if !ok {
		t.Fatalf("user %s not in the artifact", user)
	}
	opt := retrieval.Options{Filter: filter}
	if seen {
		if opt.Exclude = r.Seen(user); len(opt.Exclude) == 0 {
			t.Fatalf("user %s has no seen items in the catalog", user)
		}
	}
	hits, err := r.ExactAll(q, k, opt)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Key
	}
	return out
}

func retrieveKeys(t *testing.T, url string, body any) (string, []retrieved) {
	t.Helper()
	code, out := do(t, "POST", url+"/v1/retrieve", body)
	if code != http.StatusOK {
		t.Fatalf("retrieve %v: %d %s", body, code, out)
	}
	var resp retrieveResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Model, resp.Items
}

func keysOf(items []retrieved) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func TestRetrieve(t *testing.T) {
	data := writeTinyMovieLens(t)
	dir := twoTowerArtifact(t, data, 1)
	cfg := testConfig(dir)
	cfg.MaxK = 20
	_, hs, _ := newTestServer(t, cfg)

	for _, user := range []string{"1", "7", "42"} {
		want := exactTopK(t, dir, user, 5, nil, false)
		_, byID := retrieveKeys(t, hs.URL, map[string]any{"user_id": user, "k": 5, "ef": 100, "exclude_seen": false})
		if got := keysOf(byID); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("user %s by id: %v, exact %v", user, got, want)
		}
		// The user's raw features give the vector stored at export.
		u := mustAtoi(t, user)
		features := map[string]any{"user_id": user, "gender": []string{"F", "M"}[u%2], "age": []int{18, 25, 35}[u%3],
			"occupation": u % 7, "zip": fmt.Sprintf("%05d", 20000+u%9)}
		_, byFeat := retrieveKeys(t, hs.URL, map[string]any{"features": features, "k": 5, "ef": 100})
		if got := keysOf(byFeat); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("user %s by features: %v, exact %v", user, got, want)
		}
		for i := range byFeat {
			if math.Abs(float64(byFeat[i].Score-byID[i].Score)) > 1e-5 {
				t.Errorf("user %s item %d: score %v by features, %v by id", user, i, byFeat[i].Score, byID[i].Score)
			}
		}
		// By default a user_id request leaves out the training items.
		want = exactTopK(t, dir, user, 5, nil, true)
		_, unseen := retrieveKeys(t, hs.URL, map[string]any{"user_id": user, "k": 5, "ef": 100})
		if got := keysOf(unseen); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("user %s without seen items: %v, exact %v", user, got, want)
		}
		// "exclude" drops the given ids (unknown ones are ignored).
		_, excl := retrieveKeys(t, hs.URL, map[string]any{"user_id": user, "k": 4, "ef": 100, "exclude_seen": false,
			"exclude": []string{byID[0].ID, byID[2].ID, "no-such-item"}})
		if got, want := keysOf(excl), []string{byID[1].ID, byID[3].ID, byID[4].ID}; fmt.Sprint(got[:3]) != fmt.Sprint(want) {
			t.Errorf("user %s excluding %s and %s: %v, want %v first", user, byID[0].ID, byID[2].ID, got, want)
		}
		filter := map[string][]string{"first_genre": {"Horror", "War"}}
		want = exactTopK(t, dir, user, 4, filter, true)
		_, hits := retrieveKeys(t, hs.URL, map[string]any{"user_id": user, "k": 4, "filter": filter})
		if got := keysOf(hits); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != 4 {
			t.Errorf("user %s filtered: %v, exact %v", user, got, want)
		}
		for _, h := range hits {
			if m := mustAtoi(t, h.ID); m%4 != 2 && m%4 != 3 {
				t.Errorf("filtered hit %s is neither Horror nor War", h.ID)
			}
		}
	}
	// A new user: features only, unseen values hash like any other.
	_, hits := retrieveKeys(t, hs.URL, map[string]any{"features": map[string]any{
		"user_id": "100000", "gender": "F", "age": 18, "occupation": 3, "zip": "99999"}, "k": 3})
	if len(hits) != 3 {
		t.Errorf("new user: %d items, want 3", len(hits))
	}
	// genres is multi-valued: "Musical" matches "Comedy|Musical".
	_, hits = retrieveKeys(t, hs.URL, map[string]any{"user_id": "3", "k": 8, "exclude_seen": false,
		"filter": map[string][]string{"genres": {"Musical"}}})
	if len(hits) != 8 {
		t.Errorf("genres Musical: %d items, want the 8 musicals", len(hits))
	}
	for _, h := range hits {
		if mustAtoi(t, h.ID)%5 != 0 {
			t.Errorf("genres Musical: hit %s is not a musical", h.ID)
		}
	}
	_, hits = retrieveKeys(t, hs.URL, map[string]any{"user_id": "3", "k": 20, "exclude_seen": false,
		"filter": map[string][]string{"genres": {"War|Musical"}}})
	if len(hits) != 2 { // 15 and 35: the whole value still matches
		t.Errorf("genres War|Musical: %v, want 2 items", keysOf(hits))
	}

	tests := []struct {
		name string
		body string
		code int
		msg  string
	}{
		{"unknown user", `{"user_id": "100000"}`, 404, "unknown user_id"},
		{"k too large", `{"user_id": "1", "k": 21}`, 400, "k 21"},
		{"k zero", `{"user_id": "1", "k": 0}`, 400, "k 0"},
		{"both", `{"user_id": "1", "features": {"gender": "F"}}`, 400, "not both"},
		{"neither", `{"k": 3}`, 400, "no user"},
		{"item field as user feature", `{"features": {"movie_id": "3"}}`, 400, "unknown user feature"},
		{"unknown filter field", `{"user_id": "1", "filter": {"title": ["x"]}}`, 400, "filter field"},
		{"empty filter values", `{"user_id": "1", "filter": {"year": []}}`, 400, "no values"},
		{"negative ef", `{"user_id": "1", "ef": -1}`, 400, "ef -1"},
		{"score on a two-tower model", ``, 400, "two-tower"},
		{"duplicate filter value", `{"user_id": "1", "filter": {"year": ["1990", "1991", "1990"]}}`, 400, "listed twice"},
		{"missing user features", `{"features": {"gender": "F", "zip": null}}`, 400, "missing user fields [age occupation user_id zip]"},
		{"empty user feature", `{"features": {"user_id": "1", "gender": "", "age": 18, "occupation": 1, "zip": "1"}}`, 400, "missing user fields [gender]"},
		{"exclude_seen by features", `{"features": {"user_id": "1", "gender": "F", "age": 18, "occupation": 1, "zip": "1"}, "exclude_seen": true}`, 400, "needs a"},
		{"bad exclude id", `{"user_id": "1", "exclude": [[1]]}`, 400, "exclude[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v1/retrieve"
			body := tc.body
			if body == "" {
				path, body = "/v1/score", `{"features": {"user_id": "1"}}`
			}
			code, out := do(t, "POST", hs.URL+path, body)
			if code != tc.code || !bytes.Contains(out, []byte(tc.msg)) {
				t.Errorf("%s: %d %s, want %d with %q", body, code, out, tc.code, tc.msg)
			}
		})
	}
}

func TestRetrieveReload(t *testing.T) {
	data := writeTinyMovieLens(t)
	a := twoTowerArtifact(t, data, 1)
	b := twoTowerArtifact(t, data, 2)
	cfg := testConfig(a)
	cfg.MaxK = 20
	_, hs, _ := newTestServer(t, cfg)
	req := map[string]any{"user_id": "5", "k": 10, "ef": 100}
	idA, before := retrieveKeys(t, hs.URL, req)
	if got, want := keysOf(before), exactTopK(t, a, "5", 10, nil, true); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("before reload: %v, exact %v", got, want)
	}
	code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]string{"model": b})
	if code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, out)
	}
	idB, after := retrieveKeys(t, hs.URL, req)
	if idA == idB {
		t.Fatal("the model id did not change on reload")
	}
	if got, want := keysOf(after), exactTopK(t, b, "5", 10, nil, true); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reload: %v, exact of the new artifact %v", got, want)
	}
	if before[0].Score == after[0].Score {
		t.Error("the scores did not change with the model: the index was not swapped")
	}
}

// TestRetrieveManyFilterValues sends filters of thousands of values:
// repeated values are a 400, distinct ones up to the limit are cheap.
func TestRetrieveManyFilterValues(t *testing.T) {
	dir := twoTowerArtifact(t, writeTinyMovieLens(t), 1)
	cfg := testConfig(dir)
	cfg.MaxFields = 1024
	_, hs, _ := newTestServer(t, cfg)
	dups := make([]string, 5000)
	for i := range dups {
		dups[i] = "Comedy"
	}
	code, out := do(t, "POST", hs.URL+"/v1/retrieve", map[string]any{"user_id": "1", "filter": map[string][]string{"genres": dups}})
	if code != http.StatusBadRequest || !bytes.Contains(out, []byte("listed twice")) {
		t.Errorf("5000 copies of a filter value: %d %s, want 400", code, out)
	}
	distinct := make([]string, 16000)
	for i := range distinct {
		distinct[i] = fmt.Sprint(i)
	}
	start := time.Now()
	_, hits := retrieveKeys(t, hs.URL, map[string]any{"user_id": "1", "k": 50, "exclude_seen": false,
		"filter": map[string][]string{"year": distinct}})
	if len(hits) != 40 {
		t.Errorf("16000 distinct years: %d items, want all 40", len(hits))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("16000 distinct filter values took %v", d)
	}
}

func TestRowsOnTwoTowerModel(t *testing.T) {
	dir := twoTowerArtifact(t, writeTinyMovieLens(t), 1)
	_, hs, _ := newTestServer(t, testConfig(dir))
	code, out := do(t, "PUT", hs.URL+"/v1/admin/rows", `{"rows": [{"set": 0, "row": 0, "values": [1, 2, 3, 4]}]}`)
	if code != http.StatusConflict || !bytes.Contains(out, []byte("two-tower")) {
		t.Errorf("row update on a two-tower model: %d %s, want 409", code, out)
	}
}

func TestRetrieveOnCTRModel(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, testConfig(f.dir))
	code, out := do(t, "POST", hs.URL+"/v1/retrieve", `{"user_id": "1"}`)
	if code != http.StatusNotFound || !bytes.Contains(out, []byte("not a two-tower")) {
		t.Errorf("retrieve on a CTR model: %d %s", code, out)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func FuzzDecodeRetrieve(f *testing.F) {
	userAt := map[string]int{"user_id": 0, "gender": 1, "zip": 2}
	lim := retrieveLimits{MaxK: 50, MaxFields: 4}
	for _, s := range []string{
		`{"user_id": "1"}`, `{"user_id": 17, "k": 5, "ef": 40}`,
		`{"features": {"gender": "F", "zip": null}, "filter": {"first_genre": ["Comedy", 3]}}`,
		`{"features": {"title": "x"}}`, `{"user_id": true}`, `{"user_id": null, "features": null}`,
		`{"user_id": "1", "k": -3}`, `{"user_id": "1", "k": 1e9}`, `{"user_id": "1", "filter": {"a": []}}`,
		`{"user_id": "1", "filter": {"a": [{}]}}`, `[]`, `{`, ``, `{"k": 1} 2`,
		`{"user_id": "1", "filter": {"a": ["x", "y", "x"]}}`, `{"user_id": "1", "exclude": ["3", 4, null], "exclude_seen": false}`,
		`{"features": {"user_id": "1", "gender": "F", "zip": "3"}, "exclude_seen": true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := decodeRetrieve(bytes.NewReader(body), userAt, lim)
		if err != nil {
			checkRequestError(t, err)
			return
		}
		if q.K < 1 || q.K > lim.MaxK || q.Ef < 0 || q.Ef > maxRetrieveEf {
			t.Fatalf("k %d, ef %d out of the limits", q.K, q.Ef)
		}
		if q.ByID == (q.Features != nil) {
			t.Fatalf("by id %v with features %v", q.ByID, q.Features)
		}
		if q.Features != nil && len(q.Features) != len(userAt) {
			t.Fatalf("%d features for %d user fields", len(q.Features), len(userAt))
		}
		for name, vals := range q.Filter {
			if len(vals) == 0 {
				t.Fatalf("filter %q without values", name)
			}
			if len(slices.Compact(slices.Sorted(slices.Values(vals)))) != len(vals) {
				t.Fatalf("filter %q with a repeated value: %q", name, vals)
			}
		}
		for _, v := range q.Features {
			if v == "" {
				t.Fatalf("features with a missing user field: %q", q.Features)
			}
		}
		if q.ExcludeSeen && !q.ByID || len(q.Exclude) > maxRetrieveExclude {
			t.Fatalf("exclude_seen %v by id %v, %d excluded", q.ExcludeSeen, q.ByID, len(q.Exclude))
		}
	})
}

// TestRetrieveHistory: for a model whose user tower reads a history, a
// query by a known user's features and its history (its last positives,
// the validation item included, oldest first) scores as the user's stored
// vector does, bit for bit; "history" without features, or on a model
// without a history, is a request error.
func TestRetrieveHistory(t *testing.T) {
	data := writeTinyMovieLens(t)
	dir := twoTowerArtifactWith(t, data, retrieval.Config{Table: "hashed", Dim: 4, Hidden: 8, Out: 8, Epochs: 2, Batch: 32, Seed: 3, History: 3})
	_, hs, _ := newTestServer(t, testConfig(dir))
	const u = 7
	movie := func(k int) string { return fmt.Sprint(1 + (u%4+4*((u+3*k)%10))%40) } // writeTinyMovieLens's k-th rating
	feats := map[string]any{"user_id": fmt.Sprint(u), "gender": []string{"F", "M"}[u%2], "age": fmt.Sprint([]int{18, 25, 35}[u%3]),
		"occupation": fmt.Sprint(u % 7), "zip": fmt.Sprintf("%05d", 20000+u%9)}
	want := exactTopK(t, dir, fmt.Sprint(u), 5, nil, false)
	code, body := do(t, "POST", hs.URL+"/v1/retrieve", map[string]any{"features": feats, "history": []string{movie(4), movie(5), movie(6)}, "k": 5})
	if code != http.StatusOK {
		t.Fatalf("retrieve: %d %s", code, body)
	}
	var r struct {
		Items []retrieved `json:"items"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range r.Items {
		got = append(got, it.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("by features and history: %v, by the stored vector: %v", got, want)
	}
	if code, body := do(t, "POST", hs.URL+"/v1/retrieve", map[string]any{"user_id": "7", "history": []string{"1"}}); code != http.StatusBadRequest {
		t.Errorf("history with user_id: %d %s", code, body)
	}
	plain := twoTowerArtifact(t, data, 3)
	_, hs2, _ := newTestServer(t, testConfig(plain))
	if code, body := do(t, "POST", hs2.URL+"/v1/retrieve", map[string]any{"features": feats, "history": []string{"1"}}); code != http.StatusBadRequest {
		t.Errorf("history on a model without one: %d %s", code, body)
	}
}
