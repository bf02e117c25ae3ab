package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/bytesize"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/densenet"
	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/metrics"
	"github.com/embtab/embtab/progress"
	"github.com/embtab/embtab/slots"
)

// Result summarises a training run; cmd/train prints it as JSON.
type Result struct {
	Model string `json:"model"`
	Table string `json:"table"`
	// Dense is the dense-net implementation that ran: "native" or "gomlx".
	Dense   string  `json:"dense"`
	Dim     int     `json:"dim"`
	TestAUC float64 `json:"test_auc"`
	// TestAUCSE is the test AUC's standard error (DeLong's variance) and
	// TestAUCCI its 95% interval [low, high]: TestAUC ∓ 1.96·TestAUCSE,
	// clipped to [0, 1] (metrics.AUCDeLong).
	TestAUCSE   float64    `json:"test_auc_se"`
	TestAUCCI   [2]float64 `json:"test_auc_ci"`
	TestLogLoss float64    `json:"test_logloss"`
	// ValidAUC, its SE and interval, ValidLogLoss and ValidRows are the
	// validation split's after the last epoch (0 without one: see
	// Config.ValidFraction).
	ValidAUC         float64    `json:"valid_auc,omitempty"`
	ValidAUCSE       float64    `json:"valid_auc_se,omitempty"`
	ValidAUCCI       [2]float64 `json:"valid_auc_ci"`
	ValidLogLoss     float64    `json:"valid_logloss,omitempty"`
	ValidRows        int64      `json:"valid_rows"`
	TrainLogLoss     float64    `json:"train_logloss"`
	TrainSamplesPerS float64    `json:"train_samples_per_s"`
	TrainSeconds     float64    `json:"train_seconds"`
	TrainRows        int64      `json:"train_rows"`
	TestRows         int64      `json:"test_rows"`
	Epochs           int        `json:"epochs"`
	Steps            int64      `json:"steps"`
	// EmbeddingBytes is the memory of the embedding parameters as stored
	// in training; OptimizerBytes their optimizer state; TrainIndexBytes
	// the training table's id maps (a full table's or a hybrid head's).
	EmbeddingBytes  int64 `json:"embedding_bytes"`
	OptimizerBytes  int64 `json:"optimizer_bytes"`
	TrainIndexBytes int64 `json:"train_index_bytes"`
	// IndexBytes is what the served artifact's index holds (the method's
	// indexed ids, embedding.IndexBytesPerID each), ServingBytes what the
	// served fp32 artifact holds in memory: its rows as stored plus the
	// index (plus what a method serves from its config, as dedup's remap:
	// the table's ConfigServingBytes). Budgets (--memory-budget) are in
	// these bytes.
	IndexBytes   int64 `json:"index_bytes"`
	ServingBytes int64 `json:"serving_bytes"`
	// FullTableBytes is the fp32 table with one row per distinct training
	// value (plus one OOV row per field) at the same dim, FullServingBytes
	// the same with its vocabulary: a full table's serving bytes;
	// CompressionRatio is FullServingBytes / ServingBytes.
	FullTableBytes   int64   `json:"full_table_bytes"`
	FullServingBytes int64   `json:"full_serving_bytes"`
	CompressionRatio float64 `json:"compression_ratio"`
	DistinctValues   int64   `json:"distinct_values"`
	EmbeddingRows    int64   `json:"embedding_rows"`
	Resumed          bool    `json:"resumed,omitempty"`
	// AlreadyComplete is set when a resume found the run finished: the
	// result is the stored result.json, which was left as it is.
	AlreadyComplete bool   `json:"already_complete,omitempty"`
	Seed            uint64 `json:"seed"`
	Threads         int    `json:"threads"`
	// Quantized holds the test quality after post-training quantization
	// with each of Config.EvalCodecs.
	Quantized []QuantResult `json:"quantized,omitempty"`
	// DimPlan is the dimension plan the table was built with (a search's
	// or --dim-plan's) and SearchSeconds the search's wall time.
	DimPlan       *dimsearch.Plan `json:"dim_plan,omitempty"`
	SearchSeconds float64         `json:"search_seconds,omitempty"`
	// PeakRSSBytes is the process's peak resident memory (Linux VmHWM).
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
}

// Options are the non-serialised parts of a run.
type Options struct {
	Logger *slog.Logger
	// Progress draws the progress bar (nil: none).
	Progress *progress.Bar
	// Resume continues from <Out>/checkpoint.bin when it exists.
	Resume bool
	// StopAfterSteps stops training (without evaluating) after that many
	// steps in this process, as a crash would; for tests of resume.
	StopAfterSteps int64
}

// ErrStopped is returned when Options.StopAfterSteps stopped the run.
var ErrStopped = errors.New("training stopped after the requested number of steps")

// split is the row ranges of the train and test data.
type split struct {
	trainSkip, trainLimit int64 // in Data
	testSkip, testLimit   int64 // in Data (self split) or TestData
	validSkip, validLimit int64 // in Data (held out) or ValidData
	trainFilter           func(*datasets.Record) bool
	testFilter            func(*datasets.Record) bool
	validFilter           func(*datasets.Record) bool
	trainRows, testRows   int64
	validRows             int64 // 0: no validation set
}

// evalPart is one evaluated part of the data: the rows of a file that
// pass filter, after skip, at most limit (0: to the end).
type evalPart struct {
	name, path, format string
	skip, limit        int64
	filter             func(*datasets.Record) bool
	rows               int64
}

// test returns the test part.
func (sp *split) test(cfg *Config) evalPart {
	p := evalPart{name: "test", path: cfg.Data, format: cfg.Format, skip: sp.testSkip, limit: sp.testLimit,
		filter: sp.testFilter, rows: sp.testRows}
	if cfg.TestData != "" {
		p.path, p.format = cfg.TestData, cfg.TestFormat
	}
	return p
}

// valid returns the validation part (rows 0 when there is none).
func (sp *split) valid(cfg *Config) evalPart {
	p := evalPart{name: "validation", path: cfg.Data, format: cfg.Format, skip: sp.validSkip, limit: sp.validLimit,
		filter: sp.validFilter, rows: sp.validRows}
	if cfg.ValidData != "" {
		p.path, p.format = cfg.ValidData, cfg.ValidFormat
	}
	return p
}

