package trainer

// The native dense models: the math of gomlx_models.go (documented on the
// Model* constants in models.go) on float32 slices, in the same order of
// float32 operations where it is cheap to keep it.

import (
	"fmt"

	"github.com/embtab/embtab/kernels/gemm"
)

// x0Parts returns x0 = [dense ; emb] as layer input parts, with dEmb as the
// gradient destination of the emb part (added to when add is set); dense
// gets no gradient.
func x0Parts(c ModelConfig, dense, emb []float32, dEmb []float32, add bool) [2]part {
	fd := c.Fields * c.Dim
	return [2]part{
		{x: dense, ld: c.NumDense, n: c.NumDense},
		{x: emb, ld: fd, n: fd, dx: dEmb, ldDx: fd, add: add},
	}
}

// sum32 returns the float32 sum of x.
func sum32(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}

// nativeDLRM is dlrm-small: the bottom MLP writes the dense vector d into
// the first Dim columns of x0, the interaction kernel writes the pair dots
// after it, and x0 = [d ; z] is the top MLP's input.
type nativeDLRM struct {
	cfg         ModelConfig
	bottom, top nativeMLP
	n, topIn    int       // vectors (1+Fields), top MLP input width
	x0, dX0     []float32 // [capBatch, topIn]
}

func newNativeDLRM(c ModelConfig, bottom, top []nativeFC) *nativeDLRM {
	n := 1 + c.Fields
	return &nativeDLRM{cfg: c, bottom: nativeMLP{layers: bottom}, top: nativeMLP{layers: top},
		n: n, topIn: c.Dim + gemm.Pairs(n)}
}

func (m *nativeDLRM) reserve(batch int) {
	m.bottom.reserve(batch)
	m.top.reserve(batch)
	m.x0 = make([]float32, batch*m.topIn)
	m.dX0 = make([]float32, batch*m.topIn)
}

func (m *nativeDLRM) forward(n *NativeNet, dense, emb []float32, batch int) {
	c := m.cfg
	D := c.Dim
	m.bottom.forward(n, batch, []part{{x: dense, ld: c.NumDense, n: c.NumDense}}, m.x0, m.topIn)
	if n.err == nil {
		if err := n.ctx.PairDots(m.n, D, batch, m.x0, m.topIn, emb, c.Fields*D, m.x0[D:], m.topIn); err != nil {
			n.err = fmt.Errorf("trainer: native dlrm: %w", err)
		}
	}
	m.top.forward(n, batch, []part{{x: m.x0, ld: m.topIn, n: m.topIn}}, n.logit, 1)
}

func (m *nativeDLRM) backward(n *NativeNet, dense, emb []float32, batch int, dEmb []float32) {
	c := m.cfg
	D, topIn := c.Dim, m.topIn
	logitLayer := m.top.layers[len(m.top.layers)-1]
	n.grads[logitLayer.b][0] = sum32(n.dLogit[:batch])
	m.top.backward(n, batch, []part{{x: m.x0, ld: topIn, n: topIn, dx: m.dX0, ldDx: topIn}},
		n.dLogit, 1, n.logit, 1)
	// dd = dX0[:, :D] + dL/dv_0 of the interaction; dEmb = dL/dv_1...
	if n.err == nil {
		if err := n.ctx.PairDotsGrad(m.n, D, batch, m.x0, topIn, emb, c.Fields*D,
			m.dX0[D:], topIn, m.dX0, topIn, dEmb, c.Fields*D); err != nil {
			n.err = fmt.Errorf("trainer: native dlrm: %w", err)
			return
		}
	}
	// The bottom MLP's last layer: mask dd by its ReLU and sum its columns.
	last := m.bottom.layers[len(m.bottom.layers)-1]
	db := n.grads[last.b][:D]
	clear(db)
	for r := range batch {
		g, y := m.dX0[r*topIn:r*topIn+D], m.x0[r*topIn:r*topIn+D]
		for j := range g {
			if last.relu && !(y[j] > 0) {
				g[j] = 0
			}
			db[j] += g[j]
		}
	}
	m.bottom.backward(n, batch, []part{{x: dense, ld: c.NumDense, n: c.NumDense}}, m.dX0, topIn, m.x0, topIn)
}

// nativeLR is logistic regression: logit = [dense ; emb]·w + b.
type nativeLR struct {
	cfg ModelConfig
	lin nativeFC
}

func (m *nativeLR) reserve(int) {}

func (m *nativeLR) forward(n *NativeNet, dense, emb []float32, batch int) {
	parts := x0Parts(m.cfg, dense, emb, nil, false)
	m.lin.forward(n, batch, parts[:], n.logit, 1)
}

