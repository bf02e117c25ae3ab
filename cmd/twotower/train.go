package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/bytesize"
	"github.com/embtab/embtab/kernels/gemm"
	"github.com/embtab/embtab/progress"
	"github.com/embtab/embtab/retrieval"
)

// defaultData is MovieLens 1M beside the checkout.
const defaultData = "../shared/data/movielens/ml-1m"

// modelFlags binds the flags of a model and its training run.
type modelFlags struct {
	cfg     retrieval.Config
	data    string
	format  string
	users   []string
	items   []string
	budget  string
	ratio   float64
	quiet   bool
	efs     []int
	cands   []int
	nested  []int
	annEval bool
}

func (f *modelFlags) bind(fs *pflag.FlagSet) {
	c := &f.cfg
	fs.StringVar(&f.data, "data", defaultData, "MovieLens directory (movielens1m, movielens100k) or a Parquet file converted from one")
	fs.StringVar(&f.format, "format", "movielens1m", "source format: movielens1m, movielens100k, movielens-latest (ratings.csv, movies.csv) or parquet")
	fs.StringSliceVar(&f.users, "user-fields", nil, "the user tower's categorical fields, its key first (default: those of user_id, gender, age, occupation, zip the data has)")
	fs.StringSliceVar(&f.items, "item-fields", nil, "the item tower's categorical fields, its key first (default: those of movie_id, genres, first_genre, year the data has)")
	fs.StringVar(&c.Table, "table", "full", "embedding table method: full, hashed, qr, multiplex, unified, multiprobe or hybrid")
	fs.StringVar(&f.budget, "memory-budget", "", "bytes of fp32 table parameters, like 64KiB (default: the full table's)")
	fs.Float64Var(&f.ratio, "compression-ratio", 0, "budget = the full table's bytes / this ratio (instead of --memory-budget)")
	fs.StringVar(&c.Storage, "storage", "fp32", "precision of the table rows while training: fp32 or int8")
	fs.Float64Var(&c.HeadFraction, "head-fraction", 0, "hybrid tables: share of the budget for the frequent values' own rows (0: 0.5)")
	fs.StringVar(&c.Optimizer, "optimizer", "rowwise_adagrad", "sparse optimizer of the table rows: rowwise_adagrad, adagrad, lazy_adam or sgd")
	fs.Float64Var(&c.EmbLR, "emb-lr", 0, "learning rate of the table rows (0: the optimizer's default)")
	fs.IntVar(&c.Dim, "dim", 16, "table dim: floats per field vector")
	fs.IntVar(&c.Hidden, "hidden", 64, "width of the towers' hidden ReLU layer")
	fs.IntVar(&c.Out, "out-dim", 32, "dim of the user and item vectors")
	fs.IntSliceVar(&f.nested, "nested-dims", nil, "Matryoshka prefix dims trained together, like 8,16,32 (the loss sums their softmax losses)")
	fs.Float64Var(&c.Temperature, "temperature", 0.05, "softmax temperature dividing the cosine scores")
	fs.BoolVar(&c.NoLogQ, "no-logq", false, "turn off the logQ (item popularity) correction of the in-batch softmax")
	fs.Float64Var(&c.LR, "lr", 0.002, "Adam learning rate of the tower weights")
	fs.IntVar(&c.Epochs, "epochs", 5, "passes over the training interactions")
	fs.IntVar(&c.History, "history", 0, "the user tower also reads the mean item vector of the user's last N positives before each interaction (YouTube's candidate model; 0: none)")
	fs.IntVar(&c.Batch, "batch", 512, "interactions per step (each user's in-batch negatives are the other items)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the initialisation and the example order")
	fs.Uint64Var(&c.HashSeed, "hash-seed", 0, "seed of the feature hash (0: the default)")
	fs.IntVar(&c.Threads, "threads", 2, "threads for the matrix products, the softmax and the table updates")
	fs.IntSliceVar(&f.efs, "ef", []int{10, 20, 40, 80}, "HNSW ef values to measure against exact search")
	fs.IntSliceVar(&f.cands, "adaptive-candidates", []int{20, 50, 100}, "adaptive search: candidates from the prefix index to re-rank with all dims")
	fs.BoolVar(&f.annEval, "ann-eval", true, "measure the HNSW index and adaptive search against exact search")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
}

