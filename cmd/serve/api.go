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
	"maps"
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
	// MaxBagValues is the most values of one bag feature.
	MaxBagValues int
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
	cat, dense, bags    []string       // names in model order
	catAt, denAt, bagAt map[string]int // name -> position
}

func newSchemaIndex(cat, dense, bags []string) *schemaIndex {
	s := &schemaIndex{cat: cat, dense: dense, bags: bags, catAt: map[string]int{}, denAt: map[string]int{}, bagAt: map[string]int{}}
	for i, n := range cat {
		s.catAt[n] = i
	}
	for i, n := range dense {
		s.denAt[n] = i
	}
	for i, n := range bags {
		s.bagAt[n] = i
	}
	return s
}

// input names input f of /v1/embed: categorical field f, or bag f-len(cat).
func (s *schemaIndex) input(f int) string {
	if f < len(s.cat) {
		return s.cat[f]
	}
	return s.bags[f-len(s.cat)]
}

// batch is a decoded request's instances in model layout: Cat[i*nf+f] is
// categorical field f of instance i ("" when missing, as in training),
// Dense[i*nd+j] the raw dense value j (0 when missing).
type batch struct {
	N     int
	Cat   []string
	Dense []float32
	// Bags[i*nb+k] holds bag k's values of instance i (nb bags; nil:
	// empty, as in training).
	Bags [][]string
	// SharedBags lists the bags every instance takes from the context:
	// they are looked up and pooled once.
	SharedBags []int
	// Shared lists the categorical fields every instance takes from the
	// request's "context" (one user's features beside N candidates): their
	// vectors are gathered once.
	Shared []int
}

// Pooling modes of /v1/embed.
const (
	poolNone = "none"
	poolSum  = "sum"
	poolMean = "mean"
)

// The bodies of POST /v1/embed and /v1/score (at most --max-body bytes)
// are read whole, checked by json.Valid and walked as a stream of JSON
// tokens (streamDecoder over validLexer): the instances are counted and
// laid out as they are met, stopping at --max-batch + 1, and no
// per-instance map is built. /v1/embed takes one instance ("features") or several
// ("instances"), the fields to embed ("fields", default all categorical
// fields) and the pooling ("pooling"); /v1/score takes the instances only.
// A key repeated in one object is rejected (encoding/json would keep the
// last value silently).

// embedQuery is a decoded /v1/embed request.
type embedQuery struct {
	batch
	Fields  []int // inputs to return: categorical fields, then bags (schemaIndex.input)
	Pooling string
}

// jsonError maps a decoding error to a request error: 413 for a body over
// the limit, else 400.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("body larger than %d bytes", mbe.Limit)}
	}
	var re *requestError
	if errors.As(err, &re) {
		return re
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return badRequest("invalid JSON: %v", err)
}

// valueError is jsonError for the value of key: a 413 stays a 413, other
// errors name the key.
func valueError(key string, err error) error {
	re := jsonError(err).(*requestError)
	if re.status == http.StatusBadRequest {
		return badRequest("%s: %s", key, re.msg)
	}
	return re
}

// decodeJSON decodes one JSON object from r into v, rejecting unknown
// keys, keys repeated in one object and trailing data. The body is read
// whole: r must be bounded (http.MaxBytesReader).
func decodeJSON(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return jsonError(err)
	}
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return badRequest("empty body: want a JSON object")
		}
		return jsonError(err)
	}
	return checkEnd(dec)
}

// checkDuplicateKeys returns a 400 if an object of the JSON text data
// has a key twice (encoding/json would keep the last value). Syntax
// errors are left to the decoder.
func checkDuplicateKeys(data []byte) error {
	type frame struct {
		keys      map[string]struct{} // nil for an array
		expectKey bool
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].expectKey {
			if key, ok := tok.(string); ok {
				if _, dup := stack[n-1].keys[key]; dup {
					return badRequest("key %q given twice in one object", key)
				}
				stack[n-1].keys[key] = struct{}{}
				stack[n-1].expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]struct{}{}, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			if len(stack) == 0 {
				return nil
			}
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object expects a key next.
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].expectKey = true
		}
	}
}

