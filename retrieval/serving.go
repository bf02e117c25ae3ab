package retrieval

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/embtab/embtab/ann"
	"github.com/embtab/embtab/ann/vecfile"
	"github.com/embtab/embtab/artifact"
)

// IsTwoTower reports whether an artifact's model config is a two-tower
// model's (its "name" is ModelName).
func IsTwoTower(m *artifact.Manifest) bool {
	var head struct {
		Name string `json:"name"`
	}
	return json.Unmarshal(m.Model, &head) == nil && head.Name == ModelName
}

// Retriever answers top-k item queries over a two-tower artifact: the
// towers, the item index (mapped from the artifact's file), the catalog
// and the stored vectors. It is safe for concurrent use until Close.
type Retriever struct {
	Towers  *Towers
	Index   *ann.Index
	Catalog *Catalog
	dim     int
	items   []float32 // item vectors, catalog order
	users   []float32 // user vectors, catalog order
	userAt  map[string]int32
	fieldAt map[string]int
	// byValue[k][v] lists the items whose item field k has value v.
	byValue []map[string][]int32
}

// Hit is one retrieved item: its catalog position, key and score (the dot
// product of the user and item vectors).
type Hit struct {
	Item  int32
	Key   string
	Score float32
}

// ErrFilter reports a filter that names an unknown field.
var ErrFilter = errors.New("retrieval: bad filter")

// OpenRetriever loads the retrieval part of an open two-tower artifact.
// The index stays mapped until Close; the artifact must stay open as long
// as the Retriever is used (Close the Retriever first).
func OpenRetriever(a *artifact.Artifact) (_ *Retriever, err error) {
	man := a.Manifest()
	if !IsTwoTower(man) {
		return nil, fmt.Errorf("open retriever %s: the model is not a %s model", a.Dir(), ModelName)
	}
	t, err := LoadTowers(bytes.NewReader(a.DenseState()))
	if err != nil {
		return nil, fmt.Errorf("open retriever %s: %w", a.Dir(), err)
	}
	c := t.cfg
	if !slices.Equal(c.Fields, man.Fields) || c.Dim != man.Table.Dim {
		return nil, fmt.Errorf("open retriever %s: towers read fields %v of dim %d, the table has %v of dim %d: %w",
			a.Dir(), c.Fields, c.Dim, man.Fields, man.Table.Dim, artifact.ErrCorrupt)
	}
	r := &Retriever{Towers: t, dim: c.Out, fieldAt: map[string]int{}}
	raw, err := a.ReadExtra(CatalogFile)
	if err != nil {
		return nil, fmt.Errorf("open retriever: %w", err)
	}
	r.Catalog = new(Catalog)
	if err := json.Unmarshal(raw, r.Catalog); err != nil {
		return nil, fmt.Errorf("open retriever %s: %s: %w: %w", a.Dir(), CatalogFile, artifact.ErrCorrupt, err)
	}
	cat := r.Catalog
	if len(cat.ItemFields) != len(c.ItemFields) {
		return nil, fmt.Errorf("open retriever %s: catalog has %d item fields, the towers %d: %w", a.Dir(), len(cat.ItemFields), len(c.ItemFields), artifact.ErrCorrupt)
	}
	for k, name := range cat.ItemFields {
		r.fieldAt[name] = k
	}
	r.byValue = make([]map[string][]int32, len(cat.ItemFields))
	for k := range r.byValue {
		r.byValue[k] = map[string][]int32{}
	}
	for i, it := range cat.Items {
		if len(it.Values) != len(cat.ItemFields) {
			return nil, fmt.Errorf("open retriever %s: item %d has %d values for %d fields: %w", a.Dir(), i, len(it.Values), len(cat.ItemFields), artifact.ErrCorrupt)
		}
		for k, v := range it.Values {
			r.byValue[k][v] = append(r.byValue[k][v], int32(i))
		}
	}
	if r.items, err = readVectors(a, ItemVectorsFile, len(cat.Items), c.Out); err != nil {
		return nil, err
	}
	if r.users, err = readVectors(a, UserVectorsFile, len(cat.Users), c.Out); err != nil {
		return nil, err
	}
	r.userAt = make(map[string]int32, len(cat.Users))
	for i, u := range cat.Users {
		r.userAt[u] = int32(i)
	}
	path, err := a.ExtraPath(IndexFile)
	if err != nil {
		return nil, fmt.Errorf("open retriever: %w", err)
	}
	if r.Index, err = ann.OpenMmap(path); err != nil {
		return nil, fmt.Errorf("open retriever: %w", err)
	}
	if ic := r.Index.Config(); ic.Dim != c.Out || ic.Metric != ann.InnerProduct || r.Index.Len() != len(cat.Items) {
		r.Index.Close()
		return nil, fmt.Errorf("open retriever %s: index of %d %s vectors of dim %d for %d items of dim %d: %w",
			a.Dir(), r.Index.Len(), ic.Metric, ic.Dim, len(cat.Items), c.Out, artifact.ErrCorrupt)
	}
	return r, nil
}

func readVectors(a *artifact.Artifact, name string, n, dim int) ([]float32, error) {
	raw, err := a.ReadExtra(name)
	if err != nil {
		return nil, fmt.Errorf("open retriever: %w", err)
	}
	v, d, err := vecfile.ReadFvecs(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("open retriever %s: %s: %w: %w", a.Dir(), name, artifact.ErrCorrupt, err)
	}
	if n > 0 && (d != dim || len(v) != n*dim) {
		return nil, fmt.Errorf("open retriever %s: %s holds %d values of dim %d, want %d vectors of dim %d: %w",
			a.Dir(), name, len(v), d, n, dim, artifact.ErrCorrupt)
	}
	return v, nil
}

