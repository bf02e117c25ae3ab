package main

// The Open Inference Protocol (KServe predict API v2, also Triton's) over
// HTTP/JSON: the transport-neutral part (tensors to a batch, the model's
// outputs, its metadata) that the gRPC service (oip_grpc.go) shares.
//
// A scoring model's inputs are its features, one tensor per feature named
// as in the schema, of shape [N] or [N, 1]: categorical features as BYTES
// (or integers, taken as their decimal text, as the JSON API takes a
// number), dense features as any numeric type. A feature without a tensor
// is missing in every instance. Its outputs are "score" (FP32 [N], the
// click probability) and "embedding" (FP32 [N, fields, dim], every
// categorical field's vector); a request that names no outputs gets both,
// as the protocol says. The model's version is its artifact id.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

const (
	oipPlatform  = "embtab"
	oipScore     = "score"
	oipEmbedding = "embedding"
	// oipMaxDepth bounds the nesting of a JSON tensor's data.
	oipMaxDepth = 8
)

// oipDatatypes are the protocol's tensor element types.
var oipDatatypes = map[string]bool{
	"BOOL": true, "UINT8": true, "UINT16": true, "UINT32": true, "UINT64": true,
	"INT8": true, "INT16": true, "INT32": true, "INT64": true,
	"FP16": true, "FP32": true, "FP64": true, "BYTES": true,
}

// oipTensor is one decoded input tensor: its elements read through str
// (the element as a categorical value: BYTES as they are, numbers as
// their text) and num (as a dense value).
type oipTensor struct {
	Name     string
	Datatype string
	Shape    []int64
	n        int
	str      func(i int) string
	num      func(i int) (float64, error)
}

// oipOutput is one computed output tensor.
type oipOutput struct {
	Name  string
	Shape []int64
	Data  []float32
}

// oipTensorMeta describes an input or output in the model metadata.
type oipTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// oipModelMeta is the model metadata reply.
type oipModelMeta struct {
	Name     string          `json:"name"`
	Versions []string        `json:"versions"`
	Platform string          `json:"platform"`
	Inputs   []oipTensorMeta `json:"inputs"`
	Outputs  []oipTensorMeta `json:"outputs"`
}

// shapeElems checks a tensor's shape against its element count and the
// request limit, returning the instance count N of a [N] or [N, 1] shape.
func shapeElems(t *oipTensor, maxBatch int) (int, error) {
	if !oipDatatypes[t.Datatype] {
		return 0, badRequest("input %q: unknown datatype %q", t.Name, t.Datatype)
	}
	if len(t.Shape) == 0 || len(t.Shape) > 2 || (len(t.Shape) == 2 && t.Shape[1] != 1) {
		return 0, badRequest("input %q: shape %v: a feature is a tensor of shape [N] or [N, 1]", t.Name, t.Shape)
	}
	n := t.Shape[0]
	if n < 1 {
		return 0, badRequest("input %q: shape %v: want at least one instance", t.Name, t.Shape)
	}
	if n > int64(maxBatch) {
		return 0, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("input %q: %d instances, more than --max-batch %d", t.Name, n, maxBatch)}
	}
	if int64(t.n) != n {
		return 0, badRequest("input %q: shape %v holds %d elements, the data has %d", t.Name, t.Shape, n, t.n)
	}
	return int(n), nil
}

