// Command train trains a CTR model with embtab's embedding tables.
//
// With no flags it generates a small Criteo-like data set in a temporary
// directory, trains dlrm-small on it and prints the test AUC: the quick start.
//
//	train --data train.parquet --model dlrm --table hashed --memory-budget 4MiB --out runs/a
//
// Run `train --help` for every flag.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/bytesize"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/progress"
	"github.com/embtab/embtab/trainer"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var c trainer.Config
	fs.StringVar(&c.Data, "data", "", "training data: a .parquet file from 'dataset convert' or 'dataset gen', a raw Criteo .tsv[.gz], an Avazu .csv, or a MovieLens directory (default: generate a small Criteo-like set)")
	fs.StringVar(&c.Format, "format", "", "format of --data: parquet, criteo, avazu, movielens1m, movielens100k, movielens-latest (a directory with ratings.csv, movies.csv), csv (a header naming the columns; see --label, --dense-columns), libsvm, libffm (default: guessed from the name: .csv is avazu when it starts with Avazu's columns, else csv)")
	fs.StringVar(&c.Label, "label", "", "csv data: the label column, 0/1 (default \"label\")")
	fs.StringSliceVar(&c.DenseColumns, "dense-columns", nil, "csv data: columns read as integer dense features (comma-separated; every other column but the label is categorical)")
	fs.StringSliceVar(&c.Fields, "fields", nil, "libsvm/libffm data: the field names in order (default f0, f1, ...: as many as the first row has pairs (libsvm), or its largest field number + 1 (libffm))")
	fs.StringVar(&c.FieldOffsets, "field-offsets", "", "libsvm data: a file of \"name offset\" lines, ascending: a feature index belongs to the last field whose offset is <= it (default: the k-th pair of a row is field k)")
	fs.BoolVar(&c.GenresBag, "genres-bag", false, "MovieLens data: genres as a multi-hot bag field instead of one value per genre combination")
	fs.IntVar(&c.History, "history", 0, fmt.Sprintf("MovieLens data: add a sequence bag of the user's last N positively rated movies strictly before each rating, sharing movie_id's rows (0: none; %d is the usual length)", datasets.DefaultHistory))
	fs.IntVar(&c.Tags, "tags", 0, "movielens-latest data: add a bag of the movie's last N distinct tags applied before each rating (0: none)")
	fs.StringVar(&c.BagPooling, "bag-pooling", "mean", "how a bag field's value vectors pool into its input: mean or sum (an empty bag is the zero vector)")
	fs.IntVar(&c.SeqLen, "seq-len", 0, fmt.Sprintf("--model din: the behaviours (a sequence bag's last values) attended over per example (0: %d)", datasets.DefaultHistory))
	fs.StringVar(&c.TestData, "test-data", "", "test data (same formats); default: hold out --test-fraction of --data")
	fs.StringVar(&c.TestFormat, "test-format", "", "format of --test-data (default: guessed)")
	fs.Float64Var(&c.TestFraction, "test-fraction", 0.1, "fraction of --data held out for testing when there is no --test-data, in (0,1)")
	fs.Float64Var(&c.ValidFraction, "valid-fraction", 0, "fraction of --data held out for validation, the rows before the test rows (with --test-data: the last rows of --data), in [0,1); with a validation set each epoch is evaluated on it and the test set once, after the last epoch (0 = none)")
	fs.StringVar(&c.ValidData, "valid-data", "", "validation data (same formats), instead of --valid-fraction")
	fs.StringVar(&c.ValidFormat, "valid-format", "", "format of --valid-data (default: guessed)")
	fs.StringVar(&c.Split, "split", "order", "how --test-fraction splits: order (the last rows of the file) or time (the latest timestamps; MovieLens, Avazu)")
	fs.Int64Var(&c.MaxRows, "max-rows", 0, "read at most this many rows of --data (0 = all)")
	fs.StringVar(&c.Model, "model", "dlrm", "dense model: lr, fm, deepfm, dlrm (dlrm-small), dcnv2, autoint, autoint+ (AutoInt: 3 self-attention layers of 2 heads of 16; + a parallel deep MLP), din (attention of the candidate over a sequence bag: MovieLens --history N)")
	fs.StringVar(&c.Dense, "dense", "auto", "dense-net implementation: native (fused CPU kernels), gomlx (GoMLX simplego graph, the reference), auto (native where the model has one)")
	fs.StringVar(&c.Table, "table", "", "embedding table (default: full without --memory-budget or --rows-per-field, hashed with one): full (one row per distinct training value + OOV), hashed (per-field hashing trick), qr (quotient-remainder), multiplex (one shared table, field-salted), unified (Unified Embedding: 2 salted chunks per field in a shared table), multiprobe (sum of 2 salted probes in a shared table), hybrid (frequent values own rows, the tail is hashed), adaptemb (hybrid sized per field at one rate, as the VLDB'24 benchmark), robe (ROBE: blocks of one shared array), cafe (CAFE: hot ids found online by a sketch own rows), ttrec (TT-Rec: tensor-train cores for the large fields), dedup (blocks of similar rows merged by LSH after a first training stage, then fine-tuned), dhe (Deep Hash Embedding: an MLP over hash encodings, no table), mde (Mixed Dimension Embeddings: per-field widths from a power law of the cardinality, projected to --dim), deeplight (magnitude pruning on a schedule), pep (learned soft thresholds per value), autosrh (frequency groups with learned per-dimension weights, pruned), mgqe and dpq (product-quantized codes + codebooks); optembed, dnis, autodim, uniform name --dim-search over a full table; the registered methods: "+strings.Join(embedding.Methods(), ", "))
	fs.IntVar(&c.Dim, "dim", 16, "embedding dimension (>= 1)")
	fs.IntVar(&c.RowsPerField, "rows-per-field", 0, "hashed tables only: exactly this many rows per field, overriding --memory-budget (as the PyTorch peer's flag)")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the run to this file")
	budget := fs.String("memory-budget", "", "bytes for the embedding parameters, e.g. 4MiB, 1.5GB; tables size themselves to it (default: rows for every distinct value)")
	fs.StringVar(&c.TableConfig, "table-config", "", "JSON file shaping a multiplex/unified/multiprobe table (chunks per field, chunk_dim, tables, probes; see multiplex.Config), or a cafe table's settings (threshold, hash_fraction, decay, buckets, importance: grad or freq), or a dedup table's (block, after, threshold, bits, ratio; see dedup.Shape), or a pruned table's (prune_every, ramp, threshold_init, groups, l1, alpha_lr, retrain; see prune.Settings), or an mgqe/dpq table's (parts, high, low, top_fraction; see pq.Settings); rows are sized to --memory-budget")
	fs.IntVar(&c.Chunks, "chunks", 0, "unified: chunks per field (chunk dim = dim/chunks; default 2)")
	fs.IntVar(&c.Probes, "probes", 0, "multiprobe: salted probes summed per field (default 2)")
	fs.Float64Var(&c.HeadFraction, "head-fraction", 0, "hybrid: share of the budget for the frequent values' own rows (default 0.5)")
	fs.IntVar(&c.MaxRank, "max-rank", 0, "ttrec: largest TT-rank of the cores, 1..256 (default 8); a budget that buys more buys more core slices")
	fs.StringVar(&c.Storage, "storage", "fp32", "precision of the embedding rows during training: fp32, int8 (row-wise int8, stochastic rounding on update: ~3-4x less table memory), alpt (ALPT: symmetric int8 rows with learned per-row steps, a second dense pass a step), or alpt4 (ALPT at 4 bits: exported and served as int4 rows)")
	fs.Float64Var(&c.ScaleLR, "scale-lr", 0, "learning rate of ALPT's per-row steps with --storage alpt or alpt4 (0: 2e-5, Hetu's)")
	fs.StringVar(&c.Optimizer, "optimizer", "rowwise_adagrad", "sparse optimizer of the embedding rows: rowwise_adagrad, adagrad, lazy_adam, sgd")
	fs.IntVar(&c.Epochs, "epochs", 1, "passes over the training data (>= 1)")
	fs.IntVar(&c.Batch, "batch", 2048, "examples per step (>= 1)")
	fs.Float64Var(&c.LR, "lr", 1e-3, "Adam learning rate of the dense network")
	fs.Float64Var(&c.EmbLR, "emb-lr", 0, "learning rate of the embedding optimizer (default: 0.2 for rowwise_adagrad (0.1 with fm and deepfm), 0.05 for adagrad, 0.005 for lazy_adam, 1 for sgd)")
	fs.Float64Var(&c.FMScale, "fm-scale", 0, "fm, deepfm: weight of the second-order (pair) term (default 1/fields: the pairs' mean per field; 1 is the plain factorization machine)")
	fs.IntVar(&c.Threads, "threads", 0, "threads for gathers, updates and the dense net (0 = all cores)")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed of initialisation, >= 1 (runs are reproducible)")
	fs.Uint64Var(&c.HashSeed, "hash-seed", 0, "seed of the feature hash (default: embtab's fixed seed)")
	fs.StringVar(&c.OnError, "on-error", "fail", "malformed rows in raw data: fail or skip (counted)")
	fs.StringVar(&c.Out, "out", "", "output directory: metrics.jsonl, checkpoint.bin, result.json, model/ (and, without --data, the generated quickstart-N.parquet, reused by --resume) (default: none)")
	fs.Int64Var(&c.CheckpointEvery, "checkpoint-every", 0, "write a checkpoint every N steps (0: at the end of each epoch); needs --out")
	fs.StringSliceVar(&c.EvalCodecs, "eval-codecs", nil, "after training, also evaluate with the embedding rows quantized by these codecs (fp16,int8,int4): post-training quantization")
	fs.Int64Var(&c.LogEvery, "log-every", 50, "write training metrics to metrics.jsonl every N steps (>= 1)")
	fs.StringVar(&c.DimSearch, "dim-search", "", "search per-field embedding dimensions within --memory-budget before training, then train from scratch with the plan found (written to <out>/dimplan.json): optembed (row-pruning thresholds + supernet + evolutionary search), dnis (soft selection weights trained on hold-out batches), autodim (Gumbel-softmax weights over candidate dims 2, 4, ..., --dim trained on hold-out batches, argmax cut to the budget), uniform (the largest equal dimension that fits: the baseline); needs --table full, hashed or unified")
	fs.StringVar(&c.DimPlan, "dim-plan", "", "train with a saved dimension plan (a dimplan.json of an earlier search) instead of uniform dimensions; needs --table full, hashed or unified")
	fs.Float64Var(&c.Search.ValFraction, "search-val-fraction", 0.1, "dimension search: share of the training rows held out to score candidates (the final training uses them all)")
	fs.IntVar(&c.Search.MaxValRows, "search-val-rows", 100000, "dimension search: at most this many hold-out rows")
	fs.IntVar(&c.Search.Epochs, "search-epochs", 0, "dimension search: training epochs of the search model (default --epochs)")
	fs.Float64Var(&c.Search.ThresholdLR, "search-threshold-lr", 0, "optembed: Adam learning rate of the row-pruning thresholds (default 1e-3)")
	fs.Float64Var(&c.Search.InitScale, "search-init-scale", 0, "optembed: half-width of the supernet table's uniform init (0: Xavier's bound sqrt(6/(rows+dim)), as OptEmbed's code; negative: the table default 0.05)")
	fs.Float64Var(&c.Search.PruneReg, "search-prune-reg", 0, "optembed: weight of the regulariser sum_f exp(-t_f) that raises the thresholds (default 1e-3; 0 keeps the default, larger prunes more rows)")
	fs.IntVar(&c.Search.Population, "search-population", 0, "optembed: candidates per generation of the evolutionary search (default 20)")
	fs.IntVar(&c.Search.Generations, "search-generations", 0, "optembed: generations of the evolutionary search (default 10)")
	fs.Float64Var(&c.Search.SelectLR, "search-select-lr", 0, "dnis: Adam learning rate of the selection weights (default 1e-2)")
	fs.Float64Var(&c.Search.SelectL1, "search-select-l1", 0, "dnis: L1 penalty on the selection weights (default 0)")
	fs.IntVar(&c.Search.SelectEvery, "search-select-every", 1, "dnis: training steps per hold-out step of the selection weights")
	resume := fs.Bool("resume", false, "continue from <out>/checkpoint.bin if it exists (same data and model flags)")
	asJSON := fs.Bool("json", false, "print the result as one JSON object on the last stdout line")
	quiet := fs.Bool("quiet", false, "no progress bar")
	verbose := fs.Bool("verbose", false, "log progress events to stderr")
	genRows := fs.Int64("gen-rows", 200000, "rows of the generated set when --data is not given (>= 1)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: train [flags]\n\nTrains a CTR model; with no flags, on a small generated Criteo-like set.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags start with --)", fs.Args())
	}
	if err := checkFlags(fs, &c, *genRows); err != nil {
		return err
	}
	var err error
	if c.MemoryBudget, err = bytesize.Parse(*budget); err != nil {
		return fmt.Errorf("--memory-budget: %w", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if c.Data == "" {
		data, cleanup, err := quickStartData(ctx, c.Out, *genRows, stderr)
		if err != nil {
			return err
		}
		defer cleanup()
		c.Data, c.Format = data, "parquet"
	}
	bar := progress.New(stderr, "train", 0, "samples")
	if *quiet {
		bar = progress.Disabled()
	}
	if *cpuProfile != "" {
		f, err := os.OpenFile(*cpuProfile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, atomicfile.Mode)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := trainer.Train(ctx, c, trainer.Options{Logger: log, Progress: bar, Resume: *resume})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printResult(stdout, res, c.Out)
	return nil
}

// quickStartData generates the quick start's data set (rows generated
// Criteo-like rows, scale 0.01, seed 1) and returns its path and what
// removes it. With an output directory the file is kept there
// (quickstart-<rows>.parquet, reused when it exists), so that --resume of
// a quick-start run finds the same --data as its checkpoint; without one
// it goes to a temporary directory removed by cleanup.
func quickStartData(ctx context.Context, out string, rows int64, stderr io.Writer) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", nil, fmt.Errorf("output directory: %w", err)
		}
		path = filepath.Join(out, fmt.Sprintf("quickstart-%d.parquet", rows))
		if _, err := os.Stat(path); err == nil {
			fmt.Fprintf(stderr, "no --data: using the generated %s\n", path)
			return path, cleanup, nil
		}
	} else {
		dir, err := os.MkdirTemp("", "embtab-quickstart-")
		if err != nil {
			return "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		path = filepath.Join(dir, "synth.parquet")
	}
	fmt.Fprintf(stderr, "no --data: generating %d Criteo-like rows (scale 0.01, seed 1) into %s\n", rows, path)
	g, err := datasets.NewGenerator(datasets.GenConfig{Rows: rows, Scale: 0.01, Seed: 1})
	if err == nil {
		_, err = datasets.Convert(ctx, g, path, datasets.ConvertOptions{})
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("quick start data: %w", err)
	}
	return path, cleanup, nil
}

