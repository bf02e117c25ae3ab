package main

// Two-tower retrieval models: loading their retrieval part (towers, the
// item HNSW index mapped from the artifact, the catalog and the stored
// user vectors) and POST /v1/retrieve.
//
//	POST /v1/retrieve  {"user_id": "42"} or {"features": {"gender": "F", ...}},
//	                   optional "k" (default 10), "ef", "filter": {"first_genre": ["Comedy"]},
//	                   "exclude": ["2858", ...], "exclude_seen": true|false
//	                   -> {"model": ID, "items": [{"id": "2858", "score": 0.71}, ...]}
//
// By user_id the user's vector is the one stored at export; by features
// (raw values of the user tower's fields, every one of them: a request
// missing one, or giving it as null or "", is a 400 naming the missing
// fields, since an absent value would hash to a row training never
// updated) it is computed by the user tower from the table rows.
//
// A filter keeps the items whose named item fields each take one of the
// listed values (no value twice); "genres" is multi-valued (MovieLens
// "Comedy|Drama"): it matches when a listed value is one of the item's
// genres (or the whole value), other fields match the whole raw value.
// "exclude" lists item ids never to return (ids the model does not know
// are ignored). "exclude_seen" (user_id requests only; default true)
// leaves out the items the user interacted with in training, as the
// offline metrics do; artifacts written before the catalog kept these
// lists exclude nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/retrieval"
)

// Limits of /v1/retrieve.
const (
	defaultRetrieveK = 10
	maxRetrieveK     = 1 << 14
	maxRetrieveEf    = 1 << 14
	// maxRetrieveExclude bounds the "exclude" list.
	maxRetrieveExclude = 1 << 14
)

// twoTower is the retrieval part of a two-tower model.
type twoTower struct {
	r *retrieval.Retriever
	// userFields are the user tower's table fields; userAt maps their
	// names to their position in userFields.
	userFields []int
	userAt     map[string]int
	fieldDim   int
}

// loadTwoTower finishes loadModel for a two-tower artifact: the
// retriever, the row store for the user tower, and a test retrieval.
func loadTwoTower(ctx context.Context, dir string, a *artifact.Artifact, res *lookup.Resolver, cfg *config, log *slog.Logger, met *metrics, start time.Time) (*model, error) {
	man := a.Manifest()
	r, err := retrieval.OpenRetriever(a)
	if err != nil {
		return nil, err
	}
	tc := r.Towers.Config()
	tt := &twoTower{r: r, userFields: tc.UserFields, userAt: map[string]int{}, fieldDim: man.Table.Dim}
	for k, f := range tc.UserFields {
		tt.userAt[man.Fields[f]] = k
	}
	st, err := lookup.Open(ctx, cfg.Store, a, lookup.Config{
		Path: cfg.StorePath, Addrs: cfg.RedisAddrs, Prefix: cfg.StorePrefix, HugePages: cfg.HugePages,
		Logger: log.With("store", cfg.Store),
	})
	if err != nil {
		r.Close()
		return nil, err
	}
	ist := &instrumented{Store: st, name: cfg.Store, m: met}
	m := &model{
		dir: dir, art: a, store: ist, emb: lookup.NewEmbedder(res, ist.forEmbedder()), ret: tt,
		hasher: hashing.New(uint64(man.Hash.Seed), len(man.Fields)),
		schema: newSchemaIndex(man.Fields, man.Dense, nil),
		nf:     len(man.Fields), nd: len(man.Dense), dim: man.Table.Dim, log: log,
	}
	m.refs.Store(1)
	if _, err := m.retrieve(ctx, &retrieveQuery{Features: make([]string, len(tt.userFields)), K: 1}); err != nil {
		st.Close()
		r.Close()
		return nil, fmt.Errorf("%s: test retrieval: %w", dir, err)
	}
	log.Info("model loaded", "dir", dir, "id", man.ID, "model", retrieval.ModelName, "method", man.Table.Method, "codec", man.Codec,
		"store", cfg.Store, "items", r.Items(), "users", len(r.Catalog.Users), "dim", r.Dim(), "seconds", time.Since(start).Seconds())
	return m, nil
}

// close unmaps the index.
func (tt *twoTower) close() error { return tt.r.Close() }

// retrieveRequest is the body of POST /v1/retrieve.
type retrieveRequest struct {
	UserID   json.RawMessage            `json:"user_id"`
	Features map[string]json.RawMessage `json:"features"`
	// History lists item ids the user liked, oldest first, for a model
	// whose user tower reads a history (with "features").
	History []json.RawMessage            `json:"history"`
	K       *int                         `json:"k"`
	Ef      int                          `json:"ef"`
	Filter  map[string][]json.RawMessage `json:"filter"`
	Exclude []json.RawMessage            `json:"exclude"`
	// ExcludeSeen defaults to true for user_id requests.
	ExcludeSeen *bool `json:"exclude_seen"`
}

