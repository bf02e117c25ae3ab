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
	cfg   Config
	width int   // floats per row of the pool
	sum   bool  // multiprobe: sum the slots instead of concatenating
	used  []int // floats of a field's vector that its slots fill
	slots []slot
	start []int // field f's slots are slots[start[f]:start[f+1]]
	pool  []*embedding.Hashed

	// direct is set when Apply can pass the caller's gradients through:
	// one table, one slot per field, as wide as Dim.
	direct bool
	// Apply scratch, per table of the pool.
	perEx []int // slots per example on each table
	pos   []int
	ids   [][]uint64
	grads [][]float32
}

// slot is one lookup of a field: the j-th (field, chunk or probe) pair in
// field-major order.
type slot struct {
	k      int       // salt: the id is re-hashed with hashing.Probe(id, k)
	table  int       // pool table
	n      uint64    // rows of that table
	col    int       // first float of the slot in the field's vector
	params []float32 // the table's rows (aliasing its store; nil for int8)
	rows   *embedding.Rows
}

// index returns the row that id's lookup in s reads.
func (s *slot) index(id uint64) int {
	return int(hashing.Bucket(hashing.Probe(id, s.k), s.n))
}

// row returns the parameters that id's lookup in s reads (fp32 only).
func (s *slot) row(id uint64, w int) []float32 {
	r := s.index(id) * w
	return s.params[r : r+w : r+w]
}

// New returns a freshly initialised table for c. The errors wrap
// [ErrConfig], [ErrUnknownMethod], [embedding.ErrTooManyRows] or
// [embedding.ErrUnknownOptimizer].
func New(c Config) (*Table, error) {
	c, err := c.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("new multiplexed table: %w", err)
	}
	t := &Table{cfg: c, width: c.width(), sum: c.Method == MethodMultiProbe}
	per := 1 // slots per field
	if t.sum {
		per = c.Probes
	}
	scale := c.InitScale
	if t.sum {
		scale /= float32(c.Probes) // a sum of k rows stays in [-InitScale, InitScale]
	}
	t.pool = make([]*embedding.Hashed, c.Tables)
	for p := range t.pool {
		hc := embedding.Config{Method: embedding.MethodHashed, Dim: t.width, Rows: []int{c.Rows[p]},
			Optimizer: c.Optimizer, InitScale: scale, Seed: hashing.FieldSalt(c.Seed, p), Storage: c.Storage}
		if t.pool[p], err = embedding.NewHashed(hc); err != nil {
			return nil, fmt.Errorf("new %s table: table %d: %w", c.Method, p, err)
		}
	}
	t.used = make([]int, c.Fields)
	t.start = make([]int, c.Fields+1)
	t.perEx = make([]int, c.Tables)
	j := 0
	for f := range c.Fields {
		n := per
		if c.Method == MethodUnified {
			n = c.Chunks[f]
		}
		for i := range n {
			s := slot{k: j, table: j % c.Tables, n: uint64(c.Rows[j%c.Tables])}
			if !t.sum {
				s.col = i * t.width
			}
			t.slots = append(t.slots, s)
			t.perEx[s.table]++
			j++
		}
		t.start[f+1] = j
		t.used[f] = t.width
		if !t.sum {
			t.used[f] = n * t.width
		}
	}
	t.bindParams()
	t.direct = c.Tables == 1 && len(t.slots) == c.Fields && t.width == c.Dim
	t.pos = make([]int, c.Tables)
	t.ids = make([][]uint64, c.Tables)
	t.grads = make([][]float32, c.Tables)
	return t, nil
}

// bindParams points the slots at their tables' rows.
func (t *Table) bindParams() {
	for i := range t.slots {
		h := t.pool[t.slots[i].table]
		t.slots[i].params = h.Params(0)
		t.slots[i].rows = h.RowSets()[0]
	}
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg.clone() }

// Fields returns the number of fields.
func (t *Table) Fields() int { return t.cfg.Fields }

// Dim returns the number of floats per id.
func (t *Table) Dim() int { return t.cfg.Dim }

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

// checkBatch panics unless n ids form whole examples and the float buffer
// holds Dim floats per id.
func (t *Table) checkBatch(op string, n, floats int) {
	if n%t.cfg.Fields != 0 {
		panic(fmt.Sprintf("multiplex: %s: len(ids)=%d is not a multiple of Fields()=%d", op, n, t.cfg.Fields))
	}
	if floats != n*t.cfg.Dim {
		panic(fmt.Sprintf("multiplex: %s: %d floats for %d ids of dim %d, want %d", op, floats, n, t.cfg.Dim, n*t.cfg.Dim))
	}
}