func (m *nativeLR) backward(n *NativeNet, dense, emb []float32, batch int, dEmb []float32) {
	n.grads[m.lin.b][0] = sum32(n.dLogit[:batch])
	parts := x0Parts(m.cfg, dense, emb, dEmb, false)
	m.lin.backward(n, batch, parts[:], n.dLogit, 1)
}

// nativeFM is the factorization machine, and DeepFM when deep has layers.
type nativeFM struct {
	cfg  ModelConfig
	lin  nativeFC  // first-order term over x0
	proj nativeFC  // dense → Dim projection (NumDense > 0)
	deep nativeMLP // deepfm only
	// [capBatch, Dim] each: the projected dense vector, the sum of the
	// vectors (kept for the backward pass) and dL/d(projection).
	projOut, sum, dProj []float32
}

func (m *nativeFM) reserve(batch int) {
	m.deep.reserve(batch)
	D := m.cfg.Dim
	m.projOut = make([]float32, batch*D)
	m.sum = make([]float32, batch*D)
	m.dProj = make([]float32, batch*D)
}

func (m *nativeFM) forward(n *NativeNet, dense, emb []float32, batch int) {
	c := m.cfg
	F, D, N := c.Fields, c.Dim, c.NumDense
	parts := x0Parts(c, dense, emb, nil, false)
	m.lin.forward(n, batch, parts[:], n.logit, 1)
	if N > 0 {
		m.proj.forward(n, batch, parts[:1], m.projOut, D)
	}
	if n.err != nil {
		return
	}
	// logit += 0.5·Σ_d((Σ_i v_id)² - Σ_i v_id²), v = [proj ; fields].
	for b := range batch {
		e := emb[b*F*D : (b+1)*F*D]
		sum := m.sum[b*D : (b+1)*D]
		var term float32
		for d := range sum {
			var s, sq float32
			if N > 0 {
				v := m.projOut[b*D+d]
				s, sq = v, v*v
			}
			for f := range F {
				v := e[f*D+d]
				s += v
				sq += v * v
			}
			sum[d] = s
			term += s*s - sq
		}
		n.logit[b] += term * 0.5
	}
	if len(m.deep.layers) > 0 {
		m.deep.forward(n, batch, parts[:], nil, 0)
		out := m.deep.out[len(m.deep.layers)-1]
		for b := range batch {
			n.logit[b] += out[b]
		}
	}
}

func (m *nativeFM) backward(n *NativeNet, dense, emb []float32, batch int, dEmb []float32) {
	c := m.cfg
	F, D, N := c.Fields, c.Dim, c.NumDense
	dl := n.dLogit[:batch]
	n.grads[m.lin.b][0] = sum32(dl)
	parts := x0Parts(c, dense, emb, dEmb, false)
	m.lin.backward(n, batch, parts[:], dl, 1)
	if len(m.deep.layers) > 0 {
		n.grads[m.deep.layers[len(m.deep.layers)-1].b][0] = sum32(dl)
		parts[1].add = true
		m.deep.backward(n, batch, parts[:], dl, 1, nil, 0)
	}
	if n.err != nil {
		return
	}
	// dv_i = dL/dlogit · (Σ_j v_j - v_i).
	for b, g := range dl {
		sum := m.sum[b*D : (b+1)*D]
		if N > 0 {
			for d, s := range sum {
				m.dProj[b*D+d] = g * (s - m.projOut[b*D+d])
			}
		}
		for f := range F {
			e, de := emb[(b*F+f)*D:][:D], dEmb[(b*F+f)*D:][:D]
			for d, s := range sum {
				de[d] += g * (s - e[d])
			}
		}
	}
	if N > 0 {
		colSum(m.dProj, D, batch, D, n.grads[m.proj.b])
		m.proj.backward(n, batch, parts[:1], m.dProj, D)
	}
}

// nativeDCN is DCN-v2, parallel variant.
type nativeDCN struct {
	cfg   ModelConfig
	cross []nativeFC // W_l [K, K], b_l [K]
	deep  nativeMLP
	out   nativeFC // [x_L ; deep] → logit
	// [capBatch, K] each: x0 = [dense ; emb], xs[l] = x_{l+1}, us[l] =
	// u_l = x_l·W_l + b_l, and the backward buffers g = dL/dx_l, du and
	// dx0.
	x0, g, du, dx0 []float32
	xs, us         [][]float32
	dDeep          []float32 // [capBatch, deep width]
}

