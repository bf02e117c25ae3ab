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
	"sort"
	"sync"
	"time"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/metrics"
	"github.com/embtab/embtab/progress"
)

// Result summarises a training run; cmd/train prints it as JSON.
type Result struct {
	Model string `json:"model"`
	Table string `json:"table"`
	// Dense is the dense-net implementation that ran: "native" or "gomlx".
	Dense            string  `json:"dense"`
	Dim              int     `json:"dim"`
	TestAUC          float64 `json:"test_auc"`
	TestLogLoss      float64 `json:"test_logloss"`
	TrainLogLoss     float64 `json:"train_logloss"`
	TrainSamplesPerS float64 `json:"train_samples_per_s"`
	TrainSeconds     float64 `json:"train_seconds"`
	TrainRows        int64   `json:"train_rows"`
	TestRows         int64   `json:"test_rows"`
	Epochs           int     `json:"epochs"`
	Steps            int64   `json:"steps"`
	// EmbeddingBytes is the memory of the embedding parameters as stored;
	// OptimizerBytes their optimizer state; IndexBytes lookup structures.
	EmbeddingBytes int64 `json:"embedding_bytes"`
	OptimizerBytes int64 `json:"optimizer_bytes"`
	IndexBytes     int64 `json:"index_bytes"`
	// FullTableBytes is the fp32 table with one row per distinct training
	// value (plus one OOV row per field) at the same dim; CompressionRatio
	// is FullTableBytes / EmbeddingBytes.
	FullTableBytes   int64   `json:"full_table_bytes"`
	CompressionRatio float64 `json:"compression_ratio"`
	DistinctValues   int64   `json:"distinct_values"`
	EmbeddingRows    int64   `json:"embedding_rows"`
	Resumed          bool    `json:"resumed,omitempty"`
	Seed             uint64  `json:"seed"`
	Threads          int     `json:"threads"`
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
	trainFilter           func(*datasets.Record) bool
	testFilter            func(*datasets.Record) bool
	trainRows, testRows   int64
}