// resolve finishes the config once the data's full table size and the
// smallest table's (one row per field) are known. A ratio whose budget is
// below the smallest table is an error: it cannot be reached, and a budget
// rounded to 0 bytes would mean "no budget", the full table.
func (f *modelFlags) resolve(fullBytes, minBytes int64) error {
	c := &f.cfg
	c.Nested = f.nested
	switch {
	case f.budget != "" && f.ratio != 0:
		return fmt.Errorf("give --memory-budget or --compression-ratio, not both")
	case f.budget != "":
		b, err := bytesize.Parse(f.budget)
		if err != nil {
			return fmt.Errorf("--memory-budget: %w", err)
		}
		c.MemoryBudget = b
	case f.ratio < 0 || f.ratio > 0 && f.ratio < 1:
		return fmt.Errorf("--compression-ratio %g: want >= 1", f.ratio)
	case f.ratio > 1:
		c.MemoryBudget = int64(float64(fullBytes) / f.ratio)
		if c.MemoryBudget < minBytes {
			return fmt.Errorf("--compression-ratio %g: the budget %s (full table %s / %g) is below the smallest table, one row per field (%s): at most ratio %.0f",
				f.ratio, bytesize.Format(c.MemoryBudget), bytesize.Format(fullBytes), f.ratio, bytesize.Format(minBytes), float64(fullBytes)/float64(minBytes))
		}
	}
	return nil
}

// loaded is a dataset with its split.
type loaded struct {
	in *retrieval.Interactions
	sp *retrieval.Split
}