// oipBatch lays the input tensors out as a batch of the model's features.
func (m *model) oipBatch(inputs []oipTensor, lim limits) (*batch, error) {
	if len(inputs) == 0 {
		return nil, badRequest("no inputs: send one tensor per feature (%s)", m.schema.names())
	}
	if len(inputs) > lim.MaxFields {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("%d inputs, more than --max-fields %d", len(inputs), lim.MaxFields)}
	}
	n := 0
	for i := range inputs {
		shape := shapeElems
		if _, bag := m.schema.bagAt[inputs[i].Name]; bag {
			shape = func(t *oipTensor, maxBatch int) (int, error) { return bagShape(t, maxBatch, lim.MaxBagValues) }
		}
		k, err := shape(&inputs[i], lim.MaxBatch)
		if err != nil {
			return nil, err
		}
		if n != 0 && k != n {
			return nil, badRequest("input %q has %d instances, input %q has %d: every feature needs one value per instance", inputs[i].Name, k, inputs[0].Name, n)
		}
		n = k
	}
	b := &batch{N: n, Cat: make([]string, n*m.nf), Dense: make([]float32, n*m.nd)}
	seen := make(map[string]bool, len(inputs))
	for _, t := range inputs {
		if seen[t.Name] {
			return nil, badRequest("input %q given twice", t.Name)
		}
		seen[t.Name] = true
		if f, ok := m.schema.catAt[t.Name]; ok {
			if t.Datatype == "BOOL" || t.Datatype == "FP16" || t.Datatype == "FP32" || t.Datatype == "FP64" {
				return nil, badRequest("input %q: a categorical feature is BYTES or an integer type, not %s", t.Name, t.Datatype)
			}
			for i := range n {
				b.Cat[i*m.nf+f] = t.str(i)
			}
			continue
		}
		if k, ok := m.schema.bagAt[t.Name]; ok {
			if t.Datatype != "BYTES" && !strings.HasPrefix(t.Datatype, "INT") && !strings.HasPrefix(t.Datatype, "UINT") {
				return nil, badRequest("input %q: a bag is BYTES or an integer type, not %s", t.Name, t.Datatype)
			}
			nb := len(m.schema.bags)
			if b.Bags == nil {
				b.Bags = make([][]string, n*nb)
			}
			l := int(t.Shape[1])
			for i := range n {
				for j := range l {
					if v := t.str(i*l + j); v != "" {
						b.Bags[i*nb+k] = append(b.Bags[i*nb+k], v)
					}
				}
			}
			continue
		}
		if j, ok := m.schema.denAt[t.Name]; ok {
			for i := range n {
				v, err := t.num(i)
				if err != nil {
					return nil, badRequest("input %q element %d: %v", t.Name, i, err)
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, badRequest("input %q element %d: %v is not a finite number", t.Name, i, v)
				}
				b.Dense[i*m.nd+j] = float32(v)
			}
			continue
		}
		if !lim.IgnoreUnknown {
			return nil, badRequest("input %q: the model has no such feature (features: %s)", t.Name, m.schema.names())
		}
	}
	return b, nil
}

// maxTensorElems bounds the elements of one input tensor: --max-batch
// instances, a bag's tensor --max-bag-values each (the per-kind limits
// are shapeElems' and bagShape's).
func (s *server) maxTensorElems() int { return s.cfg.MaxBatch * max(1, s.cfg.MaxBagValues) }

// bagShape checks a bag input's shape [N, L] (L values per instance,
// "" padding) against its element count and the limits, returning N.
func bagShape(t *oipTensor, maxBatch, maxValues int) (int, error) {
	if !oipDatatypes[t.Datatype] {
		return 0, badRequest("input %q: unknown datatype %q", t.Name, t.Datatype)
	}
	if len(t.Shape) != 2 || t.Shape[0] < 1 || t.Shape[1] < 0 {
		return 0, badRequest("input %q: shape %v: a bag is a tensor of shape [N, L] (L values per instance, empty strings padding)", t.Name, t.Shape)
	}
	n, l := t.Shape[0], t.Shape[1]
	if n > int64(maxBatch) {
		return 0, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("input %q: %d instances, more than --max-batch %d", t.Name, n, maxBatch)}
	}
	if l > int64(maxValues) {
		return 0, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("input %q: %d values per instance, more than --max-bag-values %d", t.Name, l, maxValues)}
	}
	if int64(t.n) != n*l {
		return 0, badRequest("input %q: shape %v holds %d elements, the data has %d", t.Name, t.Shape, n*l, t.n)
	}
	return int(n), nil
}

