package retrieval

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
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

// multiValued maps the item fields whose raw value holds several values
// to their separator: MovieLens "genres" ("Comedy|Drama|War"). A filter
// on such a field matches an item when a listed value is one of the
// item's values, or its whole raw value; other fields match the whole
// raw value only.
var multiValued = map[string]string{"genres": "|"}

// maxItemFields bounds the item fields of a catalog (filters count the
// fields an item matched in a byte).
const maxItemFields = 250

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
	itemAt  map[string]int32
	fieldAt map[string]int
	// byValue[k][v] lists the items (increasing, each once) whose item
	// field k has value v (for multi-valued fields: among its values).
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
// as the Retriever is used (Close the Retriever first). Everything a
// query trusts is checked: the catalog's item fields against the towers',
// the vectors' count, dim and finiteness, the seen lists and every index
// id (a catalog position).
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
	raw, err := a.ReadExtra(CatalogFile)
	if err != nil {
		return nil, fmt.Errorf("open retriever: %w", err)
	}
	cat := new(Catalog)
	if err := json.Unmarshal(raw, cat); err != nil {
		return nil, fmt.Errorf("open retriever %s: %s: %w: %w", a.Dir(), CatalogFile, artifact.ErrCorrupt, err)
	}
	items, err := readVectors(a, ItemVectorsFile, len(cat.Items), c.Out)
	if err != nil {
		return nil, err
	}
	users, err := readVectors(a, UserVectorsFile, len(cat.Users), c.Out)
	if err != nil {
		return nil, err
	}
	r, err := newRetriever(t, cat, items, users)
	if err != nil {
		return nil, fmt.Errorf("open retriever %s: %w: %w", a.Dir(), artifact.ErrCorrupt, err)
	}
	path, err := a.ExtraPath(IndexFile)
	if err != nil {
		return nil, fmt.Errorf("open retriever: %w", err)
	}
	if r.Index, err = ann.OpenMmap(path); err != nil {
		return nil, fmt.Errorf("open retriever: %w", err)
	}
	if err := r.checkIndex(path); err != nil {
		r.Index.Close()
		return nil, fmt.Errorf("open retriever %s: %w: %w", a.Dir(), artifact.ErrCorrupt, err)
	}
	return r, nil
}

// newRetriever checks cat and the vectors against the towers t and
// returns a Retriever without its index.
func newRetriever(t *Towers, cat *Catalog, items, users []float32) (*Retriever, error) {
	c := t.cfg
	n := len(cat.Items)
	if len(cat.ItemFields) != len(c.ItemFields) {
		return nil, fmt.Errorf("catalog has %d item fields, the towers %d", len(cat.ItemFields), len(c.ItemFields))
	}
	if len(cat.ItemFields) > maxItemFields {
		return nil, fmt.Errorf("catalog has %d item fields, at most %d", len(cat.ItemFields), maxItemFields)
	}
	r := &Retriever{Towers: t, Catalog: cat, dim: c.Out, items: items, users: users, fieldAt: map[string]int{}}
	for k, name := range cat.ItemFields {
		if want := c.Fields[c.ItemFields[k]]; name != want {
			return nil, fmt.Errorf("catalog item field %d is %q, the item tower's is %q", k, name, want)
		}
		r.fieldAt[name] = k
	}
	if len(items) != n*c.Out || len(users) != len(cat.Users)*c.Out {
		return nil, fmt.Errorf("%d item and %d user values for %d items and %d users of dim %d", len(items), len(users), n, len(cat.Users), c.Out)
	}
	for name, v := range map[string][]float32{"item": items, "user": users} {
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%s vector %d has a non-finite value", name, i/c.Out)
			}
		}
	}
	r.itemAt = make(map[string]int32, n)
	r.byValue = make([]map[string][]int32, len(cat.ItemFields))
	for k := range r.byValue {
		r.byValue[k] = map[string][]int32{}
	}
	for i, it := range cat.Items {
		if len(it.Values) != len(cat.ItemFields) {
			return nil, fmt.Errorf("item %d has %d values for %d fields", i, len(it.Values), len(cat.ItemFields))
		}
		if _, dup := r.itemAt[it.Key]; dup {
			return nil, fmt.Errorf("item key %q appears twice", it.Key)
		}
		r.itemAt[it.Key] = int32(i)
		for k, v := range it.Values {
			r.byValue[k][v] = append(r.byValue[k][v], int32(i))
			sep, multi := multiValued[cat.ItemFields[k]]
			if !multi || !strings.Contains(v, sep) {
				continue
			}
			parts := strings.Split(v, sep)
			slices.Sort(parts)
			for _, p := range slices.Compact(parts) {
				r.byValue[k][p] = append(r.byValue[k][p], int32(i))
			}
		}
	}
	r.userAt = make(map[string]int32, len(cat.Users))
	for i, u := range cat.Users {
		if _, dup := r.userAt[u]; dup {
			return nil, fmt.Errorf("user key %q appears twice", u)
		}
		r.userAt[u] = int32(i)
	}
	if len(cat.Seen) != 0 && len(cat.Seen) != len(cat.Users) {
		return nil, fmt.Errorf("seen lists for %d users, the catalog has %d", len(cat.Seen), len(cat.Users))
	}
	for u, list := range cat.Seen {
		for _, i := range list {
			if i < 0 || int(i) >= n {
				return nil, fmt.Errorf("user %d saw item %d of %d", u, i, n)
			}
		}
	}
	return r, nil
}

