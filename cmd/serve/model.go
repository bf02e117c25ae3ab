package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/densenet"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/lookup"
	"github.com/embtab/embtab/retrieval"
	"github.com/embtab/embtab/slots"
)

// model is one loaded artifact with everything that serves it. It is
// reference counted: the server holds one reference while it is current,
// each request one while it runs, and the last release closes it, so a
// reload never closes a model under a request.
type model struct {
	name   string // the slot's, set when it is served
	dir    string
	art    *artifact.Artifact
	store  *instrumented
	emb    *lookup.Embedder
	net    *densenet.Net
	hasher *hashing.Hasher
	schema *schemaIndex
	// nf is the categorical fields (the request's one-hot features; table
	// fields 0..nf-1), nd the dense inputs; inputs the net's embedding
	// slots (nf without bags).
	nf, nd int
	inputs int
	dim    int
	// slots lays out the bags (nil: none); passes pools its slots.Pass.
	slots  *slots.Layout
	passes sync.Pool
	log    *slog.Logger
	// ret is the retrieval part of a two-tower model (retrieve.go); net
	// is nil then.
	ret *twoTower
	// bat merges concurrent requests' dense passes (nil: --batch-wait 0).
	bat *batcher
	// oov counts sampled vocabulary misses per field (nil: no vocabulary,
	// or not yet served).
	oov *oovCounter
	// plog logs sampled predictions (nil: --log-predictions off).
	plog *predLogger

	refs atomic.Int64
}

// loadModel opens the artifact in dir, its store and its dense net, and
// scores an all-missing instance to prove the whole path works: an
// artifact that fails any step is rejected.
func loadModel(ctx context.Context, dir string, cfg *config, log *slog.Logger, met *metrics) (_ *model, err error) {
	start := time.Now()
	a, err := artifact.Open(dir, artifact.OpenOptions{SkipChecksums: cfg.SkipChecksums})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	man := a.Manifest()
	res, err := lookup.NewResolverWithRows(man, a.Vocab(), a.RowSets())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if retrieval.IsTwoTower(man) {
		return loadTwoTower(ctx, dir, a, res, cfg, log, met, start)
	}
	// Every dense model has a native forward: the service links
	// densenet, not the trainer or GoMLX.
	net, err := densenet.Load(bytes.NewReader(a.DenseState()))
	if err != nil {
		return nil, fmt.Errorf("%s: dense net: %w", dir, err)
	}
	mc := net.Config()
	inputs := len(man.Fields)
	if man.Slots != nil {
		inputs = man.Slots.Slots
	}
	if mc.Fields != inputs || mc.Dim != man.Table.Dim || mc.NumDense != len(man.Dense) {
		return nil, fmt.Errorf("%s: dense net takes %d inputs of dim %d and %d dense inputs, the manifest has %d, %d and %d: %w",
			dir, mc.Fields, mc.Dim, mc.NumDense, inputs, man.Table.Dim, len(man.Dense), artifact.ErrCorrupt)
	}
	if err := checkSequence(mc, man.Slots); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", dir, err, artifact.ErrCorrupt)
	}
	var bagNames []string
	for _, b := range man.Schema.Bags {
		bagNames = append(bagNames, b.Name)
	}
	st, err := lookup.Open(ctx, cfg.Store, a, lookup.Config{
		Path: cfg.StorePath, Addrs: cfg.RedisAddrs, Prefix: cfg.StorePrefix, HugePages: cfg.HugePages,
		Logger: log.With("store", cfg.Store),
	})
	if err != nil {
		return nil, err
	}
	ist := &instrumented{Store: st, name: cfg.Store, m: met}
	m := &model{
		dir: dir, art: a, store: ist, emb: lookup.NewEmbedder(res, ist.forEmbedder()), net: net,
		hasher: hashing.New(uint64(man.Hash.Seed), len(man.Fields)),
		schema: newSchemaIndex(man.Schema.Categorical, man.Dense, bagNames),
		nf:     man.Schema.NumCat(), nd: len(man.Dense), inputs: inputs, dim: man.Table.Dim, log: log,
		slots: man.Slots,
	}
	if cfg.BatchWait > 0 {
		m.bat = newBatcher(net, m.nd, m.inputs*m.dim, cfg.BatchWait, cfg.BatchMax, met.batchRequests)
	}
	m.refs.Store(1)
	if _, err := m.score(ctx, &batch{N: 1, Cat: make([]string, m.nf), Dense: make([]float32, m.nd)}); err != nil {
		if m.bat != nil {
			m.bat.close()
		}
		st.Close()
		return nil, fmt.Errorf("%s: test prediction: %w", dir, err)
	}
	log.Info("model loaded", "dir", dir, "id", man.ID, "method", man.Table.Method, "codec", man.Codec,
		"store", cfg.Store, "fields", m.nf, "dense", m.nd, "dim", m.dim, "seconds", time.Since(start).Seconds())
	return m, nil
}

