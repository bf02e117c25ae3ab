package trainer

// The dense models as GoMLX graphs: each one declares its parameters and
// builds its forward pass together with a hand-written backward pass. The
// model math is documented on the Model* constants in models.go.

import (
	"github.com/embtab/embtab/densenet"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// backwardFn maps dL/d(logit) [B] to dL/d(emb) [B, Fields*Dim] and the
// gradients of all parameters (indexed like the model's paramSet).
type backwardFn func(dLogit *graph.Node) (dEmb *graph.Node, grads []*graph.Node)

// denseModel is the graph of one model.
type denseModel interface {
	// forward builds the logits [B] from dense [B, NumDense] (nil when
	// NumDense is 0) and emb [B, Fields*Dim], given the parameter nodes in
	// paramSet order. Calling the returned backwardFn adds the backward pass
	// to the same graph.
	forward(p []*graph.Node, dense, emb *graph.Node) (logit *graph.Node, back backwardFn)
}

// buildModel returns the graph builder of cfg's model (cfg already
// resolved with WithDefaults and validated) and its parameters, from the
// densenet.Layout both implementations share.
func buildModel(cfg ModelConfig) (denseModel, []densenet.ParamSpec, error) {
	l, err := densenet.NewLayout(cfg)
	if err != nil {
		return nil, nil, err
	}
	var m denseModel
	switch cfg.Name {
	case densenet.ModelLR:
		m = &lrModel{cfg: cfg, lin: newFC(l.Linear)}
	case densenet.ModelFM, densenet.ModelDeepFM:
		m = &fmModel{cfg: cfg, lin: newFC(l.Linear), proj: newFC(l.Proj), deep: newMLP(l.Deep)}
	case densenet.ModelDLRM:
		m = &dlrmModel{cfg: cfg, inter: dotInteraction{n: 1 + cfg.Fields}, bottom: newMLP(l.Bottom), top: newMLP(l.Top)}
	case densenet.ModelDIN:
		m = &dinModel{cfg: cfg, unit: newFC(l.AttUnit), out: newFC(l.AttOut), prelu: l.PReLU, deep: newMLP(l.Deep)}
	case densenet.ModelAutoInt, densenet.ModelAutoIntPlus:
		m = &autointModel{cfg: cfg, proj: newFC(l.Proj), attn: l.Attn, out: newFC(l.Out), deep: newMLP(l.Deep)}
	case densenet.ModelDCNv2:
		d := &dcnModel{cfg: cfg, deep: newMLP(l.Deep), out: newFC(l.Out)}
		for _, c := range l.Cross {
			d.cross = append(d.cross, newFC(c))
		}
		m = d
	}
	return m, l.Params, nil
}

// concatX0 returns x0 = [dense ; emb] [B, NumDense+Fields*Dim].
func concatX0(dense, emb *graph.Node) *graph.Node {
	if dense == nil {
		return emb
	}
	return graph.Concatenate([]*graph.Node{dense, emb}, 1)
}

// embPart returns the emb columns of dL/dx0.
func embPart(dx0 *graph.Node, numDense int) *graph.Node {
	if numDense == 0 {
		return dx0
	}
	return graph.SliceAxis(dx0, 1, graph.AxisRangeToEnd(numDense))
}

// column reshapes a logit gradient [B] into [B, 1].
func column(x *graph.Node) *graph.Node {
	return graph.Reshape(x, x.Shape().Dimensions[0], 1)
}

// lrModel: logit = [dense ; emb]·w + b.
type lrModel struct {
	cfg ModelConfig
	lin fcLayer
}

func (m *lrModel) forward(p []*graph.Node, dense, emb *graph.Node) (*graph.Node, backwardFn) {
	batch := emb.Shape().Dimensions[0]
	x0 := concatX0(dense, emb)
	y := m.lin.forward(p, x0)
	return graph.Reshape(y, batch), func(dLogit *graph.Node) (*graph.Node, []*graph.Node) {
		grads := make([]*graph.Node, len(p))
		dx0 := m.lin.backward(p, grads, x0, y, column(dLogit), true)
		return embPart(dx0, m.cfg.NumDense), grads
	}
}

// fmModel is the factorization machine, and DeepFM when deep is set.
type fmModel struct {
	cfg  ModelConfig
	lin  fcLayer // first-order term over x0
	proj fcLayer // dense → Dim projection (unused when NumDense is 0)
	deep mlp     // deepfm only
}

func (m *fmModel) forward(p []*graph.Node, dense, emb *graph.Node) (*graph.Node, backwardFn) {
	cfg := m.cfg
	batch := emb.Shape().Dimensions[0]
	x0 := concatX0(dense, emb)
	first := m.lin.forward(p, x0) // [B, 1]
	logit := graph.Reshape(first, batch)

	emb3 := graph.Reshape(emb, batch, cfg.Fields, cfg.Dim)
	v, projOut := emb3, (*graph.Node)(nil)
	if dense != nil {
		projOut = m.proj.forward(p, dense) // [B, Dim]
		v = graph.Concatenate([]*graph.Node{graph.InsertAxes(projOut, 1), emb3}, 1)
	}
	second, fmBack := fmInteraction(v, cfg.FMScale)
	logit = graph.Add(logit, second)

	var deepActs []*graph.Node
	if len(m.deep) > 0 {
		deepActs = m.deep.forward(p, x0)
		logit = graph.Add(logit, graph.Reshape(deepActs[len(deepActs)-1], batch))
	}

	return logit, func(dLogit *graph.Node) (*graph.Node, []*graph.Node) {
		grads := make([]*graph.Node, len(p))
		dCol := column(dLogit)
		dx0 := m.lin.backward(p, grads, x0, first, dCol, true)
		if len(m.deep) > 0 {
			dx0 = graph.Add(dx0, m.deep.backward(p, grads, deepActs, dCol, true))
		}
		dEmb := embPart(dx0, cfg.NumDense)
		dv := fmBack(dLogit) // [B, m, Dim]
		dvEmb := dv
		if dense != nil {
			dProj := graph.Reshape(graph.SliceAxis(dv, 1, graph.AxisRange(0, 1)), batch, cfg.Dim)
			m.proj.backward(p, grads, dense, projOut, dProj, false)
			dvEmb = graph.SliceAxis(dv, 1, graph.AxisRangeToEnd(1))
		}
		dEmb = graph.Add(dEmb, graph.Reshape(dvEmb, batch, cfg.Fields*cfg.Dim))
		return dEmb, grads
	}
}

// dlrmModel is dlrm-small.
type dlrmModel struct {
	cfg    ModelConfig
	bottom mlp
	inter  dotInteraction
	top    mlp
}

func (m *dlrmModel) forward(p []*graph.Node, dense, emb *graph.Node) (*graph.Node, backwardFn) {
	cfg := m.cfg
	batch := emb.Shape().Dimensions[0]
	bottomActs := m.bottom.forward(p, dense)
	d := bottomActs[len(bottomActs)-1] // [B, Dim]
	t := graph.Concatenate([]*graph.Node{
		graph.InsertAxes(d, 1),
		graph.Reshape(emb, batch, cfg.Fields, cfg.Dim),
	}, 1) // [B, 1+F, Dim]
	z := m.inter.forward(t)
	topActs := m.top.forward(p, graph.Concatenate([]*graph.Node{d, z}, 1))
	logit := graph.Reshape(topActs[len(topActs)-1], batch)

	return logit, func(dLogit *graph.Node) (*graph.Node, []*graph.Node) {
		grads := make([]*graph.Node, len(p))
		dTopIn := m.top.backward(p, grads, topActs, column(dLogit), true)
		dd := graph.SliceAxis(dTopIn, 1, graph.AxisRange(0, cfg.Dim))
		dz := graph.SliceAxis(dTopIn, 1, graph.AxisRangeToEnd(cfg.Dim))
		dt := m.inter.backward(t, dz) // [B, 1+F, Dim]
		dd = graph.Add(dd, graph.Reshape(graph.SliceAxis(dt, 1, graph.AxisRange(0, 1)), batch, cfg.Dim))
		dEmb := graph.Reshape(graph.SliceAxis(dt, 1, graph.AxisRangeToEnd(1)), batch, cfg.Fields*cfg.Dim)
		m.bottom.backward(p, grads, bottomActs, dd, false)
		return dEmb, grads
	}
}

// dcnModel is DCN-v2, parallel variant.
type dcnModel struct {
	cfg   ModelConfig
	cross []fcLayer // W_l [K, K], b_l [K]
	deep  mlp
	out   fcLayer // [x_L ; deep] → logit
}

func (m *dcnModel) forward(p []*graph.Node, dense, emb *graph.Node) (*graph.Node, backwardFn) {
	batch := emb.Shape().Dimensions[0]
	x0 := concatX0(dense, emb)
	xs := []*graph.Node{x0} // x_l
	var us []*graph.Node    // u_l = x_l·W_l + b_l
	for _, l := range m.cross {
		u := l.forward(p, xs[len(xs)-1])
		us = append(us, u)
		xs = append(xs, graph.Add(graph.Mul(x0, u), xs[len(xs)-1]))
	}
	xL := xs[len(xs)-1]
	head := xL
	var deepActs []*graph.Node
	if len(m.deep) > 0 {
		deepActs = m.deep.forward(p, x0)
		head = graph.Concatenate([]*graph.Node{xL, deepActs[len(deepActs)-1]}, 1)
	}
	y := m.out.forward(p, head)

	return graph.Reshape(y, batch), func(dLogit *graph.Node) (*graph.Node, []*graph.Node) {
		grads := make([]*graph.Node, len(p))
		dHead := m.out.backward(p, grads, head, y, column(dLogit), true)
		width := xL.Shape().Dimensions[1]
		g := dHead // dL/dx_l, walking back from l = L
		var dx0 *graph.Node
		if len(m.deep) > 0 {
			g = graph.SliceAxis(dHead, 1, graph.AxisRange(0, width))
			dDeep := graph.SliceAxis(dHead, 1, graph.AxisRangeToEnd(width))
			dx0 = m.deep.backward(p, grads, deepActs, dDeep, true)
		}
		for l := len(m.cross) - 1; l >= 0; l-- {
			// x_{l+1} = x0⊙u_l + x_l, u_l = x_l·W_l + b_l.
			du := graph.Mul(g, x0)
			dx0 = addGrad(dx0, graph.Mul(g, us[l]))
			g = graph.Add(g, m.cross[l].backward(p, grads, xs[l], us[l], du, true))
		}
		dx0 = addGrad(dx0, g)
		return embPart(dx0, m.cfg.NumDense), grads
	}
}

// autointModel is AutoInt, and AutoInt+ when deep is set.
type autointModel struct {
	cfg  ModelConfig
	proj fcLayer // dense → Dim token (unused when NumDense is 0)
	attn []densenet.Attention
	out  fcLayer
	deep mlp // autoint+ only
}

// attnPass holds one attention layer's forward tensors: its input x [B,
// T, in], q, k, v [B, T, H, hd], the weights p [B, H, T, T] and the output
// y [B, T, A].
type attnPass struct {
	x, q, k, v, p, y *graph.Node
}

func (m *autointModel) forward(p []*graph.Node, dense, emb *graph.Node) (*graph.Node, backwardFn) {
	cfg := m.cfg
	batch := emb.Shape().Dimensions[0]
	T := densenet.Tokens(cfg)
	x := graph.Reshape(emb, batch, cfg.Fields, cfg.Dim)
	var projOut *graph.Node
	if dense != nil {
		projOut = m.proj.forward(p, dense) // [B, Dim]
		x = graph.Concatenate([]*graph.Node{graph.InsertAxes(projOut, 1), x}, 1)
	}
	var passes []attnPass
	for _, a := range m.attn {
		A := a.Width()
		lin := func(w int) *graph.Node { return graph.DotGeneral(x, []int{2}, nil, p[w], []int{0}, nil) } // [B, T, A]
		heads := func(t *graph.Node) *graph.Node { return graph.Reshape(t, batch, T, a.Heads, a.HeadD) }
		q, k, v := heads(lin(a.Q)), heads(lin(a.K)), heads(lin(a.V))
		scores := graph.DotGeneral(q, []int{3}, []int{0, 2}, k, []int{3}, []int{0, 2}) // [B, H, Ti, Tj]
		pw := graph.Softmax(scores, 3)
		o := graph.DotGeneral(pw, []int{3}, []int{0, 1}, v, []int{1}, []int{0, 2}) // [B, H, Ti, hd]
		o = graph.Reshape(graph.TransposeAllAxes(o, 0, 2, 1, 3), batch, T, A)
		y := graph.MaxScalar(graph.Add(o, lin(a.Res)), 0)
		passes = append(passes, attnPass{x: x, q: q, k: k, v: v, p: pw, y: y})
		x = y
	}
	last := m.attn[len(m.attn)-1].Width()
	flatY := graph.Reshape(x, batch, T*last)
	z := m.out.forward(p, flatY)
	logit := graph.Reshape(z, batch)
	var deepActs []*graph.Node
	x0 := concatX0(dense, emb)
	if len(m.deep) > 0 {
		deepActs = m.deep.forward(p, x0)
		logit = graph.Add(logit, graph.Reshape(deepActs[len(deepActs)-1], batch))
	}
	return logit, func(dLogit *graph.Node) (*graph.Node, []*graph.Node) {
		grads := make([]*graph.Node, len(p))
		dCol := column(dLogit)
		g := graph.Reshape(m.out.backward(p, grads, flatY, z, dCol, true), batch, T, last)
		for l := len(m.attn) - 1; l >= 0; l-- {
			a, ps := m.attn[l], passes[l]
			A := a.Width()
			zero := graph.ScalarZero(g.Graph(), g.DType())
			g = graph.Where(graph.GreaterThan(ps.y, zero), g, zero) // dL/dZ
			dO := graph.Reshape(g, batch, T, a.Heads, a.HeadD)
			dP := graph.DotGeneral(dO, []int{3}, []int{0, 2}, ps.v, []int{3}, []int{0, 2}) // [B, H, Ti, Tj]
			dV := graph.DotGeneral(ps.p, []int{2}, []int{0, 1}, dO, []int{1}, []int{0, 2}) // [B, H, Tj, hd]
			dS := graph.Mul(ps.p, graph.Sub(dP, graph.ReduceAndKeep(graph.Mul(ps.p, dP), graph.ReduceSum, 3)))
			dQ := graph.DotGeneral(dS, []int{3}, []int{0, 1}, ps.k, []int{1}, []int{0, 2}) // [B, H, Ti, hd]
			dK := graph.DotGeneral(dS, []int{2}, []int{0, 1}, ps.q, []int{1}, []int{0, 2}) // [B, H, Tj, hd]
			flat := func(t *graph.Node) *graph.Node {
				return graph.Reshape(graph.TransposeAllAxes(t, 0, 2, 1, 3), batch, T, A)
			}
			var dx *graph.Node
			for _, wd := range []struct {
				w int
				d *graph.Node
			}{{a.Res, g}, {a.Q, flat(dQ)}, {a.K, flat(dK)}, {a.V, flat(dV)}} {
				grads[wd.w] = graph.DotGeneral(ps.x, []int{0, 1}, nil, wd.d, []int{0, 1}, nil)
				dx = addGrad(dx, graph.DotGeneral(wd.d, []int{2}, nil, p[wd.w], []int{1}, nil))
			}
			g = dx
		}
		dTokens := g // [B, T, Dim]
		var dEmb *graph.Node
		if len(m.deep) > 0 {
			dEmb = embPart(m.deep.backward(p, grads, deepActs, dCol, true), cfg.NumDense)
		}
		dFields := dTokens
		if dense != nil {
			dProj := graph.Reshape(graph.SliceAxis(dTokens, 1, graph.AxisRange(0, 1)), batch, cfg.Dim)
			m.proj.backward(p, grads, dense, projOut, dProj, false)
			dFields = graph.SliceAxis(dTokens, 1, graph.AxisRangeToEnd(1))
		}
		dEmb = addGrad(dEmb, graph.Reshape(dFields, batch, cfg.Fields*cfg.Dim))
		return dEmb, grads
	}
}

// dinModel is the Deep Interest Network. The sequence, candidate and other
// slots are taken from emb by constant one-hot selection matrices rather
// than slices (so graph.Gradient can check the backward: simplego has no
// Pad, the VJP of a slice).
type dinModel struct {
	cfg       ModelConfig
	unit, out fcLayer
	prelu     int
	deep      mlp
}

// selection returns the [S, len(slots)] one-hot matrix picking slots.
func selection(g *graph.Graph, S int, slots []int) *graph.Node {
	m := make([][]float32, S)
	for i := range m {
		m[i] = make([]float32, len(slots))
	}
	for k, s := range slots {
		m[s][k] = 1
	}
	return graph.Const(g, m)
}

// pick returns emb3 [B, S, D]'s slots [B, len(slots), D].
func pick(emb3, sel *graph.Node) *graph.Node {
	return graph.TransposeAllAxes(graph.DotGeneral(emb3, []int{1}, nil, sel, []int{0}, nil), 0, 2, 1)
}

// place is pick's transpose: x [B, k, D] into [B, S, D].
func place(x, sel *graph.Node) *graph.Node {
	return graph.TransposeAllAxes(graph.DotGeneral(x, []int{1}, nil, sel, []int{1}, nil), 0, 2, 1)
}

func (m *dinModel) forward(p []*graph.Node, dense, emb *graph.Node) (*graph.Node, backwardFn) {
	c := m.cfg
	g := emb.Graph()
	batch := emb.Shape().Dimensions[0]
	S, D, L := c.Fields, c.Dim, c.SeqLen
	var seqSlots, otherSlots []int
	for s := range S {
		if s >= c.SeqStart && s < c.SeqStart+L {
			seqSlots = append(seqSlots, s)
		} else {
			otherSlots = append(otherSlots, s)
		}
	}
	selSeq, selOther, selTarget := selection(g, S, seqSlots), selection(g, S, otherSlots), selection(g, S, []int{c.Target})
	emb3 := graph.Reshape(emb, batch, S, D)
	seq := pick(emb3, selSeq)                                       // [B, L, D]
	ec := graph.BroadcastToDims(pick(emb3, selTarget), batch, L, D) // [B, L, D]
	others := graph.Reshape(pick(emb3, selOther), batch, (S-L)*D)   // [B, (S-L)·D]
	xa := graph.Reshape(graph.Concatenate([]*graph.Node{seq, ec, graph.Sub(seq, ec), graph.Mul(seq, ec)}, 2), batch*L, 4*D)
	h := m.unit.forward(p, xa) // [B·L, U]
	alpha := graph.InsertAxes(p[m.prelu], 0)
	zero := graph.ScalarZero(g, h.DType())
	pos := graph.GreaterThan(h, zero)
	a := graph.Where(pos, h, graph.Mul(h, alpha))
	wts := m.out.forward(p, a) // [B·L, 1]
	w3 := graph.Reshape(wts, batch, L, 1)
	pooled := graph.ReduceSum(graph.Mul(w3, seq), 1) // [B, D]
	parts := []*graph.Node{others, pooled}
	if dense != nil {
		parts = append([]*graph.Node{dense}, parts...)
	}
	x := graph.Concatenate(parts, 1)
	acts := m.deep.forward(p, x)
	logit := graph.Reshape(acts[len(acts)-1], batch)
	return logit, func(dLogit *graph.Node) (*graph.Node, []*graph.Node) {
		grads := make([]*graph.Node, len(p))
		dx := m.deep.backward(p, grads, acts, column(dLogit), true)
		in := x.Shape().Dimensions[1]
		N := c.NumDense
		dOthers := graph.Reshape(graph.SliceAxis(dx, 1, graph.AxisRange(N, N+(S-L)*D)), batch, S-L, D)
		dPooled := graph.InsertAxes(graph.SliceAxis(dx, 1, graph.AxisRange(in-D, in)), 1) // [B, 1, D]
		dSeq := graph.Mul(w3, dPooled)
		dw := graph.Reshape(graph.ReduceSum(graph.Mul(dPooled, seq), 2), batch*L, 1)
		da := m.out.backward(p, grads, a, wts, dw, true)
		grads[m.prelu] = graph.ReduceSum(graph.Where(pos, graph.ZerosLike(da), graph.Mul(da, h)), 0)
		dh := graph.Where(pos, da, graph.Mul(da, alpha))
		dxa := graph.Reshape(m.unit.backward(p, grads, xa, h, dh, true), batch, L, 4*D)
		part := func(k int) *graph.Node { return graph.SliceAxis(dxa, 2, graph.AxisRange(k*D, (k+1)*D)) }
		g0, g1, g2, g3 := part(0), part(1), part(2), part(3)
		dSeq = graph.Add(dSeq, graph.Add(graph.Add(g0, g2), graph.Mul(g3, ec)))
		dec := graph.ReduceSum(graph.Add(graph.Sub(g1, g2), graph.Mul(g3, seq)), 1) // [B, D]
		dEmb3 := graph.Add(graph.Add(place(dSeq, selSeq), place(dOthers, selOther)), place(graph.InsertAxes(dec, 1), selTarget))
		return graph.Reshape(dEmb3, batch, S*D), grads
	}
}
