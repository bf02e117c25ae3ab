package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/lookup/redisstore/redistest"
	"github.com/embtab/embtab/oip/inferencepb"
	"github.com/embtab/embtab/trainer"
)

// fixture is a tiny trained model, exported, with a few rows of its data.
type fixture struct {
	dir    string // the fp32 artifact
	int8   string // the same, re-quantized to int8
	ck     *trainer.Checkpoint
	schema *datasets.Schema
	rows   *datasets.Batch // raw rows of the test split (KeepRaw)
}

// fixtureDir holds the fixture's files; TestMain removes it.
var fixtureDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

var getFixture = sync.OnceValues(func() (*fixture, error) {
	tmp, err := os.MkdirTemp("", "embtab-serve-test-")
	if err != nil {
		return nil, err
	}
	fixtureDir = tmp
	data := filepath.Join(tmp, "g.parquet")
	g, err := datasets.NewGenerator(datasets.GenConfig{Rows: 3000, Scale: 0.001, Seed: 3})
	if err != nil {
		return nil, err
	}
	if _, err := datasets.Convert(context.Background(), g, data, datasets.ConvertOptions{}); err != nil {
		return nil, err
	}
	out := filepath.Join(tmp, "run")
	cfg := trainer.Config{Data: data, Model: "dlrm", Table: "hashed", Dim: 4, Batch: 500, Epochs: 1, Threads: 2, Out: out}
	if _, err := trainer.Train(context.Background(), cfg, trainer.Options{}); err != nil {
		return nil, err
	}
	f := &fixture{dir: filepath.Join(tmp, "model"), int8: filepath.Join(tmp, "model-int8")}
	if err := trainer.ExportCheckpoint(out, f.dir); err != nil {
		return nil, err
	}
	if f.ck, err = trainer.ReadCheckpoint(filepath.Join(out, trainer.CheckpointFile)); err != nil {
		return nil, err
	}
	a, err := artifact.Open(f.dir, artifact.OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer a.Close()
	if _, err := artifact.Requantize(a, f.int8, "int8", artifact.WriteOptions{}); err != nil {
		return nil, err
	}
	src, err := datasets.OpenBatches("parquet", data, datasets.BatchOptions{BatchSize: 16, Skip: 2900, KeepRaw: true})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	f.schema = src.Schema()
	if f.rows, err = src.Next(); err != nil {
		return nil, err
	}
	return f, nil
})

// testFixture returns the shared fixture. It is small (3,000 rows, dim 4,
// under a second to train, a few under -race) so that the serving tests
// run in CI's -race -short run too.
func testFixture(t *testing.T) *fixture {
	t.Helper()
	f, err := getFixture()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// instance returns row i of the fixture's rows as request features:
// categorical values as strings, dense values as numbers or null when
// missing.
func (f *fixture) instance(i int) map[string]any {
	b, s := f.rows, f.schema
	inst := map[string]any{}
	for j, name := range s.Dense {
		if b.DenseMissing[i*s.NumDense()+j] {
			inst[name] = nil
		} else {
			inst[name] = b.Dense[i*s.NumDense()+j]
		}
	}
	for k, name := range s.Categorical {
		inst[name] = b.Raw[i*s.NumCat()+k]
	}
	return inst
}

// predict is the trainer's prediction for rows [lo, hi) of the fixture's
// rows: table lookup, dense transform, net.
func (f *fixture) predict(t *testing.T, lo, hi int) []float32 {
	t.Helper()
	nf, nd, d := f.schema.NumCat(), f.schema.NumDense(), f.ck.Table.Dim()
	n := hi - lo
	emb := make([]float32, n*nf*d)
	f.ck.Table.Lookup(f.rows.IDs[lo*nf:hi*nf], emb)
	dense := slices.Clone(f.rows.Dense[lo*nd : hi*nd])
	datasets.TransformDense(dense)
	out := make([]float32, n)
	if err := f.ck.Net.Predict(dense, emb, n, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func testConfig(dir string) *config {
	return &config{Model: dir, Addr: "127.0.0.1:0", Store: "mmap", MaxBodyBytes: 1 << 20, MaxBatch: 64,
		MaxFields: 64, MaxK: 100, MaxInFlight: 8, MaxQueue: 64, RequestTimeout: 5 * time.Second, ShutdownTimeout: time.Second,
		ReloadTimeout: time.Minute, AdminInsecureLoopback: true}
}

// newTestServer serves cfg with httptest; the logger writes to the test
// log at warn level.
func newTestServer(t *testing.T, cfg *config) (*server, *httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := newServer(context.Background(), cfg, log, reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs, reg
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func do(t *testing.T, method, url string, body any, header ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func scores(t *testing.T, url string, body any) (string, []float32) {
	t.Helper()
	code, out := do(t, "POST", url+"/v1/score", body)
	if code != http.StatusOK {
		t.Fatalf("score: %d %s", code, out)
	}
	var r scoreResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r.Model, r.Scores
}

// TestScoreMatchesTrainer: the score served from the exported artifact
// equals the trained net's prediction for the same row, bit for bit for a
// single row (the same batch size, so the same graph).
func TestScoreMatchesTrainer(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, testConfig(f.dir))
	for i := range 4 {
		_, got := scores(t, hs.URL, map[string]any{"features": f.instance(i)})
		want := f.predict(t, i, i+1)
		if len(got) != 1 || got[0] != want[0] {
			t.Errorf("row %d: served %v, trainer %v", i, got, want)
		}
	}
	// A batch is padded to a power of two: the same up to float rounding
	// of the bigger graph.
	var inst []map[string]any
	for i := range 5 {
		inst = append(inst, f.instance(i))
	}
	_, got := scores(t, hs.URL, map[string]any{"instances": inst})
	want := f.predict(t, 0, 5)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Errorf("batch row %d: served %v, trainer %v", i, got[i], want[i])
		}
	}
}

func TestEmbed(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, testConfig(f.dir))
	nf, d := f.schema.NumCat(), f.ck.Table.Dim()
	want := make([]float32, 2*nf*d)
	f.ck.Table.Lookup(f.rows.IDs[:2*nf], want)
	vec := func(i, field int) []float32 { return want[(i*nf+field)*d : (i*nf+field+1)*d] }
	c1, c3 := f.schema.Categorical[0], f.schema.Categorical[2]

	code, out := do(t, "POST", hs.URL+"/v1/embed", map[string]any{"instances": []any{f.instance(0), f.instance(1)}})
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, out)
	}
	var r embedResponse
	json.Unmarshal(out, &r)
	if r.Dim != d || len(r.Embeddings) != 2 || len(r.Fields) != nf {
		t.Fatalf("response %s", out)
	}
	for i := range 2 {
		for k, name := range f.schema.Categorical {
			if !slices.Equal(r.Embeddings[i][name], vec(i, k)) {
				t.Fatalf("instance %d field %s: %v, want %v", i, name, r.Embeddings[i][name], vec(i, k))
			}
		}
	}
	for _, pool := range []string{"sum", "mean"} {
		code, out = do(t, "POST", hs.URL+"/v1/embed", map[string]any{"features": f.instance(1), "fields": []string{c3, c1}, "pooling": pool})
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, out)
		}
		r = embedResponse{}
		json.Unmarshal(out, &r)
		for j := range d {
			w := vec(1, 2)[j] + vec(1, 0)[j]
			if pool == "mean" {
				w /= 2
			}
			if len(r.Pooled) != 1 || r.Pooled[0][j] != w {
				t.Fatalf("%s pooling: %s, want %v at %d", pool, out, w, j)
			}
		}
	}
}