// Train runs cfg: the data pre-pass (scan), the table and net construction
// (build), the resume from a checkpoint (resume), the epochs with an
// evaluation after each (trainEpochs), the optional quantized evaluation,
// and the result and artifacts (finish).
func Train(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bar := opt.Progress
	if bar == nil {
		bar = progress.Disabled()
	}
	onErr, err := datasets.ParseOnError(cfg.OnError)
	if err != nil {
		return nil, err
	}

	r := &run{ctx: ctx, cfg: cfg, opt: opt, log: log, bar: bar, onErr: onErr}
	defer r.close()
	if err := r.scan(); err != nil {
		return nil, err
	}
	if err := r.build(); err != nil {
		return nil, err
	}
	if err := r.resume(); err != nil {
		return nil, err
	}
	if res, ok := r.complete(); ok {
		log.Info("run already complete", "out", cfg.Out, "steps", res.Steps)
		return res, nil
	}
	if err := r.trainEpochs(); err != nil {
		return nil, err
	}
	if err := r.evalQuantized(); err != nil {
		return nil, err
	}
	return r.finish()
}

// run is the state of one Train call, shared by its phases in the order
// Train calls them; each phase fills the fields the next ones read.
type run struct {
	ctx   context.Context
	cfg   Config
	opt   Options
	log   *slog.Logger
	bar   *progress.Bar
	onErr datasets.OnError

	// set by scan
	sp     *split
	vocab  *vocabulary
	schema *datasets.Schema
	plan   *dimsearch.Plan
	// set by build
	table trainTable
	net   trainNet
	dense string
	st    *stepper
	slots *slots.Layout // the bag fields' input slots (nil: none)
	// set by resume
	meta     *ckptMeta
	resumed  bool
	ckptPath string
	mlog     *jsonlWriter
	res      *Result
	// trainTime is the training time so far, this process's and the
	// checkpoint's; stepsThisRun the steps this process trained.
	trainTime    time.Duration
	stepsThisRun int64
}

// close releases the dense net and the metrics file.
func (r *run) close() {
	if r.mlog != nil {
		r.mlog.Close()
	}
	if r.net != nil {
		r.net.Close()
	}
}

// scan is the data pre-pass: the train/test split, the training split's
// vocabulary, the schema, the embedding learning rate that depends on the
// field count, and the dimension plan (searched or loaded).
func (r *run) scan() error {
	cfg := &r.cfg
	r.bar.Phase("scan", 0, "rows")
	sp, err := makeSplit(cfg, r.onErr)
	if err != nil {
		return err
	}
	vocab, err := scanVocabulary(r.ctx, cfg, sp, r.onErr, r.bar)
	if err != nil {
		return err
	}
	r.log.Info("data scanned", "train_rows", sp.trainRows, "valid_rows", sp.validRows, "test_rows", sp.testRows, "distinct_values", vocab.distinct())
	if sp.trainRows == 0 {
		return fmt.Errorf("%s: no training rows", cfg.Data)
	}
	schema, err := sourceSchema(cfg)
	if err != nil {
		return err
	}
	for _, other := range []struct{ what, format, path string }{
		{"--test-data", cfg.TestFormat, cfg.TestData}, {"--valid-data", cfg.ValidFormat, cfg.ValidData}} {
		if other.path == "" {
			continue
		}
		src, err := openBatches(cfg, other.format, other.path, datasets.BatchOptions{BatchSize: 1, Limit: 1})
		if err != nil {
			return err
		}
		os := src.Schema()
		src.Close()
		if !slices.Equal(os.Categorical, schema.Categorical) || !slices.Equal(os.Dense, schema.Dense) || !slices.Equal(os.Bags, schema.Bags) {
			return fmt.Errorf("%s %s has inputs %v %v bags %v, --data %v %v bags %v: they must match", other.what, other.path,
				os.Dense, os.Categorical, os.Bags, schema.Dense, schema.Categorical, schema.Bags)
		}
	}
	if cfg.Model == "dlrm" && schema.NumDense() == 0 {
		return fmt.Errorf("--model dlrm needs dense features (its bottom MLP reads them) and %s has none: use --model fm, deepfm, dcnv2, autoint, autoint+ or lr (or name integer columns with --dense-columns)", cfg.Data)
	}
	if cfg.FMScale == 0 && (cfg.Model == "fm" || cfg.Model == "deepfm") {
		cfg.FMScale = DefaultFMScale(schema.NumSlots())
	}
	if schema.NumBags() > 0 && (cfg.DimSearch != "" || cfg.DimPlan != "") {
		return fmt.Errorf("--dim-search and --dim-plan with bag fields (%s) are not supported: the searches train one value per field", bagNames(schema))
	}
	if cfg.DimSearch != "" {
		// The search trains a full table of dimension Dim first.
		full := *cfg
		full.Table, full.MemoryBudget = embedding.MethodFull, 0
		if err := checkMemory(&full, estimateMemory(&full, vocab, nil, ModelConfig{
			Name: cfg.Model, NumDense: schema.NumDense(), Fields: schema.NumCat(), Dim: cfg.Dim}),
		); err != nil {
			return fmt.Errorf("--dim-search: %w", err)
		}
	}
	plan, err := dimensionPlan(r.ctx, cfg, r.opt.Resume, sp, r.onErr, vocab, schema, r.bar, r.log)
	if err != nil {
		return err
	}
	r.sp, r.vocab, r.schema, r.plan = sp, vocab, schema, plan
	return nil
}

// build constructs the embedding table and the dense net, after checking
// that their estimated memory fits the machine's (checkMemory).
func (r *run) build() error {
	cfg := &r.cfg
	mc := ModelConfig{
		Name: cfg.Model, NumDense: r.schema.NumDense(), Fields: r.schema.NumSlots(), Dim: cfg.Dim,
		LR: cfg.LR, Seed: cfg.Seed, FMScale: cfg.FMScale,
	}
	l, target, err := bagLayout(r.schema, cfg)
	if err != nil {
		return err
	}
	if l != nil {
		mc.Fields, r.slots = l.Slots, l
		for _, b := range l.Bags {
			if b.SeqLen > 0 {
				mc.SeqStart, mc.SeqLen, mc.Target = b.Slot, b.SeqLen, target
			}
		}
	}
	if err := checkMemory(cfg, estimateMemory(cfg, r.vocab, r.plan, mc)); err != nil {
		return err
	}
	table, err := newTable(cfg, r.vocab, r.plan)
	if err != nil {
		return err
	}
	net, dense, err := newNet(cfg, mc)
	if err != nil {
		return err
	}
	r.log.Info("dense net", "impl", dense)
	r.table, r.net, r.dense = table, net, dense
	r.st = newStepper(table, net, r.schema, cfg.Threads)
	r.st.bar = r.bar
	if err := r.st.withBags(r.schema, r.slots); err != nil {
		return err
	}
	return nil
}

