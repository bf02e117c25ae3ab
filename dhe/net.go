package dhe

import (
	"fmt"
	"math"
	"sync"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/kernels/gemm"
)

// network is every field's MLP over one set of weights: layer l of all
// fields is w[l], row f·outs[l]+j holding unit j of field f (ins[l]
// weights, then its bias). The weights are a table's Rows parameters in
// training and an artifact's decoded row sets in serving; the network
// only reads them.
type network struct {
	cfg       Config
	outs, ins []int
	w         [][]float32
	enc       []encoder
	pool      sync.Pool // *pass, for Compute and Lookup
}

// chunk is the most ids one batched pass computes at once (a pass's
// encoding is chunk·(k+1) floats: 2 MiB at k = 1024).
const chunk = 512

// pass is the scratch of one goroutine's batched passes through a field's
// network, up to chunk ids at a time: x[l] the input of layer l with a
// trailing 1 (the bias's input), one row of ins[l]+1 floats per id;
// pre[l] the layer's sums, outs[l] floats per id. Its gemm context is its
// own (one thread): a pass is not safe for concurrent use.
type pass struct {
	ctx    *gemm.Context
	x, pre [][]float32
	dm     [][]float32 // backward: Mish's derivative at each hidden layer's sums
	delta  []float32   // backward: the gradient of the current layer's sums
	below  []float32   // backward: of the layer below's
	// dedup, for a batch's distinct ids
	seen map[uint64]int32
	uniq []uint64
	sum  []float32   // their summed output gradients (backward)
	pos  []int32     // Lookup: each input id's distinct index
	grad [][]float32 // backward: the field's slices of the layers' gradients
}

func newNetwork(c Config, w [][]float32) (*network, error) {
	n := &network{cfg: c, w: make([][]float32, len(w))}
	n.outs, n.ins = c.widths()
	if len(w) != len(n.outs) {
		return nil, fmt.Errorf("dhe table: %d weight sets for %d layers: %w", len(w), len(n.outs), embedding.ErrCorrupt)
	}
	for l := range w {
		want := c.LayerParams(l)
		if len(w[l]) != c.setRows(l)*c.Dim {
			return nil, fmt.Errorf("dhe table: layer %d has %d weights, want %d (%d padded to rows of %d): %w",
				l, len(w[l]), c.setRows(l)*c.Dim, want, c.Dim, embedding.ErrCorrupt)
		}
		n.w[l] = w[l][:want:want]
	}
	n.enc = make([]encoder, c.Fields)
	for f := range n.enc {
		n.enc[f] = newEncoder(c.Seed, f, c.Hashes, c.Buckets)
	}
	return n, nil
}

// getPass returns a pass from the pool (or a new one).
func (n *network) getPass() *pass {
	if p, _ := n.pool.Get().(*pass); p != nil {
		return p
	}
	p := &pass{ctx: gemm.NewContext(1), seen: map[uint64]int32{}}
	for l, o := range n.outs {
		p.x = append(p.x, make([]float32, chunk*(n.ins[l]+1)))
		p.pre = append(p.pre, make([]float32, chunk*o))
		p.dm = append(p.dm, make([]float32, chunk*o))
	}
	width := 0
	for _, o := range n.outs {
		width = max(width, o)
	}
	p.delta = make([]float32, chunk*width)
	p.below = make([]float32, chunk*width)
	return p
}

// layer returns field f's weights of layer l: outs[l] rows of ins[l]+1.
func (n *network) layer(l, f int) []float32 {
	sz := n.outs[l] * (n.ins[l] + 1)
	return n.w[l][f*sz : (f+1)*sz]
}

// forward runs field f's network on ids (at most chunk of them) with p's
// scratch; the outputs are p.pre[L][:len(ids)·Dim]. Each id's output
// depends on that id alone: the products are the gemm kernels' row by
// row, whatever the batch around it.
func (n *network) forward(f int, ids []uint64, p *pass) []float32 {
	return n.pass(f, ids, p, false)
}

// pass is forward; with grad set it also keeps Mish's derivative at each
// hidden layer's sums in p.dm (from the same exponential).
func (n *network) pass(f int, ids []uint64, p *pass, grad bool) []float32 {
	b := len(ids)
	k := n.cfg.Hashes
	x0 := p.x[0]
	for i, id := range ids {
		row := x0[i*(k+1) : (i+1)*(k+1)]
		n.enc[f].encode(id, row[:k])
		row[k] = 1
	}
	last := len(n.outs) - 1
	for l, o := range n.outs {
		in := n.ins[l] + 1
		if err := p.ctx.Sgemm(gemm.NoTrans, gemm.Trans, b, o, in, 1, p.x[l][:b*in], in,
			n.layer(l, f), in, 0, p.pre[l][:b*o], o, nil); err != nil {
			panic("dhe: forward: " + err.Error())
		}
		if l < last {
			next := p.x[l+1]
			for i := range b {
				src := p.pre[l][i*o : (i+1)*o]
				dst := next[i*(o+1) : (i+1)*(o+1)]
				if grad {
					dm := p.dm[l][i*o : (i+1)*o]
					for j, v := range src {
						m, g := mishAndGrad(float64(v))
						dst[j], dm[j] = float32(m), float32(g)
					}
				} else {
					for j, v := range src {
						dst[j] = float32(mish(float64(v)))
					}
				}
				dst[o] = 1
			}
		}
	}
	return p.pre[last][:b*n.cfg.Dim]
}