// checkIndex checks the mapped index against the catalog: its config,
// its size (no deleted nodes), and that every id is a catalog position
// (read from the labels section of the file at path: after the 128-byte
// header, one little-endian uint64 per node; docs/format/ann.md).
func (r *Retriever) checkIndex(path string) error {
	n := len(r.Catalog.Items)
	ic := r.Index.Config()
	nodes := r.Index.Nodes()
	if ic.Dim != r.dim || ic.Metric != ann.InnerProduct || r.Index.Len() != n || nodes != n {
		return fmt.Errorf("index of %d %s vectors (%d nodes) of dim %d for %d items of dim %d",
			r.Index.Len(), ic.Metric, nodes, ic.Dim, n, r.dim)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	const headerSize, chunk = 128, 8192
	buf := make([]byte, 8*chunk)
	for lo := 0; lo < nodes; lo += chunk {
		b := buf[:8*min(chunk, nodes-lo)]
		if _, err := f.ReadAt(b, headerSize+8*int64(lo)); err != nil {
			return fmt.Errorf("index ids: %w", err)
		}
		for j := range len(b) / 8 {
			if id := binary.LittleEndian.Uint64(b[8*j:]); id >= uint64(n) {
				return fmt.Errorf("index node %d has id %d, the catalog %d items", lo+j, id, n)
			}
		}
	}
	return nil
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
	if len(v) != n*dim || len(v) > 0 && d != dim {
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

// Seen returns the catalog positions of the items the known user key
// interacted with in training (shared: do not modify); nil for an
// unknown user or a catalog without seen lists (artifacts written before
// them).
func (r *Retriever) Seen(key string) []int32 {
	i, ok := r.userAt[key]
	if !ok || len(r.Catalog.Seen) == 0 {
		return nil
	}
	return r.Catalog.Seen[i]
}

// ItemIndex returns the catalog position of the item key.
func (r *Retriever) ItemIndex(key string) (int32, bool) {
	i, ok := r.itemAt[key]
	return i, ok
}

// ItemVector returns the stored vector of catalog item i (shared: do not
// modify).
func (r *Retriever) ItemVector(i int) []float32 { return r.items[i*r.dim : (i+1)*r.dim] }

// Options are the optional parts of a query.
type Options struct {
	// Ef is the beam of the index search (0: the index's default; raised
	// to k).
	Ef int
	// Filter keeps the items whose named item fields each take one of the
	// listed values; a multi-valued field (MovieLens "genres", values
	// separated by "|") matches when a listed value is one of the item's
	// values or its whole raw value, other fields the whole raw value.
	Filter map[string][]string
	// Exclude lists catalog positions never to return (like a user's
	// seen items); positions out of range are ignored.
	Exclude []int32
}

// passing returns which items pass filter and are not in exclude (ok[i]
// for catalog item i) and how many do; ok is nil when there is neither a
// filter nor an exclusion (every item passes). The work is O(items + the
// items listed under the filter's distinct values), however many values
// (repeated or not) the filter lists.
func (r *Retriever) passing(ctx context.Context, filter map[string][]string, exclude []int32) ([]bool, int, error) {
	n := len(r.Catalog.Items)
	if len(filter) == 0 && len(exclude) == 0 {
		return nil, n, nil
	}
	names := make([]string, 0, len(filter))
	for name := range filter {
		names = append(names, name)
	}
	slices.Sort(names)
	fields := make([]int, len(names))
	for j, name := range names {
		k, ok := r.fieldAt[name]
		if !ok {
			return nil, 0, fmt.Errorf("filter field %q: the items' fields are %s: %w", name, strings.Join(r.Catalog.ItemFields, ", "), ErrFilter)
		}
		fields[j] = k
	}
	// matched[i] counts the filter's fields item i matched so far, each
	// once: names are distinct item fields, so there are at most
	// maxItemFields of them.
	matched := make([]uint8, n)
	for j, k := range fields {
		vals := filter[names[j]]
		done := make(map[string]bool, len(vals))
		for _, v := range vals {
			if done[v] {
				continue
			}
			done[v] = true
			for _, i := range r.byValue[k][v] {
				if matched[i] == uint8(j) {
					matched[i]++
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
	}
	ok := make([]bool, n)
	want := uint8(len(fields))
	for i, m := range matched {
		ok[i] = m == want
	}
	for _, i := range exclude {
		if i >= 0 && int(i) < n {
			ok[i] = false
		}
	}
	count := 0
	for _, p := range ok {
		if p {
			count++
		}
	}
	return ok, count, nil
}

// exactScanLimit is the largest filtered item set Retrieve always scores
// exactly instead of searching the index; maxIndexCandidates bounds the
// candidates (and so the beam) of a filtered index search.
const (
	exactScanLimit     = 4096
	maxIndexCandidates = 4 * exactScanLimit
)

// checkQuery checks a query vector.
func (r *Retriever) checkQuery(q []float32) error {
	if len(q) != r.dim {
		return fmt.Errorf("retrieve: query of %d values, the model's vectors have %d", len(q), r.dim)
	}
	for _, v := range q {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return errors.New("retrieve: non-finite query vector")
		}
	}
	return nil
}

// Retrieve returns the k items of highest score for the user vector q
// that pass o's filter and exclusions, best first; k <= 0 gives none.
// Without a filter or exclusion it searches the index with o.Ef. With
// them, a passing set of at most 4096 items, or at most a tenth of the
// items, is scored exactly (one pass over the items, a heap of k); a
// larger one is searched in the index with more candidates (about k over
// the passing fraction, doubled until k pass, at most 16384) and the
// results filtered, with exact scoring of the passing set as the
// fallback. ctx is checked in the long loops.
func (r *Retriever) Retrieve(ctx context.Context, q []float32, k int, o Options) ([]Hit, error) {
	if err := r.checkQuery(q); err != nil {
		return nil, err
	}
	n := len(r.Catalog.Items)
	k = min(k, n)
	if k <= 0 {
		return []Hit{}, nil
	}
	ef := o.Ef
	if ef <= 0 {
		ef = r.Index.Config().EfSearch
	}
	ok, count, err := r.passing(ctx, o.Filter, o.Exclude)
	if err != nil {
		return nil, err
	}
	if ok == nil {
		res, err := r.Index.Search(q, k, max(ef, k))
		if err != nil {
			return nil, fmt.Errorf("retrieve: %w", err)
		}
		return r.hits(res, nil, k)
	}
	if count == 0 {
		return []Hit{}, nil
	}
	if count <= exactScanLimit || count <= n/10 {
		return r.exact(ctx, q, ok, k)
	}
	if limit := min(n, maxIndexCandidates); k <= limit {
		cand := min(limit, max(k, 2*k*n/count))
		for {
			res, err := r.Index.Search(q, cand, max(ef, cand))
			if err != nil {
				return nil, fmt.Errorf("retrieve: %w", err)
			}
			h, err := r.hits(res, ok, k)
			if err != nil || len(h) == k {
				return h, err
			}
			if cand >= limit {
				break
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			cand = min(limit, 2*cand)
		}
	}
	return r.exact(ctx, q, ok, k)
}

// hits turns index results into hits, keeping those with ok[id] (nil:
// all), at most k.
func (r *Retriever) hits(res []ann.Result, ok []bool, k int) ([]Hit, error) {
	n := len(r.Catalog.Items)
	out := make([]Hit, 0, k)
	for _, x := range res {
		if x.ID >= uint64(n) {
			return nil, fmt.Errorf("retrieve: index id %d of %d items: %w", x.ID, n, artifact.ErrCorrupt)
		}
		i := int32(x.ID)
		if ok != nil && !ok[i] {
			continue
		}
		out = append(out, Hit{Item: i, Key: r.Catalog.Items[i].Key, Score: -x.Distance})
		if len(out) == k {
			break
		}
	}
	return out, nil
}

// compareHits orders hits best first: higher score, then lower position.
func compareHits(a, b Hit) int {
	return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Item, b.Item))
}

// exact scores the items with ok[i] (nil: all) and returns the top k,
// best first (ties by catalog order), keeping a heap of k hits whose root
// is the worst.
func (r *Retriever) exact(ctx context.Context, q []float32, ok []bool, k int) ([]Hit, error) {
	n := len(r.Catalog.Items)
	k = min(k, n)
	if k <= 0 {
		return []Hit{}, nil
	}
	h := make([]Hit, 0, k)
	for i := range n {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if ok != nil && !ok[i] {
			continue
		}
		v := r.items[i*r.dim : (i+1)*r.dim]
		var s float32
		for c, x := range q {
			s += x * v[c]
		}
		x := Hit{Item: int32(i), Score: s}
		if len(h) < k {
			h = append(h, x)
			for j := len(h) - 1; j > 0; {
				p := (j - 1) / 2
				if compareHits(h[j], h[p]) <= 0 {
					break
				}
				h[j], h[p] = h[p], h[j]
				j = p
			}
			continue
		}
		if compareHits(x, h[0]) >= 0 {
			continue
		}
		h[0] = x
		for j := 0; ; {
			c := 2*j + 1
			if c >= len(h) {
				break
			}
			if c+1 < len(h) && compareHits(h[c+1], h[c]) > 0 {
				c++
			}
			if compareHits(h[c], h[j]) <= 0 {
				break
			}
			h[j], h[c] = h[c], h[j]
			j = c
		}
	}
	slices.SortFunc(h, compareHits)
	for j := range h {
		h[j].Key = r.Catalog.Items[h[j].Item].Key
	}
	return h, nil
}

// ExactAll is Retrieve by exact scoring of every passing item, for tests
// and for checking the index; k <= 0 gives none.
func (r *Retriever) ExactAll(q []float32, k int, o Options) ([]Hit, error) {
	if err := r.checkQuery(q); err != nil {
		return nil, err
	}
	ctx := context.Background()
	ok, _, err := r.passing(ctx, o.Filter, o.Exclude)
	if err != nil {
		return nil, err
	}
	return r.exact(ctx, q, ok, k)
}