// resume creates the output directory, loads <Out>/checkpoint.bin into the
// table and net when Options.Resume asks for it and it exists, opens the
// metrics file and starts the Result.
func (r *run) resume() error {
	cfg := &r.cfg
	r.meta = &ckptMeta{Config: *cfg}
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return fmt.Errorf("output directory: %w", err)
		}
		r.ckptPath = filepath.Join(cfg.Out, CheckpointFile)
		if err := removeStaleTemps(cfg.Out); err != nil {
			return fmt.Errorf("output directory %s: %w", cfg.Out, err)
		}
	}
	if r.opt.Resume && r.ckptPath != "" {
		if _, err := os.Stat(r.ckptPath); err == nil {
			ck, err := openCheckpoint(r.ckptPath)
			if err != nil {
				return err
			}
			defer ck.Close()
			m := ck.meta
			if err := cfg.compatible(&m.Config); err != nil {
				return fmt.Errorf("resume from %s: %w", r.ckptPath, err)
			}
			if err := r.table.Load(ck.table); err != nil {
				return fmt.Errorf("resume from %s: embedding table: %w", r.ckptPath, err)
			}
			if err := r.net.Load(ck.net); err != nil {
				return fmt.Errorf("resume from %s: dense net: %w", r.ckptPath, err)
			}
			m.Config = *cfg // epochs, threads, out may differ
			r.meta = m
			r.resumed = true
			r.log.Info("resumed", "checkpoint", r.ckptPath, "epoch", m.Epoch, "step", m.Step)
		}
	}
	if cfg.Out != "" {
		var at *int64
		if r.resumed {
			at = r.meta.MetricsBytes
		}
		mlog, err := openJSONL(filepath.Join(cfg.Out, MetricsFile), r.resumed, at)
		if err != nil {
			return err
		}
		r.mlog = mlog
	}
	r.res = &Result{Model: cfg.Model, Table: cfg.Table, Dim: cfg.Dim, Dense: r.dense, TrainRows: r.sp.trainRows, TestRows: r.sp.testRows, ValidRows: r.sp.validRows,
		Epochs: cfg.Epochs, Resumed: r.resumed, Seed: cfg.Seed, Threads: cfg.Threads,
		FullTableBytes:   embedding.FullTableBytes(r.vocab.cardinalities(), cfg.Dim),
		FullServingBytes: embedding.FullServingBytes(r.vocab.cardinalities(), cfg.Dim), DistinctValues: r.vocab.distinct(), DimPlan: r.plan}
	if r.plan != nil {
		r.res.SearchSeconds = r.plan.SearchSeconds
	}
	if e := r.meta.Eval; e != nil { // the last evaluation, until the next epoch's replaces it
		r.res.TrainLogLoss, r.res.TestAUC, r.res.TestLogLoss, r.res.TestRows = e.TrainLogLoss, e.TestAUC, e.TestLogLoss, e.TestRows
		r.res.TestAUCSE, r.res.TestAUCCI = e.TestAUCSE, e.TestAUCCI
		r.res.ValidAUC, r.res.ValidLogLoss, r.res.ValidRows = e.ValidAUC, e.ValidLogLoss, e.ValidRows
		r.res.ValidAUCSE, r.res.ValidAUCCI = e.ValidAUCSE, e.ValidAUCCI
	}
	r.trainTime = time.Duration(r.meta.TrainSeconds * float64(time.Second))
	return nil
}

// complete reports whether a resumed run had already finished: its
// checkpoint is past the last epoch and result.json holds the result of
// that many steps. It then returns that result, marked AlreadyComplete,
// and Train leaves the run directory as it is. A run killed after its
// last checkpoint but before result.json was written is not complete: it
// goes on to write the artifact and result.json from the checkpoint and
// the evaluation it keeps.
func (r *run) complete() (*Result, bool) {
	if !r.resumed || r.meta.Epoch < r.cfg.Epochs || r.meta.Eval == nil {
		return nil, false
	}
	data, err := os.ReadFile(filepath.Join(r.cfg.Out, ResultFile))
	if err != nil {
		return nil, false
	}
	var stored struct {
		Result *Result `json:"result"`
	}
	if err := json.Unmarshal(data, &stored); err != nil || stored.Result == nil || stored.Result.Steps != r.meta.Step ||
		stored.Result.Epochs != r.cfg.Epochs {
		return nil, false
	}
	if _, err := os.Stat(filepath.Join(r.cfg.Out, ArtifactDir)); err != nil {
		return nil, false
	}
	stored.Result.AlreadyComplete = true
	return stored.Result, true
}

// checkpoint writes the checkpoint with the metrics file's current length
// (synced first, so the length never exceeds what is on disk).
func (r *run) checkpoint() error {
	if r.mlog != nil {
		n, err := r.mlog.sync()
		if err != nil {
			return err
		}
		r.meta.MetricsBytes = &n
	}
	return writeCheckpoint(r.ckptPath, r.meta, r.table, r.net)
}

// trainEpochs trains the epochs left (all of them, or those after the
// checkpoint), evaluating and checkpointing after each. A resumed run
// with no epoch left whose checkpoint keeps no evaluation (one written
// before checkpoints kept it) is evaluated once, so it never reports
// zeros.
func (r *run) trainEpochs() error {
	if r.resumed && r.meta.Epoch >= r.cfg.Epochs && r.meta.Eval == nil {
		r.meta.Epoch--
		err := r.evalEpoch()
		r.meta.Epoch++
		return err
	}
	for r.meta.Epoch < r.cfg.Epochs {
		if err := r.trainEpoch(); err != nil {
			return err
		}
		if sch, ok := r.st.table.(embedding.Scheduled); ok && r.meta.Epoch == r.cfg.Epochs-1 {
			// The schedule ends with the run even if fewer batches came
			// than the rows promised (rows skipped as malformed).
			total := max(r.meta.Step, r.totalSteps())
			sch.SetStep(total-1, total)
		}
		if err := r.evalEpoch(); err != nil {
			return err
		}
		r.meta.Epoch++
		r.meta.Batches = 0
		r.meta.LossSum, r.meta.LossN = 0, 0
		r.meta.TrainSeconds = r.trainTime.Seconds()
		if r.ckptPath != "" {
			if err := r.checkpoint(); err != nil {
				return err
			}
		}
	}
	return nil
}

