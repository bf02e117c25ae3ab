package prune

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/hashing"
)

// The methods' names (train --table deeplight, --table pep, --table
// autosrh).
const (
	DeepLight = "deeplight"
	PEP       = "pep"
	AutoSrh   = "autosrh"
)

// Config is a pruned table's configuration, as checkpoints record it.
type Config struct {
	// Kind is DeepLight, PEP or AutoSrh.
	Kind string `json:"kind"`
	// Full is the full table's config (its Rows: each field's vocabulary
	// and the row for unseen ids).
	Full embedding.Config `json:"full"`
	// Budget is the serving bytes the sparse form must fit.
	Budget int64 `json:"budget"`
	// PruneEvery is the steps between prunes (DeepLight; default 10) or
	// budget checks (PEP, each a pass over every value; default 50).
	PruneEvery int `json:"prune_every"`
	// Ramp is the share of the run's steps by which the budget is met:
	// DeepLight's schedule ends there (default 0.8), PEP's and AutoSrh's
	// search at the latest (default 0.5).
	Ramp float64 `json:"ramp"`
	// ThresholdInit is PEP's thresholds' initial s (sigmoid(s) is the
	// threshold); default -15 (3e-7: below any row's init, which at
	// Xavier's bound over millions of rows is ~1e-3, so nothing starts
	// pruned; the row optimizer's normalised steps raise it).
	ThresholdInit float32 `json:"threshold_init,omitempty"`
	// AutoSrh: Groups frequency groups of ids (default 6), their
	// per-dimension weights' L1 coefficient (default 1e-5) and step
	// (default 1e-3), as Hetu's nsplit, alpha_l1 and alpha_lr.
	Groups  int     `json:"groups,omitempty"`
	L1      float32 `json:"l1,omitempty"`
	AlphaLR float32 `json:"alpha_lr,omitempty"`
	// Retrain names the artifact of an earlier pruned run: the table
	// trains from its init under that run's mask from the first step (PEP's
	// and AutoSrh's retraining stage; no search, no schedule).
	Retrain string `json:"retrain,omitempty"`
}

// Settings are the --table-config file's fields.
type Settings struct {
	PruneEvery    int     `json:"prune_every"`
	Ramp          float64 `json:"ramp"`
	ThresholdInit float32 `json:"threshold_init"`
	Groups        int     `json:"groups"`
	L1            float32 `json:"l1"`
	AlphaLR       float32 `json:"alpha_lr"`
	Retrain       string  `json:"retrain"`
}

func (c Config) withDefaults() (Config, error) {
	if c.PruneEvery == 0 {
		c.PruneEvery = 10
		if c.Kind == PEP {
			c.PruneEvery = 50 // each check thresholds every value
		}
	}
	if c.Ramp == 0 {
		c.Ramp = 0.8
		if c.Kind != DeepLight {
			c.Ramp = 0.5
		}
	}
	switch c.Kind {
	case DeepLight:
	case PEP:
		if c.ThresholdInit == 0 {
			c.ThresholdInit = -15
		}
	case AutoSrh:
		if c.Groups == 0 {
			c.Groups = 6
		}
		if c.L1 == 0 {
			c.L1 = 1e-5
		}
		if c.AlphaLR == 0 {
			c.AlphaLR = 1e-3
		}
		if c.Groups < 1 || c.Groups > 255 || !(c.L1 >= 0) || !(c.AlphaLR > 0) || math.IsInf(float64(c.L1), 0) || math.IsInf(float64(c.AlphaLR), 0) {
			return c, fmt.Errorf("autosrh table: %d groups, l1 %g, alpha lr %g: %w", c.Groups, c.L1, c.AlphaLR, embedding.ErrConfig)
		}
	default:
		return c, fmt.Errorf("pruned table: kind %q (want %s, %s or %s): %w", c.Kind, DeepLight, PEP, AutoSrh, embedding.ErrConfig)
	}
	if c.Budget < 1 || c.PruneEvery < 1 || !(c.Ramp > 0 && c.Ramp <= 1) || math.IsNaN(float64(c.ThresholdInit)) || math.IsInf(float64(c.ThresholdInit), 0) {
		return c, fmt.Errorf("%s table: budget %d, prune every %d, ramp %g, threshold init %g: %w", c.Kind, c.Budget, c.PruneEvery, c.Ramp, c.ThresholdInit, embedding.ErrConfig)
	}
	if c.Full.Storage != "" && c.Full.Storage != embedding.StorageFP32 {
		return c, fmt.Errorf("%s table: storage %q: pruned tables train in fp32: %w", c.Kind, c.Full.Storage, embedding.ErrConfig)
	}
	if c.Full.FieldDims != nil {
		return c, fmt.Errorf("%s table: per-field dims: pruning keeps single values instead: %w", c.Kind, embedding.ErrConfig)
	}
	return c, nil
}

