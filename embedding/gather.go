package embedding

import (
	"fmt"
	"math/bits"

	"github.com/embtab/embtab/kernels"
)

// Gatherer turns batches of ids into vectors through a [Plan]: it resolves
// each id to its keys with the plan's key functions, reads the keys' rows
// with the fused gather-dequantize kernel ([kernels.GatherDequant]) from
// row sets in any of quant's codecs, and combines them. It is the lookup
// of the training tables (over their [Rows]) and of serving (over an
// artifact's mapped row files, or rows a store fetched in one batch), so
// both compute the same float32 operations in the same order: a served
// vector equals the trained table's for the same rows.
//
// When a plan has one row set and every field's rows land in the output
// as they are (copies or concatenations that fill Dim) or as an
// unweighted sum of k rows as wide as Dim, the kernel writes the output
// directly (pooling None or Sum); other plans gather each set's rows into
// scratch in one kernel call per set and combine them from there.
//
// A Gatherer holds scratch buffers: it is not safe for concurrent use (use
// one per goroutine, or a sync.Pool). It does not allocate once its
// buffers have grown to the batch size.
type Gatherer struct {
	plan  *Plan
	fast  fastKind
	fastK int

	ids    []uint64 // the resolved batch (the caller's slice)
	fields []int    // its fields (nil: row-major examples)
	keys   []Key
	sets   []setScratch
	offs   []int32   // fastSum bag offsets
	comp   []float32 // one computed id's rows
	kpos   int       // combine's cursor into keys
	// Shared keys (FieldPlan.Shared): the ids' own keys are keys[:nOwn],
	// then each present field's shared keys from sharedAt[f] (-1: not in
	// the batch); sharedPos is each shared key's place in its set's
	// scratch, and shared[f] the field's gathered shared rows.
	nOwn      int
	hasShared bool
	sharedAt  []int
	sharedPos []int32
	shared    [][]float32
	present   []bool
	// fixed: the shared rows were given once (FixShared) and are not
	// resolved or gathered per batch.
	fixed bool
}

// setScratch is one row set's part of a general gather.
type setScratch struct {
	idx []int32   // rows read from the set, in key order
	out []float32 // their decoded rows, Width floats each
	pos int       // placement cursor
}

// NewGatherer returns a gatherer for p, which must be valid
// ([Plan.Validate]).
func NewGatherer(p *Plan) *Gatherer {
	g := &Gatherer{plan: p, sets: make([]setScratch, len(p.Sets))}
	g.fast, g.fastK = p.fast()
	for f := range p.Fields {
		if len(p.Fields[f].Shared) > 0 {
			g.hasShared = true
		}
	}
	if g.hasShared {
		g.sharedAt = make([]int, len(p.Fields))
		g.shared = make([][]float32, len(p.Fields))
		g.present = make([]bool, len(p.Fields))
	}
	return g
}

// Plan returns the gatherer's plan.
func (g *Gatherer) Plan() *Plan { return g.plan }

// Resolve maps a batch to its keys and returns them (in id order, each
// id's keys in its field's combine order, then the shared keys
// (FieldPlan.Shared) of each field the batch has, once; the slice is the
// gatherer's, valid until the next Resolve). With fields nil, ids are whole examples,
// ids[b·F+f] in field f (F = number of fields); otherwise ids[i] is in
// field fields[i]. The batch is kept for the next [Gatherer.Gather], so
// ids and fields must not change before it.
func (g *Gatherer) Resolve(ids []uint64, fields []int) ([]Key, error) {
	p := g.plan
	nf := len(p.Fields)
	keys := g.keys[:0]
	if fields == nil {
		if len(ids)%nf != 0 {
			return nil, fmt.Errorf("embedding: %d ids are not whole examples of %d fields: %w", len(ids), nf, ErrShape)
		}
		f := 0
		for _, id := range ids {
			if fp := &p.Fields[f]; fp.NumKeys > 0 {
				keys = fp.Keys(keys, id)
			}
			if f++; f == nf {
				f = 0
			}
		}
	} else {
		if len(fields) != len(ids) {
			return nil, fmt.Errorf("embedding: %d fields for %d ids: %w", len(fields), len(ids), ErrShape)
		}
		for i, f := range fields {
			if f < 0 || f >= nf {
				return nil, fmt.Errorf("embedding: id %d: field %d out of [0, %d): %w", i, f, nf, ErrShape)
			}
			if fp := &p.Fields[f]; fp.NumKeys > 0 {
				keys = fp.Keys(keys, ids[i])
			}
		}
	}
	g.nOwn = len(keys)
	if g.hasShared && !g.fixed {
		clear(g.present)
		if fields == nil {
			if len(ids) > 0 {
				for f := range g.present {
					g.present[f] = true
				}
			}
		} else {
			for _, f := range fields {
				g.present[f] = true
			}
		}
		for f := range p.Fields {
			g.sharedAt[f] = -1
			if sh := p.Fields[f].Shared; len(sh) > 0 && g.present[f] {
				g.sharedAt[f] = len(keys)
				keys = append(keys, sh...)
			}
		}
	}
	g.ids, g.fields, g.keys = ids, fields, keys
	return keys, nil
}

