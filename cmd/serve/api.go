package main

// The JSON API's requests: decoding, validation and limits. The decoders
// are the fuzz targets (fuzz_test.go): any input gives a request or a
// *requestError, never a panic.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// limits bound what one request may ask for.
type limits struct {
	// MaxBatch is the most instances per request, MaxFields the most keys
	// per instance.
	MaxBatch, MaxFields int
	// IgnoreUnknown drops feature names the schema does not have instead
	// of rejecting the request.
	IgnoreUnknown bool
}

// requestError is a client error: the status and message are sent back.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &requestError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// schemaIndex locates feature names in a model's inputs.
type schemaIndex struct {
	cat, dense   []string       // names in model order
	catAt, denAt map[string]int // name -> position
}

func newSchemaIndex(cat, dense []string) *schemaIndex {
	s := &schemaIndex{cat: cat, dense: dense, catAt: map[string]int{}, denAt: map[string]int{}}
	for i, n := range cat {
		s.catAt[n] = i
	}
	for i, n := range dense {
		s.denAt[n] = i
	}
	return s
}

// batch is a decoded request's instances in model layout: Cat[i*nf+f] is
// categorical field f of instance i ("" when missing, as in training),
// Dense[i*nd+j] the raw dense value j (0 when missing).
type batch struct {
	N     int
	Cat   []string
	Dense []float32
}

// Pooling modes of /v1/embed.
const (
	poolNone = "none"
	poolSum  = "sum"
	poolMean = "mean"
)

// embedRequest is the body of POST /v1/embed: one instance ("features")
// or several ("instances"), the fields to embed (default all categorical
// fields) and the pooling.
type embedRequest struct {
	Instances []map[string]json.RawMessage `json:"instances"`
	Features  map[string]json.RawMessage   `json:"features"`
	Fields    []string                     `json:"fields"`
	Pooling   string                       `json:"pooling"`
}

// scoreRequest is the body of POST /v1/score.
type scoreRequest struct {
	Instances []map[string]json.RawMessage `json:"instances"`
	Features  map[string]json.RawMessage   `json:"features"`
}

// embedQuery is a decoded /v1/embed request.
type embedQuery struct {
	batch
	Fields  []int // categorical field positions to return
	Pooling string
}

// decodeJSON decodes one JSON object from r into v, rejecting unknown
// keys and trailing data.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body larger than %d bytes", mbe.Limit)}
		}
		if errors.Is(err, io.EOF) {
			return badRequest("empty body: want a JSON object")
		}
		return badRequest("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("data after the JSON object")
	}
	return nil
}

// decodeEmbed reads a /v1/embed request.
func decodeEmbed(r io.Reader, s *schemaIndex, lim limits) (*embedQuery, error) {
	var req embedRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	b, err := s.instances(req.Instances, req.Features, lim, false)
	if err != nil {
		return nil, err
	}
	q := &embedQuery{batch: *b, Pooling: req.Pooling}
	switch q.Pooling {
	case "":
		q.Pooling = poolNone
	case poolNone, poolSum, poolMean:
	default:
		return nil, badRequest("pooling %q: want none, sum or mean", req.Pooling)
	}
	if req.Fields == nil {
		for f := range s.cat {
			q.Fields = append(q.Fields, f)
		}
		return q, nil
	}
	if len(req.Fields) == 0 || len(req.Fields) > len(s.cat) {
		return nil, badRequest("fields: %d names, want 1 to %d categorical fields", len(req.Fields), len(s.cat))
	}
	for _, name := range req.Fields {
		f, ok := s.catAt[name]
		if !ok {
			return nil, badRequest("fields: %q is not a categorical field of the model", name)
		}
		if slices.Contains(q.Fields, f) {
			return nil, badRequest("fields: %q listed twice", name)
		}
		q.Fields = append(q.Fields, f)
	}
	return q, nil
}