// TestRequests is the table of request shapes and the statuses they get.
func TestRequests(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.MaxBodyBytes = 16 << 10
	cfg.MaxBatch = 4
	cfg.MaxFields = 50
	_, hs, reg := newTestServer(t, cfg)
	c1, i1 := f.schema.Categorical[0], f.schema.Dense[0]
	many := func(n int) map[string]any {
		var inst []any
		for range n {
			inst = append(inst, map[string]any{c1: "x"})
		}
		return map[string]any{"instances": inst}
	}
	wide := map[string]any{}
	for i := range 60 {
		wide[fmt.Sprint("f", i)] = 1
	}
	tests := []struct {
		name, method, path string
		body               any
		code               int
		contains           string
	}{
		{"health", "GET", "/healthz", nil, 200, "ok"},
		{"ready", "GET", "/readyz", nil, 200, "ready"},
		{"model", "GET", "/v1/model", nil, 200, `"method":"hashed"`},
		{"empty object", "POST", "/v1/score", map[string]any{}, 400, "no instances"},
		{"empty features", "POST", "/v1/score", map[string]any{"features": map[string]any{}}, 200, "scores"},
		{"unseen values", "POST", "/v1/score", map[string]any{"features": map[string]any{c1: "never-seen-\u00e9", i1: -5}}, 200, "scores"},
		{"numbers as categorical values", "POST", "/v1/embed", map[string]any{"features": map[string]any{c1: 12345}}, 200, "embeddings"},
		{"null values", "POST", "/v1/score", map[string]any{"features": map[string]any{c1: nil, i1: nil}}, 200, "scores"},
		{"numeric string dense", "POST", "/v1/score", map[string]any{"features": map[string]any{i1: "7"}}, 200, "scores"},
		{"unknown feature", "POST", "/v1/score", map[string]any{"features": map[string]any{"nope": "x"}}, 400, `unknown feature \"nope\"`},
		{"bad categorical type", "POST", "/v1/score", map[string]any{"features": map[string]any{c1: true}}, 400, "want a string"},
		{"bad dense value", "POST", "/v1/score", map[string]any{"features": map[string]any{i1: "abc"}}, 400, "not a number"},
		{"dense overflow", "POST", "/v1/score", `{"features": {"` + i1 + `": 1e300}}`, 400, "finite"},
		{"both forms", "POST", "/v1/score", map[string]any{"features": map[string]any{}, "instances": []any{map[string]any{}}}, 400, "not both"},
		{"unknown key", "POST", "/v1/score", map[string]any{"featurez": map[string]any{}}, 400, "unknown field"},
		{"not JSON", "POST", "/v1/score", "{", 400, "invalid JSON"},
		{"trailing data", "POST", "/v1/score", `{"features": {}} {}`, 400, "after the JSON"},
		{"empty body", "POST", "/v1/score", "", 400, "empty body"},
		{"null instance", "POST", "/v1/score", `{"instances": [null]}`, 400, "null"},
		{"batch too large", "POST", "/v1/score", many(5), 413, "at most 4"},
		{"batch at the limit", "POST", "/v1/score", many(4), 200, "scores"},
		{"too many features", "POST", "/v1/score", map[string]any{"features": wide}, 413, "at most 50"},
		{"body too large", "POST", "/v1/score", `{"features": {"` + c1 + `": "` + strings.Repeat("x", 20<<10) + `"}}`, 413, "larger than"},
		{"bad pooling", "POST", "/v1/embed", map[string]any{"features": map[string]any{}, "pooling": "max"}, 400, "pooling"},
		{"unknown embed field", "POST", "/v1/embed", map[string]any{"features": map[string]any{}, "fields": []string{"zz"}}, 400, "not a categorical field"},
		{"dense field embedded", "POST", "/v1/embed", map[string]any{"features": map[string]any{}, "fields": []string{i1}}, 400, "not a categorical field"},
		{"repeated embed field", "POST", "/v1/embed", map[string]any{"features": map[string]any{}, "fields": []string{c1, c1}}, 400, "twice"},
		{"empty embed fields", "POST", "/v1/embed", map[string]any{"features": map[string]any{}, "fields": []string{}}, 400, "fields"},
		{"wrong method", "GET", "/v1/score", nil, 405, ""},
		{"no route", "GET", "/v2/score", nil, 404, ""},
		{"rows on a read-only store", "PUT", "/v1/admin/rows", map[string]any{"rows": []any{}}, 501, "does not take row updates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := do(t, tc.method, hs.URL+tc.path, tc.body)
			if code != tc.code || !strings.Contains(string(out), tc.contains) {
				t.Errorf("%s %s: %d %s; want %d containing %q", tc.method, tc.path, code, out, tc.code, tc.contains)
			}
		})
	}
	code, out := do(t, "GET", hs.URL+"/metrics", nil)
	for _, m := range []string{`embtab_http_requests_total{code="413",handler="score"}`, `embtab_store_rows_total{result="hit",store="mmap"}`,
		"embtab_http_request_duration_seconds_bucket", `embtab_model_info{codec="fp32"`} {
		if code != 200 || !strings.Contains(string(out), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if n, _ := reg.Gather(); len(n) == 0 {
		t.Error("nothing registered")
	}
}

func TestIgnoreUnknownFields(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.IgnoreUnknownFields = true
	_, hs, _ := newTestServer(t, cfg)
	inst := f.instance(0)
	inst["not_a_feature"] = []int{1}
	_, got := scores(t, hs.URL, map[string]any{"features": inst})
	if want := f.predict(t, 0, 1); got[0] != want[0] {
		t.Errorf("with an ignored extra feature: %v, want %v", got, want)
	}
}

// TestReload swaps models under load: every request succeeds, on the old
// or the new model, and a bad artifact is rejected while the old model
// keeps serving.
func TestReload(t *testing.T) {
	f := testFixture(t)
	// The served directory is a copy the test can break.
	dir := filepath.Join(t.TempDir(), "m")
	copyDir(t, f.dir, dir)
	_, hs, _ := newTestServer(t, testConfig(dir))
	first, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)})

	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, out := do(t, "POST", hs.URL+"/v1/score", map[string]any{"instances": []any{f.instance(1), f.instance(2)}})
				if code != 200 {
					errs <- fmt.Errorf("during reloads: %d %s", code, out)
					return
				}
			}
		})
	}
	ids := map[string]bool{first: true}
	for i := range 6 {
		target := f.int8
		if i%2 == 1 {
			target = dir
		}
		code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]string{"model": target})
		if code != 200 {
			t.Fatalf("reload %s: %d %s", target, code, out)
		}
		var r map[string]string
		json.Unmarshal(out, &r)
		ids[r["model"]] = true
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(ids) != 2 {
		t.Errorf("served models %v, want the fp32 and int8 ones", ids)
	}
	// The int8 model scores close to the fp32 one.
	do(t, "POST", hs.URL+"/v1/admin/reload", map[string]string{"model": f.int8})
	_, q := scores(t, hs.URL, map[string]any{"features": f.instance(0)})
	if want := f.predict(t, 0, 1); math.Abs(float64(q[0]-want[0])) > 0.02 {
		t.Errorf("int8 score %v, fp32 %v", q[0], want[0])
	}
	// Reload of the current directory (empty body) after breaking it: rejected.
	do(t, "POST", hs.URL+"/v1/admin/reload", map[string]string{"model": dir})
	rows := filepath.Join(dir, artifact.RowsFile(0))
	data, _ := os.ReadFile(rows)
	data[100] ^= 1
	os.WriteFile(rows, data, 0o644)
	// The client is not told what failed (it would reveal whether a path
	// exists and what it holds): a corrupt and a missing artifact get
	// the same message.
	code, corrupt := do(t, "POST", hs.URL+"/v1/admin/reload", nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(corrupt), "did not load") || strings.Contains(string(corrupt), dir) {
		t.Errorf("reload of a corrupt artifact: %d %s", code, corrupt)
	}
	missing := filepath.Join(t.TempDir(), "none")
	code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]string{"model": missing})
	if code != http.StatusUnprocessableEntity || !bytes.Equal(out, corrupt) {
		t.Errorf("reload of a missing artifact: %d %s, want the corrupt one's reply %s", code, out, corrupt)
	}
	if id, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)}); id != first {
		t.Errorf("after rejected reloads serving %s, want %s", id, first)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func TestAdminAuth(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.AdminToken = "s3cret"
	cfg.AdminInsecureLoopback = false
	_, hs, _ := newTestServer(t, cfg)
	for _, tc := range []struct {
		header []string
		code   int
	}{
		{nil, 401},
		{[]string{"Authorization", "Bearer wrong"}, 401},
		{[]string{"Authorization", "s3cret"}, 401},
		{[]string{"Authorization", "Basic s3cret"}, 401},
		{[]string{"Authorization", "Bearer s3cret"}, 200},
		{[]string{"Authorization", "bearer s3cret"}, 200}, // RFC 7235: the scheme is case-insensitive
		{[]string{"Authorization", "BEARER  s3cret "}, 200},
		// A CORS simple request (text/plain, or a form) is refused.
		{[]string{"Authorization", "Bearer s3cret", "Content-Type", "text/plain"}, 415},
		{[]string{"Authorization", "Bearer s3cret", "Content-Type", "application/x-www-form-urlencoded"}, 415},
		{[]string{"Authorization", "Bearer s3cret", "Content-Type", "application/json; charset=utf-8"}, 200},
	} {
		if code, out := do(t, "POST", hs.URL+"/v1/admin/reload", nil, tc.header...); code != tc.code {
			t.Errorf("%v: %d %s, want %d", tc.header, code, out, tc.code)
		}
	}
	// Paths are for admin clients only.
	_, pub := do(t, "GET", hs.URL+"/v1/model", nil)
	_, priv := do(t, "GET", hs.URL+"/v1/model", nil, "Authorization", "Bearer s3cret")
	if bytes.Contains(pub, []byte(f.dir)) || bytes.Contains(pub, []byte(`"training"`)) || !bytes.Contains(pub, []byte(`"method":"hashed"`)) {
		t.Errorf("public /v1/model shows server paths: %s", pub)
	}
	if !bytes.Contains(priv, []byte(`"dir":`)) || !bytes.Contains(priv, []byte(`"training"`)) {
		t.Errorf("admin /v1/model lacks the directory and training record: %s", priv)
	}
}

// TestAdminWithoutToken: without a token the admin endpoints are off,
// loopback or not, unless --admin-insecure-loopback.
func TestAdminWithoutToken(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.AdminInsecureLoopback = false
	_, hs, _ := newTestServer(t, cfg)
	if code, out := do(t, "POST", hs.URL+"/v1/admin/reload", nil); code != http.StatusForbidden || !strings.Contains(string(out), "no admin token") {
		t.Errorf("reload from loopback without a token: %d %s, want 403", code, out)
	}
	if code, out := do(t, "PUT", hs.URL+"/v1/admin/rows", map[string]any{"rows": []any{}}); code != http.StatusForbidden {
		t.Errorf("rows from loopback without a token: %d %s, want 403", code, out)
	}
}

// TestReloadSchemaCheck: a reload to a model of another kind (two-tower
// for a CTR service) is refused unless forced.
func TestReloadSchemaCheck(t *testing.T) {
	f := testFixture(t)
	tt := twoTowerArtifact(t, writeTinyMovieLens(t), 1)
	_, hs, _ := newTestServer(t, testConfig(f.dir))
	first, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)})
	code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]any{"model": tt})
	if code != http.StatusConflict || !strings.Contains(string(out), "two-tower") || !strings.Contains(string(out), "force") {
		t.Errorf("reload to a two-tower model: %d %s, want 409", code, out)
	}
	if id, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)}); id != first {
		t.Errorf("after a refused reload serving %s, want %s", id, first)
	}
	code, out = do(t, "POST", hs.URL+"/v1/admin/reload", map[string]any{"model": tt, "force": true})
	if code != http.StatusOK {
		t.Errorf("forced reload to a two-tower model: %d %s", code, out)
	}
	if code, out := do(t, "POST", hs.URL+"/v1/score", map[string]any{"features": f.instance(0)}); code != 400 {
		t.Errorf("score on the forced two-tower model: %d %s", code, out)
	}
}