// oipInfer runs one inference on the model called name (version "" or
// the served artifact id) and returns the served version and the outputs
// asked for (all when outputs is empty).
func (s *server) oipInfer(ctx context.Context, name, version string, inputs []oipTensor, outputs []string) (string, []oipOutput, error) {
	m, err := s.oipModel(name, version)
	if err != nil {
		return "", nil, err
	}
	defer m.release()
	defer s.observeModel(m.name, "infer", time.Now())
	if m.net == nil {
		return "", nil, badRequest("model %q is a two-tower retrieval model: it has no scores to infer (use POST /v1/retrieve)", name)
	}
	if len(outputs) == 0 {
		outputs = []string{oipScore, oipEmbedding}
	}
	for k, o := range outputs {
		if o != oipScore && o != oipEmbedding {
			return "", nil, badRequest("output %q: the model's outputs are %q and %q", o, oipScore, oipEmbedding)
		}
		for _, p := range outputs[:k] {
			if p == o {
				return "", nil, badRequest("output %q asked for twice", o)
			}
		}
	}
	b, err := m.oipBatch(inputs, s.limits())
	if err != nil {
		return "", nil, err
	}
	s.met.instances.WithLabelValues("infer").Observe(float64(b.N))
	res := make([]oipOutput, 0, len(outputs))
	for _, o := range outputs {
		var out oipOutput
		switch o {
		case oipScore:
			p, err := m.score(ctx, b)
			if err != nil {
				return "", nil, err
			}
			out = oipOutput{Name: o, Shape: []int64{int64(b.N)}, Data: p}
		case oipEmbedding:
			q := &embedQuery{batch: *b, Pooling: poolNone, Fields: make([]int, m.nf)}
			for f := range q.Fields {
				q.Fields[f] = f
			}
			v, err := m.embed(ctx, q)
			if err != nil {
				return "", nil, err
			}
			out = oipOutput{Name: o, Shape: []int64{int64(b.N), int64(m.nf), int64(m.dim)}, Data: v}
		}
		if !finite(out.Data) {
			return "", nil, errNonFinite
		}
		res = append(res, out)
	}
	return m.id(), res, nil
}

// oipModel returns the served model with a reference held if it is the
// one named (and versioned, unless version is ""), else a 404.
func (s *server) oipModel(name, version string) (*model, error) {
	if name == "" {
		return nil, badRequest("no model name")
	}
	m, err := s.acquireNamed(name)
	if err != nil {
		return nil, err
	}
	if version != "" && version != m.id() {
		id := m.id()
		m.release()
		return nil, &requestError{status: http.StatusNotFound, msg: fmt.Sprintf("model %q has no version %q (serving %q)", name, version, id)}
	}
	return m, nil
}

// oipMetadata describes the model called name.
func (s *server) oipMetadata(name, version string) (*oipModelMeta, error) {
	m, err := s.oipModel(name, version)
	if err != nil {
		return nil, err
	}
	defer m.release()
	meta := &oipModelMeta{Name: name, Versions: []string{m.id()}, Platform: oipPlatform}
	for _, f := range m.schema.cat {
		meta.Inputs = append(meta.Inputs, oipTensorMeta{Name: f, Datatype: "BYTES", Shape: []int64{-1}})
	}
	for _, f := range m.schema.dense {
		meta.Inputs = append(meta.Inputs, oipTensorMeta{Name: f, Datatype: "FP32", Shape: []int64{-1}})
	}
	for _, f := range m.schema.bags {
		meta.Inputs = append(meta.Inputs, oipTensorMeta{Name: f, Datatype: "BYTES", Shape: []int64{-1, -1}})
	}
	if m.net != nil {
		meta.Outputs = []oipTensorMeta{
			{Name: oipScore, Datatype: "FP32", Shape: []int64{-1}},
			{Name: oipEmbedding, Datatype: "FP32", Shape: []int64{-1, int64(m.nf), int64(m.dim)}},
		}
	}
	return meta, nil
}

// oipServerMeta is the server metadata reply.
type oipServerMeta struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

func serverMetadata() oipServerMeta {
	return oipServerMeta{Name: "embtab", Version: buildVersion(), Extensions: []string{}}
}

// The HTTP/JSON binding.