// Table is a pruned table in training: a full table, the mask of its
// pruned values and (PEP, while it searches) the thresholds. It
// implements embedding.TrainTable, embedding.Describer and
// embedding.Scheduled.
type Table struct {
	cfg  Config
	full *embedding.Full
	// rows are the full table's one row set; mask has a bit per value:
	// pruned.
	rows   *embedding.Rows
	mask   []uint64
	pruned int64
	// step is the next step (SetStep); done is set once the budget is
	// met for good (DeepLight's ramp ended, PEP's mask fixed).
	step int64
	done bool
	// PEP's search: the thresholds (one per value) and the soft-threshold
	// engine over the values and them.
	thr    *embedding.Rows
	search *embedding.Planned
	keys   []embedding.Key
	// AutoSrh's search: each row's frequency group (nil once the search
	// ended) and the groups' per-dimension weights.
	srh *srhSearch
	sz  *sizer // pruneTo's and thresholdedBytes' histograms
}

// New returns a fresh table over vocab (per field, the training ids) for
// c; c.Full.Rows is set from vocab. AutoSrh needs counts (per field, the
// ids' training counts, as vocab) for its frequency groups; the others
// ignore them.
func New(vocab [][]uint64, counts [][]uint32, c Config) (*Table, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	full, err := embedding.NewFull(vocab, c.Full)
	if err != nil {
		return nil, fmt.Errorf("%s table: %w", c.Kind, err)
	}
	c.Full = full.Config()
	t, err := wrap(c, full)
	if err != nil {
		return nil, err
	}
	// Every training id owns a row, so the rows for unseen ids never
	// train: they are pruned from the start, and unseen ids read zeros
	// (as ids pruned whole do when served).
	d := c.Full.Dim
	for f := range t.Fields() {
		at := t.rowOffset(f) + len(full.Vocab(f))*d
		for j := at; j < at+d; j++ {
			t.rows.Params()[j] = 0
			t.setMask(j)
		}
	}
	switch c.Kind {
	case PEP:
		if err := t.startSearch(); err != nil {
			return nil, err
		}
	case AutoSrh:
		if len(counts) != len(vocab) {
			return nil, fmt.Errorf("autosrh table: counts of %d fields for %d: %w", len(counts), len(vocab), embedding.ErrConfig)
		}
		groups, err := frequencyGroups(vocab, counts, c.Groups)
		if err != nil {
			return nil, err
		}
		t.srh = newSRHSearch(groups, c.Groups, d)
	}
	if c.Retrain != "" {
		kept, err := keptMask(c.Retrain, d)
		if err != nil {
			return nil, fmt.Errorf("%s table: %w", c.Kind, err)
		}
		if err := t.restrict(kept); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// wrap returns a table of c over full with an empty mask.
func wrap(c Config, full *embedding.Full) (*Table, error) {
	sets := full.RowSets()
	if len(sets) != 1 || full.Dim() != c.Full.Dim {
		return nil, fmt.Errorf("%s table: full table of %d row sets at dim %d: %w", c.Kind, len(sets), full.Dim(), embedding.ErrConfig)
	}
	n := int64(sets[0].Len()) * int64(c.Full.Dim)
	return &Table{cfg: c, full: full, rows: sets[0], mask: make([]uint64, (n+63)/64)}, nil
}

// rowOffset returns the index of field f's first value in the rows.
func (t *Table) rowOffset(f int) int {
	off := 0
	for g := range f {
		off += len(t.full.Vocab(g)) + 1
	}
	return off * t.cfg.Full.Dim
}

// setMask masks value j (counting it when new).
func (t *Table) setMask(j int) {
	if t.mask[j/64]&(1<<(j%64)) == 0 {
		t.mask[j/64] |= 1 << (j % 64)
		t.pruned++
	}
}

// startSearch builds PEP's thresholds at ThresholdInit and the
// soft-threshold engine.
func (t *Table) startSearch() error {
	d := t.cfg.Full.Dim
	thr, err := embedding.NewRowsWithStorage(t.rows.Len(), d, t.cfg.Full.Optimizer, embedding.Storage{Seed: hashing.FieldSalt(t.cfg.Full.Seed, 1)})
	if err != nil {
		return fmt.Errorf("pep table: thresholds: %w", err)
	}
	thr.Fill(0, thr.Len(), t.cfg.ThresholdInit)
	fp := t.full.Plan()
	p := &embedding.Plan{Dim: d, Sets: []embedding.SetShape{fp.Sets[0], {Rows: thr.Len(), Width: d}}}
	for f := range fp.Fields {
		keys := fp.Fields[f].Keys
		p.Fields = append(p.Fields, embedding.FieldPlan{NumKeys: 2, Combine: embedding.ComputeVector, Width: d, Used: d,
			Computer: soft{d: d},
			Keys: func(dst []embedding.Key, id uint64) []embedding.Key {
				dst = keys(dst, id)
				k := dst[len(dst)-1]
				return append(dst, embedding.Key{Set: 1, Row: k.Row})
			}})
	}
	search, err := embedding.NewPlanned(p, []*embedding.Rows{t.rows, thr})
	if err != nil {
		return fmt.Errorf("pep table: %w", err)
	}
	search.SetThreads(t.full.Threads())
	t.thr, t.search = thr, search
	return nil
}

// soft is PEP's reparameterised vector: rows are the id's values v then
// its thresholds s; out_j = sign(v_j)·max(|v_j| − sigmoid(s_j), 0).
type soft struct{ d int }

// sigmoid is 1/(1+e^-x) in float32 through exp32: every use (the vector,
// its gradient, the budget checks, the mask) computes the same floats.
func sigmoid(x float32) float32 { return 1 / (1 + exp32(-x)) }

// exp32 is e^x in float32 to about 2 ulp: x = n·ln2 + r, |r| <= ln2/2, a
// degree-6 polynomial for e^r, scaled by 2^n through the exponent bits
// (0 below -87, +Inf above 88). It is several times faster than
// math.Exp, which PEP's thresholds call per value per step.
func exp32(x float32) float32 {
	switch {
	case x < -87:
		return 0
	case x > 88:
		return float32(math.Inf(1))
	case x != x:
		return x
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// Compute writes the thresholded vector.
func (k soft) Compute(_ uint64, rows, out []float32) {
	v, s := rows[:k.d], rows[k.d:2*k.d]
	for j, x := range v {
		out[j] = shrink(x, sigmoid(s[j]))
	}
}

func shrink(x, th float32) float32 {
	switch {
	case x > th:
		return x - th
	case x < -th:
		return x + th
	}
	return 0
}

// Backward writes the gradients of v (dout where |v| passes) and of s
// (−sign(v)·dout·sigmoid'(s) there).
func (k soft) Backward(_ uint64, rows, dout, drows []float32) {
	v, s := rows[:k.d], rows[k.d:2*k.d]
	dv, ds := drows[:k.d], drows[k.d:2*k.d]
	for j, x := range v {
		th := sigmoid(s[j])
		switch {
		case x > th:
			dv[j], ds[j] = dout[j], -dout[j]*th*(1-th)
		case x < -th:
			dv[j], ds[j] = dout[j], dout[j]*th*(1-th)
		default:
			dv[j], ds[j] = 0, 0
		}
	}
}

// Fields returns the number of fields.
func (t *Table) Fields() int { return t.full.Fields() }

// Dim returns the floats per vector.
func (t *Table) Dim() int { return t.full.Dim() }

// Lookup writes the vectors of ids: the thresholded values while PEP
// searches, else the full table's rows (pruned values are zero).
func (t *Table) Lookup(ids []uint64, out []float32) { t.lookup(ids, nil, out) }

// LookupFields is Lookup for ids in the given fields (see
// [embedding.FieldTrainable]).
func (t *Table) LookupFields(ids []uint64, fields []int, out []float32) {
	embedding.CheckFields("prune: LookupFields", ids, fields, len(out), t.Dim(), t.Fields())
	t.lookup(ids, fields, out)
}

// Apply updates the rows of ids and keeps pruned values at zero.
func (t *Table) Apply(ids []uint64, grads []float32) { t.apply(ids, nil, grads) }

// ApplyFields is Apply for ids in the given fields.
func (t *Table) ApplyFields(ids []uint64, fields []int, grads []float32) {
	embedding.CheckFields("prune: ApplyFields", ids, fields, len(grads), t.Dim(), t.Fields())
	t.apply(ids, fields, grads)
}

// lookup and apply take fields nil for whole examples.
func (t *Table) lookup(ids []uint64, fields []int, out []float32) {
	if t.search != nil {
		planned(t.search, ids, fields, out, false)
		return
	}
	planned(t.full.Planned, ids, fields, out, false)
	if t.srh != nil {
		t.srh.scale(t, ids, fields, out)
	}
}

func (t *Table) apply(ids []uint64, fields []int, grads []float32) {
	if t.search != nil {
		planned(t.search, ids, fields, grads, true)
		return
	}
	if t.srh != nil {
		t.srh.apply(t, ids, fields, grads)
		return
	}
	planned(t.full.Planned, ids, fields, grads, true)
	if t.pruned == 0 {
		return
	}
	d := t.cfg.Full.Dim
	vals := t.rows.Params()
	nf := t.Fields()
	plan := t.full.Plan()
	for i, id := range ids {
		t.keys = plan.Fields[embedding.FieldOf(fields, i, nf)].Keys(t.keys[:0], id)
		at := int(t.keys[0].Row) * d
		for j := at; j < at+d; j++ {
			if t.mask[j/64]&(1<<(j%64)) != 0 {
				vals[j] = 0
			}
		}
	}
}

// planned runs p's Lookup (or Apply, with train) on whole examples
// (fields nil) or on ids in fields.
func planned(p *embedding.Planned, ids []uint64, fields []int, v []float32, train bool) {
	switch {
	case fields == nil && train:
		p.Apply(ids, v)
	case fields == nil:
		p.Lookup(ids, v)
	case train:
		p.ApplyFields(ids, fields, v)
	default:
		p.LookupFields(ids, fields, v)
	}
}

// SetThreads sets the threads of lookups and updates.
func (t *Table) SetThreads(n int) {
	t.full.SetThreads(n)
	if t.search != nil {
		t.search.SetThreads(n)
	}
}

// Bytes reports the training memory: the full table, the mask, and PEP's
// thresholds (AutoSrh's groups) while it searches.
func (t *Table) Bytes() embedding.Bytes {
	b := t.full.Bytes()
	b.Index += 8 * int64(len(t.mask))
	if t.thr != nil {
		tb := t.thr.Bytes()
		b.Params += tb.Params
		b.Optimizer += tb.Optimizer
	}
	if t.srh != nil {
		b.Params += 4 * int64(len(t.srh.alpha))
		b.Index += int64(len(t.srh.group))
	}
	return b
}

// Pruned returns the values pruned so far and the table's values.
func (t *Table) Pruned() (pruned, values int64) {
	return t.pruned, int64(t.rows.Len()) * int64(t.cfg.Full.Dim)
}

// SetStep runs the schedule before step step of total: DeepLight prunes
// to the schedule's share every PruneEvery steps until Ramp·total; PEP
// checks whether its thresholded vectors fit the budget and fixes the
// mask when they do or at Ramp·total.
func (t *Table) SetStep(step, total int64) {
	t.step = step
	if t.done {
		return
	}
	end := max(1, int64(math.Ceil(t.cfg.Ramp*float64(total))))
	last := step+1 >= end
	if !last && (step+1)%int64(t.cfg.PruneEvery) != 0 {
		return
	}
	switch t.cfg.Kind {
	case DeepLight:
		frac := min(1, float64(step+1)/float64(end))
		t.pruneTo(t.schedule(frac))
		t.done = last
	case PEP:
		if last || t.thresholdedBytes() <= t.cfg.Budget {
			t.fixMask()
		}
	case AutoSrh:
		if last {
			t.srh.bake(t)
			t.srh = nil
			t.pruneTo(t.cfg.Budget)
			t.done = true
		}
	}
}

// schedule returns the byte target at share frac of the ramp: from the
// full table's serving bytes to the budget on the cubic
// 1 − (1 − frac)³ of Zhu and Gupta.
func (t *Table) schedule(frac float64) int64 {
	full := t.denseBytes()
	if full <= t.cfg.Budget {
		return t.cfg.Budget
	}
	k := 1 - math.Pow(1-frac, 3)
	return full - int64(k*float64(full-t.cfg.Budget))
}

// denseBytes is the full table's serving bytes: every id's row at dim
// floats and its index entry.
func (t *Table) denseBytes() int64 {
	var ids int64
	for f := range t.Fields() {
		ids += int64(len(t.full.Vocab(f)))
	}
	return (4*int64(t.cfg.Full.Dim) + embedding.IndexBytesPerID) * ids
}

// fieldRows returns each field's vocabulary and rows.
func (t *Table) fieldRows() ([][]uint64, [][]float32) {
	nf := t.Fields()
	vocab, params := make([][]uint64, nf), make([][]float32, nf)
	for f := range nf {
		vocab[f], params[f] = t.full.Vocab(f), t.full.Params(f)
	}
	return vocab, params
}

// newSizer returns the table's sizer, cleared (one per table: its
// histograms are 768 KiB).
func (t *Table) newSizer() *sizer {
	if t.sz == nil {
		t.sz = &sizer{}
	}
	*t.sz = sizer{dim: t.cfg.Full.Dim}
	return t.sz
}

// pruneTo prunes the smallest values until the sparse form fits target
// bytes.
func (t *Table) pruneTo(target int64) {
	z := t.newSizer()
	z.addTable(t.fieldRows())
	th, _ := z.cut(target)
	vals := t.rows.Params()
	for j, v := range vals {
		if v != 0 && !(abs(v) >= th) {
			vals[j] = 0
		}
		if vals[j] == 0 {
			t.setMask(j)
		}
	}
}

func abs(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// thresholdedBytes is the sparse form's bytes of PEP's current vectors.
func (t *Table) thresholdedBytes() int64 {
	d := t.cfg.Full.Dim
	vocab, params := t.fieldRows()
	th := t.thr.Params()
	z := t.newSizer()
	row := make([]float32, d)
	at := 0
	for f, ids := range vocab {
		for i := 0; i <= len(ids); i++ {
			if i < len(ids) {
				for j := range row {
					row[j] = shrink(params[f][i*d+j], sigmoid(th[at+j]))
				}
				z.add(row)
			}
			at += d
		}
	}
	_, b := z.cut(math.MaxInt64)
	return b
}

// fixMask ends PEP's search: the values become the thresholded vectors,
// any excess over the budget is cut by magnitude, the zeros are masked,
// and the thresholds go.
func (t *Table) fixMask() {
	vals := t.rows.Params()
	th := t.thr.Params()
	for j, v := range vals {
		vals[j] = shrink(v, sigmoid(th[j]))
	}
	t.thr, t.search = nil, nil
	t.pruneTo(t.cfg.Budget)
	t.done = true
}

// Describe records the sparse form for an artifact: the rows' nonzero
// values by class, and the vocabulary of the ids that kept one.
func (t *Table) Describe() (embedding.Description, error) {
	if t.search != nil || t.srh != nil {
		return embedding.Description{}, fmt.Errorf("%s table: still searching (its mask is fixed at %g of the run): %w", t.cfg.Kind, t.cfg.Ramp, embedding.ErrConfig)
	}
	vocab, params := t.fieldRows()
	e := encode(t.cfg.Full.Dim, vocab, params)
	js, err := json.Marshal(e.cfg)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("%s table: encode config: %w", t.cfg.Kind, err)
	}
	index, err := embedding.NewIndex(e.index)
	if err != nil {
		return embedding.Description{}, fmt.Errorf("%s table: %w", t.cfg.Kind, err)
	}
	p, err := e.cfg.plan(index)
	if err != nil {
		return embedding.Description{}, err
	}
	d := embedding.Description{Method: t.cfg.Kind, Config: js, Plan: p, Index: e.index, SetWidths: make([]int, len(p.Sets))}
	for s, sh := range p.Sets {
		r, err := embedding.NewRows(sh.Rows, sh.Width, embedding.Optimizer{Name: embedding.SGD, LR: 1})
		if err != nil {
			return embedding.Description{}, fmt.Errorf("%s table: row set %d: %w", t.cfg.Kind, s, err)
		}
		r.WriteRows(0, e.sets[s])
		d.Sets = append(d.Sets, r)
		d.SetWidths[s] = sh.Width
		d.Width = max(d.Width, sh.Width)
	}
	return d, nil
}

// ServingBytes returns the bytes the sparse form of the table now takes
// (as [Sparse.ServingBytes] of what Describe writes).
func (t *Table) ServingBytes() int64 {
	d := t.cfg.Full.Dim
	mw := int64(embedding.MaskWords(d))
	b := 4 * mw
	vocab, params := t.fieldRows()
	for f, ids := range vocab {
		for i := range ids {
			k := int64(0)
			for _, v := range params[f][i*d : (i+1)*d] {
				if v != 0 {
					k++
				}
			}
			if k > 0 {
				b += 4*(mw+k) + embedding.IndexBytesPerID
			}
		}
	}
	return b
}

var (
	_ embedding.TrainTable     = (*Table)(nil)
	_ embedding.FieldTrainable = (*Table)(nil)
	_ embedding.Describer      = (*Table)(nil)
	_ embedding.Scheduled      = (*Table)(nil)
	_ embedding.GradComputer   = soft{}
)
