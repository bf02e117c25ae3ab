package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/quant"
)

// server is the HTTP API over the served models (models.go), each of
// which an admin reload swaps atomically.
type server struct {
	cfg     *config
	log     *slog.Logger
	met     *metrics
	metrics http.Handler

	plog     *predLogger // nil: --log-predictions off
	models   atomic.Pointer[registry]
	modelsMu sync.Mutex // serialises adding and removing models
	ready    atomic.Bool

	// work holds a token per request doing work (decoding, lookups,
	// prediction); queued counts the requests waiting for one.
	work   chan struct{}
	queued atomic.Int64
}

// newServer loads the models of cfg.Models (or the one of cfg.Model) and
// returns the server. The logger and the metrics registry are the
// caller's.
func newServer(ctx context.Context, cfg *config, log *slog.Logger, reg prometheus.Registerer, gather prometheus.Gatherer) (*server, error) {
	met, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if cfg.MaxInFlight < 1 {
		return nil, fmt.Errorf("max in flight %d: must be positive", cfg.MaxInFlight)
	}
	if cfg.ModelName == "" {
		cfg.ModelName = defaultModelName(cfg.Model)
	}
	s := &server{cfg: cfg, log: log, met: met, work: make(chan struct{}, cfg.MaxInFlight),
		metrics: promhttp.HandlerFor(gather, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)})}
	s.models.Store(&registry{slots: map[string]*slot{}})
	if cfg.LogPredictions != "" {
		if s.plog, err = newPredLogger(cfg.LogPredictions, cfg.LogPredictionsRate, cfg.LogPredictionsMaxBytes, cfg.LogPredictionsKeep, log, reg); err != nil {
			return nil, err
		}
	}
	specs := cfg.Models
	if len(specs) == 0 {
		specs = []modelSpec{{Name: cfg.ModelName, Dir: cfg.Model}}
	}
	for _, sp := range specs {
		if _, err := s.addModel(ctx, sp.Name, sp.Dir); err != nil {
			s.Close()
			return nil, fmt.Errorf("model %s: %w", sp.Name, err)
		}
	}
	s.ready.Store(true)
	return s, nil
}

// setModel makes m current in sl and releases the previous model, which
// closes once its last request is done.
func (s *server) setModel(sl *slot, m *model) {
	m.name = sl.name
	if m.net != nil {
		m.oov = newOOVCounter(s.met, sl.name, m.schema.cat, m.art.Vocab())
		m.plog = s.plog
	}
	man := m.art.Manifest()
	old := sl.cur.Swap(m)
	if old != nil {
		om := old.art.Manifest()
		// Online updates belong to one artifact id (the badger store's
		// database of that artifact): the same artifact keeps them, a new
		// one starts from its own rows.
		if n := old.store.updated.Load(); n > 0 {
			if om.ID == man.ID {
				m.store.updated.Add(n)
			} else {
				s.log.Warn("online row updates not carried to the new artifact", "model", sl.name, "previous", om.ID, "current", man.ID, "updated_rows", n)
			}
		}
		s.met.modelInfo.DeleteLabelValues(sl.name, om.ID, om.Table.Method, om.Codec, s.cfg.Store)
		old.release()
	}
	s.met.modelInfo.WithLabelValues(sl.name, man.ID, man.Table.Method, man.Codec, s.cfg.Store).Set(1)
}

// Close marks the server not ready, releases every model and closes the
// prediction log (no request may run after it).
func (s *server) Close() {
	s.ready.Store(false)
	for _, sl := range s.models.Load().slots {
		if m := sl.cur.Swap(nil); m != nil {
			m.release()
		}
	}
	if err := s.plog.close(); err != nil {
		s.log.Error("closing the prediction log", "err", err)
	}
}

