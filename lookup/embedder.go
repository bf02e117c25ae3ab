package lookup

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/quant"
)

// Embedder looks up field vectors for ids through the table's plan and the
// fused gather-dequantize kernels ([embedding.Gatherer]): it resolves each
// id to its keys with the method's key functions, then
//
//   - from a [Mapped] store (mmap), gathers the rows in place from the
//     mapped row files in the artifact's codec, pooling in the kernel where
//     the plan's combine is a plain sum: no per-row decode, no copy;
//   - from any other store (badger, Redis Cluster), fetches the batch's
//     distinct rows in one Get, then gathers and combines them with the
//     same kernels.
//
// Either way the float32 operations are the training table's, in the same
// order. It is safe for concurrent use (its scratch is pooled).
type Embedder struct {
	res     *Resolver
	store   Store
	mapped  Mapped
	threads int
	pool    sync.Pool // *scratch
	// The plan's shared rows (a projection, a codebook: every id of a
	// field reads them), read once from the store at the first lookup and
	// given to every scratch's gatherer (embedding.Gatherer.FixShared),
	// so that a request does not gather a whole codebook; nil until read
	// (hasShared: the plan has some).
	hasShared bool
	sharedMu  sync.Mutex
	shared    [][]float32
}

// scratch holds one lookup's buffers.
type scratch struct {
	g     *embedding.Gatherer
	fixed bool          // g has the shared rows
	index map[Key]int32 // distinct key -> its row in its set's fetched rows
	first []Key         // distinct keys, in first-use order
	count []int32       // distinct keys per row set
	off   []int32       // first fetched row of each set
	fetch []Key         // distinct keys grouped by set: what Get reads
	rowOf []int32       // each key's row in its set's fetched rows
	rows  []float32     // the fetched rows, Width floats each
	tabs  []kernels.Table
}

// NewEmbedder returns an embedder reading rows through r's plan from s.
func NewEmbedder(r *Resolver, s Store) *Embedder {
	e := &Embedder{res: r, store: s, threads: 1}
	e.mapped, _ = s.(Mapped)
	for f := range r.plan.Fields {
		e.hasShared = e.hasShared || len(r.plan.Fields[f].Shared) > 0
	}
	return e
}

// sharedRows returns the plan's shared rows, reading them from the store
// the first time (a failed read is retried by the next lookup).
func (e *Embedder) sharedRows(ctx context.Context) ([][]float32, error) {
	e.sharedMu.Lock()
	defer e.sharedMu.Unlock()
	if e.shared != nil {
		return e.shared, nil
	}
	p, w := e.res.plan, e.res.width
	var keys []Key
	for f := range p.Fields {
		keys = append(keys, p.Fields[f].Shared...)
	}
	rows := make([]float32, len(keys)*w)
	if len(keys) > 0 {
		if err := e.store.Get(ctx, keys, rows); err != nil {
			return nil, fmt.Errorf("lookup: shared rows: %w", err)
		}
	}
	shared := make([][]float32, len(p.Fields))
	at := 0
	for f := range p.Fields {
		fp := &p.Fields[f]
		shared[f] = make([]float32, len(fp.Shared)*fp.Width)
		for j, k := range fp.Shared {
			sw := min(e.res.widths[k.Set], fp.Width)
			copy(shared[f][j*fp.Width:j*fp.Width+sw], rows[at*w:at*w+sw])
			at++
		}
	}
	e.shared = shared
	return shared, nil
}

// SetThreads sets the goroutines one lookup's kernels may use (default 1:
// a server runs many lookups at once).
func (e *Embedder) SetThreads(n int) { e.threads = max(n, 1) }

// Resolver returns the embedder's resolver.
func (e *Embedder) Resolver() *Resolver { return e.res }

// Store returns the embedder's store.
func (e *Embedder) Store() Store { return e.store }

// Lookup writes the vectors of whole examples: ids[b*F+f] is field f of
// example b (F = Resolver().Fields()), and out receives Dim floats per id
// in the same order, as embedding.Table.Lookup writes them. Errors wrap
// ErrShape or the store's error.
func (e *Embedder) Lookup(ctx context.Context, ids []uint64, out []float32) error {
	return e.lookup(ctx, ids, nil, out)
}