// TestReloadTimeout: a reload slower than --reload-timeout is rejected and
// the old model keeps serving.
func TestReloadTimeout(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	_, hs, _ := newTestServer(t, cfg)
	first, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)})
	cfg.ReloadTimeout = time.Nanosecond
	code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]any{"model": f.int8})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(out), "timed out") {
		t.Errorf("reload with a 1ns limit: %d %s, want 503", code, out)
	}
	if id, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)}); id != first {
		t.Errorf("after a timed-out reload serving %s, want %s", id, first)
	}
	cfg.ReloadTimeout = time.Minute
	if code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]any{"model": f.int8}); code != 200 {
		t.Errorf("reload after the timed-out one: %d %s", code, out)
	}
}

// TestInFlightLimit: with every work slot taken and the queue full, a
// request gets 429 at once; a queued one is served when a slot frees.
func TestInFlightLimit(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.MaxInFlight, cfg.MaxQueue = 1, 1
	srv, hs, _ := newTestServer(t, cfg)
	body := map[string]any{"features": f.instance(0)}
	srv.work <- struct{}{} // the one slot is taken
	queued := make(chan int, 1)
	go func() {
		code, _ := do(t, "POST", hs.URL+"/v1/score", body)
		queued <- code
	}()
	deadline := time.Now().Add(10 * time.Second)
	for srv.queued.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	code, out := do(t, "POST", hs.URL+"/v1/score", body)
	if code != http.StatusTooManyRequests || !strings.Contains(string(out), "busy") {
		t.Errorf("with the slot taken and the queue full: %d %s, want 429", code, out)
	}
	<-srv.work
	if code := <-queued; code != 200 {
		t.Errorf("queued request: %d, want 200", code)
	}
	if code, _ := do(t, "GET", hs.URL+"/healthz", nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}
}