// Handler returns the API's routes.
func (s *server) Handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern, name string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.instrument(name, h))
	}
	handle("POST /v1/embed", "embed", s.limited(s.handleEmbed))
	handle("POST /v1/score", "score", s.limited(s.handleScore))
	handle("POST /v1/retrieve", "retrieve", s.limited(s.handleRetrieve))
	handle("GET /healthz", "healthz", func(w http.ResponseWriter, _ *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("GET /readyz", "readyz", s.handleReady)
	handle("GET /v1/model", "model", s.handleModel)
	handle("GET /v1/models", "models", s.handleModels)
	handle("PUT /v1/admin/models/{name}", "add_model", s.admin(s.handleAddModel))
	handle("DELETE /v1/admin/models/{name}", "remove_model", s.adminNoBody(s.handleRemoveModel))
	s.oipRoutes(handle)
	handle("POST /v1/admin/reload", "reload", s.admin(s.handleReload))
	handle("PUT /v1/admin/rows", "rows", s.admin(s.limited(s.handleRows)))
	mux.Handle("GET /metrics", s.metrics)
	return mux
}

// limited bounds the requests doing work at once to --max-in-flight, so
// that the memory of requests in flight is bounded too (each is bounded by
// --max-body and --max-batch). A request that finds every slot taken waits
// for one, up to its time limit (then 503), unless --max-queue requests
// already wait: then it gets 429 at once, before its body is read.
func (s *server) limited(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		done, err := s.enterWork(r.Context())
		if err != nil {
			var re *requestError
			if errors.As(err, &re) && re.status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "1")
			}
			return err
		}
		defer done()
		return h(w, r)
	}
}

