package densenet

// The dense models (their math is documented on the Model* constants in
// config.go) on float32 slices. Each model is an immutable description
// (its layers) plus a scratch type holding one pass's buffers, so that
// passes on separate workers run concurrently.

import (
	"fmt"

	"github.com/embtab/embtab/kernels/gemm"
)

// x0Parts returns x0 = [dense ; emb] as layer input parts, with dEmb as the
// gradient destination of the emb part (added to when add is set); dense
// gets no gradient.
func x0Parts(c Config, dense, emb []float32, dEmb []float32, add bool) [2]part {
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

// dlrm is dlrm-small: the bottom MLP writes the dense vector d into
// the first Dim columns of x0, the interaction kernel writes the pair dots
// after it, and x0 = [d ; z] is the top MLP's input.
type dlrm struct {
	cfg         Config
	bottom, top []Layer
	n, topIn    int // vectors (1+Fields), top MLP input width
}

type dlrmScratch struct {
	m           *dlrm
	bottom, top mlpBuffers
	x0, dX0     []float32 // [capBatch, topIn]
}

func newDLRM(c Config, l Layout) *dlrm {
	n := 1 + c.Fields
	return &dlrm{cfg: c, bottom: l.Bottom, top: l.Top, n: n, topIn: c.Dim + gemm.Pairs(n)}
}

func (m *dlrm) newScratch() scratch { return &dlrmScratch{m: m} }

func (s *dlrmScratch) reserve(batch int) {
	s.bottom.reserve(s.m.bottom, batch)
	s.top.reserve(s.m.top, batch)
	s.x0 = make([]float32, batch*s.m.topIn)
	s.dX0 = make([]float32, batch*s.m.topIn)
}

func (m *dlrm) forward(w *worker, dense, emb []float32, batch int) {
	s := w.s.(*dlrmScratch)
	c := m.cfg
	D := c.Dim
	mlpForward(&w.exec, m.bottom, &s.bottom, batch, []part{{x: dense, ld: c.NumDense, n: c.NumDense}}, s.x0, m.topIn)
	if w.err == nil {
		if err := w.ctx.PairDots(m.n, D, batch, s.x0, m.topIn, emb, c.Fields*D, s.x0[D:], m.topIn); err != nil {
			w.err = fmt.Errorf("densenet: dlrm: %w", err)
		}
	}
	mlpForward(&w.exec, m.top, &s.top, batch, []part{{x: s.x0, ld: m.topIn, n: m.topIn}}, w.logit, 1)
}

func (m *dlrm) backward(w *worker, dense, emb []float32, batch int, dEmb []float32) {
	s := w.s.(*dlrmScratch)
	c := m.cfg
	D, topIn := c.Dim, m.topIn
	logitLayer := m.top[len(m.top)-1]
	w.grads[logitLayer.B][0] = sum32(w.dLogit[:batch])
	mlpBackward(&w.exec, m.top, &s.top, batch, []part{{x: s.x0, ld: topIn, n: topIn, dx: s.dX0, ldDx: topIn}},
		w.dLogit, 1, w.logit, 1)
	// dd = dX0[:, :D] + dL/dv_0 of the interaction; dEmb = dL/dv_1...
	if w.err == nil {
		if err := w.ctx.PairDotsGrad(m.n, D, batch, s.x0, topIn, emb, c.Fields*D,
			s.dX0[D:], topIn, s.dX0, topIn, dEmb, c.Fields*D); err != nil {
			w.err = fmt.Errorf("densenet: dlrm: %w", err)
			return
		}
	}
	// The bottom MLP's last layer: mask dd by its ReLU and sum its columns.
	last := m.bottom[len(m.bottom)-1]
	db := w.grads[last.B][:D]
	clear(db)
	for r := range batch {
		g, y := s.dX0[r*topIn:r*topIn+D], s.x0[r*topIn:r*topIn+D]
		for j := range g {
			if last.ReLU && !(y[j] > 0) {
				g[j] = 0
			}
			db[j] += g[j]
		}
	}
	mlpBackward(&w.exec, m.bottom, &s.bottom, batch, []part{{x: dense, ld: c.NumDense, n: c.NumDense}}, s.dX0, topIn, s.x0, topIn)
}

// lr is logistic regression: logit = [dense ; emb]·w + b.
type lr struct {
	cfg Config
	lin Layer
}

// noScratch is the scratch of a model without buffers.
type noScratch struct{}

func (noScratch) reserve(int) {}

func (m *lr) newScratch() scratch { return noScratch{} }

func (m *lr) forward(w *worker, dense, emb []float32, batch int) {
	parts := x0Parts(m.cfg, dense, emb, nil, false)
	m.lin.forward(&w.exec, batch, parts[:], w.logit, 1)
}

func (m *lr) backward(w *worker, dense, emb []float32, batch int, dEmb []float32) {
	w.grads[m.lin.B][0] = sum32(w.dLogit[:batch])
	parts := x0Parts(m.cfg, dense, emb, dEmb, false)
	m.lin.backward(&w.exec, batch, parts[:], w.dLogit, 1)
}

// fm is the factorization machine, and DeepFM when deep has layers.
type fm struct {
	cfg  Config
	lin  Layer   // first-order term over x0
	proj Layer   // dense → Dim projection (NumDense > 0)
	deep []Layer // deepfm only
}

type fmScratch struct {
	m    *fm
	deep mlpBuffers
	// [capBatch, Dim] each: the projected dense vector, the sum of the
	// vectors (kept for the backward pass) and dL/d(projection).
	projOut, sum, dProj []float32
}

func (m *fm) newScratch() scratch { return &fmScratch{m: m} }

func (s *fmScratch) reserve(batch int) {
	s.deep.reserve(s.m.deep, batch)
	D := s.m.cfg.Dim
	s.projOut = make([]float32, batch*D)
	s.sum = make([]float32, batch*D)
	s.dProj = make([]float32, batch*D)
}

func (m *fm) forward(w *worker, dense, emb []float32, batch int) {
	s := w.s.(*fmScratch)
	c := m.cfg
	F, D, N := c.Fields, c.Dim, c.NumDense
	parts := x0Parts(c, dense, emb, nil, false)
	m.lin.forward(&w.exec, batch, parts[:], w.logit, 1)
	if N > 0 {
		m.proj.forward(&w.exec, batch, parts[:1], s.projOut, D)
	}
	if w.err != nil {
		return
	}
	// logit += scale·0.5·Σ_d((Σ_i v_id)² - Σ_i v_id²), v = [proj ; fields].
	scale := float32(c.FMScale)
	for b := range batch {
		e := emb[b*F*D : (b+1)*F*D]
		sum := s.sum[b*D : (b+1)*D]
		var term float32
		for d := range sum {
			var sv, sq float32
			if N > 0 {
				v := s.projOut[b*D+d]
				sv, sq = v, v*v
			}
			for f := range F {
				v := e[f*D+d]
				sv += v
				sq += v * v
			}
			sum[d] = sv
			term += sv*sv - sq
		}
		w.logit[b] += term * 0.5 * scale
	}
	addDeepLogit(w, m.deep, &s.deep, batch, parts[:])
}

// addDeepLogit runs a deep MLP ending in a logit layer (none: nothing) on
// the input parts and adds its logit to w.logit: the parallel deep part of
// DeepFM and AutoInt+.
func addDeepLogit(w *worker, deep []Layer, buf *mlpBuffers, batch int, in []part) {
	if len(deep) == 0 {
		return
	}
	mlpForward(&w.exec, deep, buf, batch, in, nil, 0)
	out := buf.out[len(deep)-1]
	for b := range batch {
		w.logit[b] += out[b]
	}
}

func (m *fm) backward(w *worker, dense, emb []float32, batch int, dEmb []float32) {
	s := w.s.(*fmScratch)
	c := m.cfg
	F, D, N := c.Fields, c.Dim, c.NumDense
	dl := w.dLogit[:batch]
	w.grads[m.lin.B][0] = sum32(dl)
	parts := x0Parts(c, dense, emb, dEmb, false)
	m.lin.backward(&w.exec, batch, parts[:], dl, 1)
	if len(m.deep) > 0 {
		w.grads[m.deep[len(m.deep)-1].B][0] = sum32(dl)
		parts[1].add = true
		mlpBackward(&w.exec, m.deep, &s.deep, batch, parts[:], dl, 1, nil, 0)
	}
	if w.err != nil {
		return
	}
	// dv_i = scale · dL/dlogit · (Σ_j v_j - v_i).
	scale := float32(c.FMScale)
	for b, g := range dl {
		g *= scale
		sum := s.sum[b*D : (b+1)*D]
		if N > 0 {
			for d, sv := range sum {
				s.dProj[b*D+d] = g * (sv - s.projOut[b*D+d])
			}
		}
		for f := range F {
			e, de := emb[(b*F+f)*D:][:D], dEmb[(b*F+f)*D:][:D]
			for d, sv := range sum {
				de[d] += g * (sv - e[d])
			}
		}
	}
	if N > 0 {
		colSum(s.dProj, D, batch, D, w.grads[m.proj.B])
		m.proj.backward(&w.exec, batch, parts[:1], s.dProj, D)
	}
}

// dcn is DCN-v2, parallel variant.
type dcn struct {
	cfg   Config
	cross []Layer // W_l [K, K], b_l [K]
	deep  []Layer
	out   Layer // [x_L ; deep] → logit
}

type dcnScratch struct {
	m    *dcn
	deep mlpBuffers
	// [capBatch, K] each: x0 = [dense ; emb], xs[l] = x_{l+1}, us[l] =
	// u_l = x_l·W_l + b_l, and the backward buffers g = dL/dx_l, du and
	// dx0.
	x0, g, du, dx0 []float32
	xs, us         [][]float32
	dDeep          []float32 // [capBatch, deep width]
}

func (m *dcn) newScratch() scratch { return &dcnScratch{m: m} }

func (s *dcnScratch) reserve(batch int) {
	m := s.m
	s.deep.reserve(m.deep, batch)
	k := m.cfg.NumDense + m.cfg.Fields*m.cfg.Dim
	buf := func() []float32 { return make([]float32, batch*k) }
	s.x0, s.g, s.du, s.dx0 = buf(), buf(), buf(), buf()
	s.xs, s.us = nil, nil
	for range m.cross {
		s.xs = append(s.xs, buf())
		s.us = append(s.us, buf())
	}
	s.dDeep = make([]float32, batch*width(m.deep))
}

// x returns x_l (x_0 = x0).
func (s *dcnScratch) x(l int) []float32 {
	if l == 0 {
		return s.x0
	}
	return s.xs[l-1]
}

// headParts returns the logit layer's input [x_L ; deep output].
func (m *dcn) headParts(s *dcnScratch, k int, withGrads bool) [2]part {
	wd := width(m.deep)
	p := [2]part{{x: s.x(len(m.cross)), ld: k, n: k}}
	if wd > 0 {
		p[1] = part{x: s.deep.out[len(m.deep)-1], ld: wd, n: wd}
	}
	if withGrads {
		p[0].dx, p[0].ldDx = s.g, k
		if wd > 0 {
			p[1].dx, p[1].ldDx = s.dDeep, wd
		}
	}
	return p
}

func (m *dcn) forward(w *worker, dense, emb []float32, batch int) {
	s := w.s.(*dcnScratch)
	c := m.cfg
	N, fd := c.NumDense, c.Fields*c.Dim
	k := N + fd
	for b := range batch {
		copy(s.x0[b*k:], dense[b*N:(b+1)*N])
		copy(s.x0[b*k+N:], emb[b*fd:(b+1)*fd])
	}
	x0 := s.x0[:batch*k]
	for l, layer := range m.cross {
		layer.forward(&w.exec, batch, []part{{x: s.x(l), ld: k, n: k}}, s.us[l], k)
		if w.err != nil {
			return
		}
		xl, u, next := s.x(l)[:batch*k], s.us[l][:batch*k], s.xs[l][:batch*k]
		for i, v := range x0 {
			next[i] = v*u[i] + xl[i]
		}
	}
	if len(m.deep) > 0 {
		mlpForward(&w.exec, m.deep, &s.deep, batch, []part{{x: s.x0, ld: k, n: k}}, nil, 0)
	}
	head := m.headParts(s, k, false)
	m.out.forward(&w.exec, batch, head[:], w.logit, 1)
}

func (m *dcn) backward(w *worker, dense, emb []float32, batch int, dEmb []float32) {
	s := w.s.(*dcnScratch)
	c := m.cfg
	N, fd := c.NumDense, c.Fields*c.Dim
	k := N + fd
	w.grads[m.out.B][0] = sum32(w.dLogit[:batch])
	head := m.headParts(s, k, true)
	m.out.backward(&w.exec, batch, head[:], w.dLogit, 1)
	haveDx0 := false
	if wd := width(m.deep); wd > 0 {
		last := m.deep[len(m.deep)-1]
		if last.ReLU {
			reluMask(s.dDeep[:batch*wd], s.deep.out[len(m.deep)-1][:batch*wd])
		}
		colSum(s.dDeep, wd, batch, wd, w.grads[last.B])
		mlpBackward(&w.exec, m.deep, &s.deep, batch, []part{{x: s.x0, ld: k, n: k, dx: s.dx0, ldDx: k}}, s.dDeep, wd, nil, 0)
		haveDx0 = true
	}
	if w.err != nil {
		return
	}
	x0, g, du, dx0 := s.x0[:batch*k], s.g[:batch*k], s.du[:batch*k], s.dx0[:batch*k]
	for l := len(m.cross) - 1; l >= 0; l-- {
		// x_{l+1} = x0⊙u_l + x_l, u_l = x_l·W_l + b_l.
		u := s.us[l][:batch*k]
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
		colSum(du, k, batch, k, w.grads[layer.B])
		// g += du·W_lᵀ.
		layer.backward(&w.exec, batch, []part{{x: s.x(l), ld: k, n: k, dx: s.g, ldDx: k, add: true}}, s.du, k)
		if w.err != nil {
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