func TestBadgerRowUpdates(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.Store, cfg.StorePath = "badger", t.TempDir()
	_, hs, _ := newTestServer(t, cfg)
	// Score and embed as with mmap.
	if _, got := scores(t, hs.URL, map[string]any{"features": f.instance(0)}); got[0] != f.predict(t, 0, 1)[0] {
		t.Errorf("badger score %v differs from the trainer's", got)
	}
	c1 := f.schema.Categorical[0]
	// The row of field 0's value "v" in a hashed table.
	body := map[string]any{"features": map[string]any{c1: "v"}, "fields": []string{c1}}
	code, out := do(t, "POST", hs.URL+"/v1/embed", body)
	if code != 200 {
		t.Fatalf("%d %s", code, out)
	}
	var m struct {
		Manifest artifact.Manifest `json:"manifest"`
	}
	_, mo := do(t, "GET", hs.URL+"/v1/model", nil)
	json.Unmarshal(mo, &m)
	// Write every row of field 0 (rows [0, Rows[0]) of set 0) to 7s: the
	// value's vector must then be all 7s.
	var cfgT struct{ Rows []int }
	json.Unmarshal(m.Manifest.Table.Config, &cfgT)
	var rows []map[string]any
	for r := range cfgT.Rows[0] {
		rows = append(rows, map[string]any{"set": 0, "row": r, "values": []float32{7, 7, 7, 7}})
	}
	for lo := 0; lo < len(rows); lo += cfg.MaxBatch {
		code, out = do(t, "PUT", hs.URL+"/v1/admin/rows", map[string]any{"rows": rows[lo:min(lo+cfg.MaxBatch, len(rows))]})
		if code != 200 {
			t.Fatalf("rows: %d %s", code, out)
		}
	}
	_, out = do(t, "POST", hs.URL+"/v1/embed", body)
	var r embedResponse
	json.Unmarshal(out, &r)
	if !slices.Equal(r.Embeddings[0][c1], []float32{7, 7, 7, 7}) {
		t.Errorf("after the update: %s", out)
	}
	code, out = do(t, "PUT", hs.URL+"/v1/admin/rows", map[string]any{"rows": []any{map[string]any{"set": 9, "row": 0, "values": []float32{1, 2, 3, 4}}}})
	if code != 400 {
		t.Errorf("update outside the table: %d %s", code, out)
	}
	code, out = do(t, "PUT", hs.URL+"/v1/admin/rows", map[string]any{"rows": []any{map[string]any{"set": 0, "row": 0, "values": []float32{1}}}})
	if code != 400 {
		t.Errorf("update with a short row: %d %s", code, out)
	}
}

