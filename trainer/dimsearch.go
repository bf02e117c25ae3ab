package trainer

// The dimension-search phase of a run (Config.DimSearch): it trains the
// search model on the training split minus a validation hold-out, searches
// per-field dimensions with package dimsearch, and returns the plan the
// run then trains with from scratch.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/metrics"
	"github.com/embtab/embtab/progress"
)

// PlanFile is the name of the plan a search writes in Config.Out.
const PlanFile = "dimplan.json"

// gradienter is a dense net that can compute gradients without updating
// itself (densenet.Net): DNIS's validation steps and ALPT's second pass
// need it.
type gradienter interface {
	Gradient(dense, emb, labels []float32, batch int, dEmb []float32) (float32, error)
}

// valSet is the search's validation hold-out, in memory: ids, transformed
// dense features and labels of n rows.
type valSet struct {
	n      int
	ids    []uint64
	dense  []float32
	labels []float32
	// lastOrd is the position of the last held-out row: rows after it
	// that hash into the hold-out train instead (MaxValRows was reached).
	lastOrd int64
}

// holdOut reports whether the training row at position ord belongs to
// the validation hold-out (a fixed hash of the position, so every epoch
// agrees).
func holdOut(ord int64, frac float64) bool {
	x := uint64(ord) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11)/(1<<53) < frac
}

// searchRun is the state shared by the search phases.
type searchRun struct {
	ctx    context.Context
	cfg    *Config
	sc     SearchConfig
	sp     *split
	onErr  datasets.OnError
	vocab  *vocabulary
	schema *datasets.Schema
	bar    *progress.Bar
	log    *slog.Logger
	nf, nd int
	budget int64
}

// trainBatches opens the training split for the search.
func (r *searchRun) trainBatches() (datasets.BatchReader, error) {
	return openBatches(r.cfg, r.cfg.Format, r.cfg.Data, datasets.BatchOptions{
		BatchSize: r.cfg.Batch, HashSeed: r.cfg.HashSeed, OnError: r.onErr, Filter: r.sp.trainFilter,
		Skip: r.sp.trainSkip, Limit: r.sp.trainLimit,
	})
}

// collectVal reads the training split once and keeps its hold-out rows.
func (r *searchRun) collectVal() (*valSet, error) {
	src, err := r.trainBatches()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	v := &valSet{lastOrd: math.MaxInt64}
	for v.n < r.sc.MaxValRows {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		for i := range b.Rows {
			ord := b.FirstRow + int64(i)
			if !holdOut(ord, r.sc.ValFraction) {
				continue
			}
			v.ids = append(v.ids, b.IDs[i*r.nf:(i+1)*r.nf]...)
			v.dense = append(v.dense, b.Dense[i*r.nd:(i+1)*r.nd]...)
			v.labels = append(v.labels, b.Labels[i])
			v.n++
			if v.n == r.sc.MaxValRows {
				v.lastOrd = ord
				break
			}
		}
		src.Release(b)
	}
	if v.n == 0 {
		return nil, fmt.Errorf("dimension search: no validation rows (--search-val-fraction %g of %d training rows)", r.sc.ValFraction, r.sp.trainRows)
	}
	datasets.TransformDense(v.dense)
	return v, nil
}

// trainEpochs runs the search's training epochs over the training split
// minus the hold-out, calling step on every batch of training rows.
func (r *searchRun) trainEpochs(val *valSet, phase string, step func(b *datasets.Batch) (float32, error)) error {
	sub := &datasets.Batch{}
	for epoch := range r.sc.Epochs {
		r.bar.Label(fmt.Sprintf("search %s %d/%d", phase, epoch+1, r.sc.Epochs))
		r.bar.SetTotal(r.sp.trainRows)
		src, err := r.trainBatches()
		if err != nil {
			return err
		}
		var rows int64
		var lossSum float64
		var lossN int
		for {
			if err := r.ctx.Err(); err != nil {
				src.Close()
				return err
			}
			b, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				src.Close()
				return err
			}
			r.subBatch(b, val, sub)
			rows += int64(b.Rows)
			src.Release(b)
			if sub.Rows == 0 {
				continue
			}
			loss, err := step(sub)
			if err != nil {
				src.Close()
				return fmt.Errorf("dimension search (%s) epoch %d: %w", phase, epoch+1, err)
			}
			if math.IsNaN(float64(loss)) {
				src.Close()
				return fmt.Errorf("dimension search (%s) epoch %d: loss is NaN (lower --lr or --emb-lr)", phase, epoch+1)
			}
			lossSum += float64(loss) * float64(sub.Rows)
			lossN += sub.Rows
			r.bar.Set(rows)
			r.bar.Detail(fmt.Sprintf("loss %.4f", lossSum/float64(max(lossN, 1))))
		}
		src.Close()
		r.log.Info("search epoch", "phase", phase, "epoch", epoch+1, "train_logloss", lossSum/float64(max(lossN, 1)))
	}
	return nil
}