// printResult prints res as text: a run that --resume found finished says
// so first (nothing was trained; the stored result is shown as it is).
func printResult(w io.Writer, res *trainer.Result, out string) {
	if res.AlreadyComplete {
		fmt.Fprintf(w, "%s: already complete (%d steps); nothing trained, %s left as it is. Stored result:\n",
			out, res.Steps, filepath.Join(out, trainer.ResultFile))
	}
	if res.ValidRows > 0 {
		fmt.Fprintf(w, "validation AUC %.4f (95%% CI %.4f-%.4f, DeLong, %d rows), logloss %.4f\n",
			res.ValidAUC, res.ValidAUCCI[0], res.ValidAUCCI[1], res.ValidRows, res.ValidLogLoss)
	}
	fmt.Fprintf(w, "model %s, table %s (dim %d): test AUC %.4f (95%% CI %.4f-%.4f, DeLong, %d test rows), test logloss %.4f\n",
		res.Model, res.Table, res.Dim, res.TestAUC, res.TestAUCCI[0], res.TestAUCCI[1], res.TestRows, res.TestLogLoss)
	fmt.Fprintf(w, "trained %d rows x %d epochs in %.1fs (%.0f samples/s); serving %s (rows %s + index %s; full table %s: compression %.1fx)\n",
		res.TrainRows, res.Epochs, res.TrainSeconds, res.TrainSamplesPerS,
		bytesize.Format(res.ServingBytes), bytesize.Format(res.ServingBytes-res.IndexBytes), bytesize.Format(res.IndexBytes),
		bytesize.Format(res.FullServingBytes), res.CompressionRatio)
	for _, q := range res.Quantized {
		fmt.Fprintf(w, "quantized %s: test AUC %.4f (%+.4f), test logloss %.4f; rows %s, RMSE %.3g (relative %.3g)\n",
			q.Codec, q.TestAUC, q.DeltaAUC, q.TestLogLoss, bytesize.Format(q.Bytes), q.RMSE, q.RelErr)
	}
}