// trainEpoch trains the batches of epoch meta.Epoch from meta.Batches on,
// logging metrics and writing checkpoints at their intervals.
func (r *run) trainEpoch() error {
	cfg, meta, bar := &r.cfg, r.meta, r.bar
	epoch := meta.Epoch
	bar.Phase(fmt.Sprintf("epoch %d/%d", epoch+1, cfg.Epochs), r.sp.trainRows, "samples")
	skipRows := meta.Batches * int64(cfg.Batch)
	if skipRows >= r.sp.trainLimit {
		// A step checkpoint on the epoch's last batch: nothing is left to
		// read (a Limit of 0 or less would read to the end of the file,
		// into the test rows).
		r.res.TrainLogLoss = meta.LossSum / math.Max(float64(meta.LossN), 1)
		return nil
	}
	src, err := openBatches(cfg, cfg.Format, cfg.Data, datasets.BatchOptions{
		BatchSize: cfg.Batch, HashSeed: cfg.HashSeed, OnError: r.onErr, Filter: r.sp.trainFilter,
		Skip: r.sp.trainSkip + skipRows, Limit: r.sp.trainLimit - skipRows,
	})
	if err != nil {
		return err
	}
	defer src.Close()
	bar.SetDone(skipRows)
	// A table with a schedule (embedding.Scheduled: pruning) is told each
	// step of the run's total.
	sch, _ := r.st.table.(embedding.Scheduled)
	totalSteps := r.totalSteps()
	start := time.Now()
	for {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if sch != nil {
			sch.SetStep(meta.Step, totalSteps)
		}
		loss, err := r.st.step(b)
		if err != nil {
			return fmt.Errorf("epoch %d step %d: %w", epoch+1, meta.Step+1, err)
		}
		if l := float64(loss); math.IsNaN(l) || math.IsInf(l, 0) {
			return fmt.Errorf("epoch %d step %d: %w: loss is %v (%s)", epoch+1, meta.Step+1, ErrDiverged, l, divergeHint)
		}
		if i := firstNonFinite(r.st.dEmb); i >= 0 {
			return fmt.Errorf("epoch %d step %d: %w: embedding gradient is %v (%s)", epoch+1, meta.Step+1, ErrDiverged, r.st.dEmb[i], divergeHint)
		}
		meta.Step++
		meta.Batches++
		meta.Samples += int64(b.Rows)
		meta.LossSum += float64(loss) * float64(b.Rows)
		meta.LossN += int64(b.Rows)
		r.stepsThisRun++
		src.Release(b)
		done := meta.Batches*int64(cfg.Batch) + 0
		bar.Set(min(done, r.sp.trainRows))
		if meta.Step%10 == 0 {
			bar.Detail(fmt.Sprintf("loss %.4f", meta.LossSum/float64(meta.LossN)))
		}
		if r.mlog != nil && meta.Step%cfg.LogEvery == 0 {
			el := r.trainTime + time.Since(start)
			r.mlog.write(map[string]any{"kind": "train", "epoch": epoch + 1, "step": meta.Step, "samples": meta.Samples,
				"loss": meta.LossSum / float64(meta.LossN), "samples_per_s": float64(meta.Samples) / el.Seconds(),
				"time": time.Now().UTC().Format(time.RFC3339Nano)})
		}
		if r.ckptPath != "" && cfg.CheckpointEvery > 0 && meta.Step%cfg.CheckpointEvery == 0 {
			meta.TrainSeconds = (r.trainTime + time.Since(start)).Seconds()
			if err := r.checkpoint(); err != nil {
				return err
			}
		}
		if r.opt.StopAfterSteps > 0 && r.stepsThisRun >= r.opt.StopAfterSteps {
			return ErrStopped
		}
	}
	r.trainTime += time.Since(start)
	r.res.TrainLogLoss = meta.LossSum / math.Max(float64(meta.LossN), 1)
	return nil
}

// totalSteps is the run's training steps: its epochs of whole and partial
// batches of the training rows.
func (r *run) totalSteps() int64 {
	b := int64(r.cfg.Batch)
	return (r.sp.trainRows + b - 1) / b * int64(r.cfg.Epochs)
}

// evalEpoch evaluates after epoch meta.Epoch and logs it: the
// validation split when there is one (and the test split after the last
// epoch only), otherwise the test split.
func (r *run) evalEpoch() error {
	epoch := r.meta.Epoch
	if err := checkParams(r.table, r.net); err != nil {
		return fmt.Errorf("after epoch %d (step %d): %w", epoch+1, r.meta.Step, err)
	}
	res := r.res
	rec := &evalRecord{TrainLogLoss: res.TrainLogLoss}
	if prev := r.meta.Eval; prev != nil {
		*rec = *prev
		rec.TrainLogLoss = res.TrainLogLoss
	}
	fields := []any{"epoch", epoch + 1, "train_logloss", res.TrainLogLoss}
	jl := map[string]any{"kind": "eval", "epoch": epoch + 1, "step": r.meta.Step, "train_logloss": res.TrainLogLoss}
	if vp := r.sp.valid(&r.cfg); vp.rows > 0 {
		r.bar.Phase(fmt.Sprintf("valid %d/%d", epoch+1, r.cfg.Epochs), vp.rows, "rows")
		ai, ll, n, err := evaluate(r.ctx, &r.cfg, vp, r.onErr, r.st)
		if err != nil {
			return fmt.Errorf("validation after epoch %d (step %d): %w", epoch+1, r.meta.Step, err)
		}
		r.bar.Detail(fmt.Sprintf("valid AUC %.4f [%.4f, %.4f], logloss %.4f", ai.AUC, ai.Low, ai.High, ll))
		res.ValidAUC, res.ValidLogLoss, res.ValidRows = ai.AUC, ll, n
		res.ValidAUCSE, res.ValidAUCCI = ai.SE, [2]float64{ai.Low, ai.High}
		rec.ValidAUC, rec.ValidLogLoss, rec.ValidRows, rec.ValidAUCSE, rec.ValidAUCCI = ai.AUC, ll, n, ai.SE, res.ValidAUCCI
		fields = append(fields, "valid_auc", ai.AUC, "valid_logloss", ll)
		jl["valid_auc"], jl["valid_logloss"] = ai.AUC, ll
	}
	if r.sp.validRows == 0 || epoch+1 >= r.cfg.Epochs {
		tp := r.sp.test(&r.cfg)
		r.bar.Phase(fmt.Sprintf("eval %d/%d", epoch+1, r.cfg.Epochs), tp.rows, "rows")
		ai, ll, n, err := evaluate(r.ctx, &r.cfg, tp, r.onErr, r.st)
		if err != nil {
			return fmt.Errorf("evaluation after epoch %d (step %d): %w", epoch+1, r.meta.Step, err)
		}
		r.bar.Detail(fmt.Sprintf("test AUC %.4f [%.4f, %.4f], logloss %.4f", ai.AUC, ai.Low, ai.High, ll))
		res.TestAUC, res.TestLogLoss, res.TestRows = ai.AUC, ll, n
		res.TestAUCSE, res.TestAUCCI = ai.SE, [2]float64{ai.Low, ai.High}
		rec.TestAUC, rec.TestLogLoss, rec.TestRows, rec.TestAUCSE, rec.TestAUCCI = ai.AUC, ll, n, ai.SE, res.TestAUCCI
		fields = append(fields, "test_auc", ai.AUC, "test_logloss", ll)
		jl["test_auc"], jl["test_logloss"] = ai.AUC, ll
	}
	r.meta.Eval = rec
	r.log.Info("epoch done", fields...)
	if r.mlog != nil {
		jl["time"] = time.Now().UTC().Format(time.RFC3339Nano)
		r.mlog.write(jl)
	}
	return nil
}

