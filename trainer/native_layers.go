package trainer

// Building blocks of the native dense models: fully connected layers and
// MLPs as GEMMs with fused epilogues, mirroring gomlx_layers.go.
//
// Conventions: matrices are row-major [batch, features] slices with a
// leading dimension (a layer's input may be a column range of a wider
// buffer); W is stored [in, out] as in DenseState; a backward pass takes
// g = dL/d(pre-activation output), whose bias gradient the caller (or the
// epilogue that produced g) has already summed.

import "github.com/embtab/embtab/kernels/gemm"

// nativeFC is a fully connected layer y = x·W + b (optionally ReLU) with
// parameters n.params[w] ([in, out]) and n.params[b] ([out]).
type nativeFC struct {
	w, b    int
	in, out int
	relu    bool
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
func (l nativeFC) forward(n *NativeNet, batch int, parts []part, y []float32, ldy int) {
	w := n.params[l.w]
	row, beta := 0, float32(0)
	for i, p := range parts {
		var ep *gemm.Epilogue
		if i == len(parts)-1 {
			ep = &gemm.Epilogue{Bias: n.params[l.b], ReLU: l.relu}
		}
		if p.n > 0 || ep != nil {
			n.gemm(gemm.NoTrans, gemm.NoTrans, batch, l.out, p.n, p.x, max(p.ld, 1), w[row*l.out:], l.out, beta, y, ldy, ep)
			beta = 1
		}
		row += p.n
	}
}

// backward takes g = dL/d(pre-activation) [batch, out] (leading dimension
// ldg) and the layer's input parts: it writes dL/dW into n.grads[l.w] and
// dL/d(part) into the parts' dx. The bias gradient is the caller's.
func (l nativeFC) backward(n *NativeNet, batch int, parts []part, g []float32, ldg int) {
	w, dw := n.params[l.w], n.grads[l.w]
	row := 0
	for _, p := range parts {
		if p.n == 0 {
			continue
		}
		// dW[rows of p] = x_pᵀ·g.
		n.gemm(gemm.Trans, gemm.NoTrans, p.n, l.out, batch, p.x, p.ld, g, ldg, 0, dw[row*l.out:], l.out, nil)
		if p.dx != nil {
			// dx_p = g·W[rows of p]ᵀ.
			beta := float32(0)
			if p.add {
				beta = 1
			}
			n.gemm(gemm.NoTrans, gemm.Trans, batch, p.n, l.out, g, ldg, w[row*l.out:], l.out, beta, p.dx, p.ldDx, nil)
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

// nativeMLP is a stack of layers with its buffers: out[i] holds layer i's
// output and g[i] its dL/d(pre-activation), [capBatch, out] each.
type nativeMLP struct {
	layers []nativeFC
	out, g [][]float32
}

func (m *nativeMLP) reserve(batch int) {
	m.out, m.g = m.out[:0], m.g[:0]
	for _, l := range m.layers {
		m.out = append(m.out, make([]float32, batch*l.out))
		m.g = append(m.g, make([]float32, batch*l.out))
	}
}

// width returns the output width (0 for no layers).
func (m *nativeMLP) width() int {
	if len(m.layers) == 0 {
		return 0
	}
	return m.layers[len(m.layers)-1].out
}

// act returns the output of layer i and its leading dimension; the last
// layer's goes to last (leading dimension ldLast) when last is not nil.
func (m *nativeMLP) act(i int, last []float32, ldLast int) ([]float32, int) {
	if i == len(m.layers)-1 && last != nil {
		return last, ldLast
	}
	return m.out[i], m.layers[i].out
}

// forward runs the stack on the input parts; the output of the last layer
// goes to last (leading dimension ldLast) if not nil, else to m.out.
func (m *nativeMLP) forward(n *NativeNet, batch int, in []part, last []float32, ldLast int) {
	for i, l := range m.layers {
		y, ldy := m.act(i, last, ldLast)
		if i == 0 {
			l.forward(n, batch, in, y, ldy)
		} else {
			x, ldx := m.act(i-1, last, ldLast)
			l.forward(n, batch, []part{{x: x, ld: ldx, n: l.in}}, y, ldy)
		}
	}
}

// backward back-propagates g = dL/d(pre-activation of the last layer)
// (leading dimension ldg, its bias gradient already in n.grads): every
// layer's weight gradient, the bias gradients below the last (summed by
// the epilogue that applies the ReLU mask), and dL/d(input) into the
// input parts' dx. last and ldLast are those given to forward.
func (m *nativeMLP) backward(n *NativeNet, batch int, in []part, g []float32, ldg int, last []float32, ldLast int) {
	for i := len(m.layers) - 1; i >= 0; i-- {
		l := m.layers[i]
		if i == 0 {
			l.backward(n, batch, in, g, ldg)
			return
		}
		x, ldx := m.act(i-1, last, ldLast)
		l.backward(n, batch, []part{{x: x, ld: ldx, n: l.in}}, g, ldg)
		// g_{i-1} = (g·Wᵀ) ⊙ [x > 0], with its column sums.
		below := m.layers[i-1]
		ep := &gemm.Epilogue{ColSum: n.grads[below.b]}
		if below.relu {
			ep.Mask, ep.LDMask = x, ldx
		}
		n.gemm(gemm.NoTrans, gemm.Trans, batch, l.in, l.out, g, ldg, n.params[l.w], l.out, 0, m.g[i-1], l.in, ep)
		g, ldg = m.g[i-1], l.in
	}
}
