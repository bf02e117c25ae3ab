package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/embtab/embtab/oip/inferencepb"
)

// oipInputs returns rows [lo, hi) of the fixture as protocol input
// tensors (categorical BYTES, dense FP32; a missing dense value is 0, as
// the JSON API takes it).
func (f *fixture) oipInputs(lo, hi int) []map[string]any {
	n := hi - lo
	var ins []map[string]any
	for _, name := range f.schema.Categorical {
		data := make([]string, 0, n)
		for i := lo; i < hi; i++ {
			data = append(data, f.instance(i)[name].(string))
		}
		ins = append(ins, map[string]any{"name": name, "datatype": "BYTES", "shape": []int{n}, "data": data})
	}
	for _, name := range f.schema.Dense {
		data := make([]float32, 0, n)
		for i := lo; i < hi; i++ {
			v, _ := f.instance(i)[name].(float32)
			data = append(data, v)
		}
		ins = append(ins, map[string]any{"name": name, "datatype": "FP32", "shape": []int{n, 1}, "data": data})
	}
	return ins
}

// v1Scores and v1Embeddings are the JSON API's answers for rows [lo, hi).
func (f *fixture) v1Scores(t *testing.T, url string, lo, hi int) []float32 {
	var inst []map[string]any
	for i := lo; i < hi; i++ {
		inst = append(inst, f.instance(i))
	}
	_, s := scores(t, url, map[string]any{"instances": inst})
	return s
}

func (f *fixture) v1Embeddings(t *testing.T, url string, lo, hi int) []float32 {
	var inst []map[string]any
	for i := lo; i < hi; i++ {
		inst = append(inst, f.instance(i))
	}
	code, out := do(t, "POST", url+"/v1/embed", map[string]any{"instances": inst})
	if code != http.StatusOK {
		t.Fatalf("embed: %d %s", code, out)
	}
	var r embedResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	var flat []float32
	for _, e := range r.Embeddings {
		for _, name := range f.schema.Categorical {
			flat = append(flat, e[name]...)
		}
	}
	return flat
}

func oipConfig(dir string) *config {
	cfg := testConfig(dir)
	cfg.ModelName = "ctr"
	return cfg
}

// TestOIPHTTPInfer: /v2/models/ctr/infer answers what /v1/score and
// /v1/embed answer for the same instances, with the protocol's shapes.
func TestOIPHTTPInfer(t *testing.T) {
	f := testFixture(t)
	s, hs, _ := newTestServer(t, oipConfig(f.dir))
	const n = 5
	want, wantEmb := f.v1Scores(t, hs.URL, 0, n), f.v1Embeddings(t, hs.URL, 0, n)
	id := s.acquire()
	version := id.id()
	id.release()
	for _, tc := range []struct {
		path    string
		outputs []map[string]any
		names   []string
	}{
		{"/v2/models/ctr/infer", nil, []string{"score", "embedding"}},
		{"/v2/models/ctr/versions/" + version + "/infer", []map[string]any{{"name": "score"}}, []string{"score"}},
		{"/v2/models/ctr/infer", []map[string]any{{"name": "embedding"}}, []string{"embedding"}},
	} {
		body := map[string]any{"id": "req-1", "inputs": f.oipInputs(0, n)}
		if tc.outputs != nil {
			body["outputs"] = tc.outputs
		}
		code, out := do(t, "POST", hs.URL+tc.path, body)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.path, code, out)
		}
		var r oipHTTPResponse
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		if r.ModelName != "ctr" || r.ModelVersion != version || r.ID != "req-1" || len(r.Outputs) != len(tc.names) {
			t.Fatalf("%s: reply %+v", tc.path, r)
		}
		for k, o := range r.Outputs {
			if o.Name != tc.names[k] || o.Datatype != "FP32" {
				t.Errorf("output %d: %s %s", k, o.Name, o.Datatype)
			}
			switch o.Name {
			case "score":
				if !equalShape(o.Shape, n) || !closeAll(o.Data, want, 0) {
					t.Errorf("score %v %v, /v1/score %v", o.Shape, o.Data, want)
				}
			case "embedding":
				if !equalShape(o.Shape, n, int64(len(f.schema.Categorical)), int64(f.ck.Table.Dim())) || !closeAll(o.Data, wantEmb, 0) {
					t.Errorf("embedding shape %v, %d values; /v1/embed %d", o.Shape, len(o.Data), len(wantEmb))
				}
			}
		}
	}
	// nested data with shape [N, 1] is the same tensor
	ins := f.oipInputs(0, 2)
	for _, in := range ins {
		if in["datatype"] == "BYTES" {
			d := in["data"].([]string)
			in["data"] = [][]string{{d[0]}, {d[1]}}
			in["shape"] = []int{2, 1}
		}
	}
	code, out := do(t, "POST", hs.URL+"/v2/models/ctr/infer", map[string]any{"inputs": ins, "outputs": []map[string]any{{"name": "score"}}})
	var r oipHTTPResponse
	if code != http.StatusOK || json.Unmarshal(out, &r) != nil || !closeAll(r.Outputs[0].Data, want[:2], 1e-6) {
		t.Errorf("nested data: %d %s, want %v", code, out, want[:2])
	}
}