// evalQuantized evaluates the test split with the rows quantized by each
// of Config.EvalCodecs (none: nothing to do).
func (r *run) evalQuantized() error {
	if len(r.cfg.EvalCodecs) == 0 {
		return nil
	}
	// One codec at a time, each its own progress phase.
	for _, codec := range r.cfg.EvalCodecs {
		r.bar.Phase("eval "+codec, r.sp.testRows, "rows")
		one := r.cfg
		one.EvalCodecs = []string{codec}
		q, err := evalQuantized(r.ctx, &one, r.sp.test(&r.cfg), r.onErr, r.st, r.table, r.res.TestAUC)
		if err != nil {
			return err
		}
		for _, x := range q {
			r.bar.Detail(fmt.Sprintf("test AUC %.4f (%+.4f), logloss %.4f", x.TestAUC, x.DeltaAUC, x.TestLogLoss))
		}
		r.res.Quantized = append(r.res.Quantized, q...)
	}
	return nil
}

// finish completes the Result (steps, speed, bytes) and, with an output
// directory, writes the serving artifact and result.json.
func (r *run) finish() (*Result, error) {
	cfg, res := &r.cfg, r.res
	r.bar.Done()
	res.Steps = r.meta.Step
	res.TrainSeconds = r.trainTime.Seconds()
	if res.TrainSeconds > 0 {
		res.TrainSamplesPerS = float64(r.meta.Samples) / res.TrainSeconds
	}
	by := r.table.Bytes()
	res.EmbeddingBytes, res.OptimizerBytes, res.TrainIndexBytes = by.Params, by.Optimizer, by.Index
	if d, ok := r.table.(embedding.Describer); ok {
		desc, err := d.Describe()
		if err != nil {
			return nil, fmt.Errorf("describe the table: %w", err)
		}
		res.IndexBytes = embedding.IndexServingBytes(desc.Index)
		res.ServingBytes = res.IndexBytes
		for _, set := range desc.Sets {
			res.ServingBytes += int64(set.Len()) * int64(set.Dim()) * 4 // fp32 rows
		}
		// Structures a method serves from its config (dedup's remap).
		if x, ok := r.table.(interface{ ConfigServingBytes() int64 }); ok {
			res.ServingBytes += x.ConfigServingBytes()
		}
	}
	if rs, ok := r.table.(embedding.RowStore); ok {
		var floats int64
		for _, set := range rs.RowSets() {
			floats += int64(set.Len()) * int64(set.Dim())
		}
		res.EmbeddingRows = floats / int64(cfg.Dim)
	}
	if res.ServingBytes > 0 {
		res.CompressionRatio = float64(res.FullServingBytes) / float64(res.ServingBytes)
	}
	res.PeakRSSBytes = peakRSS()
	if err := checkParams(r.table, r.net); err != nil {
		return nil, fmt.Errorf("final model (step %d): %w", r.meta.Step, err)
	}
	if cfg.Out == "" {
		return res, nil
	}
	if err := exportArtifact(filepath.Join(cfg.Out, ArtifactDir), r.table, r.net, r.schema, *cfg, r.plan); err != nil {
		return nil, err
	}
	if err := writeResult(filepath.Join(cfg.Out, ResultFile), res, cfg); err != nil {
		return nil, err
	}
	return res, nil
}

// writeResult writes res and cfg as the run's result.json, atomically.
func writeResult(path string, res *Result, cfg *Config) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Result *Result `json:"result"`
			Config Config  `json:"config"`
		}{res, *cfg})
	})
}

// evaluate predicts one part of the data (the test or the validation
// split) and returns its AUC (with DeLong's interval), log loss and rows.
func evaluate(ctx context.Context, cfg *Config, part evalPart, onErr datasets.OnError, st *stepper) (metrics.AUCInterval, float64, int64, error) {
	path := part.path
	src, err := openBatches(cfg, part.format, path, datasets.BatchOptions{
		BatchSize: cfg.Batch, HashSeed: cfg.HashSeed, OnError: onErr, Filter: part.filter, Skip: part.skip, Limit: part.limit,
	})
	if err != nil {
		return metrics.AUCInterval{}, 0, 0, err
	}
	defer src.Close()
	var probs, labels []float32
	for {
		if err := ctx.Err(); err != nil {
			return metrics.AUCInterval{}, 0, 0, err
		}
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return metrics.AUCInterval{}, 0, 0, err
		}
		p, err := st.predict(b)
		if err != nil {
			return metrics.AUCInterval{}, 0, 0, err
		}
		if i := firstNonFinite(p); i >= 0 {
			return metrics.AUCInterval{}, 0, 0, fmt.Errorf("%w: prediction for test row %d of %s is %v (%s)", ErrDiverged, len(probs)+i, path, p[i], divergeHint)
		}
		probs = append(probs, p...)
		labels = append(labels, b.Labels...)
		if st.bar != nil {
			st.bar.Add(int64(b.Rows))
		}
		src.Release(b)
	}
	if len(probs) == 0 {
		return metrics.AUCInterval{}, 0, 0, fmt.Errorf("%s: no %s rows", path, part.name)
	}
	auc, err := metrics.AUCDeLong(probs, labels)
	if err != nil {
		return metrics.AUCInterval{}, 0, 0, fmt.Errorf("%s split of %s: %w", part.name, path, err)
	}
	ll, err := metrics.LogLoss(probs, labels)
	if err != nil {
		return metrics.AUCInterval{}, 0, 0, fmt.Errorf("%s split of %s: %w", part.name, path, err)
	}
	return auc, ll, int64(len(probs)), nil
}

// stepper owns the per-step buffers: transformed dense features, gathered
// embeddings and their gradient.
type stepper struct {
	table       embedding.Trainable
	net         trainNet
	nd, nf, dim int
	threads     int
	dense, emb  []float32
	dEmb, probs []float32
	// bar counts the rows evaluate predicts (nil: none).
	bar *progress.Bar
	// scales is the table when it learns its rows' steps (ALPT), else nil.
	scales embedding.ScaleLearner
	// bags runs the embedding side for data with bag fields (nil: none).
	bags *bagStep
}

func newStepper(t trainTable, net trainNet, s *datasets.Schema, threads int) *stepper {
	st := &stepper{table: t, net: net, nd: s.NumDense(), nf: s.NumCat(), dim: t.Dim(), threads: threads}
	if sl, ok := t.(embedding.ScaleLearner); ok && sl.LearnsScales() {
		st.scales = sl
	}
	return st
}

// withBags makes the stepper read sc's bag fields laid out by l (nil: no
// bags): it is an error for tables that cannot look up a bag's values, and with
// ALPT storage (whose second pass has no bag form).
func (s *stepper) withBags(sc *datasets.Schema, l *slots.Layout) error {
	if l == nil {
		return nil
	}
	if s.scales != nil {
		return fmt.Errorf("bag fields (%s): ALPT storage does not train bags; use fp32 or int8", bagNames(sc))
	}
	bs, err := newBagStep(s.table, l, sc)
	if err != nil {
		return err
	}
	s.bags, s.nf = bs, l.Slots
	return nil
}

