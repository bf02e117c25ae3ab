package retrieval

import (
	"context"
	"fmt"
	"github.com/embtab/embtab/embedding"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/embtab/embtab/densenet/optim"
	"github.com/embtab/embtab/kernels/gemm"
)

// TrainHooks observe a training run; nil hooks are skipped.
type TrainHooks struct {
	// Step is called after every step with the epoch (from 1), the steps
	// done and in all, and the step's loss.
	Step func(epoch int, step, steps int64, loss float64)
	// Epoch is called after every epoch with the epoch's mean loss; an
	// error stops the run.
	Epoch func(epoch int, loss float64) error
}

// Train trains m on the training interactions of sp for m.Config.Epochs
// epochs (see the package doc for the loss). The order of the examples
// comes from a PCG seeded by Config.Seed, so a run is reproducible.
func Train(ctx context.Context, m *Model, sp *Split, hooks TrainHooks) error {
	if len(sp.Train) < 2 {
		return fmt.Errorf("train two-tower: %d training interactions, want at least 2", len(sp.Train))
	}
	st, err := newTrainState(m, sp)
	if err != nil {
		return fmt.Errorf("train two-tower: %w", err)
	}
	defer st.g.Close()
	order := make([]int32, len(sp.Train))
	for i := range order {
		order[i] = int32(i)
	}
	cfg := &m.Config
	bs := cfg.Batch
	stepsPerEpoch := int64((len(order) + bs - 1) / bs)
	if len(order)%bs == 1 {
		stepsPerEpoch-- // a batch of one has no negatives: dropped
	}
	total := stepsPerEpoch * int64(cfg.Epochs)
	var done int64
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		rng := rand.New(rand.NewPCG(cfg.Seed, uint64(epoch)))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sum float64
		var n int64
		for lo := 0; lo+1 < len(order); lo += bs {
			if err := ctx.Err(); err != nil {
				return err
			}
			hi := min(lo+bs, len(order))
			if sch, ok := m.Table.(embedding.Scheduled); ok {
				sch.SetStep(done, total) // a pruning schedule (package prune)
			}
			loss, err := st.step(order[lo:hi])
			if err != nil {
				return fmt.Errorf("train two-tower: epoch %d: %w", epoch, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return fmt.Errorf("train two-tower: epoch %d step %d: loss diverged (%v): lower --lr or raise --temperature", epoch, done+1, loss)
			}
			sum += loss
			n++
			done++
			if hooks.Step != nil {
				hooks.Step(epoch, done, total, loss)
			}
		}
		if hooks.Epoch != nil {
			if err := hooks.Epoch(epoch, sum/float64(n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// trainState is the scratch of a training run.
type trainState struct {
	m      *Model
	sp     *Split
	g      *gemm.Context
	nested []int
	logQ   []float32 // per item: log of its share of the training interactions
	ids    []uint64
	emb    []float32
	grads  []float32
	items  []int32
	u, it  mlpActs
	gu, gi *mlpGrads
	dyu    []float32
	dyi    []float32
	dxu    []float32
	dxi    []float32
	logits []float32
	dl     []float32
	// params are the tower weights Adam steps, in denseGrads order.
	params [][]float32
	adam   *optim.Adam
	lq     []float32 // per batch column: logQ of its item
	dupOf  []int32   // per batch column: the first column of its item
	dups   bool      // the batch repeats an item
	// With a history (Config.History): per training event, its history's
	// range in sp.Train (the user's last History events strictly earlier),
	// and one step's history pairs, their vectors and gradients.
	histLo, histHi []int32
	hids           []uint64
	hfields        []int
	hvals, hgrads  []float32
	hstart         []int32 // per example: its first history pair
	ux, dux        []float32
	pairIDs        []uint64
	pairFields     []int
	pairGrads      []float32
}

func newTrainState(m *Model, sp *Split) (*trainState, error) {
	cfg := &m.Config
	st := &trainState{m: m, sp: sp, g: gemm.NewContext(cfg.Threads), nested: cfg.nested(),
		gu: newMLPGrads(m.Towers.user), gi: newMLPGrads(m.Towers.item)}
	st.logQ = make([]float32, len(m.in.Items))
	if !cfg.NoLogQ {
		counts := make([]float64, len(m.in.Items))
		for _, e := range sp.Train {
			counts[e.Item]++
		}
		for i, c := range counts {
			// Items absent from training are never in a batch; give them
			// the rarest item's correction.
			st.logQ[i] = float32(math.Log(max(c, 1) / float64(len(sp.Train))))
		}
	}
	var params [][]float32
	for _, t := range []*mlp{m.Towers.user, m.Towers.item} {
		params = append(params, t.params()...)
	}
	st.params = params
	if cfg.History > 0 {
		st.histLo, st.histHi = historyRanges(sp.Train, cfg.History)
	}
	adam, err := optim.NewAdam(optim.AdamConfig{LR: cfg.LR}, params, st.denseGrads())
	if err != nil {
		st.g.Close()
		return nil, fmt.Errorf("two-tower optimizer: %w", err)
	}
	st.adam = adam
	return st, nil
}

// step trains on the examples batch (indexes into sp.Train) and returns
// the loss (summed over the nested prefixes, mean over the batch).
func (st *trainState) step(batch []int32) (float64, error) {
	loss, err := st.lossAndGrads(batch)
	if err != nil {
		return 0, err
	}
	if st.m.Config.History == 0 {
		st.m.Table.Apply(st.ids, st.grads)
	} else {
		// The rows as Apply would take them, then the history's values:
		// one update of every row with the sum of its gradients.
		nf := len(st.m.blank)
		st.pairIDs = append(append(st.pairIDs[:0], st.ids...), st.hids...)
		st.pairFields = st.pairFields[:0]
		for i := range st.ids {
			st.pairFields = append(st.pairFields, i%nf)
		}
		st.pairFields = append(st.pairFields, st.hfields...)
		st.pairGrads = append(append(st.pairGrads[:0], st.grads...), st.hgrads...)
		st.m.Table.(embedding.FieldTrainable).ApplyFields(st.pairIDs, st.pairFields, st.pairGrads)
	}
	st.adam.Step(nil)
	return loss, nil
}

// historyRanges returns, for each event of train (sorted by user, time),
// the range of train holding its history: the same user's last n events
// strictly earlier in time.
func historyRanges(train []Event, n int) (lo, hi []int32) {
	lo, hi = make([]int32, len(train)), make([]int32, len(train))
	start := 0 // the current user's first event
	for j, e := range train {
		if j > 0 && train[j-1].User != e.User {
			start = j
		}
		k := j
		for k > start && train[k-1].Time == e.Time {
			k--
		}
		hi[j], lo[j] = int32(k), int32(max(start, k-n))
	}
	return lo, hi
}

// denseGrads lists the tower weight gradients in the order of the Adam
// parameters.
func (st *trainState) denseGrads() [][]float32 {
	var grads [][]float32
	for _, gr := range []*mlpGrads{st.gu, st.gi} {
		grads = append(grads, gr.params()...)
	}
	return grads
}

// lossAndGrads computes the loss of batch and its gradients: the towers'
// in st.gu and st.gi, the table rows' in st.grads (for the ids st.ids).
func (st *trainState) lossAndGrads(batch []int32) (float64, error) {
	m, cfg := st.m, &st.m.Config
	in := m.in
	b := len(batch)
	nf, d, out := len(m.blank), cfg.Dim, cfg.Out
	nu, ni := len(in.UserFields), len(in.ItemFields)
	st.ids = growU64(st.ids, b*nf)
	st.items = st.items[:0]
	for i, ex := range batch {
		e := st.sp.Train[ex]
		row := st.ids[i*nf : (i+1)*nf]
		copy(row, m.blank)
		for k, f := range in.UserFields {
			row[f] = m.userIDs[int(e.User)*nu+k]
		}
		for k, f := range in.ItemFields {
			row[f] = m.itemIDs[int(e.Item)*ni+k]
		}
		st.items = append(st.items, e.Item)
	}
	st.emb = grow(st.emb, b*nf*d)
	m.Table.Lookup(st.ids, st.emb)
	st.u.n, st.it.n = b, b
	st.it.x = grow(st.it.x, b*ni*d)
	gather(st.emb, st.it.x, b, nf, d, in.ItemFields)
	uw := nu * d // the user tower's input width
	if cfg.History == 0 {
		st.u.x = grow(st.u.x, b*uw)
		gather(st.emb, st.u.x, b, nf, d, in.UserFields)
	} else {
		uw += d
		st.ux = grow(st.ux, b*nu*d)
		gather(st.emb, st.ux, b, nf, d, in.UserFields)
		st.historyLookup(batch)
		st.u.x = grow(st.u.x, b*uw)
		for i := range b {
			copy(st.u.x[i*uw:], st.ux[i*nu*d:(i+1)*nu*d])
			lo, hi := st.hstart[i], st.hstart[i+1]
			poolMean(st.hvals[int(lo)*d:int(hi)*d], int(hi-lo), d, st.u.x[i*uw+nu*d:(i+1)*uw])
		}
	}
	if err := m.Towers.user.forward(st.g, &st.u); err != nil {
		return 0, err
	}
	if err := m.Towers.item.forward(st.g, &st.it); err != nil {
		return 0, err
	}

	st.dyu = grow(st.dyu, b*out)
	st.dyi = grow(st.dyi, b*out)
	clear(st.dyu)
	clear(st.dyi)
	st.logits = grow(st.logits, b*b)
	st.dl = grow(st.dl, b*b)
	invT := float32(1 / cfg.Temperature)
	var loss float64
	for _, p := range st.nested {
		// logits = U[:, :p]·V[:, :p]ᵀ / τ
		if err := st.g.Sgemm(gemm.NoTrans, gemm.Trans, b, b, p, invT, st.u.y, out, st.it.y, out, 0, st.logits, b, nil); err != nil {
			return 0, fmt.Errorf("scores: %w", err)
		}
		l := st.softmax(b)
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return 0, fmt.Errorf("non-finite logits or loss (%v) at prefix %d: the towers diverged; lower --lr or raise --temperature", l, p)
		}
		loss += l
		// dU[:, :p] += dL·V[:, :p] / τ, dV[:, :p] += dLᵀ·U[:, :p] / τ
		if err := st.g.Sgemm(gemm.NoTrans, gemm.NoTrans, b, p, b, invT, st.dl, b, st.it.y, out, 1, st.dyu, out, nil); err != nil {
			return 0, fmt.Errorf("score gradient: %w", err)
		}
		if err := st.g.Sgemm(gemm.Trans, gemm.NoTrans, b, p, b, invT, st.dl, b, st.u.y, out, 1, st.dyi, out, nil); err != nil {
			return 0, fmt.Errorf("score gradient: %w", err)
		}
	}

	st.dxu = grow(st.dxu, b*uw)
	st.dxi = grow(st.dxi, b*ni*d)
	if err := m.Towers.user.backward(st.g, &st.u, st.dyu, st.gu, st.dxu); err != nil {
		return 0, err
	}
	if err := m.Towers.item.backward(st.g, &st.it, st.dyi, st.gi, st.dxi); err != nil {
		return 0, err
	}
	st.grads = grow(st.grads, b*nf*d)
	clear(st.grads)
	dxu := st.dxu
	if cfg.History > 0 {
		// The fields' part, then each history value's share of the pool's
		// gradient.
		st.dux = grow(st.dux, b*nu*d)
		st.hgrads = grow(st.hgrads, len(st.hids)*d)
		for i := range b {
			copy(st.dux[i*nu*d:(i+1)*nu*d], st.dxu[i*uw:i*uw+nu*d])
			lo, hi := st.hstart[i], st.hstart[i+1]
			if hi == lo {
				continue
			}
			g, w := st.dxu[i*uw+nu*d:(i+1)*uw], 1/float32(hi-lo)
			for j := lo; j < hi; j++ {
				o := st.hgrads[int(j)*d : int(j+1)*d]
				for x := range o {
					o[x] = w * g[x]
				}
			}
		}
		dxu = st.dux
	}
	scatter(dxu, st.grads, b, nf, d, in.UserFields)
	scatter(st.dxi, st.grads, b, nf, d, in.ItemFields)
	return loss, nil
}

// historyLookup fills the batch's history pairs (the item-key ids of each
// example's history, st.hstart its offsets) and their vectors.
func (st *trainState) historyLookup(batch []int32) {
	m := st.m
	ni, key, d := len(m.in.ItemFields), m.in.ItemFields[0], m.Config.Dim
	st.hids, st.hfields, st.hstart = st.hids[:0], st.hfields[:0], append(st.hstart[:0], 0)
	for _, ex := range batch {
		for _, e := range st.sp.Train[st.histLo[ex]:st.histHi[ex]] {
			st.hids = append(st.hids, m.itemIDs[int(e.Item)*ni])
			st.hfields = append(st.hfields, key)
		}
		st.hstart = append(st.hstart, int32(len(st.hids)))
	}
	st.hvals = grow(st.hvals, len(st.hids)*d)
	if len(st.hids) > 0 {
		m.Table.(embedding.FieldTrainable).LookupFields(st.hids, st.hfields, st.hvals)
	}
}

// softmax turns st.logits (b×b, row i: user i against the batch's items)
// into the loss gradient st.dl (already divided by b) and returns the
// mean cross-entropy of the diagonal. The logQ correction is subtracted
// from every logit, and the other copies of row i's positive item are
// masked out.
func (st *trainState) softmax(b int) float64 {
	// Per batch column: its logQ, and the first column of the same item
	// (dupOf[j] == j for the first copy).
	st.lq = grow(st.lq, b)
	if cap(st.dupOf) < b {
		st.dupOf = make([]int32, b)
	}
	st.dupOf = st.dupOf[:b]
	st.dups = false
	first := make(map[int32]int32, b)
	for j, it := range st.items {
		st.lq[j] = st.logQ[it]
		f, ok := first[it]
		if !ok {
			f = int32(j)
			first[it] = f
		} else {
			st.dups = true
		}
		st.dupOf[j] = f
	}
	workers := min(st.m.Config.Threads, max(1, b/64))
	losses := make([]float64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b; i += workers {
				losses[w] += st.softmaxRow(i, b)
			}
		}()
	}
	wg.Wait()
	var loss float64
	for _, l := range losses {
		loss += l
	}
	return loss / float64(b)
}

func (st *trainState) softmaxRow(i, b int) float64 {
	row, dl, lq := st.logits[i*b:(i+1)*b], st.dl[i*b:(i+1)*b], st.lq[:b]
	mx := float32(math.Inf(-1))
	finite := true
	for j, v := range row {
		v -= lq[j]
		row[j] = v
		if v > mx {
			mx = v
		}
		finite = finite && !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
	}
	if !finite {
		return math.NaN() // expf would take a NaN logit for a zero probability
	}
	if st.dups {
		// Columns holding the same item as column i have the same logit:
		// masking them after the max keeps it a valid stabiliser.
		di := st.dupOf[i]
		for j, f := range st.dupOf[:b] {
			if f == di && j != i {
				row[j] = float32(math.Inf(-1))
			}
		}
	}
	var s0, s1 float32 // two partial sums of at most b/2 terms in (0, 1]
	for j, v := range row {
		e := expf(v - mx)
		dl[j] = e
		if j&1 == 0 {
			s0 += e
		} else {
			s1 += e
		}
	}
	inv := 1 / (s0 + s1)
	scale := 1 / float32(b)
	pos := dl[i] * inv
	for j := range dl {
		dl[j] *= inv * scale
	}
	dl[i] -= scale
	return -math.Log(max(float64(pos), 1e-30))
}

// expf is e^x in float32 (relative error about 2e-7): x = n·ln2 + r with
// |r| <= ln2/2, e^r by its degree-6 Taylor polynomial, times 2^n. Below
// -87 (and for -Inf) it returns 0.
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
		magic = 12582912 // 1.5·2^23: adding it rounds to an integer
	)
	if !(x >= -87) {
		return 0
	}
	if x > 88 {
		return float32(math.Inf(1))
	}
	t := x*log2e + magic
	n := int32(math.Float32bits(t)) - int32(math.Float32bits(magic))
	fn := t - magic
	r := x - fn*ln2hi - fn*ln2lo
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// gather copies the fields of each of b rows of emb (b×nf×d) into x
// (b×len(fields)×d).
func gather(emb, x []float32, b, nf, d int, fields []int) {
	k := len(fields)
	for i := range b {
		for j, f := range fields {
			copy(x[(i*k+j)*d:(i*k+j+1)*d], emb[(i*nf+f)*d:(i*nf+f+1)*d])
		}
	}
}

// scatter adds x (b×len(fields)×d) into the fields of grads (b×nf×d).
func scatter(x, grads []float32, b, nf, d int, fields []int) {
	k := len(fields)
	for i := range b {
		for j, f := range fields {
			dst, src := grads[(i*nf+f)*d:(i*nf+f+1)*d], x[(i*k+j)*d:(i*k+j+1)*d]
			for c, v := range src {
				dst[c] += v
			}
		}
	}
}

func growU64(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	return s[:n]
}