func equalShape(s []int64, dims ...int64) bool {
	if len(s) != len(dims) {
		return false
	}
	for i := range s {
		if s[i] != dims[i] {
			return false
		}
	}
	return true
}

func closeAll(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return true
}

// TestOIPHTTPMetadata covers the server and model metadata and the health
// endpoints.
func TestOIPHTTPMetadata(t *testing.T) {
	f := testFixture(t)
	s, hs, _ := newTestServer(t, oipConfig(f.dir))
	m := s.acquire()
	version := m.id()
	m.release()
	code, out := do(t, "GET", hs.URL+"/v2", nil)
	var sm oipServerMeta
	if code != 200 || json.Unmarshal(out, &sm) != nil || sm.Name != "embtab" || sm.Version == "" {
		t.Errorf("/v2: %d %s", code, out)
	}
	code, out = do(t, "GET", hs.URL+"/v2/models/ctr", nil)
	var mm oipModelMeta
	if code != 200 || json.Unmarshal(out, &mm) != nil {
		t.Fatalf("model metadata: %d %s", code, out)
	}
	if mm.Name != "ctr" || len(mm.Versions) != 1 || mm.Versions[0] != version || mm.Platform != oipPlatform ||
		len(mm.Inputs) != len(f.schema.Categorical)+len(f.schema.Dense) || len(mm.Outputs) != 2 ||
		mm.Inputs[0].Name != f.schema.Categorical[0] || mm.Inputs[0].Datatype != "BYTES" {
		t.Errorf("model metadata %+v", mm)
	}
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/v2/health/live", 200},
		{"/v2/health/ready", 200},
		{"/v2/models/ctr/ready", 200},
		{"/v2/models/ctr/versions/" + version + "/ready", 200},
		{"/v2/models/ctr/versions/other/ready", 400},
		{"/v2/models/other/ready", 400},
		{"/v2/models/other", 404},
		{"/v2/models/ctr/versions/other", 404},
	} {
		if code, out := do(t, "GET", hs.URL+tc.path, nil); code != tc.code {
			t.Errorf("GET %s: %d %s, want %d", tc.path, code, out, tc.code)
		}
	}
	s.ready.Store(false)
	if code, _ := do(t, "GET", hs.URL+"/v2/health/ready", nil); code != 400 {
		t.Errorf("ready while not ready: %d", code)
	}
}