// LookupFields writes the vector of ids[i] in field fields[i] to
// out[i*Dim:(i+1)*Dim]. Errors wrap ErrShape (also for a field out of
// range) or the store's error.
func (e *Embedder) LookupFields(ctx context.Context, fields []int, ids []uint64, out []float32) error {
	if len(fields) != len(ids) {
		return fmt.Errorf("lookup: %d fields for %d ids: %w", len(fields), len(ids), ErrShape)
	}
	if fields == nil {
		fields = []int{}
	}
	return e.lookup(ctx, ids, fields, out)
}

func (e *Embedder) lookup(ctx context.Context, ids []uint64, fields []int, out []float32) error {
	d := e.res.Dim()
	if len(out) != len(ids)*d {
		return fmt.Errorf("lookup: %d floats for %d ids of dim %d: %w", len(out), len(ids), d, ErrShape)
	}
	if fields == nil && len(ids)%e.res.Fields() != 0 {
		return fmt.Errorf("lookup: %d ids are not whole examples of %d fields: %w", len(ids), e.res.Fields(), ErrShape)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	s, _ := e.pool.Get().(*scratch)
	if s == nil {
		s = &scratch{g: embedding.NewGatherer(e.res.plan), index: make(map[Key]int32)}
	}
	defer e.pool.Put(s)
	if e.hasShared && !s.fixed {
		shared, err := e.sharedRows(ctx)
		if err != nil {
			return err
		}
		if err := s.g.FixShared(shared); err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
		s.fixed = true
	}
	keys, err := s.g.Resolve(ids, fields)
	if err != nil {
		return fmt.Errorf("lookup: %w: %w", ErrShape, err)
	}
	if e.mapped != nil {
		tabs, err := e.mapped.RowTables(len(keys))
		if err != nil {
			return err
		}
		return e.gather(s, tabs, nil, out)
	}
	if err := e.fetch(ctx, s, keys); err != nil {
		return err
	}
	return e.gather(s, s.tabs, s.rowOf, out)
}

// gather runs the kernels over the resolved batch.
func (e *Embedder) gather(s *scratch, tabs []kernels.Table, rowOf []int32, out []float32) error {
	if err := s.g.Gather(tabs, rowOf, out, e.threads); err != nil {
		if errors.Is(err, kernels.ErrIndex) {
			return fmt.Errorf("lookup: %w: %w", ErrNotFound, err)
		}
		return fmt.Errorf("lookup: %w", err)
	}
	return nil
}

// fetch reads the batch's distinct rows from the store in one Get, grouped
// by row set, and describes each set's fetched rows as an fp32 kernel
// table (set width floats of each Width-float row), with rowOf mapping
// every key to its row there.
func (e *Embedder) fetch(ctx context.Context, s *scratch, keys []Key) error {
	r := e.res
	nsets := len(r.plan.Sets)
	clear(s.index)
	s.first = s.first[:0]
	s.count = resize(s.count, nsets)
	clear(s.count)
	s.rowOf = resize(s.rowOf, len(keys))
	for i, k := range keys {
		if int(k.Set) >= nsets {
			return fmt.Errorf("lookup: key %v: row set out of [0, %d): %w", k, nsets, ErrNotFound)
		}
		j, ok := s.index[k]
		if !ok {
			j = s.count[k.Set]
			s.count[k.Set]++
			s.index[k] = j
			s.first = append(s.first, k)
		}
		s.rowOf[i] = j
	}
	s.off = resize(s.off, nsets)
	var n int32
	for set, c := range s.count {
		s.off[set] = n
		n += c
	}
	s.fetch = resize(s.fetch, int(n))
	for _, k := range s.first {
		s.fetch[s.off[k.Set]+s.index[k]] = k
	}
	w := r.width
	s.rows = resize(s.rows, int(n)*w)
	if err := e.store.Get(ctx, s.fetch, s.rows); err != nil {
		return err
	}
	s.tabs = resize(s.tabs, nsets)
	for set := range nsets {
		lo, c := int(s.off[set]), int(s.count[set])
		t := kernels.Table{Codec: quant.FP32, Rows: c, Dim: r.widths[set], Stride: w * 4}
		if c > 0 {
			t.Data = floatBytes(s.rows[lo*w : (lo+c)*w])
		}
		s.tabs[set] = t
	}
	return nil
}

// floatBytes views fp32 values as the fp32 codec's row bytes (the codec's
// layout is little-endian float32, the machine's on the platforms the
// kernels serve).
func floatBytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