// Train runs cfg.
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

	// Pass 1: split and vocabulary.
	bar.Label("scan")
	sp, err := makeSplit(&cfg, onErr)
	if err != nil {
		return nil, err
	}
	vocab, err := scanVocabulary(ctx, &cfg, sp, onErr, bar)
	if err != nil {
		return nil, err
	}
	log.Info("data scanned", "train_rows", sp.trainRows, "test_rows", sp.testRows, "distinct_values", vocab.distinct())
	if sp.trainRows == 0 {
		return nil, fmt.Errorf("%s: no training rows", cfg.Data)
	}

	schema, err := sourceSchema(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.EmbLR == 0 {
		cfg.EmbLR = DefaultEmbLRFor(cfg.Optimizer, cfg.Model, schema.NumCat())
	}
	plan, err := dimensionPlan(ctx, &cfg, opt.Resume, sp, onErr, vocab, schema, bar, log)
	if err != nil {
		return nil, err
	}
	table, err := newTable(&cfg, vocab, plan)
	if err != nil {
		return nil, err
	}
	net, dense, err := newNet(&cfg, ModelConfig{
		Name: cfg.Model, NumDense: schema.NumDense(), Fields: schema.NumCat(), Dim: cfg.Dim,
		LR: cfg.LR, Seed: cfg.Seed,
	})
	if err != nil {
		return nil, err
	}
	defer net.Close()
	log.Info("dense net", "impl", dense)

	meta := &ckptMeta{Config: cfg}
	resumed := false
	ckptPath := ""
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, fmt.Errorf("output directory: %w", err)
		}
		ckptPath = filepath.Join(cfg.Out, CheckpointFile)
	}
	if opt.Resume && ckptPath != "" {
		if _, err := os.Stat(ckptPath); err == nil {
			m, tb, nb, err := readCheckpoint(ckptPath)
			if err != nil {
				return nil, err
			}
			if err := cfg.compatible(&m.Config); err != nil {
				return nil, fmt.Errorf("resume from %s: %w", ckptPath, err)
			}
			if err := table.Load(bytes.NewReader(tb)); err != nil {
				return nil, fmt.Errorf("resume from %s: embedding table: %w", ckptPath, err)
			}
			if err := net.Load(bytes.NewReader(nb)); err != nil {
				return nil, fmt.Errorf("resume from %s: dense net: %w", ckptPath, err)
			}
			m.Config = cfg // epochs, threads, out may differ
			meta = m
			resumed = true
			log.Info("resumed", "checkpoint", ckptPath, "epoch", m.Epoch, "step", m.Step)
		}
	}
	var mlog *jsonlWriter
	if cfg.Out != "" {
		mlog, err = openJSONL(filepath.Join(cfg.Out, "metrics.jsonl"), resumed)
		if err != nil {
			return nil, err
		}
		defer mlog.Close()
	}

	res := &Result{Model: cfg.Model, Table: cfg.Table, Dim: cfg.Dim, Dense: dense, TrainRows: sp.trainRows, TestRows: sp.testRows,
		Epochs: cfg.Epochs, Resumed: resumed, Seed: cfg.Seed, Threads: cfg.Threads,
		FullTableBytes: embedding.FullTableBytes(vocab.cardinalities(), cfg.Dim), DistinctValues: vocab.distinct(), DimPlan: plan}
	if plan != nil {
		res.SearchSeconds = plan.SearchSeconds
	}
	st := newStepper(table, net, schema, cfg.Threads)
	var stepsThisRun int64
	trainTime := time.Duration(meta.TrainSeconds * float64(time.Second))
	for meta.Epoch < cfg.Epochs {
		epoch := meta.Epoch
		bar.Label(fmt.Sprintf("epoch %d/%d", epoch+1, cfg.Epochs))
		bar.SetTotal(sp.trainRows)
		skipRows := meta.Batches * int64(cfg.Batch)
		src, err := datasets.OpenBatches(cfg.Format, cfg.Data, datasets.BatchOptions{
			BatchSize: cfg.Batch, HashSeed: cfg.HashSeed, OnError: onErr, Filter: sp.trainFilter,
			Skip: sp.trainSkip + skipRows, Limit: sp.trainLimit - skipRows,
		})
		if err != nil {
			return nil, err
		}
		bar.Set(skipRows)
		start := time.Now()
		for {
			if err := ctx.Err(); err != nil {
				src.Close()
				return nil, err
			}
			b, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				src.Close()
				return nil, err
			}
			loss, err := st.step(b)
			if err != nil {
				src.Close()
				return nil, fmt.Errorf("epoch %d step %d: %w", epoch+1, meta.Step+1, err)
			}
			if math.IsNaN(float64(loss)) {
				src.Close()
				return nil, fmt.Errorf("epoch %d step %d: loss is NaN (lower --lr or --emb-lr)", epoch+1, meta.Step+1)
			}
			meta.Step++
			meta.Batches++
			meta.Samples += int64(b.Rows)
			meta.LossSum += float64(loss) * float64(b.Rows)
			meta.LossN += int64(b.Rows)
			stepsThisRun++
			src.Release(b)
			done := meta.Batches*int64(cfg.Batch) + 0
			bar.Set(min(done, sp.trainRows))
			if meta.Step%10 == 0 {
				bar.Detail(fmt.Sprintf("loss %.4f", meta.LossSum/float64(meta.LossN)))
			}
			if mlog != nil && meta.Step%cfg.LogEvery == 0 {
				el := trainTime + time.Since(start)
				mlog.write(map[string]any{"kind": "train", "epoch": epoch + 1, "step": meta.Step, "samples": meta.Samples,
					"loss": meta.LossSum / float64(meta.LossN), "samples_per_s": float64(meta.Samples) / el.Seconds(),
					"time": time.Now().UTC().Format(time.RFC3339Nano)})
			}
			if ckptPath != "" && cfg.CheckpointEvery > 0 && meta.Step%cfg.CheckpointEvery == 0 {
				meta.TrainSeconds = (trainTime + time.Since(start)).Seconds()
				if err := writeCheckpoint(ckptPath, meta, table, net); err != nil {
					src.Close()
					return nil, err
				}
			}
			if opt.StopAfterSteps > 0 && stepsThisRun >= opt.StopAfterSteps {
				src.Close()
				return nil, ErrStopped
			}
		}
		src.Close()
		trainTime += time.Since(start)
		res.TrainLogLoss = meta.LossSum / math.Max(float64(meta.LossN), 1)
		// Evaluate.
		bar.Label(fmt.Sprintf("eval %d/%d", epoch+1, cfg.Epochs))
		auc, ll, n, err := evaluate(ctx, &cfg, sp, onErr, st)
		if err != nil {
			return nil, err
		}
		res.TestAUC, res.TestLogLoss, res.TestRows = auc, ll, n
		log.Info("epoch done", "epoch", epoch+1, "train_logloss", res.TrainLogLoss, "test_auc", auc, "test_logloss", ll)
		if mlog != nil {
			mlog.write(map[string]any{"kind": "eval", "epoch": epoch + 1, "step": meta.Step, "train_logloss": res.TrainLogLoss,
				"test_auc": auc, "test_logloss": ll, "time": time.Now().UTC().Format(time.RFC3339Nano)})
		}
		meta.Epoch++
		meta.Batches = 0
		meta.LossSum, meta.LossN = 0, 0
		meta.TrainSeconds = trainTime.Seconds()
		if ckptPath != "" {
			if err := writeCheckpoint(ckptPath, meta, table, net); err != nil {
				return nil, err
			}
		}
	}
	if len(cfg.EvalCodecs) > 0 {
		bar.Label("quantized eval")
		if res.Quantized, err = evalQuantized(ctx, &cfg, sp, onErr, st, table, res.TestAUC); err != nil {
			return nil, err
		}
	}
	bar.Done()
	res.Steps = meta.Step
	res.TrainSeconds = trainTime.Seconds()
	if res.TrainSeconds > 0 {
		res.TrainSamplesPerS = float64(meta.Samples) / res.TrainSeconds
	}
	by := table.Bytes()
	res.EmbeddingBytes, res.OptimizerBytes, res.IndexBytes = by.Params, by.Optimizer, by.Index
	if rs, ok := table.(embedding.RowStore); ok {
		var floats int64
		for _, r := range rs.RowSets() {
			floats += int64(r.Len()) * int64(r.Dim())
		}
		res.EmbeddingRows = floats / int64(cfg.Dim)
	}
	if by.Params > 0 {
		res.CompressionRatio = float64(res.FullTableBytes) / float64(by.Params)
	}
	res.PeakRSSBytes = peakRSS()
	if cfg.Out != "" {
		if err := exportArtifact(filepath.Join(cfg.Out, ArtifactDir), table, net, schema, cfg, plan); err != nil {
			return nil, err
		}
		err := atomicfile.Write(filepath.Join(cfg.Out, "result.json"), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Result *Result `json:"result"`
				Config Config  `json:"config"`
			}{res, cfg})
		})
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// evaluate predicts the test split and returns AUC, log loss and rows.
func evaluate(ctx context.Context, cfg *Config, sp *split, onErr datasets.OnError, st *stepper) (float64, float64, int64, error) {
	path, format, skip, limit := cfg.Data, cfg.Format, sp.testSkip, sp.testLimit
	if cfg.TestData != "" {
		path, format = cfg.TestData, cfg.TestFormat
	}
	src, err := datasets.OpenBatches(format, path, datasets.BatchOptions{
		BatchSize: cfg.Batch, HashSeed: cfg.HashSeed, OnError: onErr, Filter: sp.testFilter, Skip: skip, Limit: limit,
	})
	if err != nil {
		return 0, 0, 0, err
	}
	defer src.Close()
	var probs, labels []float32
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		b, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, 0, err
		}
		p, err := st.predict(b)
		if err != nil {
			return 0, 0, 0, err
		}
		probs = append(probs, p...)
		labels = append(labels, b.Labels...)
		src.Release(b)
	}
	if len(probs) == 0 {
		return 0, 0, 0, fmt.Errorf("%s: no test rows", path)
	}
	auc, err := metrics.AUC(probs, labels)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("test split of %s: %w", path, err)
	}
	return auc, metrics.LogLoss(probs, labels), int64(len(probs)), nil
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
}