// TestOIPHTTPErrors: bad requests get a 4xx naming what is wrong.
func TestOIPHTTPErrors(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, oipConfig(f.dir))
	cat, den := f.schema.Categorical[0], f.schema.Dense[0]
	in := func(name, dt string, shape []int, data any) map[string]any {
		return map[string]any{"name": name, "datatype": dt, "shape": shape, "data": data}
	}
	big := make([]string, 65)
	for i := range big {
		big[i] = "a"
	}
	for _, tc := range []struct {
		name string
		body any
		code int
		want string
	}{
		{"no inputs", map[string]any{"inputs": []any{}}, 400, "no inputs"},
		{"unknown model", nil, 404, "no model"},
		{"shape mismatch", map[string]any{"inputs": []any{in(cat, "BYTES", []int{3}, []string{"a", "b"})}}, 400, "holds 3 elements"},
		{"instances differ", map[string]any{"inputs": []any{in(cat, "BYTES", []int{1}, []string{"a"}), in(den, "FP32", []int{2}, []float32{1, 2})}}, 400, "instances"},
		{"rank 3", map[string]any{"inputs": []any{in(cat, "BYTES", []int{1, 1, 1}, []string{"a"})}}, 400, "shape"},
		{"unknown datatype", map[string]any{"inputs": []any{in(cat, "STRING", []int{1}, []string{"a"})}}, 400, "datatype"},
		{"string in FP32", map[string]any{"inputs": []any{in(den, "FP32", []int{1}, []string{"a"})}}, 400, "string element"},
		{"float categorical", map[string]any{"inputs": []any{in(cat, "FP32", []int{1}, []float32{1})}}, 400, "categorical"},
		{"unknown feature", map[string]any{"inputs": []any{in("nope", "BYTES", []int{1}, []string{"a"})}}, 400, "no such feature"},
		{"twice", map[string]any{"inputs": []any{in(cat, "BYTES", []int{1}, []string{"a"}), in(cat, "BYTES", []int{1}, []string{"a"})}}, 400, "twice"},
		{"over max batch", map[string]any{"inputs": []any{in(cat, "BYTES", []int{65}, big)}}, 413, "more than 64"},
		{"unknown output", map[string]any{"inputs": []any{in(cat, "BYTES", []int{1}, []string{"a"})}, "outputs": []any{map[string]any{"name": "logit"}}}, 400, "output"},
		{"binary size beyond the body", map[string]any{"inputs": []any{map[string]any{"name": cat, "datatype": "BYTES", "shape": []int{1}, "parameters": map[string]any{"binary_data_size": 5}}}}, 400, "binary"},
		{"binary_data not a bool", map[string]any{"inputs": []any{in(cat, "BYTES", []int{1}, []string{"a"})}, "outputs": []any{map[string]any{"name": "score", "parameters": map[string]any{"binary_data": "yes"}}}}, 400, "true or false"},
		{"null element", map[string]any{"inputs": []any{in(den, "FP32", []int{1}, []any{nil})}}, 400, "null"},
		{"object element", map[string]any{"inputs": []any{in(den, "FP32", []int{1}, []any{map[string]any{}})}}, 400, "object"},
		{"scalar data", map[string]any{"inputs": []any{in(den, "FP32", []int{1}, 1)}}, 400, "array"},
		{"unknown key", `{"inputs": [], "extra": 1}`, 400, "extra"},
		{"not JSON", `{"inputs": [`, 400, "JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v2/models/ctr/infer"
			body := tc.body
			if body == nil {
				path, body = "/v2/models/other/infer", map[string]any{"inputs": []any{in(cat, "BYTES", []int{1}, []string{"a"})}}
			}
			code, out := do(t, "POST", hs.URL+path, body)
			if code != tc.code || !strings.Contains(string(out), tc.want) {
				t.Errorf("%d %s, want %d with %q", code, out, tc.code, tc.want)
			}
		})
	}
}

// grpcTestClient serves s's gRPC service on a loopback port and returns a
// client of the generated stubs.
func grpcTestClient(t *testing.T, s *server) inferencepb.GRPCInferenceServiceClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := s.newGRPCServer()
	go gs.Serve(ln)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
	})
	return inferencepb.NewGRPCInferenceServiceClient(conn)
}