// Lookup writes the vector of each id to out: its field's slots
// concatenated (zero-padded to Dim) or, for multiprobe, summed. It panics
// if len(ids) is not a multiple of Fields() or len(out) != len(ids)*Dim().
func (t *Table) Lookup(ids []uint64, out []float32) {
	t.checkBatch("Lookup", len(ids), len(out))
	d, w := t.cfg.Dim, t.width
	if t.cfg.Storage != "" {
		t.lookupDecoded(ids, out)
		return
	}
	f := 0
	for i, id := range ids {
		o := out[i*d : i*d+d]
		slots := t.slots[t.start[f]:t.start[f+1]]
		if t.sum {
			copy(o, slots[0].row(id, w))
			for k := 1; k < len(slots); k++ {
				add(o, slots[k].row(id, w))
			}
		} else {
			for k := range slots {
				s := &slots[k]
				copy(o[s.col:s.col+w], s.row(id, w))
			}
			clear(o[t.used[f]:])
		}
		if f++; f == t.cfg.Fields {
			f = 0
		}
	}
}

// lookupDecoded is Lookup for pools whose rows are not fp32: it reads them
// with Gather and GatherAdd, which decode.
func (t *Table) lookupDecoded(ids []uint64, out []float32) {
	d, w := t.cfg.Dim, t.width
	f := 0
	for i, id := range ids {
		o := out[i*d : i*d+d]
		slots := t.slots[t.start[f]:t.start[f+1]]
		if t.sum {
			idx := [1]int32{int32(slots[0].index(id))}
			slots[0].rows.Gather(idx[:], o[:w])
			for k := 1; k < len(slots); k++ {
				idx[0] = int32(slots[k].index(id))
				slots[k].rows.GatherAdd(idx[:], o[:w])
			}
			clear(o[w:])
		} else {
			for k := range slots {
				s := &slots[k]
				idx := [1]int32{int32(s.index(id))}
				s.rows.Gather(idx[:], o[s.col:s.col+w])
			}
			clear(o[t.used[f]:])
		}
		if f++; f == t.cfg.Fields {
			f = 0
		}
	}
}

func add(dst, src []float32) {
	src = src[:len(dst)]
	for j := range dst {
		dst[j] += src[j]
	}
}

// Apply updates the rows that ids' slots read with grads (see
// [embedding.Trainable]): each slot's row gets its part of the id's
// gradient (concatenation) or all of it (multiprobe); the padding's
// gradient is dropped. Entries are handed to each pool table's sparse
// update engine in (example, field, slot) order, so rows shared by several
// slots, fields or examples are updated once with the sum of their
// gradients. It panics on the shape errors Lookup panics on.
func (t *Table) Apply(ids []uint64, grads []float32) {
	t.checkBatch("Apply", len(ids), len(grads))
	d, w := t.cfg.Dim, t.width
	ex := len(ids) / t.cfg.Fields
	for p, per := range t.perEx {
		n := ex * per
		if cap(t.ids[p]) < n {
			t.ids[p] = make([]uint64, n)
			if !t.direct {
				t.grads[p] = make([]float32, n*w)
			}
		}
		t.pos[p] = 0
	}
	if t.direct {
		keys := t.ids[0][:len(ids)]
		f := 0
		for i, id := range ids {
			keys[i] = hashing.Probe(id, t.slots[f].k)
			if f++; f == t.cfg.Fields {
				f = 0
			}
		}
		t.pool[0].Apply(keys, grads)
		return
	}
	f := 0
	for i, id := range ids {
		g := grads[i*d : i*d+d]
		slots := t.slots[t.start[f]:t.start[f+1]]
		for k := range slots {
			s := &slots[k]
			q := t.pos[s.table]
			t.pos[s.table]++
			t.ids[s.table][q] = hashing.Probe(id, s.k)
			copy(t.grads[s.table][q*w:q*w+w], g[s.col:s.col+w])
		}
		if f++; f == t.cfg.Fields {
			f = 0
		}
	}
	for p, h := range t.pool {
		n := ex * t.perEx[p]
		h.Apply(t.ids[p][:n], t.grads[p][:n*w])
	}
}
