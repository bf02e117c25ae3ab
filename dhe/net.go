package dhe

import (
	"fmt"
	"math"
	"sync"

	"github.com/embtab/embtab/embedding"
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
	pool      sync.Pool // *scratch for Compute
}

// scratch is one forward pass's activations: x[0] the encoding, x[l+1]
// layer l's output (after Mish for hidden layers), pre[l] its input sums.
type scratch struct {
	x, pre [][]float64
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

func (n *network) newScratch() *scratch {
	s := &scratch{}
	s.x = append(s.x, make([]float64, n.cfg.Hashes))
	for l, o := range n.outs {
		s.pre = append(s.pre, make([]float64, o))
		if l < len(n.outs)-1 {
			s.x = append(s.x, make([]float64, o))
		}
	}
	return s
}

// layer returns field f's weights of layer l.
func (n *network) layer(l, f int) []float32 {
	sz := n.outs[l] * (n.ins[l] + 1)
	return n.w[l][f*sz : (f+1)*sz]
}

// forward runs field f's network on id; the output is s.pre[L].
func (n *network) forward(f int, id uint64, s *scratch) {
	n.enc[f].encode(id, s.x[0])
	last := len(n.outs) - 1
	for l := range n.outs {
		in, pre := s.x[l], s.pre[l]
		fi := n.ins[l]
		w := n.layer(l, f)
		for j := range pre {
			row := w[j*(fi+1) : (j+1)*(fi+1)]
			pre[j] = dot(row[:fi], in) + float64(row[fi])
		}
		if l < last {
			out := s.x[l+1]
			for j, v := range pre {
				out[j] = mish(v)
			}
		}
	}
}

// dot returns Σ w[i]·x[i] in float64 (four partial sums, a fixed order).
func dot(w []float32, x []float64) float64 {
	x = x[:len(w)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(w); i += 4 {
		s0 += float64(w[i]) * x[i]
		s1 += float64(w[i+1]) * x[i+1]
		s2 += float64(w[i+2]) * x[i+2]
		s3 += float64(w[i+3]) * x[i+3]
	}
	for ; i < len(w); i++ {
		s0 += float64(w[i]) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// mish is x·tanh(softplus(x)), with tanh(log(1+e)) = e(e+2)/(e(e+2)+2)
// for e = exp(x).
func mish(x float64) float64 {
	if x > 20 {
		return x
	}
	e := math.Exp(x)
	n := e * (e + 2)
	return x * n / (n + 2)
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

// computer is a served field: Compute only.
type computer struct {
	n *network
	f int
}

// Compute writes field f's vector of id to out (Dim floats). It is safe
// for concurrent use.
func (c *computer) Compute(id uint64, _ []float32, out []float32) {
	n := c.n
	s, _ := n.pool.Get().(*scratch)
	if s == nil {
		s = n.newScratch()
	}
	n.forward(c.f, id, s)
	for j, v := range s.pre[len(s.pre)-1][:len(out)] {
		out[j] = float32(v)
	}
	n.pool.Put(s)
}

// trainer holds a training network's gradient accumulators and the
// backward work of the current Apply.
type trainer struct {
	n    *network
	g    [][]float64 // gradient of each layer's weights, summed over the batch
	todo [][]pending // per field, the ids Backward queued, in batch order
	dout []float32   // the queued output gradients, Dim floats each
	work []*scratch  // one per goroutine of run
	dx   [][][]float64
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

func newTrainer(n *network) *trainer {
	t := &trainer{n: n, todo: make([][]pending, n.cfg.Fields)}
	for _, w := range n.w {
		t.g = append(t.g, make([]float64, len(w)))
	}
	return t
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
// g's scratch, adding into t.g; then clears their queues.
func (t *trainer) run(g, lo, hi int) {
	s, dx := t.work[g], t.dx[g]
	d := t.n.cfg.Dim
	for f := lo; f < hi; f++ {
		for _, p := range t.todo[f] {
			t.backward(f, p.id, t.dout[p.off:p.off+d], s, dx)
		}
		t.todo[f] = t.todo[f][:0]
	}
}

// grow makes sure run has scratch for goroutines goroutines.
func (t *trainer) grow(goroutines int) {
	for len(t.work) < goroutines {
		t.work = append(t.work, t.n.newScratch())
		var dx [][]float64
		for _, o := range t.n.outs {
			dx = append(dx, make([]float64, o))
		}
		t.dx = append(t.dx, dx)
	}
}

// backward adds the gradient of field f's network at id for output
// gradient dout to t.g (dx: scratch for the gradient of each layer's
// sums).
func (t *trainer) backward(f int, id uint64, dout []float32, s *scratch, dx [][]float64) {
	n := t.n
	n.forward(f, id, s)
	last := len(n.outs) - 1
	delta := dx[last]
	for j := range delta {
		delta[j] = float64(dout[j])
	}
	for l := last; l >= 0; l-- {
		fi, fo := n.ins[l], n.outs[l]
		sz := fo * (fi + 1)
		w := n.w[l][f*sz : (f+1)*sz]
		g := t.g[l][f*sz : (f+1)*sz]
		in := s.x[l]
		var below []float64
		if l > 0 {
			below = dx[l-1]
			clear(below)
		}
		for j, dj := range delta {
			if dj == 0 {
				continue
			}
			grow := g[j*(fi+1) : (j+1)*(fi+1)]
			for i, v := range in {
				grow[i] += dj * v
			}
			grow[fi] += dj
			if below != nil {
				row := w[j*(fi+1) : j*(fi+1)+fi]
				for i, v := range row {
					below[i] += dj * float64(v)
				}
			}
		}
		if below != nil {
			for i, v := range s.pre[l-1] {
				below[i] *= mishGrad(v)
			}
			delta = below
		}
	}
}

// Interface checks.
var (
	_ embedding.Computer     = (*computer)(nil)
	_ embedding.GradComputer = (*trainComputer)(nil)
)