// backward adds to g (field f's gradient of every layer, each outs[l] rows
// of ins[l]+1 floats; g[l] is overwritten when first is set) the gradient
// of Σ dout·v over ids (at most chunk), after a forward of the same ids
// on p.
func (n *network) backward(f int, ids []uint64, dout []float32, p *pass, g [][]float32, first bool) {
	b := len(ids)
	n.pass(f, ids, p, true)
	beta := float32(1)
	if first {
		beta = 0
	}
	last := len(n.outs) - 1
	delta := dout[:b*n.outs[last]]
	for l := last; l >= 0; l-- {
		o, in := n.outs[l], n.ins[l]+1
		// dW = deltaᵀ · x (bias included: x's trailing 1)
		if err := p.ctx.Sgemm(gemm.Trans, gemm.NoTrans, o, in, b, 1, delta, o, p.x[l][:b*in], in,
			beta, g[l], in, nil); err != nil {
			panic("dhe: backward: " + err.Error())
		}
		if l == 0 {
			break
		}
		// dx = delta · W[:, :ins], through Mish'
		below := p.below[:b*(in-1)]
		if err := p.ctx.Sgemm(gemm.NoTrans, gemm.NoTrans, b, in-1, o, 1, delta, o, n.layer(l, f), in,
			0, below, in-1, nil); err != nil {
			panic("dhe: backward: " + err.Error())
		}
		for i, v := range p.dm[l-1][:b*(in-1)] {
			below[i] *= v
		}
		p.delta, p.below = p.below, p.delta
		delta = p.delta[:b*(in-1)]
	}
}

// distinct fills p.uniq with the distinct ids of ids[start], ids[start+
// stride], ... in first-seen order and p.pos with each one's index.
func (p *pass) distinct(ids []uint64, start, stride int) {
	clear(p.seen)
	p.uniq, p.pos = p.uniq[:0], p.pos[:0]
	for i := start; i < len(ids); i += stride {
		id := ids[i]
		u, ok := p.seen[id]
		if !ok {
			u = int32(len(p.uniq))
			p.seen[id] = u
			p.uniq = append(p.uniq, id)
		}
		p.pos = append(p.pos, u)
	}
}

// lookupField writes field f's vectors of the whole examples ids (nf
// fields each) into out (Dim floats per id): each distinct id computed
// once, in chunks.
func (n *network) lookupField(f, nf int, ids []uint64, out []float32, p *pass) {
	d := n.cfg.Dim
	p.distinct(ids, f, nf)
	for lo := 0; lo < len(p.uniq); lo += chunk {
		hi := min(lo+chunk, len(p.uniq))
		v := n.forward(f, p.uniq[lo:hi], p)
		for e, u := range p.pos {
			if int(u) >= lo && int(u) < hi {
				copy(out[(e*nf+f)*d:(e*nf+f+1)*d], v[(int(u)-lo)*d:(int(u)-lo+1)*d])
			}
		}
	}
}

// lookupFields runs lookupField for fields [lo, hi) on a pooled pass.
func (n *network) lookupFields(lo, hi int, ids []uint64, out []float32) {
	p := n.getPass()
	for f := lo; f < hi; f++ {
		n.lookupField(f, len(n.enc), ids, out, p)
	}
	n.pool.Put(p)
}

// mish is x·tanh(softplus(x)), with tanh(log(1+e)) = e(e+2)/(e(e+2)+2)
// for e = exp(x).
func mish(x float64) float64 {
	if x > 20 {
		return x
	}
	e := math.Exp(x)
	n := e * (e + 2)
	return x * (n / (n + 2)) // as mishAndGrad rounds it
}

// mishGrad is mish'(x) = t + x·(1-t²)·σ(x), t = tanh(softplus(x)).
func mishGrad(x float64) float64 {
	if x > 20 {
		return 1
	}
	e := math.Exp(x)
	n := e * (e + 2)
	t := n / (n + 2)
	return t + x*(1-t*t)*e/(1+e)
}

