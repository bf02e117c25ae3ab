package embedding

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/embtab/embtab/kernels"
	"github.com/embtab/embtab/quant"
)

// Planned is the trainable part every table method shares: a [Plan] over
// row stores ([Rows], one per row set), Lookup through a [Gatherer] (so
// training reads rows, fp32 or int8, with the same fused kernels serving
// uses), and Apply, the backward of the plan's combines followed by each
// store's sparse optimizer update. A method's table is its config, its
// index and a Planned; the table types of this package and of multiplex
// embed one.
//
// Lookup is safe for concurrent use with other Lookups (its scratch is
// pooled); Apply and SetThreads need exclusive access.
type Planned struct {
	plan    *Plan
	sets    []*Rows
	threads int
	pool    sync.Pool // *Gatherer for Lookup
	g       *Gatherer // Apply's
	tabs    []kernels.Table
	aidx    [][]int32   // Apply: rows per set
	agrad   [][]float32 // Apply: their gradients
	fwd     []float32   // Apply: forward output of plans with computed fields
	drows   []float32   // Apply: a computed id's row gradients
	sgrad   [][]float32 // Apply: per field, its shared keys' summed gradients
	direct  bool        // Apply can hand the caller's gradients to the one store
	hasComp bool
}

// NewPlanned returns the engine of plan p over sets (set s holds row set
// s: p.Sets[s].Rows rows of p.Sets[s].Width floats). Every computed field
// must have a [GradComputer]. The errors wrap [ErrConfig].
func NewPlanned(p *Plan, sets []*Rows) (*Planned, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(sets) != len(p.Sets) {
		return nil, fmt.Errorf("planned table: %d row stores for %d row sets: %w", len(sets), len(p.Sets), ErrConfig)
	}
	for s, r := range sets {
		if r.Len() != p.Sets[s].Rows || r.Dim() != p.Sets[s].Width {
			return nil, fmt.Errorf("planned table: row store %d is %d x %d, the plan's set %d x %d: %w",
				s, r.Len(), r.Dim(), p.Sets[s].Rows, p.Sets[s].Width, ErrConfig)
		}
	}
	t := &Planned{plan: p, sets: sets, threads: 1, g: NewGatherer(p),
		aidx: make([][]int32, len(sets)), agrad: make([][]float32, len(sets))}
	for f := range p.Fields {
		fp := &p.Fields[f]
		if fp.Combine == SparseRow {
			return nil, fmt.Errorf("planned table: field %d: sparse rows are a serving form and cannot train: %w", f, ErrConfig)
		}
		if fp.Combine == ComputeVector {
			if _, ok := fp.Computer.(GradComputer); !ok {
				return nil, fmt.Errorf("planned table: field %d: computer %T cannot train (no Backward): %w", f, fp.Computer, ErrConfig)
			}
			t.hasComp = true
		}
	}
	fk, _ := p.fast()
	t.direct = fk == fastCopy
	return t, nil
}

// Plan returns the table's key plan.
func (t *Planned) Plan() *Plan { return t.plan }

// RowSets returns the row stores (a new slice of the table's own stores).
func (t *Planned) RowSets() []*Rows { return append([]*Rows(nil), t.sets...) }

// Fields returns the number of fields.
func (t *Planned) Fields() int { return len(t.plan.Fields) }

// Dim returns the floats per vector.
func (t *Planned) Dim() int { return t.plan.Dim }

// SetThreads sets the goroutines of Apply's updates and of the lookup
// kernel; n <= 0 means GOMAXPROCS. Results do not depend on it.
func (t *Planned) SetThreads(n int) {
	for _, r := range t.sets {
		r.SetThreads(n)
	}
	t.threads = t.sets[0].Threads()
}

// Threads returns the goroutines Apply may use.
func (t *Planned) Threads() int { return t.threads }

// Bytes reports the stores' parameter and optimizer-state bytes (no
// index: the method adds its own).
func (t *Planned) Bytes() Bytes {
	var b Bytes
	for _, r := range t.sets {
		rb := r.Bytes()
		b.Params += rb.Params
		b.Optimizer += rb.Optimizer
	}
	return b
}

// tables returns the stores as kernel tables (into dst).
func (t *Planned) tables(dst []kernels.Table) []kernels.Table {
	dst = dst[:0]
	for _, r := range t.sets {
		dst = append(dst, r.KernelTable())
	}
	return dst
}

