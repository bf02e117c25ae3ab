package lookup

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/kernels"
)

// Key names one stored row: row Row of the artifact table's row set Set
// (artifact.Manifest.Table.RowSets[Set]), the key of the table method's
// plan ([embedding.Key]).
type Key = embedding.Key

// Mapped is implemented by stores whose rows the gather kernels read in
// place, in the artifact's codec (the mmap store): RowTables returns one
// kernel table per row set (Manifest.Table.RowSets order), valid while the
// store is open; after Close it returns ErrClosed. The embedder gathers
// from them directly instead of calling Get, and tells the store how many
// rows (keys, repeats included) the lookup reads, for its accounting.
type Mapped interface {
	RowTables(rows int) ([]kernels.Table, error)
}

// Store reads the rows of one artifact's table by key, in batches.
//
// Get decodes the rows of keys into out, Width floats per key in key order
// (Width is the artifact's Manifest.Table.Width), so len(out) must be
// len(keys)*Width (else an error wrapping ErrShape). A row of a set
// narrower than Width (tables with per-field dims store field f's rows in
// set f at its own width, Manifest.Table.SetWidth) fills the key's leading
// floats, and the rest are zero. A key the store does not hold gives an
// error wrapping ErrNotFound; out is then partly written. Get returns ctx's error if ctx is done before it starts, and
// networked stores stop waiting when it is done. Keys may repeat.
//
// Stores are safe for concurrent use. After Close, Get returns an error
// (ErrClosed for the stores of this module).
type Store interface {
	Get(ctx context.Context, keys []Key, out []float32) error
	Close() error
}

// Writer is implemented by stores that take online row updates (badger,
// Redis): Put encodes rows (Width floats per key, in key order) with the
// artifact's codec and stores them, durably for persistent stores, before
// it returns. Reads that start after Put returns see the new rows. For a
// key of a set narrower than Width, the floats beyond the set's width must
// be zero (else an error wrapping ErrShape; see CheckPut).
type Writer interface {
	Put(ctx context.Context, keys []Key, rows []float32) error
}

// Config configures a store opened by name. Each store reads the fields it
// needs and documents them.
type Config struct {
	// Path is the directory of stores that keep data on disk (badger).
	Path string
	// Addrs are the seed addresses of networked stores (Redis Cluster).
	Addrs []string
	// Prefix namespaces the keys of shared stores (Redis); empty means
	// "embtab".
	Prefix string
	// HugePages backs the rows of the mmap store with transparent huge
	// pages (package mmapstore's doc says how and why).
	HugePages bool
	// Logger receives the store's log lines; nil discards them.
	Logger *slog.Logger
}

// Opener opens a store over an artifact's rows. Stores that copy the rows
// (badger, Redis) load them from a on first use and key them by the
// artifact's ID; the mmap store reads a's mapped files, so a must stay
// open as long as the store is used.
type Opener func(ctx context.Context, a *artifact.Artifact, cfg Config) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// Register makes a store available by name to Open. It panics if open is
// nil or the name is taken, as database/sql.Register does; call it from an
// init function.
func Register(name string, open Opener) {
	if open == nil {
		panic("lookup: Register of a nil opener for " + name)
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("lookup: Register called twice for store " + name)
	}
	registry[name] = open
}

// Open opens the store registered under name over a.
func Open(ctx context.Context, name string, a *artifact.Artifact, cfg Config) (Store, error) {
	registryMu.RLock()
	open, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("lookup: store %q (have %v): %w", name, Stores(), ErrUnknownStore)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := open(ctx, a, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", name, err)
	}
	return s, nil
}

// Stores returns the registered store names, sorted.
func Stores() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// SetWidths returns the floats per stored row of each of m's row sets
// (Table.SetWidth): Table.Width for every set, except for tables with
// per-field dims.
func SetWidths(m *artifact.Manifest) []int {
	w := make([]int, len(m.Table.RowSets))
	for i := range w {
		w[i] = m.Table.SetWidth(i)
	}
	return w
}

// CheckPut returns the error Put reports for rows that do not hold width
// floats per key (as CheckGet), or that have a nonzero value beyond the
// width of a key's row set (widths, from SetWidths), which the set could
// not store; both wrap ErrShape. Keys of sets out of range are left to the
// store to report. Stores call it first.
func CheckPut(keys []Key, rows []float32, width int, widths []int) error {
	if err := CheckGet(keys, rows, width); err != nil {
		return err
	}
	for i, k := range keys {
		if int(k.Set) >= len(widths) || widths[k.Set] >= width {
			continue
		}
		for j, v := range rows[i*width+widths[k.Set] : (i+1)*width] {
			if v != 0 {
				return fmt.Errorf("lookup: Put: key %v: value %d is %v, but set %d holds %d floats per row: %w",
					k, widths[k.Set]+j, v, k.Set, widths[k.Set], ErrShape)
			}
		}
	}
	return nil
}

// CheckGet returns the error Get reports for a batch whose buffer does not
// hold width floats per key; stores call it first.
func CheckGet(keys []Key, out []float32, width int) error {
	if len(out) != len(keys)*width {
		return fmt.Errorf("lookup: Get: %d floats for %d keys of width %d: %w", len(out), len(keys), width, ErrShape)
	}
	return nil
}
