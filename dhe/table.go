package dhe

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/embtab/embtab/densenet/optim"
	"github.com/embtab/embtab/embedding"
)

// Table is a DHE table: its config, the networks' weights in one
// [embedding.Rows] store per layer (see [Config.LayerParams] for the
// layout), the Adam that steps them, and the
// shared engine (Lookup through the plan's computed fields, Apply's
// backward). Build it with [New].
type Table struct {
	cfg     Config
	sets    []*embedding.Rows
	net     *network
	tr      *trainer
	adam    *optim.Adam
	grads   [][]float32 // Adam's gradients (t.tr.g rounded)
	threads int
	*embedding.Planned
}

// rowsOptimizer is the (unused, stateless) sparse optimizer of the weight
// stores: Adam steps them.
var rowsOptimizer = embedding.Optimizer{Name: embedding.SGD, LR: 1}

// plan returns the key plan of c over net: layer l is row set l, and
// every field computes its vector from no rows. With tr set the fields
// train through it.
func (c Config) plan(net *network, tr *trainer) *embedding.Plan {
	p := &embedding.Plan{Dim: c.Dim}
	for l := range c.Layers + 1 {
		p.Sets = append(p.Sets, embedding.SetShape{Rows: c.setRows(l), Width: c.Dim})
	}
	for f := range c.Fields {
		var comp embedding.Computer = &computer{n: net, f: f}
		if tr != nil {
			comp = &trainComputer{computer: computer{n: net, f: f}, t: tr}
		}
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 0, Combine: embedding.ComputeVector, Used: c.Dim, Computer: comp})
	}
	return p
}

// New returns a freshly initialised table for c: Xavier-uniform weights
// drawn from c.Seed, zero biases. The errors wrap embedding.ErrConfig.
func New(c Config) (*Table, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	t, err := build(c)
	if err != nil {
		return nil, err
	}
	outs, ins := c.widths()
	for l, r := range t.sets {
		scale := float32(math.Sqrt(6 / float64(ins[l]+outs[l])))
		r.InitUniform(0, r.Len(), scale, c.Seed, uint64(l))
		w := r.Params()
		clear(w[len(t.net.w[l]):]) // the last row's padding
		for i := ins[l]; i < len(t.net.w[l]); i += ins[l] + 1 {
			w[i] = 0 // biases
		}
	}
	return t, nil
}

// build returns a table of c with zero weights.
func build(c Config) (*Table, error) {
	t := &Table{cfg: c, threads: 1}
	w := make([][]float32, c.Layers+1)
	for l := range w {
		r, err := embedding.NewRows(c.setRows(l), c.Dim, rowsOptimizer)
		if err != nil {
			return nil, fmt.Errorf("dhe table: layer %d: %w", l, err)
		}
		t.sets = append(t.sets, r)
		w[l] = r.Params()
	}
	net, err := newNetwork(c, w)
	if err != nil {
		return nil, err
	}
	for _, lw := range net.w {
		t.grads = append(t.grads, make([]float32, len(lw)))
	}
	t.net, t.tr = net, newTrainer(net, t.grads)
	if t.adam, err = optim.NewAdam(optim.AdamConfig{LR: c.LR}, net.w, t.grads); err != nil {
		return nil, fmt.Errorf("dhe table: %w", err)
	}
	if t.Planned, err = embedding.NewPlanned(c.plan(net, t.tr), t.sets); err != nil {
		return nil, fmt.Errorf("dhe table: %w", err)
	}
	return t, nil
}

// Config returns the table's configuration.
func (t *Table) Config() Config { return t.cfg }

// SetThreads sets the goroutines of Lookup (examples split among them),
// of Apply's backward (fields split among them) and of Adam's step; n <=
// 0 means GOMAXPROCS. Results do not depend on it.
func (t *Table) SetThreads(n int) {
	t.Planned.SetThreads(n)
	t.threads = t.Planned.Threads()
}

// Lookup writes the vector of each id to out (see [embedding.Table]):
// per field, the batch's distinct ids go through the field's network in
// batched passes on the gemm kernels (fields split among the table's
// threads). Each id's vector is the one Compute gives it alone, bit for
// bit.
func (t *Table) Lookup(ids []uint64, out []float32) {
	nf, d := t.cfg.Fields, t.cfg.Dim
	if len(ids)%nf != 0 || len(out) != len(ids)*d {
		t.Planned.Lookup(ids, out) // panics on the shape errors
		return
	}
	if len(ids) == 0 {
		return
	}
	parts := max(1, min(t.threads, nf, len(ids)/minLookupIDs))
	if parts == 1 {
		t.net.lookupFields(0, nf, ids, out)
		return
	}
	var wg sync.WaitGroup
	for q := range parts {
		wg.Go(func() { t.net.lookupFields(q*nf/parts, (q+1)*nf/parts, ids, out) })
	}
	wg.Wait()
}

// minLookupIDs is the fewest ids per goroutine of a Lookup.
const minLookupIDs = 256

// Apply trains the networks on a batch (see [embedding.Trainable]): the
// engine's Apply queues each id's output gradient with its field's
// Backward, the queued backward passes run (fields split among the
// threads, each field's in batch order, so the sum does not depend on the
// split), and Adam steps every weight once with the batch's summed
// gradient. An empty batch changes nothing.
func (t *Table) Apply(ids []uint64, grads []float32) {
	t.train(func() { t.Planned.Apply(ids, grads) })
}

// ApplyFields is Apply for ids in the given fields.
func (t *Table) ApplyFields(ids []uint64, fields []int, grads []float32) {
	t.train(func() { t.Planned.ApplyFields(ids, fields, grads) })
}

// train runs route (the engine's Apply, which queues each id's output
// gradient with its field's Backward), then the queued backward passes and
// Adam's step.
func (t *Table) train(route func()) {
	t.tr.inApply = true
	func() {
		defer func() { t.tr.inApply = false }()
		route()
	}()
	if t.tr.queued() == 0 {
		return
	}
	parts := max(1, min(t.threads, t.cfg.Fields))
	t.tr.grow(parts)
	if parts == 1 {
		t.tr.run(0, 0, t.cfg.Fields)
	} else {
		var wg sync.WaitGroup
		for p := range parts {
			lo, hi := p*t.cfg.Fields/parts, (p+1)*t.cfg.Fields/parts
			wg.Go(func() { t.tr.run(p, lo, hi) })
		}
		wg.Wait()
	}
	t.tr.dout = t.tr.dout[:0]
	t.adam.Step(nil)
}

// Bytes reports the networks' fp32 parameters and Adam's two moments (no
// index).
func (t *Table) Bytes() embedding.Bytes {
	p := t.cfg.ServingBytes()
	return embedding.Bytes{Params: p, Optimizer: 2 * p}
}

// Describe records the table for an artifact: its config, plan and the
// weight stores as its row sets (one per layer, Dim floats per row).
func (t *Table) Describe() (embedding.Description, error) {
	js, err := json.Marshal(t.cfg)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("dhe table: encode config: %w", err)
	}
	return embedding.Description{Method: Method, Config: js, Plan: t.Plan(), Width: t.cfg.Dim, Sets: t.RowSets()}, nil
}

var (
	_ embedding.TrainTable     = (*Table)(nil)
	_ embedding.FieldTrainable = (*Table)(nil)
	_ embedding.Describer      = (*Table)(nil)
	_ embedding.RowStore       = (*Table)(nil)
)