// TestBadgerReload: with the badger store, a reload of the same artifact
// works (the open database is shared, not locked against) and keeps the
// online updates; a new artifact serves its own rows, without the old
// artifact's updates; going back to the first artifact serves its
// updates again.
func TestBadgerReload(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.Store, cfg.StorePath = "badger", t.TempDir()
	_, hs, _ := newTestServer(t, cfg)
	c1 := f.schema.Categorical[0]
	body := map[string]any{"features": map[string]any{c1: "v"}, "fields": []string{c1}}
	embed := func() []float32 {
		t.Helper()
		code, out := do(t, "POST", hs.URL+"/v1/embed", body)
		if code != 200 {
			t.Fatalf("embed: %d %s", code, out)
		}
		var r embedResponse
		json.Unmarshal(out, &r)
		return r.Embeddings[0][c1]
	}
	reload := func(dir string) {
		t.Helper()
		if code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]string{"model": dir}); code != 200 {
			t.Fatalf("reload %s: %d %s", dir, code, out)
		}
	}
	var cfgT struct{ Rows []int }
	_, mo := do(t, "GET", hs.URL+"/v1/model", nil)
	var m struct {
		Manifest artifact.Manifest `json:"manifest"`
	}
	json.Unmarshal(mo, &m)
	json.Unmarshal(m.Manifest.Table.Config, &cfgT)
	var rows []map[string]any
	for r := range cfgT.Rows[0] {
		rows = append(rows, map[string]any{"set": 0, "row": r, "values": []float32{7, 7, 7, 7}})
	}
	for lo := 0; lo < len(rows); lo += cfg.MaxBatch {
		if code, out := do(t, "PUT", hs.URL+"/v1/admin/rows", map[string]any{"rows": rows[lo:min(lo+cfg.MaxBatch, len(rows))]}); code != 200 {
			t.Fatalf("rows: %d %s", code, out)
		}
	}
	sevens := []float32{7, 7, 7, 7}
	if got := embed(); !slices.Equal(got, sevens) {
		t.Fatalf("after the update: %v", got)
	}
	reload(f.dir) // the same artifact
	if got := embed(); !slices.Equal(got, sevens) {
		t.Errorf("after reloading the same artifact: %v, want the updated row", got)
	}
	reload(f.int8) // a new artifact: its own rows
	if got := embed(); slices.Equal(got, sevens) {
		t.Errorf("the new artifact serves the old artifact's update %v", got)
	}
	reload(f.dir) // back: the first artifact's database, updates kept
	if got := embed(); !slices.Equal(got, sevens) {
		t.Errorf("back on the first artifact: %v, want its updated row", got)
	}
}