// prepare transforms dense features and gathers embeddings for b.
func (s *stepper) prepare(b *datasets.Batch) {
	n := b.Rows
	s.dense = growF(s.dense, n*s.nd)
	copy(s.dense, b.Dense)
	datasets.TransformDense(s.dense)
	s.prepareEmb(b)
}

// prepareEmb gathers the embeddings of b.
func (s *stepper) prepareEmb(b *datasets.Batch) {
	n := b.Rows
	s.emb = growF(s.emb, n*s.nf*s.dim)
	if s.bags != nil {
		s.bags.lookup(b, s.emb, s.threads)
		return
	}
	parallelRows(n, s.threads, func(lo, hi int) {
		s.table.Lookup(b.IDs[lo*s.nf:hi*s.nf], s.emb[lo*s.nf*s.dim:hi*s.nf*s.dim])
	})
}

func (s *stepper) step(b *datasets.Batch) (float32, error) {
	s.prepare(b)
	s.dEmb = growF(s.dEmb, len(s.emb))
	loss, err := s.net.ForwardBackward(s.dense, s.emb, b.Labels, b.Rows, s.dEmb)
	if err != nil {
		return 0, err
	}
	if s.bags != nil {
		s.bags.apply(s.dEmb)
		return loss, nil
	}
	s.table.Apply(b.IDs, s.dEmb)
	if s.scales != nil {
		// ALPT's second pass: the loss's gradient at the rounded updated
		// rows trains their steps (embedding.StorageALPT).
		gn, ok := s.net.(gradienter)
		if !ok {
			return 0, fmt.Errorf("alpt storage: the dense net %T has no gradient pass", s.net)
		}
		s.prepareEmb(b)
		if _, err := gn.Gradient(s.dense, s.emb, b.Labels, b.Rows, s.dEmb); err != nil {
			return 0, err
		}
		s.scales.ApplyScales(b.IDs, s.dEmb)
	}
	return loss, nil
}

func (s *stepper) predict(b *datasets.Batch) ([]float32, error) {
	s.prepare(b)
	s.probs = growF(s.probs, b.Rows)
	if err := s.net.Predict(s.dense, s.emb, b.Rows, s.probs); err != nil {
		return nil, err
	}
	return s.probs, nil
}

func sqrt(x float64) float64 { return math.Sqrt(x) }

func growF(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// parallelRows splits [0, n) into up to threads contiguous chunks.
func parallelRows(n, threads int, fn func(lo, hi int)) {
	if threads <= 1 || n < 256 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + threads - 1) / threads
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// sourceSchema returns the schema of the training source.
func sourceSchema(cfg *Config) (*datasets.Schema, error) {
	src, err := openBatches(cfg, cfg.Format, cfg.Data, datasets.BatchOptions{BatchSize: 1, Limit: 1})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return src.Schema(), nil
}

// makeSplit counts the rows of the sources and decides the row ranges.
func makeSplit(cfg *Config, onErr datasets.OnError) (*split, error) {
	sp := &split{}
	count := func(format, path string) (int64, error) {
		if format == "parquet" {
			p, err := datasets.OpenParquet(path)
			if err != nil {
				return 0, err
			}
			defer p.Close()
			return p.NumRows(), nil
		}
		return countRows(cfg, format, path, datasets.BatchOptions{BatchSize: 8192, OnError: onErr})
	}
	total, err := count(cfg.Format, cfg.Data)
	if err != nil {
		return nil, err
	}
	if cfg.MaxRows > 0 && total > cfg.MaxRows {
		total = cfg.MaxRows
	}
	if cfg.ValidData != "" {
		n, err := count(cfg.ValidFormat, cfg.ValidData)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("--valid-data %s has no rows", cfg.ValidData)
		}
		sp.validRows = n
	}
	if cfg.TestData != "" {
		n, err := count(cfg.TestFormat, cfg.TestData)
		if err != nil {
			return nil, err
		}
		sp.testRows = n
		if cfg.ValidFraction > 0 && cfg.Split == "time" {
			return sp, timeSplit(cfg, onErr, total, sp, 0)
		}
		sp.trainLimit, sp.trainRows = total, total
		if cfg.ValidFraction > 0 {
			nv := int64(math.Round(float64(total) * cfg.ValidFraction))
			if nv < 1 || nv >= total {
				return nil, fmt.Errorf("--valid-fraction %v of %d rows: an empty validation or training split", cfg.ValidFraction, total)
			}
			sp.trainRows, sp.trainLimit = total-nv, total-nv
			sp.validSkip, sp.validLimit, sp.validRows = total-nv, nv, nv
		}
		return sp, nil
	}
	if cfg.Split == "time" {
		return sp, timeSplit(cfg, onErr, total, sp, cfg.TestFraction)
	}
	ntest := int64(math.Round(float64(total) * cfg.TestFraction))
	nvalid := int64(math.Round(float64(total) * cfg.ValidFraction))
	if cfg.ValidFraction > 0 && nvalid < 1 {
		return nil, fmt.Errorf("--valid-fraction %v of %d rows: an empty validation split", cfg.ValidFraction, total)
	}
	sp.trainRows, sp.testRows = total-ntest-nvalid, ntest
	sp.trainLimit = sp.trainRows
	if nvalid > 0 {
		sp.validSkip, sp.validLimit, sp.validRows = sp.trainRows, nvalid, nvalid
	}
	sp.testSkip, sp.testLimit = sp.trainRows+nvalid, ntest
	return sp, nil
}

