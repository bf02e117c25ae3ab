package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/embtab/embtab/lookup"
)

// server is the HTTP API over the current model, which an admin reload
// swaps atomically.
type server struct {
	cfg     *config
	log     *slog.Logger
	met     *metrics
	metrics http.Handler

	cur      atomic.Pointer[model]
	reloadMu sync.Mutex // one reload at a time
	ready    atomic.Bool
}

// newServer loads the model in cfg.Model and returns the server. The
// logger and the metrics registry are the caller's.
func newServer(ctx context.Context, cfg *config, log *slog.Logger, reg prometheus.Registerer, gather prometheus.Gatherer) (*server, error) {
	met, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	s := &server{cfg: cfg, log: log, met: met,
		metrics: promhttp.HandlerFor(gather, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})}
	m, err := loadModel(ctx, cfg.Model, cfg, log, met)
	if err != nil {
		met.reloads.WithLabelValues("error").Inc()
		return nil, err
	}
	met.reloads.WithLabelValues("ok").Inc()
	s.setModel(m)
	s.ready.Store(true)
	return s, nil
}

// setModel makes m current and releases the previous model, which closes
// once its last request is done.
func (s *server) setModel(m *model) {
	man := m.art.Manifest()
	old := s.cur.Swap(m)
	if old != nil {
		om := old.art.Manifest()
		s.met.modelInfo.DeleteLabelValues(om.ID, om.Table.Method, om.Codec, s.cfg.Store)
		old.release()
	}
	s.met.modelInfo.WithLabelValues(man.ID, man.Table.Method, man.Codec, s.cfg.Store).Set(1)
}

// acquire returns the current model with a reference held, or nil if
// there is none (after Close).
func (s *server) acquire() *model {
	for {
		m := s.cur.Load()
		if m == nil {
			return nil
		}
		if m.acquire() {
			return m
		}
		// m was swapped out and closed between the load and the
		// acquire: the next load sees its successor.
	}
}

// Close marks the server not ready and releases the current model.
func (s *server) Close() {
	s.ready.Store(false)
	if m := s.cur.Swap(nil); m != nil {
		m.release()
	}
}