// oipHTTPRequest is the body of POST /v2/models/{name}/infer.
type oipHTTPRequest struct {
	ID         string                     `json:"id,omitempty"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Inputs     []oipHTTPInput             `json:"inputs"`
	Outputs    []struct {
		Name       string                     `json:"name"`
		Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	} `json:"outputs,omitempty"`
}

type oipHTTPInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Data       json.RawMessage            `json:"data"`
}

type oipHTTPOutput struct {
	Name       string         `json:"name"`
	Datatype   string         `json:"datatype"`
	Shape      []int64        `json:"shape"`
	Parameters map[string]int `json:"parameters,omitempty"`
	Data       []float32      `json:"data,omitempty"`
}

type oipHTTPResponse struct {
	ModelName    string          `json:"model_name"`
	ModelVersion string          `json:"model_version"`
	ID           string          `json:"id,omitempty"`
	Outputs      []oipHTTPOutput `json:"outputs"`
}

// decodeOIPHTTP reads an infer request: its JSON, and bin, the binary
// tensor data after it (Triton's binary data extension: an input whose
// parameters give binary_data_size takes that many bytes of bin, in input
// order, in the raw layout of the gRPC binding). It returns the input
// tensors, the requested output names and which of them go back binary.
func decodeOIPHTTP(r io.Reader, bin []byte, maxElems int) (*oipHTTPRequest, []oipTensor, []string, []bool, error) {
	var req oipHTTPRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, nil, nil, nil, err
	}
	allBinary, err := boolParam(req.Parameters, "binary_data_output")
	if err != nil {
		return nil, nil, nil, nil, badRequest("parameters: %v", err)
	}
	ts := make([]oipTensor, len(req.Inputs))
	for k, in := range req.Inputs {
		if in.Name == "" {
			return nil, nil, nil, nil, badRequest("input %d has no name", k)
		}
		if !oipDatatypes[in.Datatype] {
			return nil, nil, nil, nil, badRequest("input %q: unknown datatype %q", in.Name, in.Datatype)
		}
		if raw, ok := in.Parameters["binary_data_size"]; ok {
			var size int64
			if err := json.Unmarshal(raw, &size); err != nil || size < 0 || size > int64(len(bin)) {
				return nil, nil, nil, nil, badRequest("input %q: binary_data_size %s: want a byte count within the %d binary bytes left", in.Name, raw, len(bin))
			}
			if len(in.Data) != 0 {
				return nil, nil, nil, nil, badRequest("input %q has data and binary_data_size: send one", in.Name)
			}
			t := oipTensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape}
			if err := rawTensor(&t, bin[:size], maxElems); err != nil {
				return nil, nil, nil, nil, err
			}
			bin = bin[size:]
			ts[k] = t
			continue
		}
		elems, err := flattenJSONData(in.Data, in.Datatype, maxElems)
		if err != nil {
			var re *requestError
			if errors.As(err, &re) {
				return nil, nil, nil, nil, &requestError{status: re.status, msg: fmt.Sprintf("input %q: data: %s", in.Name, re.msg)}
			}
			return nil, nil, nil, nil, badRequest("input %q: data: %v", in.Name, err)
		}
		ts[k] = oipTensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape, n: len(elems),
			str: func(i int) string { return elems[i] },
			num: func(i int) (float64, error) {
				if in.Datatype == "BOOL" {
					if elems[i] == "true" {
						return 1, nil
					}
					return 0, nil
				}
				return strconv.ParseFloat(elems[i], 64)
			}}
	}
	if len(bin) != 0 {
		return nil, nil, nil, nil, badRequest("%d bytes of binary data after the inputs' binary_data_size", len(bin))
	}
	var outs []string
	var binary []bool
	for _, o := range req.Outputs {
		b, err := boolParam(o.Parameters, "binary_data")
		if err != nil {
			return nil, nil, nil, nil, badRequest("output %q: %v", o.Name, err)
		}
		outs = append(outs, o.Name)
		binary = append(binary, b || allBinary)
	}
	if len(req.Outputs) == 0 && allBinary {
		binary = []bool{true, true} // every output (oipInfer's default order)
	}
	return &req, ts, outs, binary, nil
}

// boolParam reads an optional boolean parameter.
func boolParam(ps map[string]json.RawMessage, key string) (bool, error) {
	raw, ok := ps[key]
	if !ok {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, fmt.Errorf("%s: want true or false", key)
	}
	return b, nil
}

// flattenJSONData reads a tensor's data (a flat or nested JSON array in
// row-major order) into its elements' text: strings for BYTES, numbers'
// JSON text for the numeric types, "true"/"false" for BOOL. More than
// maxElems elements is an error.
func flattenJSONData(data json.RawMessage, datatype string, maxElems int) ([]string, error) {
	if len(data) == 0 {
		return nil, errors.New("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '[':
				if depth++; depth > oipMaxDepth {
					return nil, fmt.Errorf("nested deeper than %d", oipMaxDepth)
				}
			case ']':
				depth--
			default:
				return nil, errors.New("an object where a tensor element belongs")
			}
			continue
		case string:
			if datatype != "BYTES" {
				return nil, fmt.Errorf("a string element in a %s tensor", datatype)
			}
			out = append(out, v)
		case json.Number:
			if datatype == "BYTES" || datatype == "BOOL" {
				return nil, fmt.Errorf("a number element in a %s tensor", datatype)
			}
			out = append(out, string(v))
		case bool:
			if datatype != "BOOL" {
				return nil, fmt.Errorf("a boolean element in a %s tensor", datatype)
			}
			out = append(out, strconv.FormatBool(v))
		case nil:
			return nil, errors.New("null element")
		}
		if depth == 0 {
			return nil, errors.New("want an array")
		}
		if len(out) > maxElems {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("more than %d elements", maxElems)}
		}
	}
	return out, nil
}

// oipHeaderLength is the binary data extension's header: the length of the
// JSON part of a body that binary tensor data follows.
const oipHeaderLength = "Inference-Header-Content-Length"

func (s *server) handleOIPInfer(w http.ResponseWriter, r *http.Request) error {
	var body io.Reader = r.Body
	var bin []byte
	if h := r.Header.Get(oipHeaderLength); h != "" {
		n, err := strconv.ParseInt(h, 10, 64)
		if err != nil || n < 0 {
			return badRequest("%s %q: want a byte count", oipHeaderLength, h)
		}
		all, err := io.ReadAll(r.Body)
		if err != nil {
			return jsonError(err)
		}
		if n > int64(len(all)) {
			return badRequest("%s %d: the body has %d bytes", oipHeaderLength, n, len(all))
		}
		body, bin = bytes.NewReader(all[:n]), all[n:]
	}
	req, inputs, outputs, asBinary, err := decodeOIPHTTP(body, bin, s.maxTensorElems())
	if err != nil {
		return jsonError(err)
	}
	version, outs, err := s.oipInfer(r.Context(), r.PathValue("name"), r.PathValue("version"), inputs, outputs)
	if err != nil {
		return err
	}
	resp := oipHTTPResponse{ModelName: r.PathValue("name"), ModelVersion: version, ID: req.ID}
	var tail []byte
	for k, o := range outs {
		out := oipHTTPOutput{Name: o.Name, Datatype: "FP32", Shape: o.Shape, Data: o.Data}
		if k < len(asBinary) && asBinary[k] {
			out.Data = nil
			out.Parameters = map[string]int{"binary_data_size": 4 * len(o.Data)}
			for _, v := range o.Data {
				tail = binary.LittleEndian.AppendUint32(tail, math.Float32bits(v))
			}
		}
		resp.Outputs = append(resp.Outputs, out)
	}
	if tail == nil {
		return writeJSON(w, http.StatusOK, resp)
	}
	js, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(oipHeaderLength, strconv.Itoa(len(js)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(js); err != nil {
		return err
	}
	_, err = w.Write(tail)
	return err
}

func (s *server) handleOIPModel(w http.ResponseWriter, r *http.Request) error {
	meta, err := s.oipMetadata(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, meta)
}

// handleOIPModelReady answers 200 when the model (and version) is served
// and the server ready, else 400 (the protocol's "4xx is false"), with an
// empty body either way.
func (s *server) handleOIPModelReady(w http.ResponseWriter, r *http.Request) error {
	m, err := s.oipModel(r.PathValue("name"), r.PathValue("version"))
	if err == nil {
		m.release()
	}
	w.WriteHeader(oipHealthStatus(err == nil && s.ready.Load()))
	return nil
}

func oipHealthStatus(ok bool) int {
	if ok {
		return http.StatusOK
	}
	return http.StatusBadRequest
}

// oipRoutes adds the protocol's HTTP endpoints.
func (s *server) oipRoutes(handle func(pattern, name string, h func(http.ResponseWriter, *http.Request) error)) {
	handle("GET /v2", "v2_server", func(w http.ResponseWriter, _ *http.Request) error {
		return writeJSON(w, http.StatusOK, serverMetadata())
	})
	handle("GET /v2/health/live", "v2_live", func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	handle("GET /v2/health/ready", "v2_ready", func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(oipHealthStatus(s.ready.Load() && s.anyModel()))
		return nil
	})
	for _, base := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		handle("GET "+base, "v2_model", s.handleOIPModel)
		handle("GET "+base+"/ready", "v2_model_ready", s.handleOIPModelReady)
		handle("POST "+base+"/infer", "v2_infer", s.limited(s.handleOIPInfer))
	}
}

// buildVersion is the server's version for the metadata: the module
// version and, when built from a checkout, the commit.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += "+" + s.Value[:12]
		}
	}
	return v
}
