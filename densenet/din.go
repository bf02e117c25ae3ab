package densenet

// din is the Deep Interest Network (see ModelDIN). The activation unit
// runs over all batch·SeqLen (behaviour, candidate) pairs as GEMMs; the
// pooled sequence and the other slots form the deep MLP's input.
type din struct {
	cfg           Config
	unit, out     Layer
	prelu         int
	deep          []Layer
	in            int // deep MLP input width
	before, after int // slots before and after the sequence
}

type dinScratch struct {
	m    *din
	deep mlpBuffers
	// xa [batch·L, 4D] the unit's inputs; h its pre-activations and a
	// their PReLU [batch·L, U]; w the weights [batch·L]; x the deep MLP's
	// input [batch, in]; backward buffers dx, dw, dh, dxa.
	xa, h, a, w, x []float32
	dx, dw, dh     []float32
	dxa            []float32
}

func newDIN(c Config, l Layout) *din {
	return &din{cfg: c, unit: l.AttUnit, out: l.AttOut, prelu: l.PReLU, deep: l.Deep, in: DINInput(c),
		before: c.SeqStart, after: c.Fields - c.SeqStart - c.SeqLen}
}

func (m *din) newScratch() scratch { return &dinScratch{m: m} }

func (s *dinScratch) reserve(batch int) {
	c := s.m.cfg
	L, D, U := c.SeqLen, c.Dim, c.AttentionUnits
	s.deep.reserve(s.m.deep, batch)
	s.xa, s.dxa = make([]float32, batch*L*4*D), make([]float32, batch*L*4*D)
	s.h, s.a, s.dh = make([]float32, batch*L*U), make([]float32, batch*L*U), make([]float32, batch*L*U)
	s.w, s.dw = make([]float32, batch*L), make([]float32, batch*L)
	s.x, s.dx = make([]float32, batch*s.m.in), make([]float32, batch*s.m.in)
}

func (m *din) forward(w *worker, dense, emb []float32, batch int) {
	s := w.s.(*dinScratch)
	c := m.cfg
	S, D, L, N, U := c.Fields, c.Dim, c.SeqLen, c.NumDense, c.AttentionUnits
	for b := range batch {
		e := emb[b*S*D : (b+1)*S*D]
		ec := e[c.Target*D : (c.Target+1)*D]
		for j := range L {
			ej := e[(c.SeqStart+j)*D : (c.SeqStart+j+1)*D]
			xa := s.xa[(b*L+j)*4*D : (b*L+j+1)*4*D]
			copy(xa[:D], ej)
			copy(xa[D:2*D], ec)
			for x := range D {
				xa[2*D+x] = ej[x] - ec[x]
				xa[3*D+x] = ej[x] * ec[x]
			}
		}
	}
	rows := batch * L
	m.unit.forward(&w.exec, rows, []part{{x: s.xa, ld: 4 * D, n: 4 * D}}, s.h, U)
	alpha := w.params[m.prelu]
	for i, v := range s.h[:rows*U] {
		if v > 0 {
			s.a[i] = v
		} else {
			s.a[i] = alpha[i%U] * v
		}
	}
	m.out.forward(&w.exec, rows, []part{{x: s.a, ld: U, n: U}}, s.w, 1)
	// x = [dense ; slots before ; slots after ; Σ_j w_j·e_j].
	for b := range batch {
		x := s.x[b*m.in : (b+1)*m.in]
		e := emb[b*S*D : (b+1)*S*D]
		copy(x, dense[b*N:(b+1)*N])
		copy(x[N:], e[:m.before*D])
		copy(x[N+m.before*D:], e[(c.SeqStart+L)*D:])
		pooled := x[m.in-D:]
		clear(pooled)
		for j := range L {
			wj := s.w[b*L+j]
			for x, v := range e[(c.SeqStart+j)*D : (c.SeqStart+j+1)*D] {
				pooled[x] += wj * v
			}
		}
	}
	mlpForward(&w.exec, m.deep, &s.deep, batch, []part{{x: s.x, ld: m.in, n: m.in}}, w.logit, 1)
}

func (m *din) backward(w *worker, dense, emb []float32, batch int, dEmb []float32) {
	s := w.s.(*dinScratch)
	c := m.cfg
	S, D, L, N, U := c.Fields, c.Dim, c.SeqLen, c.NumDense, c.AttentionUnits
	dl := w.dLogit[:batch]
	w.grads[m.deep[len(m.deep)-1].B][0] = sum32(dl)
	mlpBackward(&w.exec, m.deep, &s.deep, batch, []part{{x: s.x, ld: m.in, n: m.in, dx: s.dx, ldDx: m.in}}, dl, 1, w.logit, 1)
	if w.err != nil {
		return
	}
	for b := range batch {
		dx := s.dx[b*m.in : (b+1)*m.in]
		e := emb[b*S*D : (b+1)*S*D]
		de := dEmb[b*S*D : (b+1)*S*D]
		copy(de[:m.before*D], dx[N:])
		copy(de[(c.SeqStart+L)*D:], dx[N+m.before*D:m.in-D])
		dp := dx[m.in-D:]
		for j := range L {
			ej := e[(c.SeqStart+j)*D : (c.SeqStart+j+1)*D]
			dej := de[(c.SeqStart+j)*D : (c.SeqStart+j+1)*D]
			wj := s.w[b*L+j]
			var dw float32
			for x := range D {
				dw += dp[x] * ej[x]
				dej[x] = wj * dp[x]
			}
			s.dw[b*L+j] = dw
		}
	}
	rows := batch * L
	// The unit's output layer, then its PReLU.
	w.grads[m.out.B][0] = sum32(s.dw[:rows])
	m.out.backward(&w.exec, rows, []part{{x: s.a, ld: U, n: U, dx: s.dh, ldDx: U}}, s.dw, 1)
	alpha, dAlpha := w.params[m.prelu], w.grads[m.prelu]
	clear(dAlpha)
	for i, v := range s.h[:rows*U] {
		if !(v > 0) {
			dAlpha[i%U] += s.dh[i] * v
			s.dh[i] *= alpha[i%U]
		}
	}
	colSum(s.dh, U, rows, U, w.grads[m.unit.B])
	m.unit.backward(&w.exec, rows, []part{{x: s.xa, ld: 4 * D, n: 4 * D, dx: s.dxa, ldDx: 4 * D}}, s.dh, U)
	if w.err != nil {
		return
	}
	// xa = [e_j ; e_c ; e_j−e_c ; e_j⊙e_c].
	for b := range batch {
		e := emb[b*S*D : (b+1)*S*D]
		de := dEmb[b*S*D : (b+1)*S*D]
		ec, dec := e[c.Target*D:(c.Target+1)*D], de[c.Target*D:(c.Target+1)*D]
		for j := range L {
			ej := e[(c.SeqStart+j)*D : (c.SeqStart+j+1)*D]
			dej := de[(c.SeqStart+j)*D : (c.SeqStart+j+1)*D]
			g := s.dxa[(b*L+j)*4*D : (b*L+j+1)*4*D]
			for x := range D {
				dej[x] += g[x] + g[2*D+x] + g[3*D+x]*ec[x]
				dec[x] += g[D+x] - g[2*D+x] + g[3*D+x]*ej[x]
			}
		}
	}
}