// timeSplit splits the first total rows of Data by timestamp: the latest
// testFraction for testing (none when testFraction is 0: TestData is the
// test set), the ValidFraction before them for validation, the rest for
// training.
func timeSplit(cfg *Config, onErr datasets.OnError, total int64, sp *split, testFraction float64) error {
	ts, err := timestamps(cfg, onErr, total)
	if err != nil {
		return err
	}
	sorted := append([]int64(nil), ts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	at := func(q float64) int64 {
		i := int(float64(len(sorted)) * q)
		if i >= len(sorted) {
			return math.MaxInt64
		}
		return sorted[i]
	}
	testCut := at(1 - testFraction)
	validCut := testCut
	if cfg.ValidFraction > 0 {
		validCut = at(1 - testFraction - cfg.ValidFraction)
	}
	for _, t := range ts {
		switch {
		case t < validCut:
			sp.trainRows++
		case t < testCut:
			sp.validRows++
		default:
			sp.testRows++
		}
	}
	if cfg.ValidFraction > 0 && sp.validRows == 0 {
		return fmt.Errorf("--split time --valid-fraction %v: no timestamps between the validation cut %d and the test cut %d",
			cfg.ValidFraction, validCut, testCut)
	}
	if sp.trainRows == 0 {
		return fmt.Errorf("--split time: no training rows before the cut at timestamp %d", validCut)
	}
	sp.trainFilter = func(r *datasets.Record) bool { return r.Timestamp < validCut }
	if testFraction > 0 {
		sp.testFilter = func(r *datasets.Record) bool { return r.Timestamp >= testCut }
	}
	if sp.validRows > 0 {
		sp.validFilter = func(r *datasets.Record) bool { return r.Timestamp >= validCut && r.Timestamp < testCut }
	}
	// The batch readers apply Filter before Skip/Limit, so a limit counts
	// the rows that pass the filter, in file order: the first trainRows
	// rows that pass the train filter are exactly the train rows among the
	// first total rows (and likewise for validation and test). With
	// --max-rows the limits are what keeps the reads to those rows; the
	// counts are >= 1 where they are set (the cut row itself is a test
	// row, and empty training or validation splits are refused), so no
	// limit means "to the end".
	sp.trainLimit, sp.validLimit = sp.trainRows, sp.validRows
	if testFraction > 0 {
		sp.testLimit = sp.testRows
	}
	return nil
}

// timestamps reads the timestamps of the first max rows of the data.
func timestamps(cfg *Config, onErr datasets.OnError, max int64) ([]int64, error) {
	src, err := openBatches(cfg, cfg.Format, cfg.Data, datasets.BatchOptions{BatchSize: 8192, OnError: onErr, Limit: max})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	if src.Schema().Timestamp == "" {
		return nil, fmt.Errorf("--split time: %s has no timestamp column", cfg.Data)
	}
	var ts []int64
	for {
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			return ts, nil
		}
		if err != nil {
			return nil, err
		}
		ts = append(ts, b.Timestamps...)
		src.Release(b)
	}
}

// vocabulary is the set of distinct ids per field in the training split,
// with their frequencies.
type vocabulary struct {
	ids    [][]uint64 // sorted, per field
	counts [][]uint32 // counts[f][i] is the frequency of ids[f][i] (saturating)
}

func (v *vocabulary) distinct() int64 {
	var n int64
	for _, f := range v.ids {
		n += int64(len(f))
	}
	return n
}

func (v *vocabulary) cardinalities() []int64 {
	out := make([]int64, len(v.ids))
	for f, ids := range v.ids {
		out[f] = int64(len(ids))
	}
	return out
}

// scanVocabulary collects the distinct ids of every field of the training
// split (the counting pre-pass: the full table's vocabulary and every
// budgeted table's field sizes).
func scanVocabulary(ctx context.Context, cfg *Config, sp *split, onErr datasets.OnError, bar *progress.Bar) (*vocabulary, error) {
	src, err := openBatches(cfg, cfg.Format, cfg.Data, datasets.BatchOptions{
		BatchSize: 8192, HashSeed: cfg.HashSeed, OnError: onErr, Filter: sp.trainFilter,
		Skip: sp.trainSkip, Limit: sp.trainLimit,
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	sch := src.Schema()
	nc, nf, bagField := sch.NumCat(), sch.NumFields(), sch.BagFields()
	sets := make([]map[uint64]uint32, nf)
	for f := range sets {
		sets[f] = make(map[uint64]uint32)
	}
	bar.SetTotal(sp.trainRows)
	var rows int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		for i, id := range b.IDs {
			m := sets[i%nc]
			if c := m[id]; c < math.MaxUint32 {
				m[id] = c + 1
			}
		}
		for k := range b.Bags {
			m := sets[bagField[k]]
			for _, id := range b.Bags[k].IDs {
				if c := m[id]; c < math.MaxUint32 {
					m[id] = c + 1
				}
			}
		}
		rows += int64(b.Rows)
		bar.Set(rows)
		src.Release(b)
	}
	v := &vocabulary{ids: make([][]uint64, nf), counts: make([][]uint32, nf)}
	for f, s := range sets {
		ids := make([]uint64, 0, len(s))
		for id := range s {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		counts := make([]uint32, len(ids))
		for i, id := range ids {
			counts[i] = s[id]
		}
		v.ids[f], v.counts[f] = ids, counts
	}
	return v, nil
}

// jsonlWriter appends JSON lines to a metrics file and counts its bytes.
type jsonlWriter struct {
	f   *os.File
	n   int64 // the file's length
	enc *json.Encoder
}

// openJSONL opens the metrics file at path: truncated for a new run; for
// a resumed one, cut to the length at (the checkpoint's MetricsBytes, so
// that the steps replayed after it are not logged twice) or, with at nil
// (an older checkpoint), appended to.
func openJSONL(path string, resumed bool, at *int64) (*jsonlWriter, error) {
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resumed {
		flag = os.O_CREATE | os.O_WRONLY
	}
	f, err := os.OpenFile(path, flag, atomicfile.Mode)
	if err != nil {
		return nil, fmt.Errorf("metrics file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("metrics file: %w", err)
	}
	n := fi.Size()
	if at != nil && *at >= 0 && *at < n {
		if err := f.Truncate(*at); err != nil {
			f.Close()
			return nil, fmt.Errorf("metrics file %s: drop the lines after the checkpoint: %w", path, err)
		}
		n = *at
	}
	if _, err := f.Seek(n, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("metrics file %s: %w", path, err)
	}
	j := &jsonlWriter{f: f, n: n}
	j.enc = json.NewEncoder(j)
	return j, nil
}

// Write writes p to the file, counting it.
func (j *jsonlWriter) Write(p []byte) (int, error) {
	n, err := j.f.Write(p)
	j.n += int64(n)
	return n, err
}

// write logs v as one line. The log is best effort: a failed write does
// not stop training (the checkpoint records the length that reached the
// file).
func (j *jsonlWriter) write(v any) { j.enc.Encode(v) }

// sync flushes the file to disk and returns its length.
func (j *jsonlWriter) sync() (int64, error) {
	if err := j.f.Sync(); err != nil {
		return 0, fmt.Errorf("metrics file: %w", err)
	}
	return j.n, nil
}

func (j *jsonlWriter) Close() error { return j.f.Close() }

// ErrNotEnoughMemory is returned when the estimated memory of the table,
// its optimizer state, the dense net and the step buffers exceeds the
// memory available to the process: allocating it would end in Go's
// unrecoverable "fatal error: runtime: out of memory".
var ErrNotEnoughMemory = errors.New("not enough memory")

// memEstimate is the memory a run allocates for its model, in bytes.
type memEstimate struct {
	Table, Optimizer int64 // embedding parameters as stored, their optimizer state
	Dense            int64 // dense-net parameters, gradients and Adam moments
	Steps            int64 // per-step buffers: gathered embeddings and their gradient
}

func (m memEstimate) total() int64 { return m.Table + m.Optimizer + m.Dense + m.Steps }

// estimateMemory estimates what the table newTable builds for cfg, the
// dense net of mc and the step buffers will hold, without building them.
// The table's fp32 bytes are what it sizes itself to: the budget
// (MemoryBudget, else a dimension plan's bytes, else the full table's,
// embedding.FullTableBytes), the full table's for --table full, or
// RowsPerField rows per field; int8 storage keeps dim+8 bytes a row. The
// optimizer state is embedding.Optimizer.StateBytes of those rows. It is
// a lower bound: activations, the vocabulary and the data readers' buffers
// come on top.
func estimateMemory(cfg *Config, v *vocabulary, plan *dimsearch.Plan, mc ModelConfig) memEstimate {
	card := v.cardinalities()
	dim := int64(cfg.Dim)
	full := embedding.FullTableBytes(card, cfg.Dim)
	var rows int64
	switch {
	case cfg.Table == embedding.MethodHashed && cfg.RowsPerField > 0 && plan == nil:
		rows = int64(cfg.RowsPerField) * int64(len(card))
	case cfg.Table == embedding.MethodFull && plan == nil:
		rows = full / (4 * dim)
	default:
		b := full
		switch {
		case cfg.MemoryBudget > 0:
			b = cfg.MemoryBudget
		case plan != nil:
			b = plan.Bytes
		}
		if cfg.Table == embedding.MethodFull {
			b = min(b, full)
		}
		rows = b / (4 * dim)
	}
	var m memEstimate
	m.Table = rows * dim * 4
	if cfg.Storage == "int8" || embedding.IsALPT(cfg.Storage) {
		m.Table = rows * embedding.StorageRowBytes(cfg.Storage, int(dim))
	}
	m.Optimizer = embedding.Optimizer{Name: cfg.Optimizer}.StateBytes(rows, cfg.Dim)
	switch cfg.Storage {
	case embedding.StorageALPT:
		m.Optimizer += rows * 4 // the steps' accumulators
	case embedding.StorageALPT4:
		m.Optimizer += rows * 8 // and their float32 masters
	}
	if l, err := densenet.NewLayout(mc.WithDefaults()); err == nil {
		var n int64
		for _, p := range l.Params {
			n += int64(p.Size())
		}
		m.Dense = n * 4 * 4 // parameters, gradients, Adam's two moments
	}
	m.Steps = 2 * int64(cfg.Batch) * int64(len(card)) * dim * 4
	return m
}

// availableMemory returns the memory the process may still allocate
// (MemAvailable of /proc/meminfo, capped by a cgroup v2 limit), and false
// where it cannot tell (not Linux): the check is then skipped. Tests
// replace it.
var availableMemory = func() (int64, bool) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	var avail int64 = -1
	for _, line := range bytes.Split(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("MemAvailable:")); ok {
			var kb int64
			if _, err := fmt.Sscanf(string(bytes.TrimSpace(rest)), "%d", &kb); err == nil {
				avail = kb * 1024
			}
		}
	}
	if avail < 0 {
		return 0, false
	}
	if max, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		cur, err2 := os.ReadFile("/sys/fs/cgroup/memory.current")
		var lim, used int64
		if _, err := fmt.Sscanf(string(max), "%d", &lim); err == nil && err2 == nil {
			if _, err := fmt.Sscanf(string(cur), "%d", &used); err == nil {
				avail = min(avail, lim-used)
			}
		}
	}
	return avail, true
}