func (m *nativeDCN) reserve(batch int) {
	m.deep.reserve(batch)
	k := m.cfg.NumDense + m.cfg.Fields*m.cfg.Dim
	buf := func() []float32 { return make([]float32, batch*k) }
	m.x0, m.g, m.du, m.dx0 = buf(), buf(), buf(), buf()
	m.xs, m.us = m.xs[:0], m.us[:0]
	for range m.cross {
		m.xs = append(m.xs, buf())
		m.us = append(m.us, buf())
	}
	m.dDeep = make([]float32, batch*m.deep.width())
}

// x returns x_l (x_0 = x0).
func (m *nativeDCN) x(l int) []float32 {
	if l == 0 {
		return m.x0
	}
	return m.xs[l-1]
}

// headParts returns the logit layer's input [x_L ; deep output].
func (m *nativeDCN) headParts(k int, withGrads bool) [2]part {
	w := m.deep.width()
	p := [2]part{{x: m.x(len(m.cross)), ld: k, n: k}}
	if w > 0 {
		p[1] = part{x: m.deep.out[len(m.deep.layers)-1], ld: w, n: w}
	}
	if withGrads {
		p[0].dx, p[0].ldDx = m.g, k
		if w > 0 {
			p[1].dx, p[1].ldDx = m.dDeep, w
		}
	}
	return p
}

func (m *nativeDCN) forward(n *NativeNet, dense, emb []float32, batch int) {
	c := m.cfg
	N, fd := c.NumDense, c.Fields*c.Dim
	k := N + fd
	for b := range batch {
		copy(m.x0[b*k:], dense[b*N:(b+1)*N])
		copy(m.x0[b*k+N:], emb[b*fd:(b+1)*fd])
	}
	x0 := m.x0[:batch*k]
	for l, layer := range m.cross {
		layer.forward(n, batch, []part{{x: m.x(l), ld: k, n: k}}, m.us[l], k)
		if n.err != nil {
			return
		}
		xl, u, next := m.x(l)[:batch*k], m.us[l][:batch*k], m.xs[l][:batch*k]
		for i, v := range x0 {
			next[i] = v*u[i] + xl[i]
		}
	}
	if len(m.deep.layers) > 0 {
		m.deep.forward(n, batch, []part{{x: m.x0, ld: k, n: k}}, nil, 0)
	}
	head := m.headParts(k, false)
	m.out.forward(n, batch, head[:], n.logit, 1)
}

func (m *nativeDCN) backward(n *NativeNet, dense, emb []float32, batch int, dEmb []float32) {
	c := m.cfg
	N, fd := c.NumDense, c.Fields*c.Dim
	k := N + fd
	n.grads[m.out.b][0] = sum32(n.dLogit[:batch])
	head := m.headParts(k, true)
	m.out.backward(n, batch, head[:], n.dLogit, 1)
	haveDx0 := false
	if w := m.deep.width(); w > 0 {
		last := m.deep.layers[len(m.deep.layers)-1]
		g, y := m.dDeep[:batch*w], m.deep.out[len(m.deep.layers)-1][:batch*w]
		if last.relu {
			for i := range g {
				if !(y[i] > 0) {
					g[i] = 0
				}
			}
		}
		colSum(m.dDeep, w, batch, w, n.grads[last.b])
		m.deep.backward(n, batch, []part{{x: m.x0, ld: k, n: k, dx: m.dx0, ldDx: k}}, m.dDeep, w, nil, 0)
		haveDx0 = true
	}
	if n.err != nil {
		return
	}
	x0, g, du, dx0 := m.x0[:batch*k], m.g[:batch*k], m.du[:batch*k], m.dx0[:batch*k]
	for l := len(m.cross) - 1; l >= 0; l-- {
		// x_{l+1} = x0⊙u_l + x_l, u_l = x_l·W_l + b_l.
		u := m.us[l][:batch*k]
		for i, gi := range g {
			du[i] = gi * x0[i]
			if haveDx0 {
				dx0[i] += gi * u[i]
			} else {
				dx0[i] = gi * u[i]
			}
		}
		haveDx0 = true
		layer := m.cross[l]
		colSum(du, k, batch, k, n.grads[layer.b])
		// g += du·W_lᵀ.
		layer.backward(n, batch, []part{{x: m.x(l), ld: k, n: k, dx: m.g, ldDx: k, add: true}}, m.du, k)
		if n.err != nil {
			return
		}
	}
	for b := range batch {
		src := g[b*k+N : (b+1)*k]
		dst := dEmb[b*fd : (b+1)*fd]
		if haveDx0 {
			for i, v := range src {
				dst[i] = dx0[b*k+N+i] + v
			}
		} else {
			copy(dst, src)
		}
	}
}