// Close unmaps the index.
func (r *Retriever) Close() error { return r.Index.Close() }

// Dim returns the vectors' dim.
func (r *Retriever) Dim() int { return r.dim }

// Items returns the number of items.
func (r *Retriever) Items() int { return len(r.Catalog.Items) }

// UserVector returns the stored vector of the known user key (shared:
// do not modify).
func (r *Retriever) UserVector(key string) ([]float32, bool) {
	i, ok := r.userAt[key]
	if !ok {
		return nil, false
	}
	return r.users[int(i)*r.dim : int(i+1)*r.dim], true
}

// ItemVector returns the stored vector of catalog item i (shared: do not
// modify).
func (r *Retriever) ItemVector(i int) []float32 { return r.items[i*r.dim : (i+1)*r.dim] }

// allowed returns the items that pass filter (field name -> accepted
// values; an item passes when each named field has one of its values),
// sorted, or nil and false when there is no filter.
func (r *Retriever) allowed(filter map[string][]string) ([]int32, bool, error) {
	if len(filter) == 0 {
		return nil, false, nil
	}
	var pass []int32
	first := true
	names := make([]string, 0, len(filter))
	for name := range filter {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		k, ok := r.fieldAt[name]
		if !ok {
			return nil, true, fmt.Errorf("filter field %q: the items' fields are %s: %w", name, strings.Join(r.Catalog.ItemFields, ", "), ErrFilter)
		}
		var set []int32
		for _, v := range filter[name] {
			set = append(set, r.byValue[k][v]...)
		}
		slices.Sort(set)
		set = slices.Compact(set)
		if first {
			pass, first = set, false
			continue
		}
		pass = intersect(pass, set)
	}
	return pass, true, nil
}

func intersect(a, b []int32) []int32 {
	out := a[:0:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// exactScanLimit is the largest filtered item set Retrieve scores exactly
// instead of searching the index.
const exactScanLimit = 4096

// Retrieve returns the k items of highest score for the user vector q
// that pass filter, best first. Without a filter it searches the index
// with ef (0: the index's default; raised to k). With one, a small
// passing set (up to 4096 items, or a tenth of the items) is scored
// exactly; a large one is searched in the index with more candidates
// (about k over the passing fraction, doubled until k pass or all items
// were candidates), the results filtered; exact scoring of the passing
// set is the fallback.
func (r *Retriever) Retrieve(q []float32, k, ef int, filter map[string][]string) ([]Hit, error) {
	if len(q) != r.dim {
		return nil, fmt.Errorf("retrieve: query of %d values, the model's vectors have %d", len(q), r.dim)
	}
	for _, v := range q {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, errors.New("retrieve: non-finite query vector")
		}
	}
	n := len(r.Catalog.Items)
	k = min(k, n)
	if k <= 0 {
		return nil, nil
	}
	if ef <= 0 {
		ef = r.Index.Config().EfSearch
	}
	pass, filtered, err := r.allowed(filter)
	if err != nil {
		return nil, err
	}
	if !filtered {
		res, err := r.Index.Search(q, k, max(ef, k))
		if err != nil {
			return nil, fmt.Errorf("retrieve: %w", err)
		}
		return r.hits(res, nil, k), nil
	}
	if len(pass) == 0 {
		return []Hit{}, nil
	}
	if len(pass) <= exactScanLimit || len(pass) <= n/10 {
		return r.exact(q, pass, k), nil
	}
	cand := min(n, k*n/len(pass)*2)
	for {
		res, err := r.Index.Search(q, cand, max(ef, cand))
		if err != nil {
			return nil, fmt.Errorf("retrieve: %w", err)
		}
		if h := r.hits(res, pass, k); len(h) == k {
			return h, nil
		}
		if cand >= n {
			return r.exact(q, pass, k), nil
		}
		cand = min(n, 2*cand)
	}
}

// hits turns index results into hits, keeping those in pass (sorted;
// nil: all), at most k.
func (r *Retriever) hits(res []ann.Result, pass []int32, k int) []Hit {
	out := make([]Hit, 0, k)
	for _, x := range res {
		i := int32(x.ID)
		if pass != nil {
			if _, ok := slices.BinarySearch(pass, i); !ok {
				continue
			}
		}
		out = append(out, Hit{Item: i, Key: r.Catalog.Items[i].Key, Score: -x.Distance})
		if len(out) == k {
			break
		}
	}
	return out
}

// exact scores the items of pass and returns the top k, best first (ties
// by catalog order).
func (r *Retriever) exact(q []float32, pass []int32, k int) []Hit {
	hs := make([]Hit, len(pass))
	for j, i := range pass {
		v := r.items[int(i)*r.dim : int(i+1)*r.dim]
		var s float32
		for c, x := range q {
			s += x * v[c]
		}
		hs[j] = Hit{Item: i, Key: r.Catalog.Items[i].Key, Score: s}
	}
	slices.SortFunc(hs, func(a, b Hit) int { return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Item, b.Item)) })
	return hs[:min(k, len(hs))]
}

// ExactAll is Retrieve by exact scoring of every passing item, for tests
// and for checking the index.
func (r *Retriever) ExactAll(q []float32, k int, filter map[string][]string) ([]Hit, error) {
	pass, filtered, err := r.allowed(filter)
	if err != nil {
		return nil, err
	}
	if !filtered {
		pass = make([]int32, len(r.Catalog.Items))
		for i := range pass {
			pass[i] = int32(i)
		}
	}
	return r.exact(q, pass, k), nil
}