// checkMemory refuses a run whose estimate exceeds the available memory,
// naming the sizes.
func checkMemory(cfg *Config, m memEstimate) error {
	avail, ok := availableMemory()
	if !ok || m.total() <= avail {
		return nil
	}
	return fmt.Errorf("%w: --table %s at --dim %d needs about %s (embedding table %s, its %s state %s, dense net %s, step buffers at --batch %d %s), "+
		"more than the %s this machine has available: lower --dim or --batch, or give a --memory-budget",
		ErrNotEnoughMemory, cfg.Table, cfg.Dim, bytesize.Format(m.total()), bytesize.Format(m.Table), cfg.Optimizer,
		bytesize.Format(m.Optimizer), bytesize.Format(m.Dense), cfg.Batch, bytesize.Format(m.Steps), bytesize.Format(avail))
}

// peakRSS returns VmHWM from /proc/self/status, or 0.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("VmHWM:")) {
			var kb int64
			fmt.Sscanf(string(bytes.TrimSpace(line[6:])), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

func guessFormat(path string) string {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "u.data")); err == nil {
			return "movielens100k"
		}
		if _, err := os.Stat(filepath.Join(path, "ratings.csv")); err == nil {
			return datasets.FormatMovieLensLatest
		}
		return "movielens1m"
	}
	return datasets.GuessFormat(path)
}

// DataStats describes a training split: what a sweep needs to size budgets.
type DataStats struct {
	TrainRows, TestRows int64
	// Cardinalities are the distinct training values per field.
	Cardinalities []int64
	// FullTableBytes is the fp32 full table (one row per distinct value plus
	// one OOV row per field) at cfg.Dim, FullServingBytes the same with its
	// vocabulary: the serving bytes that budgets and ratios are against.
	FullTableBytes, FullServingBytes int64
}

// Scan reads the training split of cfg once and returns its statistics.
func Scan(ctx context.Context, cfg Config) (*DataStats, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	onErr, err := datasets.ParseOnError(cfg.OnError)
	if err != nil {
		return nil, err
	}
	sp, err := makeSplit(&cfg, onErr)
	if err != nil {
		return nil, err
	}
	v, err := scanVocabulary(ctx, &cfg, sp, onErr, progress.Disabled())
	if err != nil {
		return nil, err
	}
	card := v.cardinalities()
	return &DataStats{TrainRows: sp.trainRows, TestRows: sp.testRows, Cardinalities: card,
		FullTableBytes: embedding.FullTableBytes(card, cfg.Dim), FullServingBytes: embedding.FullServingBytes(card, cfg.Dim)}, nil
}

// openBatches opens a split of cfg's data with cfg's reader options.
func openBatches(cfg *Config, format, path string, opt datasets.BatchOptions) (datasets.BatchReader, error) {
	raw, err := cfg.RawOptions()
	if err != nil {
		return nil, err
	}
	opt.Raw = raw
	return datasets.OpenBatches(format, path, opt)
}

// countRows counts the rows of a split of cfg's data read with cfg's reader
// options.
func countRows(cfg *Config, format, path string, opt datasets.BatchOptions) (int64, error) {
	raw, err := cfg.RawOptions()
	if err != nil {
		return 0, err
	}
	opt.Raw = raw
	return datasets.CountRows(format, path, opt)
}