// decodeScore reads a /v1/score request.
func decodeScore(r io.Reader, s *schemaIndex, lim limits) (*batch, error) {
	var req scoreRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	return s.instances(req.Instances, req.Features, lim, true)
}

// instances validates the instances of a request and lays them out.
// Missing features take the value training gives a missing value: ""
// for a categorical field (it is hashed like any value), 0 for a dense
// one. Dense features are read only when withDense.
func (s *schemaIndex) instances(many []map[string]json.RawMessage, one map[string]json.RawMessage, lim limits, withDense bool) (*batch, error) {
	switch {
	case many != nil && one != nil:
		return nil, badRequest(`give "instances" or "features", not both`)
	case one != nil:
		many = []map[string]json.RawMessage{one}
	case len(many) == 0:
		return nil, badRequest(`no instances: give "features" (one instance) or "instances" (a list)`)
	}
	if len(many) > lim.MaxBatch {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("%d instances, at most %d per request", len(many), lim.MaxBatch)}
	}
	nf, nd := len(s.cat), len(s.dense)
	b := &batch{N: len(many), Cat: make([]string, len(many)*nf)}
	if withDense {
		b.Dense = make([]float32, len(many)*nd)
	}
	for i, inst := range many {
		if inst == nil {
			return nil, badRequest("instance %d: null, want an object", i)
		}
		if len(inst) > lim.MaxFields {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("instance %d: %d features, at most %d", i, len(inst), lim.MaxFields)}
		}
		for name, raw := range inst {
			if f, ok := s.catAt[name]; ok {
				v, err := categorical(raw)
				if err != nil {
					return nil, badRequest("instance %d: feature %q: %v", i, name, err)
				}
				b.Cat[i*nf+f] = v
				continue
			}
			if j, ok := s.denAt[name]; ok {
				if !withDense {
					continue
				}
				v, err := dense(raw)
				if err != nil {
					return nil, badRequest("instance %d: feature %q: %v", i, name, err)
				}
				b.Dense[i*nd+j] = v
				continue
			}
			if !lim.IgnoreUnknown {
				return nil, badRequest("instance %d: unknown feature %q (the model's features are %s)", i, name, s.names())
			}
		}
	}
	return b, nil
}

// names lists the model's feature names for error messages.
func (s *schemaIndex) names() string {
	all := append(slices.Clone(s.dense), s.cat...)
	if len(all) > 12 {
		return strings.Join(all[:12], ", ") + fmt.Sprintf(" and %d more", len(all)-12)
	}
	return strings.Join(all, ", ")
}

// categorical returns the raw value of a categorical feature: a string as
// it is, a number as its JSON text (so 42 and "42" are the same value),
// null as missing ("").
func categorical(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", errors.New("empty value")
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case c == 'n' && string(raw) == "null":
		return "", nil
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), nil
	}
	return "", errors.New("want a string, a number or null")
}

// dense returns the value of a dense feature: a number, or a string
// holding one; null is missing (0). Values must be finite.
func dense(raw json.RawMessage) (float32, error) {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return 0, nil
	}
	text := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, err
		}
	} else if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, errors.New("want a number, a numeric string or null")
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", text)
	}
	if math.IsNaN(v) || math.IsInf(float32Inf(v), 0) {
		return 0, fmt.Errorf("%q is not a finite float32", text)
	}
	return float32(v), nil
}

// float32Inf returns v as float32, widened back, so that values beyond
// float32's range show as infinite.
func float32Inf(v float64) float64 { return float64(float32(v)) }

// rowsRequest is the body of PUT /v1/admin/rows: rows to write into a
// store that takes updates.
type rowsRequest struct {
	Rows []struct {
		Set    uint32    `json:"set"`
		Row    uint32    `json:"row"`
		Values []float32 `json:"values"`
	} `json:"rows"`
}

// reloadRequest is the optional body of POST /v1/admin/reload.
type reloadRequest struct {
	// Model is the artifact directory to load; empty reloads the current
	// one (for example after the trainer replaced it).
	Model string `json:"model"`
}