// Gather writes the vectors of the resolved batch to out (Dim floats per
// id, in id order; floats past a field's Used are zero). tables[s] holds
// row set s in any kernel codec, Width floats per row; the row of key k
// is rowOf[k] in its set's table, or, with rowOf nil, Key.Row (rowOf lets
// a store hand over only the distinct rows it fetched). threads bounds the
// kernel's goroutines (see [kernels.GatherDequant]). Errors wrap
// [ErrShape] or the kernel's errors (an out-of-range row: kernels.ErrIndex).
func (g *Gatherer) Gather(tables []kernels.Table, rowOf []int32, out []float32, threads int) error {
	p := g.plan
	if len(tables) != len(p.Sets) {
		return fmt.Errorf("embedding: gather: %d row tables for %d row sets: %w", len(tables), len(p.Sets), ErrShape)
	}
	if len(out) != len(g.ids)*p.Dim {
		return fmt.Errorf("embedding: gather: %d floats for %d ids of dim %d: %w", len(out), len(g.ids), p.Dim, ErrShape)
	}
	if rowOf != nil && len(rowOf) != len(g.keys) {
		return fmt.Errorf("embedding: gather: %d rows for %d keys: %w", len(rowOf), len(g.keys), ErrShape)
	}
	for s, t := range tables {
		if t.Dim != p.Sets[s].Width {
			return fmt.Errorf("embedding: gather: row table %d has %d floats per row, the plan %d: %w", s, t.Dim, p.Sets[s].Width, ErrShape)
		}
	}
	for _, k := range g.keys {
		if int(k.Set) >= len(tables) {
			return fmt.Errorf("embedding: gather: key %d/%d: row set out of [0, %d): %w", k.Set, k.Row, len(tables), ErrShape)
		}
	}
	if len(g.ids) == 0 {
		return nil
	}
	if g.fast != fastNone {
		return g.gatherFast(tables[0], rowOf, out, threads)
	}
	return g.gatherGeneral(tables, rowOf, out, threads)
}

// gatherGeneral reads each set's rows of the batch into its scratch, in
// key order, with one kernel call per set, then combines them into out.
func (g *Gatherer) gatherGeneral(tables []kernels.Table, rowOf []int32, out []float32, threads int) error {
	p := g.plan
	for s := range g.sets {
		g.sets[s].idx = g.sets[s].idx[:0]
		g.sets[s].pos = 0
	}
	g.sharedPos = g.sharedPos[:0]
	for k, key := range g.keys {
		row := int32(key.Row)
		if rowOf != nil {
			row = rowOf[k]
		} else if key.Row > uint32(maxInt32) {
			return fmt.Errorf("embedding: gather: key %d/%d: %w", key.Set, key.Row, kernels.ErrIndex)
		}
		sc := &g.sets[key.Set]
		if k >= g.nOwn {
			g.sharedPos = append(g.sharedPos, int32(len(sc.idx)))
		}
		sc.idx = append(sc.idx, row)
	}
	for s := range g.sets {
		sc := &g.sets[s]
		if len(sc.idx) == 0 {
			continue
		}
		sc.out = growFloats(sc.out, len(sc.idx)*p.Sets[s].Width)
		if err := kernels.GatherDequant(sc.out, tables[s], kernels.Bags[int32]{Indices: sc.idx}, kernels.None, threads); err != nil {
			return fmt.Errorf("embedding: gather row set %d: %w", s, err)
		}
	}
	if g.hasShared && !g.fixed {
		g.placeShared()
	}
	g.combine(out)
	return nil
}

