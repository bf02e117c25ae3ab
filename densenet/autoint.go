package densenet

import (
	"math"

	"github.com/embtab/embtab/kernels/gemm"
)

// autoint is AutoInt, and AutoInt+ when deep has layers (see
// ModelAutoInt). Tokens are rows of [batch·T, width] matrices (example
// major), so the Q, K, V and residual maps of a layer are one GEMM each
// over the whole batch; the attention itself (T×T per example and head)
// runs in plain loops.
type autoint struct {
	cfg  Config
	T    int
	proj Layer
	attn []Attention
	out  Layer
	deep []Layer
}

type autointScratch struct {
	m    *autoint
	deep mlpBuffers
	// x[l] is layer l's input [batch·T, in] (x[0] the tokens, x[l+1]
	// layer l's output, ReLU'd); q, k, v [batch·T, A] and p, the
	// attention weights [batch, heads, T, T], per layer.
	x          [][]float32
	q, k, v, p [][]float32
	// backward: g (dL/d layer output, then dL/d pre-activation), gx
	// (dL/d layer input), dq, dk, dv, dp (one head's T×T) and dProj.
	g, gx, dq, dk, dv []float32
	dp, dProj         []float32
}

func newAutoInt(c Config, l Layout) *autoint {
	return &autoint{cfg: c, T: Tokens(c), proj: l.Proj, attn: l.Attn, out: l.Out, deep: l.Deep}
}

func (m *autoint) newScratch() scratch { return &autointScratch{m: m} }

func (s *autointScratch) reserve(batch int) {
	m := s.m
	T, D := m.T, m.cfg.Dim
	s.deep.reserve(m.deep, batch)
	s.x = [][]float32{make([]float32, batch*T*D)}
	s.q, s.k, s.v, s.p = nil, nil, nil, nil
	wide := D
	for _, a := range m.attn {
		n := batch * T * a.Width()
		s.x = append(s.x, make([]float32, n))
		s.q, s.k, s.v = append(s.q, make([]float32, n)), append(s.k, make([]float32, n)), append(s.v, make([]float32, n))
		s.p = append(s.p, make([]float32, batch*a.Heads*T*T))
		wide = max(wide, a.Width())
	}
	buf := func() []float32 { return make([]float32, batch*T*wide) }
	s.g, s.gx, s.dq, s.dk, s.dv = buf(), buf(), buf(), buf(), buf()
	s.dp = make([]float32, T*T)
	s.dProj = make([]float32, batch*D)
}

// tokens writes x0: the dense token (projected) first when there are
// dense features, then the field vectors.
func (m *autoint) tokens(w *worker, s *autointScratch, dense, emb []float32, batch int) {
	c := m.cfg
	T, D, F := m.T, c.Dim, c.Fields
	x0 := s.x[0]
	off := 0
	if c.NumDense > 0 {
		m.proj.forward(&w.exec, batch, []part{{x: dense, ld: c.NumDense, n: c.NumDense}}, x0, T*D)
		off = 1
	}
	for b := range batch {
		copy(x0[(b*T+off)*D:(b+1)*T*D], emb[b*F*D:(b+1)*F*D])
	}
}

func (m *autoint) forward(w *worker, dense, emb []float32, batch int) {
	s := w.s.(*autointScratch)
	c := m.cfg
	T := m.T
	m.tokens(w, s, dense, emb, batch)
	rows := batch * T
	for l, a := range m.attn {
		x, A, hd := s.x[l], a.Width(), a.HeadD
		q, k, v, y := s.q[l], s.k[l], s.v[l], s.x[l+1]
		w.exec.gemm(gemm.NoTrans, gemm.NoTrans, rows, A, a.In, x, a.In, w.params[a.Q], A, 0, q, A, nil)
		w.exec.gemm(gemm.NoTrans, gemm.NoTrans, rows, A, a.In, x, a.In, w.params[a.K], A, 0, k, A, nil)
		w.exec.gemm(gemm.NoTrans, gemm.NoTrans, rows, A, a.In, x, a.In, w.params[a.V], A, 0, v, A, nil)
		// y = X·W_res, then += attention output, then ReLU.
		w.exec.gemm(gemm.NoTrans, gemm.NoTrans, rows, A, a.In, x, a.In, w.params[a.Res], A, 0, y, A, nil)
		if w.err != nil {
			return
		}
		// Per example and head: P = softmax(Q_h·K_hᵀ) row by row, then
		// y_h += P·V_h, as small GEMMs on the head's columns.
		for b := range batch {
			for h := range a.Heads {
				p := s.p[l][(b*a.Heads+h)*T*T:][:T*T]
				at := b*T*A + h*hd
				w.exec.gemm(gemm.NoTrans, gemm.Trans, T, T, hd, q[at:], A, k[at:], A, 0, p, T, nil)
				for i := range T {
					softmaxRow(p[i*T : (i+1)*T])
				}
				w.exec.gemm(gemm.NoTrans, gemm.NoTrans, T, hd, T, p, T, v[at:], A, 1, y[at:], A, nil)
			}
		}
		if w.err != nil {
			return
		}
		for i, z := range y[:rows*A] {
			y[i] = max(z, 0)
		}
	}
	last := m.attn[len(m.attn)-1].Width()
	m.out.forward(&w.exec, batch, []part{{x: s.x[len(m.attn)], ld: T * last, n: T * last}}, w.logit, 1)
	parts := x0Parts(c, dense, emb, nil, false)
	addDeepLogit(w, m.deep, &s.deep, batch, parts[:])
}