func newStepper(t trainTable, net trainNet, s *datasets.Schema, threads int) *stepper {
	return &stepper{table: t, net: net, nd: s.NumDense(), nf: s.NumCat(), dim: t.Dim(), threads: threads}
}

// prepare transforms dense features and gathers embeddings for b.
func (s *stepper) prepare(b *datasets.Batch) {
	n := b.Rows
	s.dense = growF(s.dense, n*s.nd)
	copy(s.dense, b.Dense)
	datasets.TransformDense(s.dense)
	s.emb = growF(s.emb, n*s.nf*s.dim)
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
	s.table.Apply(b.IDs, s.dEmb)
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
	src, err := datasets.OpenBatches(cfg.Format, cfg.Data, datasets.BatchOptions{BatchSize: 1, Limit: 1})
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
		return datasets.CountRows(format, path, datasets.BatchOptions{BatchSize: 8192, OnError: onErr})
	}
	total, err := count(cfg.Format, cfg.Data)
	if err != nil {
		return nil, err
	}
	if cfg.MaxRows > 0 && total > cfg.MaxRows {
		total = cfg.MaxRows
	}
	if cfg.TestData != "" {
		sp.trainLimit, sp.trainRows = total, total
		n, err := count(cfg.TestFormat, cfg.TestData)
		if err != nil {
			return nil, err
		}
		sp.testRows = n
		return sp, nil
	}
	if cfg.Split == "time" {
		ts, err := timestamps(cfg, onErr, total)
		if err != nil {
			return nil, err
		}
		sorted := append([]int64(nil), ts...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		cut := sorted[int(float64(len(sorted))*(1-cfg.TestFraction))]
		for _, t := range ts {
			if t < cut {
				sp.trainRows++
			} else {
				sp.testRows++
			}
		}
		sp.trainFilter = func(r *datasets.Record) bool { return r.Timestamp < cut }
		sp.testFilter = func(r *datasets.Record) bool { return r.Timestamp >= cut }
		sp.trainLimit, sp.testLimit = sp.trainRows, sp.testRows
		if cfg.MaxRows > 0 { // the limit counts rows before the filter; keep it simple
			sp.trainLimit, sp.testLimit = 0, 0
		}
		return sp, nil
	}
	ntest := int64(math.Round(float64(total) * cfg.TestFraction))
	sp.trainRows, sp.testRows = total-ntest, ntest
	sp.trainLimit = sp.trainRows
	sp.testSkip, sp.testLimit = sp.trainRows, ntest
	return sp, nil
}