// FixShared gives the gatherer every field's shared rows (FieldPlan.Shared)
// once, for rows that do not change while it is used (a served artifact):
// rows[f] holds field f's len(Shared) rows in slots of the field's Width
// floats, as the key's set stores them (zero-padded when narrower). Resolve
// then leaves the shared keys out of the keys it returns and Gather reads
// these rows instead of gathering them with every batch. The gatherer keeps
// rows (not a copy); the caller must not change them. Errors wrap ErrShape.
func (g *Gatherer) FixShared(rows [][]float32) error {
	p := g.plan
	if len(rows) != len(p.Fields) {
		return fmt.Errorf("embedding: shared rows of %d fields for %d: %w", len(rows), len(p.Fields), ErrShape)
	}
	for f := range p.Fields {
		fp := &p.Fields[f]
		if len(rows[f]) != len(fp.Shared)*fp.Width {
			return fmt.Errorf("embedding: field %d: %d shared floats for %d rows of %d: %w", f, len(rows[f]), len(fp.Shared), fp.Width, ErrShape)
		}
	}
	g.shared = rows
	g.fixed = true
	return nil
}

// placeShared copies each present field's gathered shared rows into
// g.shared[f], a row to a slot of the field's Width floats (a row of a
// narrower set zero-padded).
func (g *Gatherer) placeShared() {
	for f := range g.plan.Fields {
		at := g.sharedAt[f]
		if at < 0 {
			continue
		}
		fp := &g.plan.Fields[f]
		w := fp.Width
		g.shared[f] = growFloats(g.shared[f], len(fp.Shared)*w)
		for j, k := range fp.Shared {
			pos := int(g.sharedPos[at-g.nOwn+j])
			sw := min(g.plan.Sets[k.Set].Width, w)
			slot := g.shared[f][j*w : (j+1)*w]
			copy(slot, g.sets[k.Set].out[pos*sw:(pos+1)*sw])
			clear(slot[sw:])
		}
	}
}

const maxInt32 = 1<<31 - 1

// gatherFast gathers a fast plan's batch straight into out.
func (g *Gatherer) gatherFast(t kernels.Table, rowOf []int32, out []float32, threads int) error {
	idx := g.rowIndices(rowOf)
	var err error
	switch g.fast {
	case fastCopy:
		err = kernels.GatherDequant(out, t, kernels.Bags[int32]{Indices: idx}, kernels.None, threads)
	case fastSum:
		n := len(g.ids)
		offs := g.offs[:0]
		for i := 0; i <= n; i++ {
			offs = append(offs, int32(i*g.fastK))
		}
		g.offs = offs
		err = kernels.GatherDequant(out, t, kernels.Bags[int32]{Indices: idx, Offsets: offs}, kernels.Sum, threads)
	}
	if err != nil {
		return fmt.Errorf("embedding: gather: %w", err)
	}
	return nil
}

// rowIndices returns the row index of each key, in key order (reusing the
// first set's index scratch).
func (g *Gatherer) rowIndices(rowOf []int32) []int32 {
	if rowOf != nil {
		return rowOf
	}
	sc := &g.sets[0]
	idx := sc.idx[:0]
	for _, k := range g.keys {
		r := int32(k.Row)
		if k.Row > uint32(maxInt32) {
			r = -1 // the kernel reports it
		}
		idx = append(idx, r)
	}
	sc.idx = idx
	return idx
}

// combine builds each id's vector from the gathered rows.
func (g *Gatherer) combine(out []float32) {
	p := g.plan
	d := p.Dim
	nf := len(p.Fields)
	f := 0
	g.kpos = 0
	for i, id := range g.ids {
		if g.fields != nil {
			f = g.fields[i]
		}
		fp := &p.Fields[f]
		o := out[i*d : (i+1)*d]
		g.combineOne(f, fp, id, o)
		clear(o[fp.Used:])
		if g.fields == nil {
			if f++; f == nf {
				f = 0
			}
		}
	}
}

