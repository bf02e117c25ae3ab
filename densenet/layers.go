package densenet

// Building blocks of the dense models: fully connected layers and MLPs as
// GEMMs of package kernels/gemm with fused epilogues.
//
// Conventions: matrices are row-major [batch, features] slices with a
// leading dimension (a layer's input may be a column range of a wider
// buffer); W is stored [in, out] as in State; a backward pass takes
// g = dL/d(pre-activation output), whose bias gradient the caller (or the
// epilogue that produced g) has already summed.

import (
	"fmt"

	"github.com/embtab/embtab/kernels/gemm"
)

// exec is the state of one forward or backward pass: the kernels'
// context, the parameters and gradients the layers index, and the first
// kernel error (later kernels are skipped once one failed).
type exec struct {
	ctx           *gemm.Context
	params, grads [][]float32
	err           error
}

// gemm runs ctx.Sgemm unless an earlier kernel of this pass failed, and
// records its error (the arguments come from the model's shapes, so an
// error is a bug, reported rather than panicking).
func (e *exec) gemm(tA, tB gemm.Transpose, m, nn, k int, a []float32, lda int, b []float32, ldb int,
	beta float32, c []float32, ldc int, ep *gemm.Epilogue) {
	if e.err != nil {
		return
	}
	if err := e.ctx.Sgemm(tA, tB, m, nn, k, 1, a, lda, b, ldb, beta, c, ldc, ep); err != nil {
		e.err = fmt.Errorf("densenet: %w", err)
	}
}

// part is a block of columns of a layer input: batch rows of n values at
// x[r·ld:]. A layer whose input is a concatenation ([dense ; emb]) takes
// one part per piece, multiplied by the matching rows of W, so that the
// concatenation is never built. For backward passes dx (leading dimension
// ldDx, nil when not needed) receives dL/d(part), added to its contents
// when add is set.
type part struct {
	x    []float32
	ld   int
	n    int
	dx   []float32
	ldDx int
	add  bool
}

// forward writes y = relu?(Σ_parts x_p·W[rows of p] + b) into y (leading
// dimension ldy).
func (l Layer) forward(e *exec, batch int, parts []part, y []float32, ldy int) {
	w := e.params[l.W]
	row, beta := 0, float32(0)
	for i, p := range parts {
		var ep *gemm.Epilogue
		if i == len(parts)-1 {
			ep = &gemm.Epilogue{Bias: e.params[l.B], ReLU: l.ReLU}
		}
		if p.n > 0 || ep != nil {
			e.gemm(gemm.NoTrans, gemm.NoTrans, batch, l.Out, p.n, p.x, max(p.ld, 1), w[row*l.Out:], l.Out, beta, y, ldy, ep)
			beta = 1
		}
		row += p.n
	}
}

// backward takes g = dL/d(pre-activation) [batch, out] (leading dimension
// ldg) and the layer's input parts: it writes dL/dW into grads[l.W] and
// dL/d(part) into the parts' dx. The bias gradient is the caller's.
func (l Layer) backward(e *exec, batch int, parts []part, g []float32, ldg int) {
	w, dw := e.params[l.W], e.grads[l.W]
	row := 0
	for _, p := range parts {
		if p.n == 0 {
			continue
		}
		// dW[rows of p] = x_pᵀ·g.
		e.gemm(gemm.Trans, gemm.NoTrans, p.n, l.Out, batch, p.x, p.ld, g, ldg, 0, dw[row*l.Out:], l.Out, nil)
		if p.dx != nil {
			// dx_p = g·W[rows of p]ᵀ.
			beta := float32(0)
			if p.add {
				beta = 1
			}
			e.gemm(gemm.NoTrans, gemm.Trans, batch, p.n, l.Out, g, ldg, w[row*l.Out:], l.Out, beta, p.dx, p.ldDx, nil)
		}
		row += p.n
	}
}

// colSum writes the column sums of the batch×cols matrix g (leading
// dimension ld) into sum: the bias gradient of a layer whose g no epilogue
// summed.
func colSum(g []float32, ld, batch, cols int, sum []float32) {
	clear(sum[:cols])
	for r := range batch {
		for j, v := range g[r*ld : r*ld+cols] {
			sum[j] += v
		}
	}
}

// reluMask zeroes g where the ReLU output y is not positive.
func reluMask(g, y []float32) {
	for i := range g {
		if !(y[i] > 0) {
			g[i] = 0
		}
	}
}

// mlpBuffers are one pass's buffers of a stack of layers: out[i] holds
// layer i's output and g[i] its dL/d(pre-activation), [batch, out] each.
type mlpBuffers struct {
	out, g [][]float32
}

// reserve sizes the buffers for batch rows of layers, reusing them when
// they are large enough.
func (b *mlpBuffers) reserve(layers []Layer, batch int) {
	b.out, b.g = b.out[:0:0], b.g[:0:0]
	for _, l := range layers {
		b.out = append(b.out, make([]float32, batch*l.Out))
		b.g = append(b.g, make([]float32, batch*l.Out))
	}
}

// act returns the output of layer i and its leading dimension; the last
// layer's goes to last (leading dimension ldLast) when last is not nil.
func (b *mlpBuffers) act(layers []Layer, i int, last []float32, ldLast int) ([]float32, int) {
	if i == len(layers)-1 && last != nil {
		return last, ldLast
	}
	return b.out[i], layers[i].Out
}

// mlpForward runs the stack on the input parts; the output of the last
// layer goes to last (leading dimension ldLast) if not nil, else to
// b.out.
func mlpForward(e *exec, layers []Layer, b *mlpBuffers, batch int, in []part, last []float32, ldLast int) {
	for i, l := range layers {
		y, ldy := b.act(layers, i, last, ldLast)
		if i == 0 {
			l.forward(e, batch, in, y, ldy)
		} else {
			x, ldx := b.act(layers, i-1, last, ldLast)
			l.forward(e, batch, []part{{x: x, ld: ldx, n: l.In}}, y, ldy)
		}
	}
}

// mlpBackward back-propagates g = dL/d(pre-activation of the last layer)
// (leading dimension ldg, its bias gradient already in e.grads): every
// layer's weight gradient, the bias gradients below the last (summed by
// the epilogue that applies the ReLU mask), and dL/d(input) into the
// input parts' dx. last and ldLast are those given to mlpForward.
func mlpBackward(e *exec, layers []Layer, b *mlpBuffers, batch int, in []part, g []float32, ldg int, last []float32, ldLast int) {
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		if i == 0 {
			l.backward(e, batch, in, g, ldg)
			return
		}
		x, ldx := b.act(layers, i-1, last, ldLast)
		l.backward(e, batch, []part{{x: x, ld: ldx, n: l.In}}, g, ldg)
		// g_{i-1} = (g·Wᵀ) ⊙ [x > 0], with its column sums.
		below := layers[i-1]
		ep := &gemm.Epilogue{ColSum: e.grads[below.B]}
		if below.ReLU {
			ep.Mask, ep.LDMask = x, ldx
		}
		e.gemm(gemm.NoTrans, gemm.Trans, batch, l.In, l.Out, g, ldg, e.params[l.W], l.Out, 0, b.g[i-1], l.In, ep)
		g, ldg = b.g[i-1], l.In
	}
}