func (m *autoint) backward(w *worker, dense, emb []float32, batch int, dEmb []float32) {
	s := w.s.(*autointScratch)
	c := m.cfg
	T, D, F := m.T, c.Dim, c.Fields
	rows := batch * T
	dl := w.dLogit[:batch]
	w.grads[m.out.B][0] = sum32(dl)
	L := len(m.attn)
	lastW := m.attn[L-1].Width()
	// g = dL/d(last layer's output).
	m.out.backward(&w.exec, batch, []part{{x: s.x[L], ld: T * lastW, n: T * lastW, dx: s.g, ldDx: T * lastW}}, dl, 1)
	for l := L - 1; l >= 0; l-- {
		a := m.attn[l]
		x, A, hd := s.x[l], a.Width(), a.HeadD
		q, k, v, y := s.q[l], s.k[l], s.v[l], s.x[l+1]
		g := s.g[:rows*A]
		reluMask(g, y[:rows*A]) // dL/dZ: the residual's and the attention output's gradient
		dq, dk, dv := s.dq[:rows*A], s.dk[:rows*A], s.dv[:rows*A]
		clear(dq)
		clear(dk)
		clear(dv)
		for b := range batch {
			for h := range a.Heads {
				p := s.p[l][(b*a.Heads+h)*T*T:][:T*T]
				at := b*T*A + h*hd
				// dP = dO·V_hᵀ; dV_h += Pᵀ·dO; dS = P ⊙ (dP - rowsum(P ⊙ dP));
				// dQ_h += dS·K_h; dK_h += dSᵀ·Q_h.
				dp := s.dp
				w.exec.gemm(gemm.NoTrans, gemm.Trans, T, T, hd, g[at:], A, v[at:], A, 0, dp, T, nil)
				w.exec.gemm(gemm.Trans, gemm.NoTrans, T, hd, T, p, T, g[at:], A, 1, dv[at:], A, nil)
				for i := range T {
					pr, dr := p[i*T:(i+1)*T], dp[i*T:(i+1)*T]
					var dot float32
					for j, pj := range pr {
						dot += pj * dr[j]
					}
					for j, pj := range pr {
						dr[j] = pj * (dr[j] - dot)
					}
				}
				w.exec.gemm(gemm.NoTrans, gemm.NoTrans, T, hd, T, dp, T, k[at:], A, 1, dq[at:], A, nil)
				w.exec.gemm(gemm.Trans, gemm.NoTrans, T, hd, T, dp, T, q[at:], A, 1, dk[at:], A, nil)
			}
		}
		gx := s.gx[:rows*a.In]
		for i, wi := range []int{a.Res, a.Q, a.K, a.V} {
			d := [...][]float32{g, dq, dk, dv}[i]
			// dW = Xᵀ·d; dX (+)= d·Wᵀ.
			w.exec.gemm(gemm.Trans, gemm.NoTrans, a.In, A, rows, x, a.In, d, A, 0, w.grads[wi], A, nil)
			beta := float32(1)
			if i == 0 {
				beta = 0
			}
			w.exec.gemm(gemm.NoTrans, gemm.Trans, rows, a.In, A, d, A, w.params[wi], A, beta, gx, a.In, nil)
		}
		s.g, s.gx = s.gx, s.g // dL/d(layer l's input) is dL/d(layer l-1's output)
	}
	if w.err != nil {
		return
	}
	gx0 := s.g // [batch·T, D]
	off := 0
	if c.NumDense > 0 {
		off = 1
	}
	if len(m.deep) > 0 {
		w.grads[m.deep[len(m.deep)-1].B][0] = sum32(dl)
		parts := x0Parts(c, dense, emb, dEmb, false)
		mlpBackward(&w.exec, m.deep, &s.deep, batch, parts[:], dl, 1, nil, 0)
		for b := range batch {
			de, gt := dEmb[b*F*D:(b+1)*F*D], gx0[(b*T+off)*D:(b+1)*T*D]
			for i, v := range gt {
				de[i] += v
			}
		}
	} else {
		for b := range batch {
			copy(dEmb[b*F*D:(b+1)*F*D], gx0[(b*T+off)*D:(b+1)*T*D])
		}
	}
	if c.NumDense > 0 {
		dp := s.dProj[:batch*D]
		for b := range batch {
			copy(dp[b*D:(b+1)*D], gx0[b*T*D:b*T*D+D])
		}
		colSum(dp, D, batch, D, w.grads[m.proj.B])
		m.proj.backward(&w.exec, batch, []part{{x: dense, ld: c.NumDense, n: c.NumDense}}, dp, D)
	}
}

// softmaxRow turns the scores in r into their softmax, in place.
func softmaxRow(r []float32) {
	mx := float32(math.Inf(-1))
	for _, v := range r {
		mx = max(mx, v)
	}
	var sum float32
	for j, v := range r {
		e := float32(math.Exp(float64(v - mx)))
		r[j] = e
		sum += e
	}
	for j := range r {
		r[j] /= sum
	}
}