// retrieveQuery is a decoded /v1/retrieve request: a known user's key, or
// the raw values of the user tower's fields (in tower order).
type retrieveQuery struct {
	UserID   string
	ByID     bool
	Features []string
	History  []string
	K, Ef    int
	Filter   map[string][]string
	// Exclude are item ids not to return; ExcludeSeen leaves out the
	// known user's training items.
	Exclude     []string
	ExcludeSeen bool
}

// retrieveLimits bound a /v1/retrieve request.
type retrieveLimits struct {
	MaxK          int
	MaxFields     int
	IgnoreUnknown bool
}

// decodeRetrieve reads a /v1/retrieve request for a user tower whose
// fields are userAt (name -> position).
func decodeRetrieve(r io.Reader, userAt map[string]int, lim retrieveLimits) (*retrieveQuery, error) {
	var req retrieveRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	q := &retrieveQuery{K: defaultRetrieveK, Ef: req.Ef}
	if req.K != nil {
		q.K = *req.K
	}
	if q.K < 1 || q.K > lim.MaxK {
		return nil, badRequest("k %d: want 1 to %d", q.K, lim.MaxK)
	}
	if q.Ef < 0 || q.Ef > maxRetrieveEf {
		return nil, badRequest("ef %d: want 0 (the index's default) to %d", q.Ef, maxRetrieveEf)
	}
	hasID := len(req.UserID) > 0 && string(req.UserID) != "null"
	switch {
	case hasID && req.Features != nil:
		return nil, badRequest(`give "user_id" (a known user) or "features" (the user's fields), not both`)
	case hasID:
		v, err := categorical(req.UserID)
		if err != nil {
			return nil, badRequest("user_id: %v", err)
		}
		q.UserID, q.ByID = v, true
	case req.Features != nil:
		if len(req.Features) > lim.MaxFields {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("%d features, at most %d", len(req.Features), lim.MaxFields)}
		}
		q.Features = make([]string, len(userAt))
		for name, raw := range req.Features {
			k, ok := userAt[name]
			if !ok {
				if lim.IgnoreUnknown {
					continue
				}
				return nil, badRequest("unknown user feature %q (the user tower reads %s)", name, fieldNames(userAt))
			}
			v, err := categorical(raw)
			if err != nil {
				return nil, badRequest("feature %q: %v", name, err)
			}
			q.Features[k] = v
		}
		var missing []string
		for name, k := range userAt {
			if q.Features[k] == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			return nil, badRequest("features: missing user fields %v (the user tower reads %s; give each a value, not null or \"\")",
				missing, fieldNames(userAt))
		}
	default:
		return nil, badRequest(`no user: give "user_id" (a known user) or "features" (the user's fields)`)
	}
	if len(req.History) > 0 && q.ByID {
		return nil, badRequest(`"history" goes with "features": a known user's history is the model's`)
	}
	if len(req.History) > maxRetrieveExclude {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("history: %d ids, at most %d", len(req.History), maxRetrieveExclude)}
	}
	for i, raw := range req.History {
		v, err := categorical(raw)
		if err != nil {
			return nil, badRequest("history[%d]: %v", i, err)
		}
		q.History = append(q.History, v)
	}
	if len(req.Filter) > lim.MaxFields {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("filter on %d fields, at most %d", len(req.Filter), lim.MaxFields)}
	}
	if len(req.Filter) > 0 {
		q.Filter = make(map[string][]string, len(req.Filter))
		total := 0
		for name, vals := range req.Filter {
			if len(vals) == 0 {
				return nil, badRequest("filter %q: no values (an item passes when the field has one of the listed values)", name)
			}
			total += len(vals)
			if total > lim.MaxFields*16 {
				return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("filter: more than %d values", lim.MaxFields*16)}
			}
			listed := make(map[string]bool, len(vals))
			for _, raw := range vals {
				v, err := categorical(raw)
				if err != nil {
					return nil, badRequest("filter %q: %v", name, err)
				}
				if listed[v] {
					return nil, badRequest("filter %q: value %q listed twice", name, v)
				}
				listed[v] = true
				q.Filter[name] = append(q.Filter[name], v)
			}
		}
	}
	if len(req.Exclude) > maxRetrieveExclude {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("exclude: %d ids, at most %d", len(req.Exclude), maxRetrieveExclude)}
	}
	for i, raw := range req.Exclude {
		v, err := categorical(raw)
		if err != nil {
			return nil, badRequest("exclude[%d]: %v", i, err)
		}
		q.Exclude = append(q.Exclude, v)
	}
	q.ExcludeSeen = q.ByID
	if req.ExcludeSeen != nil {
		if *req.ExcludeSeen && !q.ByID {
			return nil, badRequest(`"exclude_seen" needs a "user_id" (a known user's training items)`)
		}
		q.ExcludeSeen = *req.ExcludeSeen
	}
	return q, nil
}