// mishAndGrad returns mish(x) and mish'(x) from one exponential.
func mishAndGrad(x float64) (m, g float64) {
	if x > 20 {
		return x, 1
	}
	e := math.Exp(x)
	n := e * (e + 2)
	t := n / (n + 2)
	return x * t, t + x*(1-t*t)*e/(1+e)
}

// computer is a served field: Compute only.
type computer struct {
	n *network
	f int
}

// Compute writes field f's vector of id to out (Dim floats): the batched
// forward of one id, so that it equals the table's batched Lookup bit for
// bit. It is safe for concurrent use.
func (c *computer) Compute(id uint64, _ []float32, out []float32) {
	n := c.n
	p := n.getPass()
	ids := [1]uint64{id}
	copy(out, n.forward(c.f, ids[:], p))
	n.pool.Put(p)
}

// trainer holds the backward work of the current Apply: the ids each
// field's Backward queued and their output gradients, and the gradient
// of every layer's weights (Adam's, float32, layer-wide).
type trainer struct {
	n    *network
	g    [][]float32 // gradient of each layer's weights, summed over the batch
	todo [][]pending // per field, the ids Backward queued, in batch order
	dout []float32   // the queued output gradients, Dim floats each
	work []*pass     // one per goroutine of run
	// inApply is set while the table's Apply runs the engine's (Lookup
	// never runs concurrently with Apply).
	inApply bool
}

// pending is one queued backward: id and its output gradient at
// dout[off:off+Dim].
type pending struct {
	id  uint64
	off int
}

func newTrainer(n *network, g [][]float32) *trainer {
	return &trainer{n: n, g: g, todo: make([][]pending, n.cfg.Fields)}
}

// trainComputer is a training field: Backward queues the id, and the
// table's Apply runs the queued backward passes (in parallel over fields:
// each field's gradient is its own rows') and steps the weights.
type trainComputer struct {
	computer
	t *trainer
}

// Compute is the field's forward, except inside the table's Apply: there
// the engine computes every id's vector before it calls Backward and
// discards them (Backward recomputes what it needs), so it writes zeros.
func (c *trainComputer) Compute(id uint64, rows, out []float32) {
	if c.t.inApply {
		clear(out)
		return
	}
	c.computer.Compute(id, rows, out)
}

// Backward queues id's gradient dout for the table's Apply; a computed
// field without keys has no row gradients (drows is empty).
func (c *trainComputer) Backward(id uint64, _, dout, _ []float32) {
	t := c.t
	t.todo[c.f] = append(t.todo[c.f], pending{id: id, off: len(t.dout)})
	t.dout = append(t.dout, dout...)
}

// queued returns the number of queued backward passes.
func (t *trainer) queued() int { return len(t.dout) / t.n.cfg.Dim }

// run runs the queued backward passes of fields [lo, hi) on goroutine
// wk's scratch, writing their gradients into t.g (a field without ids
// gets zeros); then clears their queues. A field's distinct ids are
// taken in first-seen order, each with its output gradients summed in
// batch order, and go through the network in chunks: the gradient does
// not depend on how fields are split among goroutines.
func (t *trainer) run(wk, lo, hi int) {
	n := t.n
	p := t.work[wk]
	d := n.cfg.Dim
	if p.grad == nil {
		p.grad = make([][]float32, len(n.outs))
	}
	gl := p.grad
	for f := lo; f < hi; f++ {
		for l := range gl {
			sz := n.outs[l] * (n.ins[l] + 1)
			gl[l] = t.g[l][f*sz : (f+1)*sz]
		}
		todo := t.todo[f]
		if len(todo) == 0 {
			for _, g := range gl {
				clear(g)
			}
			continue
		}
		clear(p.seen)
		p.uniq = p.uniq[:0]
		p.sum = p.sum[:0]
		for _, q := range todo {
			u, ok := p.seen[q.id]
			if !ok {
				u = int32(len(p.uniq))
				p.seen[q.id] = u
				p.uniq = append(p.uniq, q.id)
				p.sum = append(p.sum, t.dout[q.off:q.off+d]...)
				continue
			}
			s := p.sum[int(u)*d : (int(u)+1)*d]
			for j, v := range t.dout[q.off : q.off+d] {
				s[j] += v
			}
		}
		for c := 0; c < len(p.uniq); c += chunk {
			e := min(c+chunk, len(p.uniq))
			n.backward(f, p.uniq[c:e], p.sum[c*d:e*d], p, gl, c == 0)
		}
		t.todo[f] = todo[:0]
	}
}

// grow makes sure run has scratch for goroutines goroutines.
func (t *trainer) grow(goroutines int) {
	for len(t.work) < goroutines {
		t.work = append(t.work, t.n.getPass())
	}
}

// Interface checks.
var (
	_ embedding.Computer     = (*computer)(nil)
	_ embedding.GradComputer = (*trainComputer)(nil)
)
