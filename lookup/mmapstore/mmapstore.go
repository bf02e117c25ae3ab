// Package mmapstore is the default lookup store: it reads rows straight
// from an artifact's memory-mapped table files (quant tables over the
// mapped bytes), without copying them. Registered as "mmap".
//
// Reads decode rows from the page cache; the first touch of a page reads
// it from disk. The store holds nothing of its own, so opening it is free,
// and it is read-only. The artifact must stay open while the store is in
// use.
//
// # Caveats
//
// Truncating a served table file in place kills the process with SIGBUS
// (a read of a mapped page past the file's new end); replace artifacts by
// writing a new directory and renaming it, as package artifact's Caveats
// describe.
package mmapstore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/quant"
)

// Name is the store's registered name.
const Name = "mmap"

func init() {
	lookup.Register(Name, func(_ context.Context, a *artifact.Artifact, _ lookup.Config) (lookup.Store, error) {
		return New(a), nil
	})
}

// Store reads rows from an artifact's mapped files.
type Store struct {
	sets   []*quant.Table
	width  int
	closed atomic.Bool
}

// New returns a store over a's row sets.
func New(a *artifact.Artifact) *Store {
	return &Store{sets: a.RowSets(), width: a.Manifest().Table.Width}
}

// Get implements lookup.Store.
func (s *Store) Get(ctx context.Context, keys []lookup.Key, out []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return lookup.ErrClosed
	}
	if err := lookup.CheckGet(keys, out, s.width); err != nil {
		return err
	}
	w := s.width
	for i, k := range keys {
		if int(k.Set) >= len(s.sets) || int(k.Row) >= s.sets[k.Set].Len() {
			return fmt.Errorf("mmap store: key %v: %w", k, lookup.ErrNotFound)
		}
		set := s.sets[k.Set]
		o := out[i*w : (i+1)*w]
		if err := set.DecodeRow(int(k.Row), o[:set.Dim()]); err != nil {
			return fmt.Errorf("mmap store: key %v: %w", k, err)
		}
		clear(o[set.Dim():]) // a set narrower than the table (per-field dims)
	}
	return nil
}

// Close marks the store closed; it does not close the artifact.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
