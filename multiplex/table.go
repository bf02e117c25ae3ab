package multiplex

import (
	"fmt"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// Table is a multiplexed embedding table: feature multiplexing, Unified
// Embedding or multi-probe multiplexing, by its Config's method (see the
// package doc). It implements [embedding.Trainable] and
// [embedding.Persister]; build it with [New].
type Table struct {
	cfg  Config
	pool []*embedding.Hashed // row set p is pool table p's one store
	*embedding.Planned
}

// New returns a freshly initialised table for c. The errors wrap
// [ErrConfig], [ErrUnknownMethod], [embedding.ErrTooManyRows] or
// [embedding.ErrUnknownOptimizer].
func New(c Config) (*Table, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new multiplexed table: %w", err)
	}
	t := &Table{cfg: c}
	width := c.width()
	scale := c.InitScale
	if c.Method == MethodMultiProbe {
		scale /= float32(c.Probes) // a sum of k rows stays in [-InitScale, InitScale]
	}
	t.pool = make([]*embedding.Hashed, c.Tables)
	for p := range t.pool {
		hc := embedding.Config{Method: embedding.MethodHashed, Dim: width, Rows: []int{c.Rows[p]},
			Optimizer: c.Optimizer, InitScale: scale, Seed: hashing.FieldSalt(c.Seed, p), Storage: c.Storage}
		if t.pool[p], err = embedding.NewHashed(hc); err != nil {
			return nil, fmt.Errorf("new %s table: table %d: %w", c.Method, p, err)
		}
	}
	sets := make([]*embedding.Rows, len(t.pool))
	for p, h := range t.pool {
		sets[p] = h.RowSets()[0]
	}
	if t.Planned, err = embedding.NewPlanned(c.plan(), sets); err != nil {
		return nil, fmt.Errorf("new %s table: %w", c.Method, err)
	}
	return t, nil
}

// plan is the key plan of c (defaults filled in): slot j of the whole
// table (fields in order, each field's chunks or probes in order) reads
// row hashing.Bucket(hashing.Probe(id, j), Rows[j mod Tables]) of pool
// table j mod Tables, and the field's slots are concatenated (multiplex,
// unified; zero-padded to Dim) or summed (multiprobe).
func (c Config) plan() *embedding.Plan {
	w := c.width()
	p := &embedding.Plan{Dim: c.Dim}
	for _, n := range c.Rows {
		p.Sets = append(p.Sets, embedding.SetShape{Rows: n, Width: w})
	}
	per := 1
	if c.Method == MethodMultiProbe {
		per = c.Probes
	}
	j := 0
	for f := range c.Fields {
		n := per
		if c.Method == MethodUnified {
			n = c.Chunks[f]
		}
		type slot struct {
			k     int
			table uint32
			rows  uint64
		}
		slots := make([]slot, n)
		for i := range slots {
			slots[i] = slot{k: j, table: uint32(j % c.Tables), rows: uint64(c.Rows[j%c.Tables])}
			j++
		}
		fp := embedding.FieldPlan{NumKeys: n, Width: w,
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				for _, s := range slots {
					dst = append(dst, embedding.Key{Set: s.table, Row: uint32(hashing.Bucket(hashing.Probe(id, s.k), s.rows))})
				}
				return dst
			}}
		if c.Method == MethodMultiProbe {
			fp.Combine, fp.Used = embedding.SumRows, w
		} else {
			fp.Combine, fp.Used = embedding.ConcatRows, n*w
		}
		p.Fields = append(p.Fields, fp)
	}
	return p
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg.clone() }

// SetThreads sets the number of goroutines Apply may use on each table of
// the pool (see [embedding.Rows.SetThreads]); n <= 0 means GOMAXPROCS.
// Results do not depend on it.
func (t *Table) SetThreads(n int) {
	for _, h := range t.pool {
		h.SetThreads(n)
	}
}

// Params returns the rows of pool table p, row-major, aliasing the table
// (valid until the next Load; do not modify).
func (t *Table) Params(p int) []float32 { return t.pool[p].Params(0) }

// Bytes reports the parameter and optimizer-state bytes of the pool; the
// index is the hash function and costs nothing.
func (t *Table) Bytes() embedding.Bytes {
	var b embedding.Bytes
	for _, h := range t.pool {
		hb := h.Bytes()
		b.Params += hb.Params
		b.Optimizer += hb.Optimizer
		b.Index += hb.Index
	}
	return b
}