// checkEnd fails unless dec has nothing left but white space.
func checkEnd(dec tokenSource) error {
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return jsonError(err)
		}
		return badRequest("data after the JSON object")
	}
	return nil
}

// streamDecoder reads an instances request token by token.
type streamDecoder struct {
	dec       tokenSource
	s         *schemaIndex
	lim       limits
	withDense bool
	b         batch
	seen      map[string]struct{} // keys of the current instance
	// ctxKeys are the features of the request's context (nil without
	// one): an instance may not give them again.
	ctxKeys map[string]struct{}
	ctx     *batch
}

// objectKeys reads the keys of the JSON object that starts at the next
// token (after its '{' has been read by the caller), calling value for
// each key with the decoder positioned at the key's value; a repeated key
// is an error naming where (what), and so are more than maxKeys keys
// (413). seen is cleared and reused.
func (d *streamDecoder) objectKeys(what string, maxKeys int, seen map[string]struct{}, value func(key string) error) error {
	clear(seen)
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return jsonError(err)
		}
		key, ok := tok.(string)
		if !ok {
			return badRequest("invalid JSON: %s: object key %v", what, tok)
		}
		if _, dup := seen[key]; dup {
			return badRequest("%s: key %q given twice", what, key)
		}
		if len(seen) >= maxKeys {
			return &requestError{status: http.StatusRequestEntityTooLarge,
				msg: fmt.Sprintf("%s: more than %d features, at most %d", what, maxKeys, maxKeys)}
		}
		seen[key] = struct{}{}
		if err := value(key); err != nil {
			return err
		}
	}
	if _, err := d.dec.Token(); err != nil { // the closing '}'
		return jsonError(err)
	}
	return nil
}

// openValue reads the next token: it returns false for null, true for the
// opening delimiter want, and an error naming what for anything else.
func (d *streamDecoder) openValue(what string, want json.Delim) (bool, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return false, jsonError(err)
	}
	switch tok {
	case nil:
		return false, nil
	case want:
		return true, nil
	}
	kind := "an object"
	if want == '[' {
		kind = "a list of objects"
	}
	return false, badRequest("%s: want %s", what, kind)
}

// instance reads one instance object (its '{' already read) as instance
// number b.N and appends it to the batch; errors name it what ("instance
// 3", "context").
func (d *streamDecoder) instance(what string) error {
	i := d.b.N
	nf, nd, nb := len(d.s.cat), len(d.s.dense), len(d.s.bags)
	d.b.Cat = append(d.b.Cat, make([]string, nf)...)
	if d.withDense {
		d.b.Dense = append(d.b.Dense, make([]float32, nd)...)
	}
	if nb > 0 {
		d.b.Bags = append(d.b.Bags, make([][]string, nb)...)
	}
	d.b.N++
	// An unknown name is reported once the instance has been read, so
	// that too many keys is a 413 whatever their names.
	var unknown error
	err := d.objectKeys(what, d.lim.MaxFields, d.seen, func(name string) error {
		if _, dup := d.ctxKeys[name]; dup {
			return badRequest("%s: feature %q is in the context too: give it once", what, name)
		}
		if k, ok := d.s.bagAt[name]; ok {
			vs, err := d.bagValues(d.lim.MaxBagValues)
			if err != nil {
				if re, ok := err.(*requestError); ok {
					re.msg = fmt.Sprintf("%s: feature %q: %s", what, name, re.msg)
					return re
				}
				return badRequest("%s: feature %q: %v", what, name, err)
			}
			d.b.Bags[i*nb+k] = vs
			return nil
		}
		var raw json.RawMessage
		if err := d.dec.Decode(&raw); err != nil {
			return jsonError(err)
		}
		if f, ok := d.s.catAt[name]; ok {
			v, err := categorical(raw)
			if err != nil {
				return badRequest("%s: feature %q: %v", what, name, err)
			}
			d.b.Cat[i*nf+f] = v
			return nil
		}
		if j, ok := d.s.denAt[name]; ok {
			if !d.withDense {
				return nil
			}
			v, err := dense(raw)
			if err != nil {
				return badRequest("%s: feature %q: %v", what, name, err)
			}
			d.b.Dense[i*nd+j] = v
			return nil
		}
		if !d.lim.IgnoreUnknown && unknown == nil {
			unknown = badRequest("%s: unknown feature %q (the model's features are %s)", what, name, d.s.names())
		}
		return nil
	})
	if err != nil {
		return err
	}
	return unknown
}