// next returns the next gathered row of set s.
func (g *Gatherer) next(s uint32, w int) []float32 {
	sc := &g.sets[s]
	r := sc.out[sc.pos*w : (sc.pos+1)*w : (sc.pos+1)*w]
	sc.pos++
	return r
}

// combineOne writes the vector of id (field plan fp) to o from the next
// gathered rows of its keys.
func (g *Gatherer) combineOne(f int, fp *FieldPlan, id uint64, o []float32) {
	w := fp.Width
	n := fp.NumKeys
	keys := g.takeKeys(n)
	switch fp.Combine {
	case CopyRow:
		copyRow(o[:w], g.next(keys[0].Set, w))
	case SumRows:
		acc := o[:w]
		row := g.next(keys[0].Set, w)
		if fp.Weights == nil {
			copyRow(acc, row)
			for _, k := range keys[1:] {
				add(acc, g.next(k.Set, w))
			}
			return
		}
		w0 := fp.Weights[0]
		for j, v := range row {
			acc[j] = w0 * v
		}
		for kk, k := range keys[1:] {
			wk := fp.Weights[kk+1]
			r := g.next(k.Set, w)
			for j, v := range r {
				acc[j] += wk * v
			}
		}
	case ConcatRows:
		for kk, k := range keys {
			copyRow(o[kk*w:(kk+1)*w], g.next(k.Set, w))
		}
	case ComputeVector:
		if sc, ok := fp.Computer.(SharedComputer); ok {
			sc.ComputeShared(id, g.ownRows(fp, keys), g.shared[f], o[:fp.Used])
			return
		}
		rows := g.computedRows(f, fp, keys)
		fp.Computer.Compute(id, rows, o[:fp.Used])
	case SparseRow:
		s := keys[0].Set
		decodeSparse(o[:fp.Used], g.next(s, g.plan.Sets[s].Width))
	}
}

// decodeSparse writes the vector of a [SparseRow] row to o (len(o) is
// the field's Used floats). A mask word that is not an integer in
// [0, 2^24), or a mask naming more values than the row holds (only a
// corrupt file), stops the decode there.
func decodeSparse(o, row []float32) {
	clear(o)
	mw := MaskWords(len(o))
	if len(row) < mw {
		return
	}
	vals := row[mw:]
	k := 0
	for w := range mw {
		x := row[w]
		if !(x >= 0 && x < 1<<MaskBits) {
			return
		}
		m := uint32(x)
		for m != 0 && k < len(vals) {
			j := w*MaskBits + bits.TrailingZeros32(m)
			if j >= len(o) {
				break
			}
			o[j] = vals[k]
			k++
			m &= m - 1
		}
	}
}

// computedRows returns a computed id's rows: its keys' next gathered
// rows, then its field's shared rows (in g.comp), each in a slot of the
// field's Width floats (a row of a narrower set zero-padded).
func (g *Gatherer) computedRows(f int, fp *FieldPlan, keys []Key) []float32 {
	w, n, ns := fp.Width, len(keys), len(fp.Shared)
	g.comp = growFloats(g.comp, (n+ns)*w)
	g.fillOwn(g.comp, w, keys)
	if ns > 0 {
		copy(g.comp[n*w:], g.shared[f])
	}
	return g.comp[:(n+ns)*w]
}

// ownRows returns a computed id's own rows (in g.comp), as computedRows
// does but without the shared ones.
func (g *Gatherer) ownRows(fp *FieldPlan, keys []Key) []float32 {
	w := fp.Width
	g.comp = growFloats(g.comp, len(keys)*w)
	g.fillOwn(g.comp, w, keys)
	return g.comp[:len(keys)*w]
}

// fillOwn copies the next gathered rows of keys into dst, a row to a
// slot of w floats.
func (g *Gatherer) fillOwn(dst []float32, w int, keys []Key) {
	for kk, k := range keys {
		sw := min(g.plan.Sets[k.Set].Width, w)
		slot := dst[kk*w : (kk+1)*w]
		copy(slot, g.next(k.Set, sw))
		clear(slot[sw:])
	}
}

// takeKeys returns the next n keys of the batch in id order.
func (g *Gatherer) takeKeys(n int) []Key {
	k := g.keys[g.kpos : g.kpos+n]
	g.kpos += n
	return k
}

func growFloats(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
