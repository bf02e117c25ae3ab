// Package mmapstore is the default lookup store: it reads rows straight
// from an artifact's memory-mapped table files (quant tables over the
// mapped bytes), without copying them. Registered as "mmap".
//
// The store is [lookup.Mapped]: the embedder's gather kernels read the
// rows in place, in the artifact's codec, from the page cache (the first
// touch of a page reads it from disk). The store holds nothing of its own,
// so opening it is free, and it is read-only. The artifact must stay open
// while the store is in use.
//
// # Huge pages
//
// With [Options.HugePages] (lookup.Config.HugePages, serve --huge-pages)
// the store copies each row file's rows at open into anonymous memory
// advised MADV_HUGEPAGE, so the kernels' random row reads walk 2 MiB
// pages instead of 4 KiB ones (fewer TLB misses on tables larger than the
// TLB's reach). It copies rather than advising the mapped files because
// the page cache backs file mappings with huge pages only on kernels built
// with read-only file THP, and then only after khugepaged collapses them;
// anonymous memory gets them at the first touch wherever transparent huge
// pages are "madvise" or "always". The copy costs the rows' bytes of
// private memory (not shared between processes serving one artifact) and
// a read of the files at open. Where the platform has no madvise, the
// option is refused.
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
	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/quant"
)

// Name is the store's registered name.
const Name = "mmap"

func init() {
	lookup.Register(Name, func(_ context.Context, a *artifact.Artifact, cfg lookup.Config) (lookup.Store, error) {
		return Open(a, Options{HugePages: cfg.HugePages})
	})
}

// Options configure a store.
type Options struct {
	// HugePages copies the rows into memory backed by transparent huge
	// pages (see the package doc).
	HugePages bool
}

// Store reads rows from an artifact's mapped files.
type Store struct {
	sets   []*quant.Table
	tabs   []kernels.Table
	width  int
	huge   [][]byte // the huge-page mappings, unmapped by Close
	closed atomic.Bool
}

// New returns a store over a's mapped row sets.
func New(a *artifact.Artifact) *Store {
	s, _ := Open(a, Options{}) // cannot fail without huge pages
	return s
}

// Open returns a store over a's row sets, copied into huge-page memory
// with opt.HugePages.
func Open(a *artifact.Artifact, opt Options) (*Store, error) {
	s := &Store{sets: a.RowSets(), width: a.Manifest().Table.Width}
	if opt.HugePages {
		for i, t := range s.sets {
			mem, raw, err := hugeCopy(t.Data())
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("mmap store: row set %d: huge pages: %w", i, err)
			}
			s.huge = append(s.huge, raw)
			c, err := quant.NewTable(t.Codec(), t.Len(), t.Dim(), t.Stride(), mem)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("mmap store: row set %d: %w", i, err)
			}
			s.sets[i] = c
		}
	}
	for _, t := range s.sets {
		s.tabs = append(s.tabs, kernels.TableOf(t))
	}
	return s, nil
}

// RowTables implements lookup.Mapped: the row sets as the kernels read
// them, in place.
func (s *Store) RowTables(int) ([]kernels.Table, error) {
	if s.closed.Load() {
		return nil, lookup.ErrClosed
	}
	return s.tabs, nil
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

// Close marks the store closed and frees its huge-page copies; it does not
// close the artifact. Lookups must have finished (the server closes a
// store after the last request using it is done).
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	var first error
	for _, m := range s.huge {
		if err := hugeFree(m); err != nil && first == nil {
			first = fmt.Errorf("mmap store: free huge pages: %w", err)
		}
	}
	s.huge = nil
	return first
}