// Lookup writes the vector of each id (whole examples, fields
// interleaved) to out, Dim floats per id. It panics if len(ids) is not a
// multiple of Fields() or len(out) != len(ids)*Dim().
func (t *Planned) Lookup(ids []uint64, out []float32) {
	checkBatch("Lookup", len(ids), len(out), len(t.plan.Fields), t.plan.Dim)
	t.lookup("Lookup", ids, nil, out)
}

// LookupFields writes the vector of ids[i] in field fields[i] to
// out[i*Dim:(i+1)*Dim] (see [FieldTrainable]). It panics unless
// len(fields) == len(ids), len(out) == len(ids)*Dim() and every field is
// in range.
func (t *Planned) LookupFields(ids []uint64, fields []int, out []float32) {
	CheckFields("LookupFields", ids, fields, len(out), t.plan.Dim, len(t.plan.Fields))
	t.lookup("LookupFields", ids, fields, out)
}

func (t *Planned) lookup(op string, ids []uint64, fields []int, out []float32) {
	g, _ := t.pool.Get().(*Gatherer)
	if g == nil {
		g = NewGatherer(t.plan)
	}
	defer t.pool.Put(g)
	if _, err := g.Resolve(ids, fields); err != nil {
		panic("embedding: " + op + ": " + err.Error())
	}
	var tabs [4]kernels.Table
	if err := g.Gather(t.tables(tabs[:0]), nil, out, t.threads); err != nil {
		panic("embedding: " + op + ": " + err.Error())
	}
}

// Apply updates the rows that ids' keys name with grads (see
// [Trainable]): each key's row gets its part of its id's gradient (copy:
// the leading Width floats; concat: the key's columns; sum: all of it
// times the key's weight; computed: what the field's GradComputer says),
// and each store sums the gradients of a row in (id, key) order and
// updates it once. Gradients past a field's Used floats are ignored. It
// panics on the shape errors Lookup panics on.
func (t *Planned) Apply(ids []uint64, grads []float32) {
	checkBatch("Apply", len(ids), len(grads), len(t.plan.Fields), t.plan.Dim)
	t.apply("Apply", ids, nil, grads)
}

// ApplyFields is [Planned.Apply] for ids[i] in field fields[i] (see
// [FieldTrainable]); it panics on the shape errors LookupFields panics on.
func (t *Planned) ApplyFields(ids []uint64, fields []int, grads []float32) {
	CheckFields("ApplyFields", ids, fields, len(grads), t.plan.Dim, len(t.plan.Fields))
	t.apply("ApplyFields", ids, fields, grads)
}

func (t *Planned) apply(op string, ids []uint64, fields []int, grads []float32) {
	if idx, direct := t.route(op, ids, fields, grads); direct {
		t.sets[0].Apply(idx, grads)
		return
	}
	for s, r := range t.sets {
		r.Apply(t.aidx[s], t.agrad[s])
	}
}

// LearnsScales reports whether the table's rows learn their quantization
// steps ([StorageALPT]): each Apply then wants an [Planned.ApplyScales].
func (t *Planned) LearnsScales() bool {
	for _, r := range t.sets {
		if r.LearnsScales() {
			return true
		}
	}
	return false
}

// ApplyScales is ALPT's second pass over the table (see [StorageALPT] and
// [Rows.ApplyScales]): grads is the loss's gradient at the vectors ids
// read after the preceding Apply(ids, ...), routed to the keys as Apply
// routes its gradients. Tables without ALPT storage ignore it.
func (t *Planned) ApplyScales(ids []uint64, grads []float32) {
	if !t.LearnsScales() || len(t.plan.Fields) == 0 {
		return
	}
	checkBatch("ApplyScales", len(ids), len(grads), len(t.plan.Fields), t.plan.Dim)
	batch := len(ids) / len(t.plan.Fields)
	if idx, direct := t.route("ApplyScales", ids, nil, grads); direct {
		t.sets[0].ApplyScales(idx, grads, batch)
		return
	}
	for s, r := range t.sets {
		r.ApplyScales(t.aidx[s], t.agrad[s], batch)
	}
}

