package lookup

import (
	"context"
	"fmt"
	"sync"
)

// Embedder looks up field vectors for ids: it resolves each id to its
// rows, reads the distinct rows of a batch from a Store in one Get, and
// combines them. It is safe for concurrent use (its scratch buffers are
// pooled).
type Embedder struct {
	res   *Resolver
	store Store
	pool  sync.Pool // *scratch
}

// scratch holds one lookup's buffers.
type scratch struct {
	keys  []Key         // every id's keys, in order
	uniq  []Key         // distinct keys, in first-use order
	slot  []int32       // keys[i] is uniq[slot[i]]
	index map[Key]int32 // key -> position in uniq
	rows  []float32     // the rows of uniq
	gath  []float32     // one id's rows, in key order
}

// NewEmbedder returns an embedder reading rows through r from s.
func NewEmbedder(r *Resolver, s Store) *Embedder {
	return &Embedder{res: r, store: s}
}

// Resolver returns the embedder's resolver.
func (e *Embedder) Resolver() *Resolver { return e.res }

// Store returns the embedder's store.
func (e *Embedder) Store() Store { return e.store }

// Lookup writes the vectors of whole examples: ids[b*F+f] is field f of
// example b (F = Resolver().Fields()), and out receives Dim floats per id
// in the same order, as embedding.Table.Lookup writes them. Errors wrap
// ErrShape or the store's error.
func (e *Embedder) Lookup(ctx context.Context, ids []uint64, out []float32) error {
	nf := e.res.Fields()
	if len(ids)%nf != 0 {
		return fmt.Errorf("lookup: %d ids are not whole examples of %d fields: %w", len(ids), nf, ErrShape)
	}
	return e.lookup(ctx, func(i int) int { return i % nf }, ids, out)
}

// LookupFields writes the vector of ids[i] in field fields[i] to
// out[i*Dim:(i+1)*Dim]. Errors wrap ErrShape (also for a field out of
// range) or the store's error.
func (e *Embedder) LookupFields(ctx context.Context, fields []int, ids []uint64, out []float32) error {
	if len(fields) != len(ids) {
		return fmt.Errorf("lookup: %d fields for %d ids: %w", len(fields), len(ids), ErrShape)
	}
	nf := e.res.Fields()
	for i, f := range fields {
		if f < 0 || f >= nf {
			return fmt.Errorf("lookup: id %d: field %d out of [0, %d): %w", i, f, nf, ErrShape)
		}
	}
	return e.lookup(ctx, func(i int) int { return fields[i] }, ids, out)
}

func (e *Embedder) lookup(ctx context.Context, fieldOf func(int) int, ids []uint64, out []float32) error {
	r := e.res
	d, w := r.dim, r.width
	if len(out) != len(ids)*d {
		return fmt.Errorf("lookup: %d floats for %d ids of dim %d: %w", len(out), len(ids), d, ErrShape)
	}
	if len(ids) == 0 {
		return nil
	}
	s, _ := e.pool.Get().(*scratch)
	if s == nil {
		s = &scratch{index: make(map[Key]int32)}
	}
	defer func() {
		clear(s.index)
		e.pool.Put(s)
	}()
	s.keys, s.uniq, s.slot = s.keys[:0], s.uniq[:0], s.slot[:0]
	for i, id := range ids {
		s.keys = r.Keys(fieldOf(i), id, s.keys)
	}
	for _, k := range s.keys {
		j, ok := s.index[k]
		if !ok {
			j = int32(len(s.uniq))
			s.index[k] = j
			s.uniq = append(s.uniq, k)
		}
		s.slot = append(s.slot, j)
	}
	s.rows = grow(s.rows, len(s.uniq)*w)
	if err := e.store.Get(ctx, s.uniq, s.rows); err != nil {
		return err
	}
	s.gath = grow(s.gath, r.maxKeys*w)
	k := 0
	for i := range ids {
		f := fieldOf(i)
		n := r.keysPerID(f)
		g := s.gath[:n*w]
		for j := range n {
			u := int(s.slot[k+j])
			copy(g[j*w:(j+1)*w], s.rows[u*w:(u+1)*w])
		}
		k += n
		r.Combine(f, g, out[i*d:(i+1)*d])
	}
	return nil
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