// TestRowUpdateOutOfRange: a value the store's codec cannot hold is the
// client's error (422), not a 500.
func TestRowUpdateOutOfRange(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.int8)
	cfg.Store, cfg.StorePath = "badger", t.TempDir()
	_, hs, _ := newTestServer(t, cfg)
	code, out := do(t, "PUT", hs.URL+"/v1/admin/rows", map[string]any{"rows": []any{map[string]any{"set": 0, "row": 0, "values": []float32{3e38, 0, 0, 0}}}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(out), "range") {
		t.Errorf("update beyond int8's range: %d %s, want 422", code, out)
	}
}

// TestRun runs the command: it listens, serves, and stops cleanly when its
// context ends.
func TestRun(t *testing.T) {
	f := testFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--model", f.dir, "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--model-name", "ctr", "--log-format", "text"}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufioLine(pr)
	if err != nil {
		t.Fatalf("no listening line: %v; stderr:\n%s", err, stderr.String())
	}
	addr := strings.TrimPrefix(line, "listening on ")
	if code, out := do(t, "GET", "http://"+addr+"/readyz", nil); code != 200 {
		t.Errorf("readyz: %d %s", code, out)
	}
	if code, out := do(t, "GET", "http://"+addr+"/v2/models/ctr/ready", nil); code != 200 {
		t.Errorf("/v2/models/ctr/ready: %d %s", code, out)
	}
	gline, err := bufioLine(pr)
	if err != nil || !strings.HasPrefix(gline, "grpc listening on ") {
		t.Fatalf("no grpc listening line: %q %v", gline, err)
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(gline, "grpc listening on "), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if r, err := inferencepb.NewGRPCInferenceServiceClient(conn).ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "ctr"}); err != nil || !r.Ready {
		t.Errorf("grpc ModelReady: %v %v", r, err)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	if !strings.Contains(stderr.String(), "model released") {
		t.Errorf("shutdown not logged:\n%s", stderr.String())
	}
}

