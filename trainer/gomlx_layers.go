package trainer

// Building blocks of the GoMLX dense models, each with a forward pass and a
// hand-written backward pass built from forward ops. GoMLX's autodiff
// (graph.Gradient) turns a DotGeneral into a broadcast multiply plus a
// reduce-sum, which the team measured ~20x slower for MLPs on simplego
// (shared/docs/gomlx-notes.md); the tests check every backward here against
// it.
//
// Conventions: parameters are graph nodes addressed by their index in the
// model's paramSet; a backward pass writes the gradient of parameter i into
// grads[i]. Batch-major layouts throughout: x is [batch, features].

import (
	"github.com/embtab/embtab/densenet"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// fcLayer is a fully connected layer y = x·W + b (optionally ReLU) of a
// densenet.Layout, with W stored [in, out].
type fcLayer struct {
	w, b int // parameter indices
	relu bool
}

func newFC(l densenet.Layer) fcLayer { return fcLayer{w: l.W, b: l.B, relu: l.ReLU} }

// forward returns the layer output [batch, out] for x [batch, in].
func (l fcLayer) forward(p []*graph.Node, x *graph.Node) *graph.Node {
	y := graph.DotGeneral(x, []int{1}, nil, p[l.w], []int{0}, nil)
	y = graph.Add(y, graph.InsertAxes(p[l.b], 0))
	if l.relu {
		y = graph.MaxScalar(y, 0)
	}
	return y
}

// backward takes the layer's input x, output y and dL/dy, stores dL/dW and
// dL/db in grads and returns dL/dx (nil unless needDx).
func (l fcLayer) backward(p, grads []*graph.Node, x, y, dy *graph.Node, needDx bool) *graph.Node {
	if l.relu {
		zero := graph.ScalarZero(y.Graph(), y.DType())
		dy = graph.Where(graph.GreaterThan(y, zero), dy, zero)
	}
	// dW = xᵀ·dy: contract the batch axis of both.
	grads[l.w] = graph.DotGeneral(x, []int{0}, nil, dy, []int{0}, nil)
	grads[l.b] = graph.ReduceSum(dy, 0)
	if !needDx {
		return nil
	}
	// dx = dy·Wᵀ.
	return graph.DotGeneral(dy, []int{1}, nil, p[l.w], []int{1}, nil)
}

// mlp is a stack of fully connected layers.
type mlp []fcLayer

// newMLP returns the graph layers of a densenet.Layout's stack.
func newMLP(ls []densenet.Layer) mlp {
	var m mlp
	for _, l := range ls {
		m = append(m, newFC(l))
	}
	return m
}

// forward returns the activations: acts[0] is x and acts[i+1] the output of
// layer i, so acts[len(m)] is the MLP's output.
func (m mlp) forward(p []*graph.Node, x *graph.Node) []*graph.Node {
	acts := make([]*graph.Node, 0, len(m)+1)
	acts = append(acts, x)
	for _, l := range m {
		x = l.forward(p, x)
		acts = append(acts, x)
	}
	return acts
}

// backward back-propagates dL/d(output) through the stack (acts as returned
// by forward) and returns dL/dx (nil unless needDx).
func (m mlp) backward(p, grads, acts []*graph.Node, dy *graph.Node, needDx bool) *graph.Node {
	for i := len(m) - 1; i >= 0; i-- {
		dy = m[i].backward(p, grads, acts[i], acts[i+1], dy, needDx || i > 0)
	}
	return dy
}

// bceWithLogits returns the mean sigmoid binary cross-entropy of logits z [B]
// against labels y [B], in the stable form max(z,0) - z·y + log1p(exp(-|z|)),
// and its gradient dL/dz = (sigmoid(z) - y)/B.
func bceWithLogits(z, y *graph.Node) (loss, dz *graph.Node) {
	perExample := graph.Add(
		graph.Sub(graph.MaxScalar(z, 0), graph.Mul(z, y)),
		graph.Log1p(graph.Exp(graph.Neg(graph.Abs(z)))))
	loss = graph.ReduceAllMean(perExample)
	dz = graph.DivScalar(graph.Sub(graph.Logistic(z), y), float64(z.Shape().Dimensions[0]))
	return loss, dz
}

// dotInteraction is DLRM's pairwise dot-product interaction over n vectors:
// z[b, k] = <t[b, i_k], t[b, j_k]> for the n(n-1)/2 pairs i<j in row-major
// order (torch.triu_indices(n, n, 1)).
//
// The upper triangle is cut out of the Gram matrix with one slice per row
// rather than a Gather: GoMLX's Gather and Scatter work on leading axes, and
// transposing the [B, n*n] Gram matrix to get there cost more than the rest
// of the interaction on simplego (dlrm-small, batch 2048: 78 ms per
// forward+backward with transposes and gather/scatter, 32 ms this way).
type dotInteraction struct {
	n int
	// viaGather selects a Gather-based extraction of the upper triangle
	// (slower, see above). Tests use it to check backward against
	// graph.Gradient: the VJP of a slice is a Pad, which simplego v0.26.0
	// does not implement, while the VJP of a Gather is a Scatter.
	viaGather bool
}

// forward returns z [B, P] for t [B, n, D].
func (d dotInteraction) forward(t *graph.Node) *graph.Node {
	n, batch := d.n, t.Shape().Dimensions[0]
	gram := graph.DotGeneral(t, []int{2}, []int{0}, t, []int{2}, []int{0}) // [B, n, n]
	flatGram := graph.Reshape(gram, batch, n*n)
	if d.viaGather {
		var upper [][]int32 // flat positions i*n+j of the pairs, in order
		for i := range n {
			for j := i + 1; j < n; j++ {
				upper = append(upper, []int32{int32(i*n + j)})
			}
		}
		// Gather works on the leading axis: move the pair axis first.
		zT := graph.Gather(graph.Transpose(flatGram, 0, 1), graph.Const(t.Graph(), upper), true)
		return graph.Transpose(zT, 0, 1)
	}
	rows := make([]*graph.Node, 0, n-1)
	for i := range n - 1 {
		rows = append(rows, graph.SliceAxis(flatGram, 1, graph.AxisRange(i*n+i+1, (i+1)*n)))
	}
	return graph.Concatenate(rows, 1)
}

// backward returns dL/dt [B, n, D] for t [B, n, D] and dz = dL/dz [B, P]:
// dt = (U + Uᵀ)·t, where U is the strictly upper triangular [n, n] matrix
// holding dz at (i_k, j_k).
func (d dotInteraction) backward(t, dz *graph.Node) *graph.Node {
	g, n, batch := t.Graph(), d.n, t.Shape().Dimensions[0]
	zeros := func(cols int) *graph.Node { return graph.Zeros(g, shapes.Make(dz.DType(), batch, cols)) }
	parts := make([]*graph.Node, 0, 2*n)
	off := 0
	for i := range n - 1 {
		// Row i of U: i+1 zeros, then the n-1-i terms of pairs (i, j>i).
		w := n - 1 - i
		parts = append(parts, zeros(i+1), graph.SliceAxis(dz, 1, graph.AxisRange(off, off+w)))
		off += w
	}
	parts = append(parts, zeros(n)) // the last row has no pairs
	u := graph.Reshape(graph.Concatenate(parts, 1), batch, n, n)
	s := graph.Add(u, graph.Transpose(u, 1, 2))
	return graph.DotGeneral(s, []int{2}, []int{0}, t, []int{1}, []int{0})
}

// fmInteraction returns the factorization machine's second-order term
// scale·0.5*Σ_d((Σ_i v_id)² - Σ_i v_id²) [B] for v [B, m, D] and a backward
// closure giving dL/dv for dL/d(term) [B]: dv_i = scale·dterm·(Σ_j v_j - v_i).
func fmInteraction(v *graph.Node, scale float64) (*graph.Node, func(dterm *graph.Node) *graph.Node) {
	sum := graph.ReduceSum(v, 1)                  // [B, D]
	sumSq := graph.ReduceSum(graph.Mul(v, v), 1)  // [B, D]
	term := graph.Sub(graph.Mul(sum, sum), sumSq) // [B, D]
	term = graph.MulScalar(graph.ReduceSum(term, 1), 0.5*scale)
	return term, func(dterm *graph.Node) *graph.Node {
		batch := v.Shape().Dimensions[0]
		diff := graph.Sub(graph.InsertAxes(sum, 1), v) // [B, m, D]
		return graph.Mul(graph.Reshape(graph.MulScalar(dterm, scale), batch, 1, 1), diff)
	}
}

// addGrad returns a+b, treating a nil a as zero.
func addGrad(a, b *graph.Node) *graph.Node {
	if a == nil {
		return b
	}
	return graph.Add(a, b)
}

// float32Dtype is the only dtype the dense nets use.
const float32Dtype = dtypes.Float32
