package main

// Many models in one process: each --model name=DIR is a slot whose
// current artifact a reload swaps; the set of slots is an immutable
// registry swapped whole when the admin API adds or removes a model, so
// requests find their model without a lock.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// modelSpec is one --model flag: a name and an artifact directory.
type modelSpec struct {
	Name, Dir string
}

// parseModelSpec reads "name=DIR" or "DIR" (named after the directory).
func parseModelSpec(v string) modelSpec {
	if name, dir, ok := strings.Cut(v, "="); ok && name != "" && !strings.ContainsAny(name, `/\`) {
		return modelSpec{Name: name, Dir: dir}
	}
	return modelSpec{Name: defaultModelName(v), Dir: v}
}

// validModelName reports whether name can be a path segment of the API.
func validModelName(name string) bool {
	return name != "" && len(name) <= 128 && !strings.ContainsAny(name, "/?#% \t\n\\=")
}

// slot is one named model.
type slot struct {
	name    string
	cur     atomic.Pointer[model]
	reload1 chan struct{} // one reload of this model at a time
}

// acquire returns the slot's model with a reference held, or nil once
// the slot is closed.
func (sl *slot) acquire() *model {
	for {
		m := sl.cur.Load()
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

// registry is the served set of models; names[0] is the default, the one
// a request without a model name gets.
type registry struct {
	slots map[string]*slot
	names []string
}

func (r *registry) with(sl *slot) *registry {
	n := &registry{slots: make(map[string]*slot, len(r.slots)+1), names: append(slices.Clone(r.names), sl.name)}
	for k, v := range r.slots {
		n.slots[k] = v
	}
	n.slots[sl.name] = sl
	return n
}

func (r *registry) without(name string) *registry {
	n := &registry{slots: make(map[string]*slot, len(r.slots)), names: slices.DeleteFunc(slices.Clone(r.names), func(s string) bool { return s == name })}
	for k, v := range r.slots {
		if k != name {
			n.slots[k] = v
		}
	}
	return n
}

// slot returns the slot called name ("" for the default model), or a 404
// listing the served names.
func (s *server) slot(name string) (*slot, error) {
	reg := s.models.Load()
	if name == "" {
		if len(reg.names) == 0 {
			return nil, errNoModel
		}
		name = reg.names[0]
	}
	sl, ok := reg.slots[name]
	if !ok {
		return nil, &requestError{status: http.StatusNotFound, msg: fmt.Sprintf("no model %q (served: %s)", name, strings.Join(reg.names, ", "))}
	}
	return sl, nil
}

// acquireNamed returns the model called name ("" for the default) with a
// reference held.
func (s *server) acquireNamed(name string) (*model, error) {
	sl, err := s.slot(name)
	if err != nil {
		return nil, err
	}
	m := sl.acquire()
	if m == nil {
		return nil, errNoModel
	}
	return m, nil
}

// acquireFor returns the model a /v1 request names with ?model=NAME (the
// default model without one).
func (s *server) acquireFor(r *http.Request) (*model, error) {
	return s.acquireNamed(r.URL.Query().Get("model"))
}

// acquire returns the default model with a reference held, or nil.
func (s *server) acquire() *model {
	m, err := s.acquireNamed("")
	if err != nil {
		return nil
	}
	return m
}

// anyModel reports whether at least one model is served.
func (s *server) anyModel() bool {
	for _, sl := range s.models.Load().slots {
		if sl.cur.Load() != nil {
			return true
		}
	}
	return false
}

// addModel loads dir and serves it as name; a name already served is a
// 409 (reload it instead).
func (s *server) addModel(ctx context.Context, name, dir string) (*model, error) {
	if !validModelName(name) {
		return nil, badRequest("model name %q: want 1 to 128 characters without '/', '?', '#', '%%', '=', '\\' or spaces", name)
	}
	s.modelsMu.Lock()
	defer s.modelsMu.Unlock()
	if _, ok := s.models.Load().slots[name]; ok {
		return nil, &requestError{status: http.StatusConflict, msg: fmt.Sprintf("model %q is already served: reload it (POST /v1/admin/reload with \"name\") or remove it first", name)}
	}
	m, err := loadModel(ctx, dir, s.cfg, s.log, s.met)
	if err != nil {
		s.met.reloads.WithLabelValues("error").Inc()
		return nil, err
	}
	s.met.reloads.WithLabelValues("ok").Inc()
	sl := &slot{name: name, reload1: make(chan struct{}, 1)}
	s.setModel(sl, m)
	s.models.Store(s.models.Load().with(sl))
	s.log.Info("model added", "name", name, "id", m.id(), "dir", dir)
	return m, nil
}

// removeModel stops serving name; its requests in flight finish first
// (the model closes with its last reference).
func (s *server) removeModel(name string) error {
	s.modelsMu.Lock()
	defer s.modelsMu.Unlock()
	sl, ok := s.models.Load().slots[name]
	if !ok {
		_, err := s.slot(name)
		return err
	}
	s.models.Store(s.models.Load().without(name))
	if old := sl.cur.Swap(nil); old != nil {
		old.oov.forget(s.met, name, old.schema.cat)
		om := old.art.Manifest()
		s.met.modelInfo.DeleteLabelValues(name, om.ID, om.Table.Method, om.Codec, s.cfg.Store)
		old.release()
	}
	s.log.Info("model removed", "name", name)
	return nil
}

// modelSummary is one entry of GET /v1/models.
type modelSummary struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Method  string `json:"method"`
	Codec   string `json:"codec"`
	Default bool   `json:"default,omitempty"`
	Dir     string `json:"dir,omitempty"` // admin clients only
}

func modelKind(m *model) string {
	if m.ret != nil {
		return "two-tower"
	}
	return "ctr"
}

// handleModels lists the served models.
func (s *server) handleModels(w http.ResponseWriter, r *http.Request) error {
	reg := s.models.Load()
	admin := s.checkAdmin(r) == nil
	out := []modelSummary{}
	for i, name := range reg.names {
		m := reg.slots[name].acquire()
		if m == nil {
			continue
		}
		man := m.art.Manifest()
		e := modelSummary{Name: name, ID: man.ID, Kind: modelKind(m), Method: man.Table.Method, Codec: man.Codec, Default: i == 0}
		if admin {
			e.Dir = m.dir
		}
		m.release()
		out = append(out, e)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"models": out})
}

// addModelRequest is the body of PUT /v1/admin/models/{name}.
type addModelRequest struct {
	// Model is the artifact directory (or a training run's directory).
	Model string `json:"model"`
}

func (s *server) handleAddModel(w http.ResponseWriter, r *http.Request) error {
	var req addModelRequest
	if err := decodeJSON(r.Body, &req); err != nil {
		return err
	}
	if req.Model == "" {
		return badRequest("model: the artifact directory to serve is required")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.ReloadTimeout)
	defer cancel()
	start := time.Now()
	m, err := s.addModel(ctx, r.PathValue("name"), modelDir(req.Model))
	var re *requestError
	switch {
	case errors.As(err, &re):
		return re
	case err != nil:
		s.log.Error("adding a model failed", "name", r.PathValue("name"), "dir", req.Model, "err", err)
		return &requestError{status: http.StatusUnprocessableEntity, msg: "the artifact did not load (details in the server log)"}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": r.PathValue("name"), "model": m.id(), "seconds": time.Since(start).Seconds()})
}

func (s *server) handleRemoveModel(w http.ResponseWriter, r *http.Request) error {
	if err := s.removeModel(r.PathValue("name")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"removed": r.PathValue("name")})
}

// observeModel records a request's latency under its model's name.
func (s *server) observeModel(name, handler string, start time.Time) {
	s.met.modelLatency.WithLabelValues(name, handler).Observe(time.Since(start).Seconds())
}