func bufioLine(r io.Reader) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := r.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
}

func TestRunFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--model", "x", "--addr", "0.0.0.0:8080"},
		{"--model", "x", "--addr", ":8080"},
		{"--model", "x", "--addr", "nohostport"},
		{"--model", "x", "--grpc-addr", "0.0.0.0:8001"},
		{"--model", "x", "--grpc-addr", "nohostport"},
		{"--model", "x", "--model-name", "a/b"},
		{"--model", "a=x", "--model", "a=y"},
		{"--model", "x", "--max-batch", "0"},
		{"--model", "x", "--max-in-flight", "0"},
		{"--model", "x", "--max-queue", "-1"},
		{"--model", "x", "--reload-timeout", "0s"},
		{"--model", "x", "--max-body", "lots"},
		{"--model", "x", "--log-format", "xml"},
		{"--model", "x", "--admin-token-file", "/no/such/file"},
		{"--model", "/no/such/dir"},
		{"--model", "x", "--store", "floppy"},
		{"positional"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errb); err != nil || !strings.Contains(errb.String(), "--model") {
		t.Errorf("--help: %v, %q", err, errb.String())
	}
}

// TestAdminTokenFile: a token file others may read is refused unless
// --admin-token-file-insecure; the owner-only file is read.
func TestAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	open, private := filepath.Join(dir, "open"), filepath.Join(dir, "private")
	os.WriteFile(open, []byte("tok\n"), 0o644)
	os.WriteFile(private, []byte(" tok\n"), 0o600)
	os.Chmod(open, 0o644) // whatever the umask
	if _, err := adminToken(open, false); err == nil || !strings.Contains(err.Error(), "others may read") {
		t.Errorf("world-readable token file: %v, want refused", err)
	}
	if tok, err := adminToken(open, true); err != nil || tok != "tok" {
		t.Errorf("world-readable token file with the override: %q %v", tok, err)
	}
	if tok, err := adminToken(private, false); err != nil || tok != "tok" {
		t.Errorf("private token file: %q %v", tok, err)
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--model", "x", "--allow-remote", "--addr", "0.0.0.0:0", "--admin-insecure-loopback"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "need a token") {
		t.Errorf("--allow-remote with --admin-insecure-loopback: %v, want refused", err)
	}
}