// checkSequence checks that a DIN net's behaviour sequence and candidate
// are the layout's sequence bag and its item field, and that other nets
// have no sequence.
func checkSequence(mc densenet.Config, l *slots.Layout) error {
	var seq *slots.Bag
	if l != nil {
		seq = l.Sequence()
	}
	switch {
	case mc.Name != densenet.ModelDIN && seq != nil:
		return fmt.Errorf("a %s net with the sequence bag %q", mc.Name, seq.Name)
	case mc.Name == densenet.ModelDIN && seq == nil:
		return errors.New("a DIN net without a sequence bag")
	case mc.Name == densenet.ModelDIN && (mc.SeqStart != seq.Slot || mc.SeqLen != seq.SeqLen || mc.Target != seq.Field):
		return fmt.Errorf("the DIN net attends slots [%d, %d) with candidate %d, the layout's sequence %q is [%d, %d) of field %d",
			mc.SeqStart, mc.SeqStart+mc.SeqLen, mc.Target, seq.Name, seq.Slot, seq.Slot+seq.SeqLen, seq.Field)
	}
	return nil
}

// acquire takes a reference unless the model is already closed.
func (m *model) acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the store and the
// artifact.
func (m *model) release() {
	if m.refs.Add(-1) != 0 {
		return
	}
	start := time.Now()
	var rerr error
	if m.ret != nil {
		rerr = m.ret.close()
	}
	if m.bat != nil {
		m.bat.close()
	}
	err := errors.Join(rerr, m.store.Close(), m.art.Close())
	if err != nil {
		m.log.Error("closing model", "dir", m.dir, "id", m.id(), "err", err)
		return
	}
	m.log.Info("model closed", "dir", m.dir, "id", m.id(), "seconds", time.Since(start).Seconds())
}

func (m *model) id() string { return m.art.Manifest().ID }

// ids hashes the categorical values of b (Cat layout) into ids.
func (m *model) ids(b *batch) []uint64 {
	ids := make([]uint64, len(b.Cat))
	for i, v := range b.Cat {
		ids[i] = m.hasher.HashString(i%m.nf, v)
	}
	return ids
}

// score returns the click probabilities of b's instances: the training
// pipeline's prediction (hash, table lookup, log1p(max(x,0)) of the dense
// inputs, the dense net).
func (m *model) score(ctx context.Context, b *batch) ([]float32, error) {
	n := b.N
	m.observeOOV(b)
	emb := make([]float32, n*m.inputs*m.dim)
	if err := m.gather(ctx, b, emb); err != nil {
		return nil, err
	}
	dense := make([]float32, n*m.nd)
	copy(dense, b.Dense)
	datasets.TransformDense(dense[:b.N*m.nd])
	var out []float32
	if m.bat != nil {
		var err error
		if out, err = m.bat.predict(ctx, dense, emb, n); err != nil {
			return nil, err
		}
	} else {
		out = make([]float32, n)
		// Predict is safe for concurrent use: each call runs on a worker
		// of its own.
		if err := m.net.Predict(dense, emb, n, out); err != nil {
			return nil, err
		}
	}
	m.plog.record(m, b, out)
	return out[:b.N], nil
}

// gather writes the vectors of b's instances to emb (instance-major, nf x
// dim each). The fields b shares across instances (its context) are
// looked up once and copied.
func (m *model) gather(ctx context.Context, b *batch, emb []float32) error {
	if m.slots != nil {
		return m.gatherSlots(ctx, b, emb)
	}
	if len(b.Shared) == 0 || b.N == 1 {
		return m.emb.Lookup(ctx, m.ids(b), emb)
	}
	shared := make([]bool, m.nf)
	for _, f := range b.Shared {
		shared[f] = true
	}
	own := m.nf - len(b.Shared)
	n := len(b.Shared) + b.N*own
	fields, ids := make([]int, 0, n), make([]uint64, 0, n)
	for _, f := range b.Shared {
		fields = append(fields, f)
		ids = append(ids, m.hasher.HashString(f, b.Cat[f]))
	}
	for i := range b.N {
		for f := range m.nf {
			if !shared[f] {
				fields = append(fields, f)
				ids = append(ids, m.hasher.HashString(f, b.Cat[i*m.nf+f]))
			}
		}
	}
	vecs := make([]float32, n*m.dim)
	if err := m.emb.LookupFields(ctx, fields, ids, vecs); err != nil {
		return err
	}
	d := m.dim
	k := len(b.Shared)
	for i := range b.N {
		for j, f := range b.Shared {
			copy(emb[(i*m.nf+f)*d:][:d], vecs[j*d:][:d])
		}
		for f := range m.nf {
			if !shared[f] {
				copy(emb[(i*m.nf+f)*d:][:d], vecs[k*d:][:d])
				k++
			}
		}
	}
	return nil
}