// rawBytes is the protocol's raw encoding of BYTES elements.
func rawBytes(vals []string) []byte {
	var b []byte
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

// TestOIPGRPC speaks the generated client of the published service to the
// server: health, metadata, and inference with typed contents and with raw
// contents (what Triton's clients send) give /v1/score's scores.
func TestOIPGRPC(t *testing.T) {
	f := testFixture(t)
	s, hs, reg := newTestServer(t, oipConfig(f.dir))
	c := grpcTestClient(t, s)
	ctx := context.Background()
	const n = 4
	want, wantEmb := f.v1Scores(t, hs.URL, 0, n), f.v1Embeddings(t, hs.URL, 0, n)

	if r, err := c.ServerLive(ctx, &inferencepb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Errorf("ServerLive: %v %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &inferencepb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Errorf("ServerReady: %v %v", r, err)
	}
	if r, err := c.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "ctr"}); err != nil || !r.Ready {
		t.Errorf("ModelReady: %v %v", r, err)
	}
	if _, err := c.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "other"}); status.Code(err) != codes.NotFound {
		t.Errorf("ModelReady(other): %v", err)
	}
	if r, err := c.ServerMetadata(ctx, &inferencepb.ServerMetadataRequest{}); err != nil || r.Name != "embtab" {
		t.Errorf("ServerMetadata: %v %v", r, err)
	}
	md, err := c.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "ctr"})
	if err != nil || md.Platform != oipPlatform || len(md.Inputs) != len(f.schema.Categorical)+len(f.schema.Dense) || len(md.Outputs) != 2 {
		t.Fatalf("ModelMetadata: %v %v", md, err)
	}

	// typed contents
	req := &inferencepb.ModelInferRequest{ModelName: "ctr", Id: "g1"}
	rawReq := &inferencepb.ModelInferRequest{ModelName: "ctr", ModelVersion: md.Versions[0]}
	for _, in := range f.oipInputs(0, n) {
		name := in["name"].(string)
		if in["datatype"] == "BYTES" {
			vals := in["data"].([]string)
			var bs [][]byte
			for _, v := range vals {
				bs = append(bs, []byte(v))
			}
			req.Inputs = append(req.Inputs, &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "BYTES", Shape: []int64{n},
				Contents: &inferencepb.InferTensorContents{BytesContents: bs}})
			rawReq.Inputs = append(rawReq.Inputs, &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "BYTES", Shape: []int64{n, 1}})
			rawReq.RawInputContents = append(rawReq.RawInputContents, rawBytes(vals))
			continue
		}
		vals := in["data"].([]float32)
		req.Inputs = append(req.Inputs, &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "FP32", Shape: []int64{n},
			Contents: &inferencepb.InferTensorContents{Fp32Contents: vals}})
		// raw as FP64, to cover a width conversion
		var b []byte
		for _, v := range vals {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(v)))
		}
		rawReq.Inputs = append(rawReq.Inputs, &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "FP64", Shape: []int64{n}})
		rawReq.RawInputContents = append(rawReq.RawInputContents, b)
	}
	r, err := c.ModelInfer(ctx, req)
	if err != nil {
		t.Fatalf("ModelInfer: %v", err)
	}
	if r.Id != "g1" || r.ModelVersion != md.Versions[0] || len(r.Outputs) != 2 || len(r.RawOutputContents) != 0 {
		t.Fatalf("ModelInfer reply %v", r)
	}
	if got := r.Outputs[0].GetContents().GetFp32Contents(); !closeAll(got, want, 0) {
		t.Errorf("typed: score %v, /v1/score %v", got, want)
	}
	if got := r.Outputs[1].GetContents().GetFp32Contents(); !closeAll(got, wantEmb, 0) {
		t.Errorf("typed: embedding differs from /v1/embed")
	}

	rawReq.Outputs = []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{{Name: "score"}}
	r, err = c.ModelInfer(ctx, rawReq)
	if err != nil {
		t.Fatalf("ModelInfer raw: %v", err)
	}
	if len(r.Outputs) != 1 || len(r.RawOutputContents) != 1 || len(r.RawOutputContents[0]) != 4*n {
		t.Fatalf("raw reply %v", r)
	}
	got := make([]float32, n)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(r.RawOutputContents[0][4*i:]))
	}
	if !closeAll(got, want, 1e-6) {
		t.Errorf("raw: score %v, /v1/score %v", got, want)
	}

	cat := f.schema.Categorical[0]
	for _, tc := range []struct {
		name string
		req  *inferencepb.ModelInferRequest
		code codes.Code
	}{
		{"unknown model", &inferencepb.ModelInferRequest{ModelName: "other", Inputs: req.Inputs}, codes.NotFound},
		{"unknown version", &inferencepb.ModelInferRequest{ModelName: "ctr", ModelVersion: "v0", Inputs: req.Inputs}, codes.NotFound},
		{"no contents", &inferencepb.ModelInferRequest{ModelName: "ctr", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: cat, Datatype: "BYTES", Shape: []int64{1}}}}, codes.InvalidArgument},
		{"raw count", &inferencepb.ModelInferRequest{ModelName: "ctr", Inputs: rawReq.Inputs, RawInputContents: rawReq.RawInputContents[:1]}, codes.InvalidArgument},
		{"raw truncated", &inferencepb.ModelInferRequest{ModelName: "ctr", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: cat, Datatype: "BYTES", Shape: []int64{1}}},
			RawInputContents: [][]byte{{9, 0, 0, 0, 'a'}}}, codes.InvalidArgument},
		{"too many", &inferencepb.ModelInferRequest{ModelName: "ctr", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{Name: cat, Datatype: "INT64", Shape: []int64{65},
			Contents: &inferencepb.InferTensorContents{Int64Contents: make([]int64, 65)}}}}, codes.ResourceExhausted},
	} {
		if _, err := c.ModelInfer(ctx, tc.req); status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
	mf, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, fam := range mf {
		if fam.GetName() == "embtab_grpc_requests_total" {
			found = len(fam.GetMetric()) > 0
		}
	}
	if !found {
		t.Error("no embtab_grpc_requests_total samples")
	}
}