// instancesRequest is what decodeInstances read besides the batch: the
// /v1/embed keys.
type instancesRequest struct {
	batch
	Fields  []string // nil when absent or null
	Pooling string
}

// decodeInstances reads a request body holding "instances" or "features",
// optionally a "context" object before them (features every instance
// shares: a ranking request's user beside its candidate items), and, when
// embed, "fields" and "pooling". Missing features take the
// value training gives a missing value: "" for a categorical field (it is
// hashed like any value), 0 for a dense one. Dense features are read only
// when withDense.
func decodeInstances(r io.Reader, s *schemaIndex, lim limits, withDense, embed bool) (*instancesRequest, error) {
	// The body is read whole (it is bounded by --max-body); a valid one is
	// walked by validLexer, an invalid one by json.Decoder, whose errors
	// say where it breaks.
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, jsonError(err)
	}
	var src tokenSource = json.NewDecoder(bytes.NewReader(body))
	if json.Valid(body) {
		src = &validLexer{data: body}
	}
	return decodeTokens(src, s, lim, withDense, embed)
}

// decodeTokens is decodeInstances over a token source.
func decodeTokens(src tokenSource, s *schemaIndex, lim limits, withDense, embed bool) (*instancesRequest, error) {
	d := &streamDecoder{dec: src, s: s, lim: lim, withDense: withDense, seen: map[string]struct{}{}}
	tok, err := d.dec.Token()
	if errors.Is(err, io.EOF) {
		return nil, badRequest("empty body: want a JSON object")
	}
	if err != nil {
		return nil, jsonError(err)
	}
	if tok != json.Delim('{') {
		return nil, badRequest("invalid JSON: want an object, got %v", tok)
	}
	var req instancesRequest
	var many, one bool
	both := badRequest(`give "instances" or "features", not both`)
	top := map[string]struct{}{}
	// Unknown and repeated keys are rejected, so the top level has at
	// most five keys.
	err = d.objectKeys("request", 5, top, func(key string) error {
		switch {
		case key == "context":
			ok, err := d.openValue("context", '{')
			if err != nil || !ok {
				return err
			}
			if many || one {
				return badRequest(`"context" must come before "instances" or "features"`)
			}
			save := d.b
			d.b = batch{}
			if err := d.instance("context"); err != nil {
				return err
			}
			ctxb := d.b
			d.ctx, d.b = &ctxb, save
			d.ctxKeys = maps.Clone(d.seen)
			return nil
		case key == "instances":
			ok, err := d.openValue("instances", '[')
			if err != nil || !ok {
				return err
			}
			if one {
				return both
			}
			many = true
			for d.dec.More() {
				if d.b.N == lim.MaxBatch {
					return &requestError{status: http.StatusRequestEntityTooLarge,
						msg: fmt.Sprintf("more than %d instances, at most %d per request", lim.MaxBatch, lim.MaxBatch)}
				}
				what := fmt.Sprintf("instance %d", d.b.N)
				ok, err := d.openValue(what, '{')
				if err != nil {
					return err
				}
				if !ok {
					return badRequest("instance %d: null, want an object", d.b.N)
				}
				if err := d.instance(what); err != nil {
					return err
				}
			}
			if _, err := d.dec.Token(); err != nil { // the closing ']'
				return jsonError(err)
			}
			return nil
		case key == "features":
			ok, err := d.openValue("features", '{')
			if err != nil || !ok {
				return err
			}
			if many {
				return both
			}
			one = true
			return d.instance("instance 0")
		case key == "fields" && embed:
			if err := d.dec.Decode(&req.Fields); err != nil {
				return valueError("fields", err)
			}
			return nil
		case key == "pooling" && embed:
			var p *string
			if err := d.dec.Decode(&p); err != nil {
				return valueError("pooling", err)
			}
			if p != nil {
				req.Pooling = *p
			}
			return nil
		}
		return badRequest("invalid JSON: unknown field %q", key)
	})
	if err != nil {
		return nil, err
	}
	if err := checkEnd(d.dec); err != nil {
		return nil, err
	}
	if d.b.N == 0 {
		return nil, badRequest(`no instances: give "features" (one instance) or "instances" (a list)`)
	}
	if d.ctx != nil {
		d.shareContext()
	}
	req.batch = d.b
	return &req, nil
}