// subBatch copies the rows of b that are not held out into dst.
func (r *searchRun) subBatch(b *datasets.Batch, val *valSet, dst *datasets.Batch) {
	dst.Rows = 0
	dst.Labels, dst.Dense, dst.IDs = dst.Labels[:0], dst.Dense[:0], dst.IDs[:0]
	for i := range b.Rows {
		ord := b.FirstRow + int64(i)
		if ord <= val.lastOrd && holdOut(ord, r.sc.ValFraction) {
			continue
		}
		dst.Labels = append(dst.Labels, b.Labels[i])
		dst.Dense = append(dst.Dense, b.Dense[i*r.nd:(i+1)*r.nd]...)
		dst.IDs = append(dst.IDs, b.IDs[i*r.nf:(i+1)*r.nf]...)
		dst.Rows++
	}
}

// searchModel builds the search's table (full, fp32, every field at Dim)
// and dense net.
func (r *searchRun) searchModel(initScale float32) (trainTable, trainNet, error) {
	tc := *r.cfg
	tc.Table, tc.MemoryBudget, tc.Storage, tc.TableConfig, tc.Chunks = embedding.MethodFull, 0, "", "", 0
	table, err := newTableInit(&tc, r.vocab, nil, initScale)
	if err != nil {
		return nil, nil, fmt.Errorf("dimension search: %w", err)
	}
	net, _, err := newNet(&tc, ModelConfig{Name: tc.Model, NumDense: r.nd, Fields: r.nf, Dim: tc.Dim, LR: tc.LR, Seed: tc.Seed, FMScale: tc.FMScale})
	if err != nil {
		return nil, nil, fmt.Errorf("dimension search: %w", err)
	}
	return table, net, nil
}

// valAUC predicts the hold-out with the vectors emb (val.n·F·Dim floats,
// already masked) and returns the AUC.
func (r *searchRun) valAUC(net trainNet, val *valSet, emb []float32, probs []float32) (float64, error) {
	F, D, B := r.nf, r.cfg.Dim, r.cfg.Batch
	for lo := 0; lo < val.n; lo += B {
		hi := min(lo+B, val.n)
		if err := net.Predict(val.dense[lo*r.nd:hi*r.nd], emb[lo*F*D:hi*F*D], hi-lo, probs[lo:hi]); err != nil {
			return 0, err
		}
	}
	return metrics.AUC(probs[:val.n], val.labels)
}

// lookupVal gathers the hold-out's vectors from table.
func lookupVal(table embedding.Table, val *valSet, threads int) []float32 {
	F, D := table.Fields(), table.Dim()
	emb := make([]float32, val.n*F*D)
	parallelRows(val.n, threads, func(lo, hi int) {
		table.Lookup(val.ids[lo*F:hi*F], emb[lo*F*D:hi*F*D])
	})
	return emb
}