func loadData(ctx context.Context, format, path string, userFields, itemFields []string, stderr io.Writer, quiet bool) (*loaded, error) {
	r, err := retrieval.OpenSource(format, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	bar := progress.New(stderr, "read", 0, "ratings")
	if quiet {
		bar = progress.Disabled()
	}
	du, di, err := retrieval.TowerFields(r.Schema())
	if len(userFields) == 0 || len(itemFields) == 0 {
		if err != nil {
			return nil, err
		}
	}
	if len(userFields) == 0 {
		userFields = du
	}
	if len(itemFields) == 0 {
		itemFields = di
	}
	in, err := retrieval.LoadInteractionsOf(ctx, r, bar.Set, userFields, itemFields)
	bar.Done()
	if err != nil {
		return nil, err
	}
	return &loaded{in: in, sp: in.LeaveLastOut()}, nil
}

// result is a training run's outcome (the --json line and result.json).
type result struct {
	Table          string                `json:"table"`
	Storage        string                `json:"storage"`
	Ratio          float64               `json:"compression_ratio"`
	MemoryBudget   int64                 `json:"memory_budget"`
	FullTableBytes int64                 `json:"full_table_bytes"`
	TableParams    int64                 `json:"table_param_bytes"`
	Seed           uint64                `json:"seed"`
	Epochs         int                   `json:"epochs"`
	TrainSeconds   float64               `json:"train_seconds"`
	Users          int                   `json:"users"`
	Items          int                   `json:"items"`
	Train          int                   `json:"train_interactions"`
	Test           retrieval.Metrics     `json:"test"`
	Valid          retrieval.Metrics     `json:"valid"`
	Prefixes       []retrieval.Metrics   `json:"prefixes,omitempty"`
	ANN            []retrieval.ANNResult `json:"ann,omitempty"`
	Out            string                `json:"out,omitempty"`
}

// trained is a model with the vectors of its users and items.
type trained struct {
	m      *retrieval.Model
	uv, iv []float32
	res    result
}

// trainAndEval trains a model on d and evaluates it; metrics, if not
// nil, receives JSONL lines.
func trainAndEval(ctx context.Context, f *modelFlags, d *loaded, metrics io.Writer, stderr io.Writer) (*trained, error) {
	full := retrieval.FullTableBytes(d.in, d.sp, f.cfg.Dim)
	if err := f.resolve(full, int64(len(d.in.Schema.Categorical))*int64(f.cfg.Dim)*4); err != nil {
		return nil, err
	}
	m, err := retrieval.NewModel(f.cfg, d.in, d.sp)
	if err != nil {
		return nil, err
	}
	cfg := m.Config
	ratio := 1.0
	if cfg.MemoryBudget > 0 {
		ratio = float64(full) / float64(cfg.MemoryBudget)
	}
	res := result{Table: cfg.Table, Storage: cfg.Storage, Ratio: ratio, MemoryBudget: cfg.MemoryBudget, FullTableBytes: full,
		TableParams: m.Table.Bytes().Params, Seed: cfg.Seed, Epochs: cfg.Epochs, Users: len(d.in.Users), Items: len(d.in.Items),
		Train: len(d.sp.Train)}
	bar := progress.New(stderr, fmt.Sprintf("train %s 1/%g", cfg.Table, ratio), 0, "steps")
	if f.quiet {
		bar = progress.Disabled()
	}
	g := gemm.NewContext(cfg.Threads)
	defer g.Close()
	enc := json.NewEncoder(io.Discard)
	if metrics != nil {
		enc = json.NewEncoder(metrics)
	}
	logEvery := int64(50)
	start := time.Now()
	err = retrieval.Train(ctx, m, d.sp, retrieval.TrainHooks{
		Step: func(epoch int, step, steps int64, loss float64) {
			bar.SetTotal(steps)
			bar.Set(step)
			if step%logEvery == 0 {
				bar.Detail(fmt.Sprintf("epoch %d loss %.4f", epoch, loss))
				enc.Encode(map[string]any{"kind": "train", "epoch": epoch, "step": step, "loss": loss,
					"seconds": time.Since(start).Seconds()})
			}
		},
		Epoch: func(epoch int, loss float64) error {
			v, err := retrieval.Evaluate(g, m, d.sp, retrieval.ValidSet, 0)
			if err != nil {
				return err
			}
			enc.Encode(map[string]any{"kind": "epoch", "epoch": epoch, "loss": loss, "valid": v, "seconds": time.Since(start).Seconds()})
			return nil
		},
	})
	bar.Done()
	if err != nil {
		return nil, err
	}
	res.TrainSeconds = time.Since(start).Seconds()
	t := &trained{m: m}
	if t.iv, err = m.ItemVectors(g); err != nil {
		return nil, err
	}
	if t.uv, err = m.UserVectors(g, nil, true); err != nil {
		return nil, err
	}
	if res.Test, err = evalVectors(g, d, t.uv, t.iv, cfg.Out, 0, retrieval.TestSet, nil); err != nil {
		return nil, err
	}
	// Validation users' vectors know only their training positives (with a
	// history: the test vectors also hold the validation item).
	uvValid := t.uv
	if cfg.History > 0 {
		if uvValid, err = m.UserVectors(g, nil, false); err != nil {
			return nil, err
		}
	}
	if res.Valid, err = evalVectors(g, d, uvValid, t.iv, cfg.Out, 0, retrieval.ValidSet, nil); err != nil {
		return nil, err
	}
	// Prefixes: the nested dims, else a quarter and a half of the dims (to
	// show what prefixes of vectors trained without nesting are worth).
	nested := m.Towers.Config().Nested
	prefixes := nested[:len(nested)-1]
	if len(prefixes) == 0 && cfg.Out >= 4 {
		prefixes = []int{cfg.Out / 4, cfg.Out / 2}
	}
	for _, p := range prefixes {
		pm, err := evalVectors(g, d, t.uv, t.iv, cfg.Out, p, retrieval.TestSet, nil)
		if err != nil {
			return nil, err
		}
		res.Prefixes = append(res.Prefixes, pm)
	}
	if f.annEval {
		q := testUserVectors(d, t.uv, cfg.Out)
		if res.ANN, err = retrieval.EvaluateANN(g, q, t.iv, cfg.Out, 10, f.efs, prefixes, f.cands, cfg.Seed); err != nil {
			return nil, err
		}
	}
	enc.Encode(map[string]any{"kind": "test", "test": res.Test, "prefixes": res.Prefixes, "ann": res.ANN})
	t.res = res
	return t, nil
}

// testUserVectors returns the vectors of the test users, in Split.Test
// order, from all users' vectors.
func testUserVectors(d *loaded, uv []float32, dim int) []float32 {
	q := make([]float32, 0, len(d.sp.Test)*dim)
	for _, e := range d.sp.Test {
		q = append(q, uv[int(e.User)*dim:int(e.User+1)*dim]...)
	}
	return q
}

// evalVectors ranks the held-out items of d's split with the vectors of
// all users and items, leaving out those absent (nil: none).
func evalVectors(g *gemm.Context, d *loaded, uv, iv []float32, dim, prefix int, set retrieval.EvalSet, absent *retrieval.Absent) (retrieval.Metrics, error) {
	held := d.sp.Test
	if set == retrieval.ValidSet {
		held = d.sp.Valid
	}
	q := make([]float32, 0, len(held)*dim)
	for _, e := range held {
		q = append(q, uv[int(e.User)*dim:int(e.User+1)*dim]...)
	}
	return retrieval.RankMetrics(g, q, iv, dim, prefix, d.sp, set, absent)
}

func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", "Train a two-tower model on MovieLens (leave-last-out split), evaluate it against exact\nsearch, and write metrics, vectors and a serving artifact to --out.", stderr)
	var f modelFlags
	f.bind(fs)
	out := fs.String("out", "runs/twotower", "output directory: metrics.jsonl, vectors/, model/ (the artifact), result.json")
	noArtifact := fs.Bool("no-artifact", false, "do not write the artifact (vectors and metrics only)")
	asJSON := fs.Bool("json", false, "print the result as one JSON line (last line of stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := f.check(fs); err != nil {
		return err
	}
	if fs.Changed("compression-ratio") && !(f.ratio >= 1) {
		return fmt.Errorf("--compression-ratio %g: want >= 1 (1 is the full table)", f.ratio)
	}
	if err := checkEfs(f.efs); err != nil {
		return err
	}
	d, err := loadData(ctx, f.format, f.data, f.users, f.items, stderr, f.quiet)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	mf, err := os.OpenFile(filepath.Join(*out, "metrics.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, atomicfile.Mode)
	if err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	defer mf.Close()
	t, err := trainAndEval(ctx, &f, d, mf, stderr)
	if err != nil {
		return err
	}
	t.res.Out = *out
	vecDir := filepath.Join(*out, "vectors")
	if _, err := retrieval.ExportVectors(vecDir, d.in.Users, d.in.Items, t.uv, t.iv, t.m.Config.Out); err != nil {
		return err
	}
	if !*noArtifact {
		ix, err := retrieval.BuildIndex(t.iv, t.m.Config.Out, 0, t.m.Config.Seed)
		if err != nil {
			return err
		}
		training, err := json.Marshal(t.m.Config)
		if err != nil {
			return err
		}
		if _, err := retrieval.ExportArtifact(filepath.Join(*out, "model"), t.m, ix, t.uv, t.iv, training); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(t.res, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(*out, "result.json"), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if *asJSON {
		return emitJSON(stdout, t.res)
	}
	r := t.res
	fmt.Fprintf(stdout, "%s table, 1/%.3g of the full table (%s of params): recall@10 %.4f, recall@50 %.4f, NDCG@10 %.4f on %d test users (%.1fs training)\n",
		r.Table, r.Ratio, bytesize.Format(r.TableParams), r.Test.Recall10, r.Test.Recall50, r.Test.NDCG10, r.Test.Users, r.TrainSeconds)
	for _, p := range r.Prefixes {
		fmt.Fprintf(stdout, "  first %d dims: recall@10 %.4f, NDCG@10 %.4f\n", p.Prefix, p.Recall10, p.NDCG10)
	}
	for _, a := range r.ANN {
		fmt.Fprintf(stdout, "  %-8s prefix %2d cands %3d ef %3d: recall@10 vs exact %.4f, %.0f queries/s\n", a.Method, a.Prefix, a.Candidates, a.Ef, a.Recall, a.QPS)
	}
	fmt.Fprintf(stdout, "wrote %s (metrics.jsonl, vectors/, model/, result.json)\n", *out)
	return nil
}

// check rejects model flags given on the command line with a value that
// retrieval.Config would silently replace by its default (--epochs 0
// trained the default 5 epochs) or that is out of range. The documented
// zeros (--emb-lr 0, --hash-seed 0, --head-fraction 0) stay.
func (f *modelFlags) check(fs *pflag.FlagSet) error {
	c := &f.cfg
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	for _, ch := range []struct {
		flag string
		bad  bool
		want string
	}{
		{"epochs", c.Epochs < 1, ">= 1"},
		{"batch", c.Batch < 1, ">= 1"},
		{"dim", c.Dim < 1, ">= 1"},
		{"hidden", c.Hidden < 1, ">= 1"},
		{"out-dim", c.Out < 1, ">= 1"},
		{"temperature", !(c.Temperature > 0) || !finite(c.Temperature), "a finite value > 0"},
		{"lr", !(c.LR > 0) || !finite(c.LR), "a finite value > 0"},
		{"emb-lr", !(c.EmbLR >= 0) || !finite(c.EmbLR), "a finite value >= 0 (0 = the optimizer's default)"},
		{"seed", c.Seed < 1, ">= 1"},
		{"threads", c.Threads < 1, ">= 1"},
	} {
		if ch.bad && fs.Changed(ch.flag) {
			return fmt.Errorf("--%s %s: want %s", ch.flag, fs.Lookup(ch.flag).Value, ch.want)
		}
	}
	return nil
}

// checkEfs rejects HNSW ef values below 1 (an ef of 0 or less would
// silently mean the index's default).
func checkEfs(efs []int) error {
	for _, ef := range efs {
		if ef < 1 {
			return fmt.Errorf("--ef %d: want >= 1", ef)
		}
	}
	return nil
}