// enterWork takes one of the --max-in-flight work slots for a request of
// any protocol, waiting for one until ctx ends unless --max-queue requests
// already wait (then a 429 at once). done gives the slot back.
func (s *server) enterWork(ctx context.Context) (done func(), err error) {
	select {
	case s.work <- struct{}{}:
	default:
		if s.queued.Add(1) > int64(s.cfg.MaxQueue) {
			s.queued.Add(-1)
			return nil, &requestError{status: http.StatusTooManyRequests,
				msg: fmt.Sprintf("server busy: %d requests in flight and %d waiting; retry later", s.cfg.MaxInFlight, s.cfg.MaxQueue)}
		}
		select {
		case s.work <- struct{}{}:
			s.queued.Add(-1)
		case <-ctx.Done():
			s.queued.Add(-1)
			return nil, ctx.Err()
		}
	}
	return func() { <-s.work }, nil
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
	return limits{MaxBatch: s.cfg.MaxBatch, MaxFields: s.cfg.MaxFields, MaxBagValues: s.cfg.MaxBagValues, IgnoreUnknown: s.cfg.IgnoreUnknownFields}
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
	m, err := s.acquireFor(r)
	if err != nil {
		return err
	}
	defer m.release()
	defer s.observeModel(m.name, "embed", time.Now())
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
		names[k] = m.schema.input(f)
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
	m, err := s.acquireFor(r)
	if err != nil {
		return err
	}
	defer m.release()
	defer s.observeModel(m.name, "score", time.Now())
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
	if !s.ready.Load() || !s.anyModel() {
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// handleModel describes the served model: its manifest. Server paths (the
// artifact's directory, the training record's data and output paths) are
// shown to admin clients only (a valid bearer token); others get the
// manifest without its training record.
func (s *server) handleModel(w http.ResponseWriter, r *http.Request) error {
	m, err := s.acquireFor(r)
	if err != nil {
		return err
	}
	defer m.release()
	man := m.art.Manifest()
	if s.checkAdmin(r) != nil {
		pub := *man
		pub.Training = nil
		return writeJSON(w, http.StatusOK, struct {
			Name     string `json:"name"`
			Store    string `json:"store"`
			Manifest any    `json:"manifest"`
		}{m.name, s.cfg.Store, &pub})
	}
	return writeJSON(w, http.StatusOK, struct {
		Name     string `json:"name"`
		Dir      string `json:"dir"`
		Store    string `json:"store"`
		Manifest any    `json:"manifest"`
	}{m.name, m.dir, s.cfg.Store, man})
}

// admin guards an admin handler: the request needs "Authorization:
// Bearer <token>" (the scheme in any case, RFC 7235) with the token of
// --admin-token-file or $EMBTAB_ADMIN_TOKEN; without a token configured
// the admin endpoints are off (403) unless --admin-insecure-loopback lets
// loopback clients in (a reverse proxy on the same host defeats that). A
// body must be JSON (Content-Type application/json), so that a web page
// cannot send one as a CORS simple request.
func (s *server) admin(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return s.adminNoBody(func(w http.ResponseWriter, r *http.Request) error {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return &requestError{status: http.StatusUnsupportedMediaType, msg: "admin requests need Content-Type: application/json"}
		}
		return h(w, r)
	})
}

// adminNoBody guards an admin handler that reads no body (DELETE): the
// token check alone (a DELETE is never a CORS simple request). admin adds
// the Content-Type check on top.
func (s *server) adminNoBody(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.checkAdmin(r); err != nil {
			var re *requestError
			if errors.As(err, &re) && re.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="embtab admin"`)
			}
			return err
		}
		return h(w, r)
	}
}

// checkAdmin returns nil if r may use the admin endpoints.
func (s *server) checkAdmin(r *http.Request) error {
	if s.cfg.AdminToken != "" {
		scheme, tok, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.AdminToken)) != 1 {
			return &requestError{status: http.StatusUnauthorized, msg: "admin endpoints need a bearer token"}
		}
		return nil
	}
	if !s.cfg.AdminInsecureLoopback {
		return &requestError{status: http.StatusForbidden, msg: "admin endpoints are off: the server has no admin token"}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return &requestError{status: http.StatusForbidden, msg: "admin endpoints without a token are for loopback clients only"}
	}
	return nil
}

// handleReload loads an artifact (the body's "model", else the current
// directory) and swaps it in; requests in flight finish on the old model.
// A model that fails to load is rejected and the old one keeps serving.
// The client gets a generic message (whether a path exists or what it
// holds is not its business); the log has the details.
func (s *server) handleReload(w http.ResponseWriter, r *http.Request) error {
	var req reloadRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r.Body, &req); err != nil {
			return err
		}
	}
	// Loading may take long (checksums, a badger or Redis load): it is
	// not bound by the request timeout but by --reload-timeout.
	name, cur, prev, dir, err := s.reload(context.WithoutCancel(r.Context()), req.Name, req.Model, req.Force)
	var re *requestError
	switch {
	case errors.Is(err, errNoModel):
		return errNoModel
	case errors.As(err, &re):
		return re
	case errors.Is(err, errReloadTimeout):
		return &requestError{status: http.StatusServiceUnavailable, msg: fmt.Sprintf("reload rejected, still serving %s: %v", prev, errReloadTimeout)}
	case err != nil:
		return &requestError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("reload rejected, still serving %s: the artifact did not load (details in the server log)", prev)}
	}
	return writeJSON(w, http.StatusOK, map[string]string{"name": name, "model": cur, "previous": prev, "dir": dir})
}

// errReloadTimeout: a reload took longer than --reload-timeout.
var errReloadTimeout = errors.New("reload timed out")

// reload loads the artifact in dir for the model called name ("" = the
// default model; dir "" = the current model's directory,
// e.g. after `export --replace` rewrote it) and swaps it in; a model that
// fails to load is rejected and the old one keeps serving. A model of
// another kind or schema (two-tower for CTR, other feature names) is
// rejected (409) unless force. The whole reload, waiting for another one
// included, is bounded by --reload-timeout: a load still running then is
// abandoned (its model closed when it finishes) and the old model keeps
// serving. It returns the model's name, the new and previous model ids
// and the directory.
func (s *server) reload(ctx context.Context, name, dir string, force bool) (_, cur, prev, loaded string, err error) {
	sl, err := s.slot(name)
	if err != nil {
		return name, "", "", dir, err
	}
	name = sl.name
	cur, prev, loaded, err = s.reloadSlot(ctx, sl, dir, force)
	return name, cur, prev, loaded, err
}

func (s *server) reloadSlot(ctx context.Context, sl *slot, dir string, force bool) (cur, prev, loaded string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReloadTimeout)
	defer cancel()
	select {
	case sl.reload1 <- struct{}{}:
	case <-ctx.Done():
		s.log.Error("reload rejected", "model", sl.name, "dir", dir, "err", "another reload still running", "timeout", s.cfg.ReloadTimeout)
		return "", "", dir, errReloadTimeout
	}
	unlock := true
	defer func() {
		if unlock {
			<-sl.reload1
		}
	}()
	old := sl.acquire()
	if old == nil {
		return "", "", "", errNoModel
	}
	defer old.release()
	prev, loaded = old.id(), old.dir
	if dir != "" {
		loaded = filepath.Clean(dir)
	}
	type result struct {
		m   *model
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := loadModel(ctx, loaded, s.cfg, s.log, s.met)
		done <- result{m, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
	}
	if ctx.Err() != nil && res.err == nil {
		// Timed out: the load may still run. It keeps the reload slot
		// until it ends, so that no other load races it (badger's lock).
		unlock = false
		go func() {
			if res.m == nil {
				res = <-done
			}
			if res.m != nil {
				res.m.release()
			}
			<-sl.reload1
		}()
		s.met.reloads.WithLabelValues("error").Inc()
		s.log.Error("reload rejected", "dir", loaded, "err", errReloadTimeout, "timeout", s.cfg.ReloadTimeout)
		return "", prev, loaded, errReloadTimeout
	}
	if res.err == nil && !force {
		if why := schemaChange(old, res.m); why != "" {
			res.m.release()
			res.err = &requestError{status: http.StatusConflict,
				msg: fmt.Sprintf("reload rejected, still serving %s: %s; give \"force\": true to serve it anyway", prev, why)}
		}
	}
	if res.err != nil {
		s.met.reloads.WithLabelValues("error").Inc()
		s.log.Error("reload rejected", "dir", loaded, "err", res.err)
		return "", prev, loaded, res.err
	}
	m := res.m
	s.met.reloads.WithLabelValues("ok").Inc()
	s.setModel(sl, m)
	s.log.Info("model swapped", "model", sl.name, "previous", prev, "current", m.id(), "dir", loaded)
	return m.id(), prev, loaded, nil
}

// schemaChange says how the new model's requests differ from the old
// one's ("" when they do not): its kind (CTR or two-tower retrieval) or
// its feature names.
func schemaChange(old, m *model) string {
	kind := func(m *model) string {
		if m.ret != nil {
			return "a two-tower retrieval model"
		}
		return "a CTR model"
	}
	switch {
	case kind(old) != kind(m):
		return fmt.Sprintf("the new artifact is %s, the served one %s", kind(m), kind(old))
	case !slices.Equal(old.schema.cat, m.schema.cat) || !slices.Equal(old.schema.dense, m.schema.dense) || !slices.Equal(old.schema.bags, m.schema.bags):
		return fmt.Sprintf("the new artifact's features (%s) differ from the served ones (%s)", m.schema.names(), old.schema.names())
	}
	return ""
}

// reloadOnSignal reloads every model from its directory each time sig
// delivers (SIGHUP), until ctx ends: the Unix daemon convention, for
// deploy scripts that replace the artifact in place.
func (s *server) reloadOnSignal(ctx context.Context, sig <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-sig:
			s.log.Info("reload requested", "signal", v.String())
			for _, name := range s.models.Load().names {
				s.reload(ctx, name, "", false)
			}
		}
	}
}

// handleRows writes rows into a store that takes updates.
func (s *server) handleRows(w http.ResponseWriter, r *http.Request) error {
	m, err := s.acquireFor(r)
	if err != nil {
		return err
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
		switch {
		case errors.Is(err, lookup.ErrNotFound) || errors.Is(err, lookup.ErrShape):
			return badRequest("%v", err)
		case errors.Is(err, quant.ErrRange):
			// A value the row's codec cannot hold (beyond int8's
			// scale limit, fp16's range): the client's values.
			return &requestError{status: http.StatusUnprocessableEntity, msg: err.Error()}
		}
		return err
	}
	m.store.updated.Add(int64(len(keys)))
	return writeJSON(w, http.StatusOK, map[string]any{"model": m.id(), "rows": len(keys)})
}