// route resolves ids' keys (in fields, or whole examples with fields
// nil) and routes grads to them: with one copied row per id (direct) it
// returns the rows, whose gradients are grads as they are; otherwise it
// fills t.aidx and t.agrad with each set's rows and their gradients (the
// backward of the plan's combines). The caller has checked the shapes.
func (t *Planned) route(op string, ids []uint64, fields []int, grads []float32) ([]int32, bool) {
	p := t.plan
	d := p.Dim
	keys, err := t.g.Resolve(ids, fields)
	if err != nil {
		panic("embedding: " + op + ": " + err.Error())
	}
	if t.direct {
		return t.g.rowIndices(nil), true
	}
	if t.hasComp {
		// The computed fields' backward needs their rows: gather the batch
		// (general path, so every set's rows stay in scratch).
		t.fwd = growFloats(t.fwd, len(ids)*d)
		t.tabs = t.tables(t.tabs)
		if err := t.g.gatherGeneral(t.tabs, nil, t.fwd, t.threads); err != nil {
			panic("embedding: " + op + ": " + err.Error())
		}
		for s := range t.g.sets {
			t.g.sets[s].pos = 0
		}
	}
	for s := range t.aidx {
		t.aidx[s], t.agrad[s] = t.aidx[s][:0], t.agrad[s][:0]
	}
	if t.g.hasShared {
		if t.sgrad == nil {
			t.sgrad = make([][]float32, len(p.Fields))
		}
		for f := range p.Fields {
			if ns := len(p.Fields[f].Shared); ns > 0 {
				t.sgrad[f] = growFloats(t.sgrad[f], ns*p.Fields[f].Width)
				clear(t.sgrad[f])
			}
		}
	}
	nf := len(p.Fields)
	f, kpos := 0, 0
	for i, id := range ids {
		if fields != nil {
			f = fields[i]
		}
		fp := &p.Fields[f]
		g := grads[i*d : (i+1)*d]
		w, n := fp.Width, fp.NumKeys
		ks := keys[kpos : kpos+n]
		kpos += n
		switch fp.Combine {
		case CopyRow:
			t.push(ks[0], g[:w])
		case SumRows:
			for kk, k := range ks {
				if fp.Weights == nil {
					t.push(k, g[:w])
					continue
				}
				t.pushScaled(k, g[:w], fp.Weights[kk])
			}
		case ConcatRows:
			for kk, k := range ks {
				t.push(k, g[kk*w:(kk+1)*w])
			}
		case ComputeVector:
			rows := t.g.computedRows(f, fp, ks)
			t.drows = growFloats(t.drows, len(rows))
			fp.Computer.(GradComputer).Backward(id, rows, g[:fp.Used], t.drows)
			for kk, k := range ks {
				t.push(k, t.drows[kk*w:kk*w+min(p.Sets[k.Set].Width, w)])
			}
			if len(fp.Shared) > 0 {
				add(t.sgrad[f], t.drows[n*w:len(rows)])
			}
		}
		if f++; f == nf {
			f = 0
		}
	}
	if t.g.hasShared {
		for f := range p.Fields {
			fp := &p.Fields[f]
			if t.g.sharedAt[f] < 0 {
				continue
			}
			w := fp.Width
			for j, k := range fp.Shared {
				t.push(k, t.sgrad[f][j*w:j*w+min(p.Sets[k.Set].Width, w)])
			}
		}
	}
	return nil, false
}

// push adds one key's gradient row to its store's batch.
func (t *Planned) push(k Key, g []float32) {
	t.aidx[k.Set] = append(t.aidx[k.Set], int32(k.Row))
	t.agrad[k.Set] = append(t.agrad[k.Set], g...)
}

func (t *Planned) pushScaled(k Key, g []float32, w float32) {
	t.aidx[k.Set] = append(t.aidx[k.Set], int32(k.Row))
	a := t.agrad[k.Set]
	for _, v := range g {
		a = append(a, w*v)
	}
	t.agrad[k.Set] = a
}

// KernelTable describes the store's rows for package kernels: the int8
// rows as they are (quant.Int8's layout), or the float32 parameters as
// quant.FP32 rows (little-endian, as on every GOARCH Go's kernels run
// on). The table aliases the store: it is valid until the next Load.
func (r *Rows) KernelTable() kernels.Table {
	if r.codes != nil {
		return kernels.Table{Codec: quant.Int8, Data: r.codes, Rows: r.n, Dim: r.dim, Stride: int8RowBytes(r.dim)}
	}
	var b []byte
	if len(r.params) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(r.params))), len(r.params)*4)
	}
	return kernels.Table{Codec: quant.FP32, Data: b, Rows: r.n, Dim: r.dim, Stride: 4 * r.dim}
}

var _ FieldTrainable = (*Planned)(nil)