// timestamps reads the timestamps of the first max rows of the data.
func timestamps(cfg *Config, onErr datasets.OnError, max int64) ([]int64, error) {
	src, err := datasets.OpenBatches(cfg.Format, cfg.Data, datasets.BatchOptions{BatchSize: 8192, OnError: onErr, Limit: max})
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
	src, err := datasets.OpenBatches(cfg.Format, cfg.Data, datasets.BatchOptions{
		BatchSize: 8192, HashSeed: cfg.HashSeed, OnError: onErr, Filter: sp.trainFilter,
		Skip: sp.trainSkip, Limit: sp.trainLimit,
	})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	nf := src.Schema().NumCat()
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
			m := sets[i%nf]
			if c := m[id]; c < math.MaxUint32 {
				m[id] = c + 1
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

// jsonlWriter appends JSON lines to a metrics file.
type jsonlWriter struct {
	f   *os.File
	enc *json.Encoder
}

func openJSONL(path string, appendTo bool) (*jsonlWriter, error) {
	flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics file: %w", err)
	}
	return &jsonlWriter{f: f, enc: json.NewEncoder(f)}, nil
}

func (j *jsonlWriter) write(v any) { j.enc.Encode(v) }

func (j *jsonlWriter) Close() error { return j.f.Close() }

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
	// one OOV row per field) at cfg.Dim.
	FullTableBytes int64
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
		FullTableBytes: embedding.FullTableBytes(card, cfg.Dim)}, nil
}