// Handler returns the API's routes.
func (s *server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, name string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.instrument(name, h))
	}
	handle("POST /v1/embed", "embed", s.handleEmbed)
	handle("POST /v1/score", "score", s.handleScore)
	handle("POST /v1/retrieve", "retrieve", s.handleRetrieve)
	handle("GET /healthz", "healthz", func(w http.ResponseWriter, _ *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("GET /readyz", "readyz", s.handleReady)
	handle("GET /v1/model", "model", s.handleModel)
	handle("POST /v1/admin/reload", "reload", s.admin(s.handleReload))
	handle("PUT /v1/admin/rows", "rows", s.admin(s.handleRows))
	mux.Handle("GET /metrics", s.metrics)
	return mux
}

// statusWriter records the status code.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument turns a handler that returns an error into an http.Handler:
// it bounds the body and the time, maps errors to status codes and JSON
// bodies, recovers panics, counts and times the request and logs it.
func (s *server) instrument(name string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.met.inflight.Inc()
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic in handler", "handler", name, "panic", p)
				if w.code == 0 {
					writeError(w, http.StatusInternalServerError, "internal error")
				}
			}
			s.met.inflight.Dec()
			code := w.code
			if code == 0 {
				code = http.StatusOK
			}
			d := time.Since(start)
			s.met.requests.WithLabelValues(name, fmt.Sprint(code)).Inc()
			s.met.latency.WithLabelValues(name).Observe(d.Seconds())
			s.log.Debug("request", "handler", name, "method", r.Method, "path", r.URL.Path, "code", code,
				"ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
		}()
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		err := h(w, r.WithContext(ctx))
		if err == nil {
			return
		}
		status, msg := http.StatusInternalServerError, "internal error"
		var re *requestError
		switch {
		case errors.As(err, &re):
			status, msg = re.status, re.msg
		case errors.Is(err, context.DeadlineExceeded):
			status, msg = http.StatusServiceUnavailable, fmt.Sprintf("timed out after %v", s.cfg.RequestTimeout)
		case errors.Is(err, context.Canceled):
			status, msg = 499, "client closed the request" // nginx's code; the client is gone
		}
		if status >= 500 {
			s.log.Warn("request failed", "handler", name, "code", status, "err", err)
		}
		if w.code == 0 {
			writeError(w, status, msg)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

var errNoModel = &requestError{status: http.StatusServiceUnavailable, msg: "no model loaded"}

// errNonFinite reports NaN or infinite outputs (a diverged model), which
// JSON cannot carry.
var errNonFinite = errors.New("the model produced NaN or infinite values")

func finite(xs []float32) bool {
	for _, x := range xs {
		if x-x != 0 { // NaN or ±Inf
			return false
		}
	}
	return true
}

func (s *server) limits() limits {
	return limits{MaxBatch: s.cfg.MaxBatch, MaxFields: s.cfg.MaxFields, IgnoreUnknown: s.cfg.IgnoreUnknownFields}
}

// embedResponse is the reply of /v1/embed: per-field vectors per instance
// (pooling none) or one pooled vector per instance.
type embedResponse struct {
	Model      string                 `json:"model"`
	Dim        int                    `json:"dim"`
	Fields     []string               `json:"fields"`
	Pooling    string                 `json:"pooling"`
	Embeddings []map[string][]float32 `json:"embeddings,omitempty"`
	Pooled     [][]float32            `json:"pooled,omitempty"`
}

func (s *server) handleEmbed(w http.ResponseWriter, r *http.Request) error {
	m := s.acquire()
	if m == nil {
		return errNoModel
	}
	defer m.release()
	q, err := decodeEmbed(r.Body, m.schema, s.limits())
	if err != nil {
		return err
	}
	s.met.instances.WithLabelValues("embed").Observe(float64(q.N))
	vecs, err := m.embed(r.Context(), q)
	if err != nil {
		return err
	}
	if !finite(vecs) {
		return errNonFinite
	}
	d, nq := m.dim, len(q.Fields)
	if wantsBinary(r) {
		return writeBinaryEmbed(w, m, q, vecs)
	}
	names := make([]string, nq)
	for k, f := range q.Fields {
		names[k] = m.schema.cat[f]
	}
	if q.Pooling == poolNone {
		return writeEmbedJSON(w, m, q, names, vecs, nil)
	}
	return writeEmbedJSON(w, m, q, names, vecs, poolVectors(q, vecs, d, nq))
}

// poolVectors sums (or averages, for pooling mean) the nq field vectors
// of each instance of q: q.N x d values.
func poolVectors(q *embedQuery, vecs []float32, d, nq int) []float32 {
	out := make([]float32, q.N*d)
	for i := range q.N {
		p := out[i*d : (i+1)*d]
		for k := range nq {
			for j, v := range vecs[(i*nq+k)*d : (i*nq+k+1)*d] {
				p[j] += v
			}
		}
		if q.Pooling == poolMean {
			for j := range p {
				p[j] /= float32(nq)
			}
		}
	}
	return out
}

// scoreResponse is the reply of /v1/score.
type scoreResponse struct {
	Model  string    `json:"model"`
	Scores []float32 `json:"scores"`
}

func (s *server) handleScore(w http.ResponseWriter, r *http.Request) error {
	m := s.acquire()
	if m == nil {
		return errNoModel
	}
	defer m.release()
	if m.ret != nil {
		return badRequest("the served model is a two-tower retrieval model: it has no click probabilities to score; use /v1/retrieve (or /v1/embed for its field vectors)")
	}
	b, err := decodeScore(r.Body, m.schema, s.limits())
	if err != nil {
		return err
	}
	s.met.instances.WithLabelValues("score").Observe(float64(b.N))
	p, err := m.score(r.Context(), b)
	if err != nil {
		return err
	}
	if !finite(p) {
		return errNonFinite
	}
	return writeScoreJSON(w, m, p)
}

func (s *server) handleReady(w http.ResponseWriter, _ *http.Request) error {
	if !s.ready.Load() || s.cur.Load() == nil {
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleModel describes the served model: its manifest.
func (s *server) handleModel(w http.ResponseWriter, _ *http.Request) error {
	m := s.acquire()
	if m == nil {
		return errNoModel
	}
	defer m.release()
	return writeJSON(w, http.StatusOK, struct {
		Dir      string `json:"dir"`
		Store    string `json:"store"`
		Manifest any    `json:"manifest"`
	}{m.dir, s.cfg.Store, m.art.Manifest()})
}

// admin guards an admin handler: with a token configured the request
// needs "Authorization: Bearer <token>"; without one it must come from a
// loopback address.
func (s *server) admin(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.cfg.AdminToken != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="embtab admin"`)
				return &requestError{status: http.StatusUnauthorized, msg: "admin endpoints need a bearer token"}
			}
			return h(w, r)
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return &requestError{status: http.StatusForbidden, msg: "admin endpoints without a token are for loopback clients only"}
		}
		return h(w, r)
	}
}

// handleReload loads an artifact (the body's "model", else the current
// directory) and swaps it in; requests in flight finish on the old model.
// A model that fails to load is rejected and the old one keeps serving.
func (s *server) handleReload(w http.ResponseWriter, r *http.Request) error {
	var req reloadRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r.Body, &req); err != nil {
			return err
		}
	}
	// Loading may take long (checksums, a badger or Redis load): it is
	// not bound by the request timeout, only by the client going away.
	cur, prev, dir, err := s.reload(context.WithoutCancel(r.Context()), req.Model)
	if errors.Is(err, errNoModel) {
		return errNoModel
	}
	if err != nil {
		return &requestError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("reload rejected, still serving %s: %v", prev, err)}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"model": cur, "previous": prev, "dir": dir})
}

// reload loads the artifact in dir ("" = the current model's directory,
// e.g. after `export --replace` rewrote it) and swaps it in; a model that
// fails to load is rejected and the old one keeps serving. It returns the
// new and previous model ids and the directory.
func (s *server) reload(ctx context.Context, dir string) (cur, prev, loaded string, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.acquire()
	if old == nil {
		return "", "", "", errNoModel
	}
	prev, loaded = old.id(), old.dir
	old.release()
	if dir != "" {
		loaded = filepath.Clean(dir)
	}
	m, err := loadModel(ctx, loaded, s.cfg, s.log, s.met)
	if err != nil {
		s.met.reloads.WithLabelValues("error").Inc()
		s.log.Error("reload rejected", "dir", loaded, "err", err)
		return "", prev, loaded, err
	}
	s.met.reloads.WithLabelValues("ok").Inc()
	s.setModel(m)
	s.log.Info("model swapped", "previous", prev, "current", m.id(), "dir", loaded)
	return m.id(), prev, loaded, nil
}

// reloadOnSignal reloads the current model's directory each time sig
// delivers (SIGHUP), until ctx ends: the Unix daemon convention, for
// deploy scripts that replace the artifact in place.
func (s *server) reloadOnSignal(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-sig:
			s.log.Info("reload requested", "signal", v.String())
			s.reload(ctx, "")
		}
	}
}

// handleRows writes rows into a store that takes updates.
func (s *server) handleRows(w http.ResponseWriter, r *http.Request) error {
	m := s.acquire()
	if m == nil {
		return errNoModel
	}
	defer m.release()
	if m.ret != nil {
		return &requestError{status: http.StatusConflict, msg: "the served model is a two-tower retrieval model: its stored user and item vectors and item index were computed from the exported rows, so row updates would make /v1/retrieve by features disagree with by user_id; export a new artifact instead"}
	}
	wr, ok := m.store.writer()
	if !ok {
		return &requestError{status: http.StatusNotImplemented, msg: fmt.Sprintf("store %s does not take row updates", s.cfg.Store)}
	}
	var req rowsRequest
	if err := decodeJSON(r.Body, &req); err != nil {
		return err
	}
	width := m.art.Manifest().Table.Width
	if len(req.Rows) == 0 || len(req.Rows) > s.cfg.MaxBatch {
		return badRequest("rows: %d, want 1 to %d", len(req.Rows), s.cfg.MaxBatch)
	}
	keys := make([]lookup.Key, len(req.Rows))
	vals := make([]float32, 0, len(req.Rows)*width)
	for i, row := range req.Rows {
		if len(row.Values) != width {
			return badRequest("row %d: %d values, the table's rows have %d", i, len(row.Values), width)
		}
		keys[i] = lookup.Key{Set: row.Set, Row: row.Row}
		vals = append(vals, row.Values...)
	}
	if err := wr.Put(r.Context(), keys, vals); err != nil {
		if errors.Is(err, lookup.ErrNotFound) || errors.Is(err, lookup.ErrShape) {
			return badRequest("%v", err)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model": m.id(), "rows": len(keys)})
}