// FuzzOIPHTTPDecode: any body gives tensors or a request error, never a
// panic, and never more elements than the limit.
func FuzzOIPHTTPDecode(f *testing.F) {
	f.Add(`{"inputs":[{"name":"C1","datatype":"BYTES","shape":[2],"data":["a","b"]}]}`, []byte(nil))
	f.Add(`{"inputs":[{"name":"I1","datatype":"FP32","shape":[2,1],"data":[[1],[2.5]]}],"outputs":[{"name":"score"}]}`, []byte(nil))
	f.Add(`{"inputs":[{"name":"b","datatype":"BOOL","shape":[1],"data":[true]}],"id":"x"}`, []byte(nil))
	f.Add(`{"inputs":[{"name":"x","datatype":"INT64","shape":[1],"data":[[[[[[[[[1]]]]]]]]]}]}`, []byte(nil))
	f.Add(`{"inputs":[{"name":"C1","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":5}}],"parameters":{"binary_data_output":true}}`, []byte{1, 0, 0, 0, 'a'})
	f.Fuzz(func(t *testing.T, body string, bin []byte) {
		_, ts, _, _, err := decodeOIPHTTP(strings.NewReader(body), bin, 16)
		if err != nil {
			_ = jsonError(err).(*requestError) // what the handler sends: a status and a message
			return
		}
		for _, tn := range ts {
			if tn.n > 16 {
				t.Fatalf("%d elements over the limit", tn.n)
			}
			for i := range tn.n {
				tn.str(i)
				tn.num(i)
			}
		}
	})
}

// FuzzOIPRaw: any raw contents decode to at most the limit's elements or
// fail with a request error, never a panic.
func FuzzOIPRaw(f *testing.F) {
	f.Add("BYTES", []byte{1, 0, 0, 0, 'a', 2, 0, 0, 0, 'b', 'c'})
	f.Add("FP16", []byte{0, 0x3c})
	f.Add("INT8", []byte{0xff})
	f.Add("UINT64", make([]byte, 16))
	f.Fuzz(func(t *testing.T, dt string, b []byte) {
		if !oipDatatypes[dt] {
			return
		}
		tn := oipTensor{Name: "x", Datatype: dt}
		if err := rawTensor(&tn, b, 8); err != nil {
			if _, ok := err.(*requestError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if tn.n > 8 {
			t.Fatalf("%d elements over the limit", tn.n)
		}
		for i := range tn.n {
			tn.str(i)
			tn.num(i)
		}
	})
}

// TestOIPHTTPBinary speaks Triton's binary tensor data extension (what
// tritonclient.http sends by default): inputs as raw bytes after the JSON
// header, outputs back the same way.
func TestOIPHTTPBinary(t *testing.T) {
	f := testFixture(t)
	_, hs, _ := newTestServer(t, oipConfig(f.dir))
	const n = 3
	want := f.v1Scores(t, hs.URL, 0, n)
	var ins []map[string]any
	var bin []byte
	for _, in := range f.oipInputs(0, n) {
		var raw []byte
		if in["datatype"] == "BYTES" {
			raw = rawBytes(in["data"].([]string))
		} else {
			for _, v := range in["data"].([]float32) {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
			}
		}
		ins = append(ins, map[string]any{"name": in["name"], "datatype": in["datatype"], "shape": []int{n},
			"parameters": map[string]any{"binary_data_size": len(raw)}})
		bin = append(bin, raw...)
	}
	js, _ := json.Marshal(map[string]any{"inputs": ins, "outputs": []any{
		map[string]any{"name": "score", "parameters": map[string]any{"binary_data": true}}, map[string]any{"name": "embedding"}}})
	req, _ := http.NewRequest("POST", hs.URL+"/v2/models/ctr/infer", bytes.NewReader(append(js, bin...)))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(js)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	hl, err := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	if err != nil || hl > len(body) {
		t.Fatalf("header length %q of %d bytes", resp.Header.Get("Inference-Header-Content-Length"), len(body))
	}
	var r oipHTTPResponse
	if err := json.Unmarshal(body[:hl], &r); err != nil {
		t.Fatal(err)
	}
	tail := body[hl:]
	if len(r.Outputs) != 2 || r.Outputs[0].Parameters["binary_data_size"] != 4*n || len(tail) != 4*n || r.Outputs[1].Data == nil {
		t.Fatalf("reply %+v with %d binary bytes", r, len(tail))
	}
	got := make([]float32, n)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(tail[4*i:]))
	}
	if !closeAll(got, want, 1e-6) {
		t.Errorf("binary scores %v, /v1/score %v", got, want)
	}
	// leftover bytes are an error
	req, _ = http.NewRequest("POST", hs.URL+"/v2/models/ctr/infer", bytes.NewReader(append(append(js, bin...), 0)))
	req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(len(js)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("trailing byte: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
}