// shareContext copies the context's features into every instance and
// records the shared categorical fields.
func (d *streamDecoder) shareContext() {
	nf, nd, nb := len(d.s.cat), len(d.s.dense), len(d.s.bags)
	for name := range d.ctxKeys {
		if k, ok := d.s.bagAt[name]; ok {
			d.b.SharedBags = append(d.b.SharedBags, k)
			for i := range d.b.N {
				d.b.Bags[i*nb+k] = d.ctx.Bags[k]
			}
		} else if f, ok := d.s.catAt[name]; ok {
			d.b.Shared = append(d.b.Shared, f)
			for i := range d.b.N {
				d.b.Cat[i*nf+f] = d.ctx.Cat[f]
			}
		} else if j, ok := d.s.denAt[name]; ok && d.withDense {
			for i := range d.b.N {
				d.b.Dense[i*nd+j] = d.ctx.Dense[j]
			}
		}
	}
	slices.Sort(d.b.Shared)
	slices.Sort(d.b.SharedBags)
}

// decodeEmbed reads a /v1/embed request.
func decodeEmbed(r io.Reader, s *schemaIndex, lim limits) (*embedQuery, error) {
	req, err := decodeInstances(r, s, lim, false, true)
	if err != nil {
		return nil, err
	}
	q := &embedQuery{batch: req.batch, Pooling: req.Pooling}
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
	if n := len(s.cat) + len(s.bags); len(req.Fields) == 0 || len(req.Fields) > n {
		return nil, badRequest("fields: %d names, want 1 to %d categorical fields and bags", len(req.Fields), n)
	}
	for _, name := range req.Fields {
		f, ok := s.catAt[name]
		if k, isBag := s.bagAt[name]; isBag {
			f, ok = len(s.cat)+k, true
		}
		if !ok {
			return nil, badRequest("fields: %q is not a categorical field or bag of the model", name)
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
	req, err := decodeInstances(r, s, lim, true, false)
	if err != nil {
		return nil, err
	}
	return &req.batch, nil
}

// names lists the model's feature names for error messages.
func (s *schemaIndex) names() string {
	all := slices.Concat(s.dense, s.cat, s.bags)
	if len(all) > 12 {
		return strings.Join(all[:12], ", ") + fmt.Sprintf(" and %d more", len(all)-12)
	}
	return strings.Join(all, ", ")
}

// bagValues reads the value of a bag feature at the decoder's position: a
// JSON array of categorical values (strings, numbers: see categorical; a
// null element is dropped), or null for the empty bag. It stops at the
// (max+1)-th value with a 413, so an oversized array costs no more than
// max values.
func (d *streamDecoder) bagValues(max int) ([]string, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	switch tok {
	case nil:
		return nil, nil
	case json.Delim('['):
	default:
		return nil, errors.New("want an array of values (a bag)")
	}
	var vs []string
	for j := 0; d.dec.More(); j++ {
		if j == max {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("more than %d values, at most %d per bag", max, max)}
		}
		var raw json.RawMessage
		if err := d.dec.Decode(&raw); err != nil {
			return nil, jsonError(err)
		}
		v, err := categorical(raw)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", j, err)
		}
		if v != "" {
			vs = append(vs, v)
		}
	}
	if _, err := d.dec.Token(); err != nil { // the closing ']'
		return nil, jsonError(err)
	}
	return vs, nil
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
		return unquote(raw)
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
		var err error
		if text, err = unquote(raw); err != nil {
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
	// Name is the model to reload (default: the default model, the first
	// --model).
	Name string `json:"name"`
	// Model is the artifact directory to load; empty reloads the current
	// one (for example after the trainer replaced it).
	Model string `json:"model"`
	// Force serves a model of another kind or schema than the current
	// one (their requests differ: clients may break).
	Force bool `json:"force"`
}
