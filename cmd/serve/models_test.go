package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func twoModelConfig(f *fixture) *config {
	cfg := testConfig(f.dir)
	cfg.Models = []modelSpec{{Name: "a", Dir: f.dir}, {Name: "b", Dir: f.int8}}
	return cfg
}

func scoreOf(t *testing.T, url, model string, body any) (int, scoreResponse) {
	t.Helper()
	path := url + "/v1/score"
	if model != "" {
		path += "?model=" + model
	}
	code, out := do(t, "POST", path, body)
	var r scoreResponse
	if code == http.StatusOK {
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
	}
	return code, r
}

// TestManyModels serves two models: each request reaches the one it
// names (the first without a name), the list shows both, and the Open
// Inference Protocol reaches each by its name.
func TestManyModels(t *testing.T) {
	f := testFixture(t)
	s, hs, reg := newTestServer(t, twoModelConfig(f))
	body := map[string]any{"features": f.instance(0)}
	ma, mb := s.acquire(), func() *model { m, _ := s.acquireNamed("b"); return m }()
	idA, idB := ma.id(), mb.id()
	ma.release()
	mb.release()
	if idA == idB {
		t.Fatal("the fp32 and int8 artifacts have one id")
	}
	for _, tc := range []struct{ model, id string }{{"", idA}, {"a", idA}, {"b", idB}} {
		code, r := scoreOf(t, hs.URL, tc.model, body)
		if code != http.StatusOK || r.Model != tc.id {
			t.Errorf("?model=%s: %d, served %q, want %q", tc.model, code, r.Model, tc.id)
		}
	}
	if code, _ := scoreOf(t, hs.URL, "c", body); code != http.StatusNotFound {
		t.Errorf("?model=c: %d, want 404", code)
	}
	code, out := do(t, "GET", hs.URL+"/v1/models", nil)
	var list struct{ Models []modelSummary }
	if code != 200 || json.Unmarshal(out, &list) != nil || len(list.Models) != 2 ||
		list.Models[0].Name != "a" || !list.Models[0].Default || list.Models[1].Name != "b" || list.Models[1].Codec != "int8" {
		t.Errorf("/v1/models: %d %s", code, out)
	}
	for _, name := range []string{"a", "b"} {
		code, out := do(t, "POST", hs.URL+"/v2/models/"+name+"/infer", map[string]any{"inputs": f.oipInputs(0, 2), "outputs": []any{map[string]any{"name": "score"}}})
		if code != 200 {
			t.Errorf("/v2/models/%s/infer: %d %s", name, code, out)
		}
	}
	code, out = do(t, "GET", hs.URL+"/metrics", nil)
	for _, want := range []string{`embtab_model_info{codec="int8",id="` + idB + `",method="hashed",name="b"`,
		`embtab_model_request_duration_seconds_count{handler="score",model="b"}`} {
		if code != 200 || !strings.Contains(string(out), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	_ = reg
}

// TestAddRemoveModel: the admin API adds a model at run time, refuses a
// name already served, and removes one; a reload names its model.
func TestAddRemoveModel(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, twoModelConfig(f))
	body := map[string]any{"features": f.instance(0)}
	if code, out := do(t, "PUT", hs.URL+"/v1/admin/models/c", map[string]string{"model": f.dir}); code != 200 {
		t.Fatalf("add c: %d %s", code, out)
	}
	if code, _ := scoreOf(t, hs.URL, "c", body); code != 200 {
		t.Errorf("score c after adding: %d", code)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		code         int
	}{
		{"PUT", "/v1/admin/models/c", map[string]string{"model": f.dir}, http.StatusConflict},
		{"PUT", "/v1/admin/models/d", map[string]string{"model": t.TempDir()}, http.StatusUnprocessableEntity},
		{"PUT", "/v1/admin/models/d", map[string]string{}, http.StatusBadRequest},
		{"PUT", "/v1/admin/models/d=e", map[string]string{"model": f.dir}, http.StatusBadRequest},
		{"DELETE", "/v1/admin/models/zz", nil, http.StatusNotFound},
		{"POST", "/v1/admin/reload", map[string]string{"name": "zz"}, http.StatusNotFound},
		{"POST", "/v1/admin/reload", map[string]string{"name": "b", "model": f.dir}, http.StatusOK},
		{"DELETE", "/v1/admin/models/c", nil, http.StatusOK},
	} {
		if code, out := do(t, tc.method, hs.URL+tc.path, tc.body); code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, code, out, tc.code)
		}
	}
	if code, _ := scoreOf(t, hs.URL, "c", body); code != http.StatusNotFound {
		t.Errorf("score c after removing: %d, want 404", code)
	}
	// b was reloaded with the fp32 artifact: it now scores as a does
	_, ra := scoreOf(t, hs.URL, "a", body)
	_, rb := scoreOf(t, hs.URL, "b", body)
	if ra.Model != rb.Model || ra.Scores[0] != rb.Scores[0] {
		t.Errorf("after reloading b with a's artifact: a %v, b %v", ra, rb)
	}
}

// TestReloadOneOfTwoUnderLoad reloads one model again and again while
// both take requests: no request fails, and the other model's answers
// never change.
func TestReloadOneOfTwoUnderLoad(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, twoModelConfig(f))
	body := map[string]any{"instances": []any{f.instance(1), f.instance(2)}}
	_, wantA := scoreOf(t, hs.URL, "a", body)
	var wg sync.WaitGroup
	var served atomic.Int64
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for w := range 4 {
		name := []string{"a", "b"}[w%2]
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, r := scoreOf(t, hs.URL, name, body)
				if code != 200 {
					errs <- fmt.Errorf("model %s during reloads: %d", name, code)
					return
				}
				if name == "a" && (r.Model != wantA.Model || r.Scores[0] != wantA.Scores[0]) {
					errs <- fmt.Errorf("model a changed during b's reloads: %v", r)
					return
				}
				served.Add(1)
			}
		})
	}
	for i := range 6 {
		target := []string{f.dir, f.int8}[i%2]
		if code, out := do(t, "POST", hs.URL+"/v1/admin/reload", map[string]string{"name": "b", "model": target}); code != 200 {
			t.Errorf("reload b: %d %s", code, out)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d requests served during 6 reloads", served.Load())
}

func TestParseModelSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want modelSpec
	}{
		{"runs/a", modelSpec{"a", "runs/a"}},
		{"runs/a/model", modelSpec{"a", "runs/a/model"}},
		{"ctr=runs/a", modelSpec{"ctr", "runs/a"}},
		{"runs/x=y/model", modelSpec{"x=y", "runs/x=y/model"}}, // '=' in a path, not a name
		{"=runs/a", modelSpec{"a", "=runs/a"}},
	} {
		if got := parseModelSpec(tc.in); got != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}