// gatherSlots writes the net's inputs of b's instances for a model with
// bags (slots.Layout): one lookup of the one-hot ids and every bag value,
// pooled as in training. The bags of the request's context are looked up
// and pooled once, for the first instance, and their slots copied to the
// others.
func (m *model) gatherSlots(ctx context.Context, b *batch, emb []float32) error {
	shared := make([]bool, len(m.slots.Bags))
	if b.N > 1 {
		for _, k := range b.SharedBags {
			shared[k] = true
		}
	}
	if err := m.pooledSlots(ctx, b, b.N, func(k int) bool { return !shared[k] }, emb); err != nil {
		return err
	}
	if !slices.Contains(shared, true) {
		return nil
	}
	one := make([]float32, m.inputs*m.dim)
	if err := m.pooledSlots(ctx, b, 1, func(k int) bool { return shared[k] }, one); err != nil {
		return err
	}
	d := m.dim
	for k, bg := range m.slots.Bags {
		if !shared[k] {
			continue
		}
		lo, hi := bg.Slot*d, (bg.Slot+max(bg.SeqLen, 1))*d
		for i := 1; i < b.N; i++ {
			copy(emb[i*m.inputs*d+lo:i*m.inputs*d+hi], one[lo:hi])
		}
		copy(emb[lo:hi], one[lo:hi])
	}
	return nil
}

// pooledSlots writes the inputs of b's first n instances to emb, with the
// values of the bags take(k) (the others empty).
func (m *model) pooledSlots(ctx context.Context, b *batch, n int, take func(k int) bool, emb []float32) error {
	p, _ := m.passes.Get().(*slots.Pass)
	if p == nil {
		p = m.slots.NewPass()
	}
	defer m.passes.Put(p)
	nb := len(m.slots.Bags)
	cols := make([]datasets.BagColumn, nb)
	for k, bg := range m.slots.Bags {
		c := &cols[k]
		c.Offsets = append(make([]int32, 0, n+1), 0)
		for i := range n {
			if b.Bags != nil && take(k) {
				for _, v := range b.Bags[i*nb+k] {
					c.IDs = append(c.IDs, m.hasher.HashString(bg.Field, v))
				}
			}
			c.Offsets = append(c.Offsets, int32(len(c.IDs)))
		}
	}
	ids := make([]uint64, n*m.nf)
	for i, v := range b.Cat[:n*m.nf] {
		ids[i] = m.hasher.HashString(i%m.nf, v)
	}
	defer p.Release()
	if err := p.Pairs(n, ids, cols, m.dim); err != nil {
		return err
	}
	if err := m.emb.LookupFields(ctx, p.Fields, p.IDs, p.Vals); err != nil {
		return err
	}
	p.Pool(emb[:n*m.inputs*m.dim], m.dim)
	return nil
}

// embed returns the vectors of q's fields for each instance, Dim floats
// per (instance, field), instance-major.
func (m *model) embed(ctx context.Context, q *embedQuery) ([]float32, error) {
	m.observeOOV(&q.batch)
	if m.slots != nil {
		return m.embedSlots(ctx, q)
	}
	n := q.N * len(q.Fields)
	ids := make([]uint64, n)
	fields := make([]int, n)
	for i := range q.N {
		for k, f := range q.Fields {
			fields[i*len(q.Fields)+k] = f
			ids[i*len(q.Fields)+k] = m.hasher.HashString(f, q.Cat[i*m.nf+f])
		}
	}
	out := make([]float32, n*m.dim)
	if err := m.emb.LookupFields(ctx, fields, ids, out); err != nil {
		return nil, err
	}
	return out, nil
}

// embedSlots is embed for a model with bags: q's inputs are categorical
// fields and pooled bags, read from the net's input slots. A sequence bag
// has no one vector: asking for it is a request error.
func (m *model) embedSlots(ctx context.Context, q *embedQuery) ([]float32, error) {
	at := make([]int, len(q.Fields)) // each asked input's slot
	for k, f := range q.Fields {
		at[k] = f
		if f >= m.nf {
			bg := m.slots.Bags[f-m.nf]
			if bg.SeqLen > 0 {
				return nil, badRequest("fields: bag %q is the model's behaviour sequence (%d slots), not one vector: score it with /v1/score", bg.Name, bg.SeqLen)
			}
			at[k] = bg.Slot
		}
	}
	all := make([]float32, q.N*m.inputs*m.dim)
	if err := m.gatherSlots(ctx, &q.batch, all); err != nil {
		return nil, err
	}
	d, out := m.dim, make([]float32, q.N*len(q.Fields)*m.dim)
	for i := range q.N {
		for k, s := range at {
			copy(out[(i*len(at)+k)*d:][:d], all[(i*m.inputs+s)*d:][:d])
		}
	}
	return out, nil
}