// runDimSearch runs cfg.DimSearch and returns its plan.
func runDimSearch(ctx context.Context, cfg *Config, sp *split, onErr datasets.OnError, vocab *vocabulary,
	schema *datasets.Schema, bar *progress.Bar, log *slog.Logger) (*dimsearch.Plan, error) {
	start := time.Now()
	r := &searchRun{ctx: ctx, cfg: cfg, sc: cfg.Search.withDefaults(cfg.Epochs), sp: sp, onErr: onErr, vocab: vocab,
		schema: schema, bar: bar, log: log, nf: schema.NumCat(), nd: schema.NumDense(), budget: cfg.MemoryBudget}
	card := vocab.cardinalities()
	plan := &dimsearch.Plan{Method: cfg.DimSearch, BaseDim: cfg.Dim, Budget: r.budget, Fields: make([]dimsearch.FieldPlan, r.nf)}
	for f := range plan.Fields {
		plan.Fields[f] = dimsearch.FieldPlan{Name: schema.Categorical[f], Cardinality: card[f], KeptRows: card[f]}
	}
	// Budgets no plan can meet fail before any training: dimension 1 in
	// every row (DNIS, uniform), or every row pruned to its field's OOV row
	// at dimension 1 (OptEmbed).
	ones := make([]int, r.nf)
	for f := range ones {
		ones[f] = 1
	}
	least := dimsearch.Cost(card, ones)
	if cfg.DimSearch == dimsearch.MethodOptEmbed {
		least = dimsearch.Cost(make([]int64, r.nf), ones)
	}
	if least > r.budget {
		return nil, fmt.Errorf("%s: the smallest plan costs %d bytes, budget %d: %w", cfg.DimSearch, least, r.budget, dimsearch.ErrBudget)
	}
	var err error
	switch cfg.DimSearch {
	case dimsearch.MethodUniform:
		err = r.uniform(plan, card)
	case dimsearch.MethodOptEmbed:
		err = r.optEmbed(plan)
	case dimsearch.MethodDNIS:
		err = r.dnis(plan, card)
	case dimsearch.MethodAutoDim:
		err = r.autoDim(plan, card)
	default:
		err = fmt.Errorf("--dim-search %q: want optembed, dnis, autodim or uniform", cfg.DimSearch)
	}
	if err != nil {
		return nil, err
	}
	plan.SearchSeconds = time.Since(start).Seconds()
	return plan, nil
}

// uniform picks the largest dimension every field can have within the
// budget: the baseline the searches are compared with at equal bytes.
func (r *searchRun) uniform(plan *dimsearch.Plan, card []int64) error {
	dims := make([]int, r.nf)
	for u := r.cfg.Dim; u >= 1; u-- {
		for f := range dims {
			dims[f] = u
		}
		if dimsearch.Cost(card, dims) <= r.budget {
			for f := range plan.Fields {
				plan.Fields[f].Dim = u
			}
			return nil
		}
	}
	return fmt.Errorf("uniform dimensions: dim 1 costs %d bytes, budget %d: %w", dimsearch.Cost(card, dims), r.budget, dimsearch.ErrBudget)
}

// supernetInit is the init half-width of OptEmbed's supernet table (see
// SearchConfig.InitScale): Xavier's bound over the table's rows by
// default, 0 (the table's default) when the search asks for it.
func (r *searchRun) supernetInit() float32 {
	switch s := r.sc.InitScale; {
	case s > 0:
		return float32(s)
	case s < 0:
		return 0
	}
	rows := int64(0)
	for _, ids := range r.vocab.ids {
		rows += int64(len(ids)) + 1
	}
	return float32(math.Sqrt(6 / float64(rows+int64(r.cfg.Dim))))
}