// checkFlags rejects numeric flags given on the command line with a value
// that trainer.Config would silently replace by its default (a zero) or
// that is out of range: an explicit --epochs 0 is a mistake, not a request
// for the default. Zeros with a documented meaning (--max-rows 0 = all
// rows, --threads 0 = all cores, --checkpoint-every 0 = at epoch ends,
// --emb-lr 0 = the optimizer's default, the search's 0 = default) stay.
func checkFlags(fs *pflag.FlagSet, c *trainer.Config, genRows int64) error {
	checks := []struct {
		flag string
		bad  bool
		want string
	}{
		{"epochs", c.Epochs < 1, ">= 1"},
		{"batch", c.Batch < 1, ">= 1"},
		{"dim", c.Dim < 1, ">= 1"},
		{"test-fraction", !(c.TestFraction > 0 && c.TestFraction < 1), "a fraction in (0,1)"},
		{"valid-fraction", !(c.ValidFraction >= 0 && c.ValidFraction < 1), "a fraction in [0,1)"},
		{"threads", c.Threads < 0, ">= 0 (0 = all cores)"},
		{"max-rows", c.MaxRows < 0, ">= 0 (0 = all rows)"},
		{"lr", !(c.LR > 0) || math.IsInf(c.LR, 0), "a finite value > 0"},
		{"emb-lr", !(c.EmbLR >= 0) || math.IsInf(c.EmbLR, 0), "a finite value >= 0 (0 = the optimizer's default)"},
		{"fm-scale", !(c.FMScale >= 0) || math.IsInf(c.FMScale, 0), "a finite value >= 0 (0 = 1/fields)"},
		{"seed", c.Seed < 1, ">= 1"},
		{"log-every", c.LogEvery < 1, ">= 1"},
		{"checkpoint-every", c.CheckpointEvery < 0, ">= 0 (0 = at the end of each epoch)"},
		{"rows-per-field", c.RowsPerField < 0, ">= 0"},
		{"chunks", c.Chunks < 0, ">= 0"},
		{"probes", c.Probes < 0, ">= 0"},
		{"max-rank", c.MaxRank < 0, ">= 0"},
		{"gen-rows", genRows < 1, ">= 1"},
	}
	for _, ch := range checks {
		if ch.bad && fs.Changed(ch.flag) {
			return fmt.Errorf("--%s %s: want %s", ch.flag, fs.Lookup(ch.flag).Value, ch.want)
		}
	}
	return nil
}