// TestRedisStore serves from a local three-master Redis Cluster (skipped
// without redis-server, unless CI=true).
func TestRedisStore(t *testing.T) {
	f := testFixture(t)
	cfg := testConfig(f.dir)
	cfg.Store, cfg.RedisAddrs = "redis", redistest.StartCluster(t, 3)
	_, hs, _ := newTestServer(t, cfg)
	for i := range 3 {
		if _, got := scores(t, hs.URL, map[string]any{"features": f.instance(i)}); got[0] != f.predict(t, i, i+1)[0] {
			t.Errorf("row %d: redis score %v differs from the trainer's", i, got)
		}
	}
	code, out := do(t, "PUT", hs.URL+"/v1/admin/rows", map[string]any{"rows": []any{map[string]any{"set": 0, "row": 0, "values": []float32{1, 2, 3, 4}}}})
	if code != 200 {
		t.Errorf("row update: %d %s", code, out)
	}
}

// TestEmbedBinary: the binary reply carries the same vectors as the JSON
// one, bit for bit, pooled or not.
func TestEmbedBinary(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, testConfig(f.dir))
	c1, c3 := f.schema.Categorical[0], f.schema.Categorical[2]
	bodies := []map[string]any{
		{"instances": []any{f.instance(0), f.instance(1)}},
		{"features": f.instance(1), "fields": []string{c3, c1}, "pooling": "sum"},
		{"features": f.instance(2), "fields": []string{c1, c3}, "pooling": "mean"},
	}
	for bi, body := range bodies {
		code, js := do(t, "POST", hs.URL+"/v1/embed", body)
		if code != http.StatusOK {
			t.Fatalf("body %d json: %d %s", bi, code, js)
		}
		var r embedResponse
		json.Unmarshal(js, &r)
		var want []float32
		if r.Pooled != nil {
			for _, p := range r.Pooled {
				want = append(want, p...)
			}
		} else {
			for _, e := range r.Embeddings {
				for _, name := range r.Fields {
					want = append(want, e[name]...)
				}
			}
		}
		code, bin := do(t, "POST", hs.URL+"/v1/embed", body, "Accept", BinaryContentType)
		if code != http.StatusOK || len(bin) != 4*len(want) {
			t.Fatalf("body %d binary: %d, %d bytes, want %d", bi, code, len(bin), 4*len(want))
		}
		for i, w := range want {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(bin[4*i:])); got != w {
				t.Fatalf("body %d value %d: binary %v, json %v", bi, i, got, w)
			}
		}
	}
}

// TestReloadOnSignal replaces the served directory in place, as a deploy
// would, and checks that a SIGHUP (delivered on the channel serve
// registers with signal.Notify) swaps the new model in, and that a
// broken directory is rejected with the old model still serving.
func TestReloadOnSignal(t *testing.T) {
	f := testFixture(t)
	dir := filepath.Join(t.TempDir(), "m")
	copyDir(t, f.dir, dir)
	srv, hs, _ := newTestServer(t, testConfig(dir))
	first, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal)
	done := make(chan struct{})
	go func() { srv.reloadOnSignal(ctx, sig); close(done) }()
	serving := func() string {
		id, _ := scores(t, hs.URL, map[string]any{"features": f.instance(0)})
		return id
	}
	// The int8 artifact replaces the directory's contents.
	os.RemoveAll(dir)
	copyDir(t, f.int8, dir)
	sig <- syscall.SIGHUP
	sig <- syscall.SIGHUP // the first reload has finished once the loop takes the second
	if id := serving(); id == first {
		t.Fatalf("after SIGHUP still serving %s", id)
	}
	second := serving()
	rows := filepath.Join(dir, artifact.RowsFile(0))
	data, _ := os.ReadFile(rows)
	data[100] ^= 1
	os.WriteFile(rows, data, 0o644)
	sig <- syscall.SIGHUP
	sig <- syscall.SIGHUP
	if id := serving(); id != second {
		t.Errorf("after a SIGHUP on a corrupt directory serving %s, want %s", id, second)
	}
	cancel()
	<-done
}