// optEmbed trains the supernet (row-pruning thresholds and sampled
// dimensions), prunes the rows, and runs the evolutionary search.
func (r *searchRun) optEmbed(plan *dimsearch.Plan) error {
	val, err := r.collectVal()
	if err != nil {
		return err
	}
	table, net, err := r.searchModel(r.supernetInit())
	if err != nil {
		return err
	}
	defer net.Close()
	sn, err := dimsearch.NewSupernet(dimsearch.SupernetConfig{Fields: r.nf, Dim: r.cfg.Dim,
		ThresholdLR: r.sc.ThresholdLR, PruneReg: r.sc.PruneReg, Seed: r.cfg.Seed})
	if err != nil {
		return err
	}
	st := newStepper(table, net, r.schema, r.cfg.Threads)
	err = r.trainEpochs(val, "optembed supernet", func(b *datasets.Batch) (float32, error) {
		st.prepare(b)
		sn.Forward(st.emb, b.Rows)
		st.dEmb = growF(st.dEmb, len(st.emb))
		loss, err := net.ForwardBackward(st.dense, st.emb, b.Labels, b.Rows, st.dEmb)
		if err != nil {
			return 0, err
		}
		sn.Backward(st.dEmb, b.Rows)
		table.Apply(b.IDs, st.dEmb)
		return loss, nil
	})
	if err != nil {
		return err
	}
	// Row pruning: keep the rows whose L1 norm passes their field's
	// threshold.
	full, ok := table.(*embedding.Full)
	if !ok {
		return fmt.Errorf("dimension search: search table is %T, want *embedding.Full", table)
	}
	th := sn.Thresholds()
	D := r.cfg.Dim
	kept := make([]int64, r.nf)
	plan.Kept = make([][]uint64, r.nf)
	for f := range r.nf {
		vocab, rows := full.Vocab(f), full.Params(f)
		var ids []uint64
		for i, id := range vocab {
			if sn.Kept(f, rows[i*D:(i+1)*D]) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		kept[f] = int64(len(ids))
		if len(ids) < len(vocab) {
			plan.Kept[f] = ids
			if ids == nil {
				plan.Kept[f] = []uint64{}
			}
		}
		plan.Fields[f].KeptRows, plan.Fields[f].Threshold = kept[f], th[f]
	}
	r.log.Info("optembed rows kept", "kept", kept, "thresholds", th)
	// Evolutionary search over the dimensions, fitness = hold-out AUC.
	base := lookupVal(table, val, r.cfg.Threads)
	emb := make([]float32, len(base))
	probs := make([]float32, val.n)
	ec := dimsearch.EvolveConfig{Population: r.sc.Population, Generations: r.sc.Generations, Seed: r.cfg.Seed}
	ecd := dimsearch.DefaultEvolve()
	gens := r.sc.Generations
	if gens == 0 {
		gens = ecd.Generations
	}
	pop := r.sc.Population
	if pop == 0 {
		pop = ecd.Population
	}
	r.bar.Label("search evolution")
	r.bar.SetTotal(int64(pop + gens*max(1, pop/4)*2)) // candidates, about
	r.bar.Set(0)
	evals := 0
	res, err := dimsearch.Evolve(ec, r.nf, D, r.budget,
		func(d []int) int64 { return dimsearch.Cost(kept, d) },
		func(d []int) (float64, error) {
			copy(emb, base)
			sn.Mask(emb, val.n, d)
			evals++
			r.bar.Set(int64(evals))
			return r.valAUC(net, val, emb, probs)
		})
	if err != nil {
		return fmt.Errorf("optembed: %w", err)
	}
	for f, d := range res.Best.Dims {
		plan.Fields[f].Dim = d
	}
	plan.ValAUC, plan.Evaluated = res.Best.Fitness, res.Evaluated
	r.log.Info("optembed search", "dims", res.Best.Dims, "val_auc", res.Best.Fitness, "evaluated", res.Evaluated, "best_by_generation", res.History)
	return nil
}

// selector is a search layer between the lookup and the dense net whose
// own weights learn on hold-out batches: DNIS's soft selection and
// AutoDim's mixer.
type selector interface {
	Forward(emb []float32, batch int)
	Backward(dEmb []float32, batch int)
	Update(dEmb []float32, batch int)
}

// trainBiLevel trains table and net on the search's training batches
// through sel (its weights fixed), and sel's weights on one hold-out batch
// every SelectEvery steps (the validation loss's gradient, the net not
// updated): the bi-level scheme of DNIS and AutoDim. before, when not nil,
// is called with the step number before each training step.
func (r *searchRun) trainBiLevel(phase string, table trainTable, net trainNet, gn gradienter, val *valSet, sel selector, before func(step int)) error {
	D, F, B := r.cfg.Dim, r.nf, r.cfg.Batch
	st := newStepper(table, net, r.schema, r.cfg.Threads)
	vEmb, vGrad := make([]float32, B*F*D), make([]float32, B*F*D)
	var vPos, steps int
	return r.trainEpochs(val, phase, func(b *datasets.Batch) (float32, error) {
		if before != nil {
			before(steps)
		}
		st.prepare(b)
		sel.Forward(st.emb, b.Rows)
		st.dEmb = growF(st.dEmb, len(st.emb))
		loss, err := net.ForwardBackward(st.dense, st.emb, b.Labels, b.Rows, st.dEmb)
		if err != nil {
			return 0, err
		}
		sel.Backward(st.dEmb, b.Rows)
		table.Apply(b.IDs, st.dEmb)
		if steps++; steps%r.sc.SelectEvery == 0 {
			lo := vPos
			hi := min(lo+B, val.n)
			n := hi - lo
			table.Lookup(val.ids[lo*F:hi*F], vEmb[:n*F*D])
			sel.Forward(vEmb[:n*F*D], n)
			if _, err := gn.Gradient(val.dense[lo*r.nd:hi*r.nd], vEmb[:n*F*D], val.labels[lo:hi], n, vGrad[:n*F*D]); err != nil {
				return 0, err
			}
			sel.Update(vGrad[:n*F*D], n)
			if vPos = hi; vPos >= val.n {
				vPos = 0
			}
		}
		return loss, nil
	})
}

// dnis trains the model with a soft selection layer whose weights learn
// on hold-out batches, then cuts the weakest (field, dimension) pairs to
// the budget.
func (r *searchRun) dnis(plan *dimsearch.Plan, card []int64) error {
	table, net, err := r.searchModel(0)
	if err != nil {
		return err
	}
	defer net.Close()
	gn, ok := net.(gradienter)
	if !ok {
		return fmt.Errorf("dnis needs a dense net that computes gradients without updating (--dense native), not %T", net)
	}
	val, err := r.collectVal()
	if err != nil {
		return err
	}
	D, F := r.cfg.Dim, r.nf
	ss, err := dimsearch.NewSoftSelect(F, D, r.sc.SelectLR, r.sc.SelectL1)
	if err != nil {
		return err
	}
	if err := r.trainBiLevel("dnis", table, net, gn, val, ss, nil); err != nil {
		return err
	}
	imp := ss.Importance()
	dims, err := dimsearch.PruneByWeight(imp, card, D, r.budget)
	if err != nil {
		return fmt.Errorf("dnis: %w", err)
	}
	// Hold-out AUC of the pruned soft-selected model: each field keeps
	// its dims[f] most important dimensions, scaled by their weights.
	w := ss.Weights()
	keep := make([]float32, F*D)
	for f := range F {
		order := make([]int, D)
		for j := range order {
			order[j] = j
		}
		sort.SliceStable(order, func(a, b int) bool { return imp[f*D+order[a]] > imp[f*D+order[b]] })
		var wsum float32
		for _, j := range order[:dims[f]] {
			keep[f*D+j] = w[f*D+j]
			wsum += float32(math.Abs(float64(w[f*D+j])))
		}
		plan.Fields[f].Dim = dims[f]
		plan.Fields[f].Weight = wsum / float32(dims[f])
	}
	emb := lookupVal(table, val, r.cfg.Threads)
	for i := range emb {
		emb[i] *= keep[i%len(keep)]
	}
	auc, err := r.valAUC(net, val, emb, make([]float32, val.n))
	if err != nil {
		return err
	}
	plan.ValAUC = auc
	r.log.Info("dnis search", "dims", dims, "val_auc", auc)
	return nil
}

// autoDim trains the model through AutoDim's mixer of candidate
// dimensions, whose architecture weights learn on hold-out batches (the
// temperature annealed over the search), then takes each field's argmax,
// cut to the budget (dimsearch.DimMixer.FitBudget).
func (r *searchRun) autoDim(plan *dimsearch.Plan, card []int64) error {
	table, net, err := r.searchModel(0)
	if err != nil {
		return err
	}
	defer net.Close()
	gn, ok := net.(gradienter)
	if !ok {
		return fmt.Errorf("autodim needs a dense net that computes gradients without updating (--dense native), not %T", net)
	}
	val, err := r.collectVal()
	if err != nil {
		return err
	}
	D, F := r.cfg.Dim, r.nf
	mx, err := dimsearch.NewDimMixer(F, D, r.sc.SelectLR, r.cfg.Seed)
	if err != nil {
		return err
	}
	total := max(1, r.sc.Epochs*int(r.sp.trainRows/int64(r.cfg.Batch)))
	anneal := func(step int) { mx.SetProgress(float64(step) / float64(total)) }
	if err := r.trainBiLevel("autodim", table, net, gn, val, mx, anneal); err != nil {
		return err
	}
	dims, err := mx.FitBudget(card, r.budget)
	if err != nil {
		return err
	}
	for f := range plan.Fields {
		plan.Fields[f].Dim = dims[f]
	}
	// Hold-out AUC of the search model cut to the plan.
	emb := lookupVal(table, val, r.cfg.Threads)
	for i := range emb {
		if i%D >= dims[(i/D)%F] {
			emb[i] = 0
		}
	}
	auc, err := r.valAUC(net, val, emb, make([]float32, val.n))
	if err != nil {
		return err
	}
	plan.ValAUC = auc
	r.log.Info("autodim search", "argmax", mx.Choice(), "dims", dims, "alpha", mx.Alpha(), "val_auc", auc)
	return nil
}

// loadPlan reads cfg.DimPlan and checks it fits the data.
func loadPlan(path string, cfg *Config, schema *datasets.Schema) (*dimsearch.Plan, error) {
	p, err := dimsearch.ReadPlan(path)
	if err != nil {
		return nil, err
	}
	if err := checkPlan(p, cfg, schema); err != nil {
		return nil, fmt.Errorf("--dim-plan %s: %w", path, err)
	}
	return p, nil
}

// checkPlan checks a plan against the run's fields and dimension.
func checkPlan(p *dimsearch.Plan, cfg *Config, schema *datasets.Schema) error {
	if p.BaseDim != cfg.Dim {
		return fmt.Errorf("plan searched at dim %d, this run has --dim %d", p.BaseDim, cfg.Dim)
	}
	if len(p.Fields) != schema.NumCat() {
		return fmt.Errorf("plan has %d fields, the data %d", len(p.Fields), schema.NumCat())
	}
	for f, fp := range p.Fields {
		if fp.Name != schema.Categorical[f] {
			return fmt.Errorf("plan field %d is %q, the data's %q", f, fp.Name, schema.Categorical[f])
		}
	}
	return nil
}

// dimensionPlan returns the run's dimension plan: --dim-plan's, or the
// search's (reusing <Out>/dimplan.json when resuming a run whose search
// finished), or nil.
func dimensionPlan(ctx context.Context, cfg *Config, resume bool, sp *split, onErr datasets.OnError, vocab *vocabulary,
	schema *datasets.Schema, bar *progress.Bar, log *slog.Logger) (*dimsearch.Plan, error) {
	if cfg.DimPlan != "" {
		p, err := loadPlan(cfg.DimPlan, cfg, schema)
		if p != nil {
			p.SearchSeconds = 0 // not searched by this run
		}
		return p, err
	}
	if cfg.DimSearch == "" {
		return nil, nil
	}
	path := ""
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, fmt.Errorf("output directory: %w", err)
		}
		path = filepath.Join(cfg.Out, PlanFile)
		if resume {
			if _, err := os.Stat(path); err == nil {
				p, err := loadPlan(path, cfg, schema)
				if err != nil {
					return nil, err
				}
				if p.Method == cfg.DimSearch && p.Budget == cfg.MemoryBudget {
					log.Info("dimension plan reused", "path", path)
					p.SearchSeconds = 0 // not searched by this run
					return p, nil
				}
				log.Warn("dimension plan of another search, searching again", "path", path, "method", p.Method, "budget", p.Budget)
			}
		}
	}
	p, err := runDimSearch(ctx, cfg, sp, onErr, vocab, schema, bar, log)
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := dimsearch.WritePlan(path, p); err != nil {
			return nil, err
		}
	} else if err := dimsearch.FinishPlan(p); err != nil {
		return nil, err
	}
	log.Info("dimension plan", "method", p.Method, "dims", p.Dims(), "bytes", p.Bytes, "budget", p.Budget,
		"val_auc", p.ValAUC, "search_seconds", p.SearchSeconds)
	return p, nil
}
