package densenet

import "github.com/embtab/embtab/kernels/gemm"

// MLP is a stack of fully connected layers over a parameter list of its
// own (layer i's weight [In, Out] is params[2i], its bias params[2i+1]):
// the layers the models of this package are built from, for dense parts
// outside them (the two-tower model's towers). An MLP is immutable; the
// buffers of a pass are in an MLPPass.
type MLP struct {
	Layers []Layer
}

// NewMLP declares layers of the given widths over in inputs, each one
// ReLU'd except the last when linearLast is set.
func NewMLP(in int, widths []int, linearLast bool) MLP {
	var m MLP
	for i, w := range widths {
		relu := !linearLast || i < len(widths)-1
		m.Layers = append(m.Layers, Layer{W: 2 * i, B: 2*i + 1, In: in, Out: w, ReLU: relu})
		in = w
	}
	return m
}

// MLPPass holds the activations of one Forward for its Backward, reused
// across calls. It is not safe for concurrent use.
type MLPPass struct {
	bufs     mlpBuffers
	capBatch int
}

// Forward runs the stack on the batch rows of x ([batch, In] row-major)
// and returns the output [batch, Out], a buffer of p valid until p's next
// Forward.
func (m MLP) Forward(ctx *gemm.Context, params [][]float32, x []float32, batch int, p *MLPPass) ([]float32, error) {
	if batch > p.capBatch {
		p.bufs.reserve(m.Layers, batch)
		p.capBatch = batch
	}
	e := exec{ctx: ctx, params: params}
	in := m.Layers[0].In
	mlpForward(&e, m.Layers, &p.bufs, batch, []part{{x: x, ld: in, n: in}}, nil, 0)
	last := m.Layers[len(m.Layers)-1]
	return p.bufs.out[len(m.Layers)-1][:batch*last.Out], e.err
}

// Backward back-propagates dy = dL/d(output) ([batch, Out]) through the
// pass p that Forward ran on x: it writes every parameter's gradient into
// grads (shaped like params) and, unless dx is nil, dL/dx into dx
// ([batch, In]).
func (m MLP) Backward(ctx *gemm.Context, params, grads [][]float32, x []float32, batch int, p *MLPPass, dy, dx []float32) error {
	e := exec{ctx: ctx, params: params, grads: grads}
	k := len(m.Layers) - 1
	last := m.Layers[k]
	g := dy
	if last.ReLU {
		g = p.bufs.g[k][:batch*last.Out]
		copy(g, dy)
		reluMask(g, p.bufs.out[k][:batch*last.Out])
	}
	colSum(g, last.Out, batch, last.Out, grads[last.B])
	in := m.Layers[0].In
	mlpBackward(&e, m.Layers, &p.bufs, batch, []part{{x: x, ld: in, n: in, dx: dx, ldDx: in}}, g, last.Out, nil, 0)
	return e.err
}