// fieldNames lists the names of userAt in tower order.
func fieldNames(userAt map[string]int) string {
	names := make([]string, len(userAt))
	for n, k := range userAt {
		names[k] = n
	}
	return fmt.Sprint(names)
}

// retrieved is one item of a /v1/retrieve reply.
type retrieved struct {
	ID    string  `json:"id"`
	Score float32 `json:"score"`
}

// retrieve answers q with the model's retriever.
func (m *model) retrieve(ctx context.Context, q *retrieveQuery) ([]retrieved, error) {
	tt := m.ret
	var vec []float32
	if q.ByID {
		v, ok := tt.r.UserVector(q.UserID)
		if !ok {
			return nil, &requestError{status: http.StatusNotFound,
				msg: fmt.Sprintf("unknown user_id %q: the model has no vector for it; give the user's \"features\" instead", q.UserID)}
		}
		vec = v
	} else {
		n := len(tt.userFields)
		ids := make([]uint64, n)
		for k, f := range tt.userFields {
			ids[k] = m.hasher.HashString(f, q.Features[k])
		}
		x := make([]float32, n*tt.fieldDim)
		if err := m.emb.LookupFields(ctx, tt.userFields, ids, x); err != nil {
			return nil, err
		}
		if tc := tt.r.Towers.Config(); tc.History > 0 {
			// The mean of the history's item-key vectors, as in training
			// (its last History items; none: the zero vector).
			h := q.History[max(0, len(q.History)-tc.History):]
			hids, hf := make([]uint64, len(h)), make([]int, len(h))
			for j, v := range h {
				hf[j], hids[j] = tc.ItemFields[0], m.hasher.HashString(tc.ItemFields[0], v)
			}
			hv := make([]float32, len(h)*tt.fieldDim)
			if len(h) > 0 {
				if err := m.emb.LookupFields(ctx, hf, hids, hv); err != nil {
					return nil, err
				}
			}
			x = append(x, retrieval.MeanVector(hv, len(h), tt.fieldDim)...)
		} else if len(q.History) > 0 {
			return nil, badRequest(`"history": this model's user tower reads no history`)
		}
		vec = make([]float32, tt.r.Dim())
		if err := tt.r.Towers.EmbedUsers(nil, 1, x, vec); err != nil {
			return nil, err
		}
		if !finite(vec) {
			return nil, errNonFinite
		}
	}
	opt := retrieval.Options{Ef: q.Ef, Filter: q.Filter}
	if q.ByID && q.ExcludeSeen {
		opt.Exclude = tt.r.Seen(q.UserID)
	}
	if len(q.Exclude) > 0 {
		opt.Exclude = slices.Clip(opt.Exclude) // Seen's list is shared
		for _, id := range q.Exclude {
			if i, ok := tt.r.ItemIndex(id); ok {
				opt.Exclude = append(opt.Exclude, i)
			}
		}
	}
	hits, err := tt.r.Retrieve(ctx, vec, q.K, opt)
	if err != nil {
		if errors.Is(err, retrieval.ErrFilter) {
			return nil, badRequest("%v", err)
		}
		return nil, err
	}
	out := make([]retrieved, len(hits))
	for i, h := range hits {
		out[i] = retrieved{ID: h.Key, Score: h.Score}
	}
	return out, nil
}

// retrieveResponse is the reply of /v1/retrieve.
type retrieveResponse struct {
	Model string      `json:"model"`
	Items []retrieved `json:"items"`
}

// errNotTwoTower answers /v1/retrieve for a CTR model.
var errNotTwoTower = &requestError{status: http.StatusNotFound,
	msg: "the served model is a CTR model, not a two-tower retrieval model: /v1/retrieve needs an artifact of cmd/twotower"}

func (s *server) handleRetrieve(w http.ResponseWriter, r *http.Request) error {
	m, err := s.acquireFor(r)
	if err != nil {
		return err
	}
	defer m.release()
	defer s.observeModel(m.name, "retrieve", time.Now())
	if m.ret == nil {
		return errNotTwoTower
	}
	q, err := decodeRetrieve(r.Body, m.ret.userAt, retrieveLimits{MaxK: s.cfg.MaxK, MaxFields: s.cfg.MaxFields, IgnoreUnknown: s.cfg.IgnoreUnknownFields})
	if err != nil {
		return err
	}
	items, err := m.retrieve(r.Context(), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, retrieveResponse{Model: m.id(), Items: items})
}
