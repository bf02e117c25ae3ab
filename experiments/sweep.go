package experiments

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"github.com/embtab/embtab/atomicfile"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/dimsearch"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/trainer"
)

// Dataset is one data set of a sweep and the model trained on it.
type Dataset struct {
	Name         string  `json:"name"`
	Data         string  `json:"data"`
	Format       string  `json:"format,omitempty"`
	TestData     string  `json:"test_data,omitempty"`
	Split        string  `json:"split,omitempty"`
	TestFraction float64 `json:"test_fraction,omitempty"`
	// ValidFraction of Data is held out for validation (trainer
	// Config.ValidFraction; 0: none): each cell also reports its
	// validation AUC, which is what any choice made from a sweep reads.
	ValidFraction float64 `json:"valid_fraction,omitempty"`
	// Folds, when set, replace Data/TestData: the cell of seed s trains on
	// Folds[(s-1) mod len].Train and tests on its Test (k-fold cross-
	// validation: with seeds 1..k every row is tested once, and the seeds'
	// spread is the folds').
	Folds  []datasets.Fold `json:"folds,omitempty"`
	Model  string          `json:"model"`
	Dim    int             `json:"dim"`
	Batch  int             `json:"batch"`
	Epochs int             `json:"epochs"`
}

func (d Dataset) config(method string, budget int64, seed uint64, threads int) trainer.Config {
	c := trainer.Config{
		Data: d.Data, Format: d.Format, TestData: d.TestData, Split: d.Split, TestFraction: d.TestFraction,
		Model: d.Model, Table: method, Dim: d.Dim, MemoryBudget: budget, Batch: d.Batch, Epochs: d.Epochs,
		Seed: seed, Threads: threads, ValidFraction: d.ValidFraction,
	}
	if len(d.Folds) > 0 {
		f := d.Folds[(seed-1)%uint64(len(d.Folds))]
		c.Data, c.Format, c.TestData, c.TestFormat, c.TestFraction, c.Split = f.Train, "parquet", f.Test, "parquet", 0, ""
	}
	if SearchMethod(method) {
		c.Table, c.DimSearch = embedding.MethodFull, method
	}
	return c
}

// SearchMethod reports whether a sweep method is a per-field dimension
// search (package dimsearch) rather than a table method: "optembed",
// "dnis" and "uniform" (equal dimensions at the same bytes, the searches'
// baseline) search over a full table within the cell's budget, then
// train a full table of the plan's kept rows and dimensions.
func SearchMethod(method string) bool {
	switch method {
	case dimsearch.MethodOptEmbed, dimsearch.MethodDNIS, dimsearch.MethodAutoDim, dimsearch.MethodUniform:
		return true
	}
	return false
}

// Result is one finished cell: a row of results.csv and results.parquet.
//
// The memory axis of a sweep is serving bytes: what the served fp32
// artifact of the cell holds in memory, its embedding rows plus its index
// (vocabularies, hash maps; see servingBytes). Ratio and the budgets are
// against the full table's serving bytes, so a table that pays for a
// vocabulary and one that hashes compare at equal memory.
type Result struct {
	Dataset     string  `parquet:"dataset" json:"dataset"`
	Method      string  `parquet:"method" json:"method"`
	Model       string  `parquet:"model" json:"model"`
	TargetRatio float64 `parquet:"target_ratio" json:"target_ratio"`
	// BudgetBytes is the cell's --memory-budget: FullServingBytes /
	// TargetRatio (0 for the full table, which takes none).
	BudgetBytes int64 `parquet:"budget_bytes" json:"budget_bytes"`
	// BytesUsed is the embedding parameters as stored (the trainer's
	// embedding_bytes), IndexBytes the index (index_bytes).
	BytesUsed int64 `parquet:"bytes_used" json:"bytes_used"`
	// FullTableBytes is the fp32 parameters of the full table (the
	// trainer's full_table_bytes).
	FullTableBytes int64 `parquet:"full_table_bytes" json:"full_table_bytes"`
	// Ratio is FullServingBytes / ServingBytes (FullTableBytes /
	// BytesUsed in a legacy row).
	Ratio        float64 `parquet:"ratio" json:"ratio"`
	AUC          float64 `parquet:"auc" json:"auc"`
	LogLoss      float64 `parquet:"logloss" json:"logloss"`
	TrainSeconds float64 `parquet:"train_seconds" json:"train_seconds"`
	Seed         int64   `parquet:"seed" json:"seed"`
	Dim          int64   `parquet:"dim" json:"dim"`
	IndexBytes   int64   `parquet:"index_bytes" json:"index_bytes"`
	// ServingBytes is BytesUsed + IndexBytes; FullServingBytes the full
	// table's of the same dataset and seed. Both are 0 in a legacy row (a
	// results.csv written before they were recorded).
	ServingBytes     int64 `parquet:"serving_bytes" json:"serving_bytes"`
	FullServingBytes int64 `parquet:"full_serving_bytes" json:"full_serving_bytes"`
	// TestRows is the rows the test AUC was computed on, AUCSE its
	// standard error (DeLong) and SamplesPerS the training throughput
	// (the trainer's train_samples_per_s). All three are 0 in rows
	// written before they were recorded.
	TestRows    int64   `parquet:"test_rows" json:"test_rows"`
	AUCSE       float64 `parquet:"auc_se" json:"auc_se"`
	SamplesPerS float64 `parquet:"samples_per_s" json:"samples_per_s"`
	// ValidAUC and ValidRows are the validation split's (Dataset.
	// ValidFraction); 0 without one and in rows written before them.
	ValidAUC  float64 `parquet:"valid_auc" json:"valid_auc"`
	ValidRows int64   `parquet:"valid_rows" json:"valid_rows"`
	// Folds is k when the cell ran on one fold of a k-fold split
	// (Dataset.Folds), 0 otherwise.
	Folds int64 `parquet:"folds" json:"folds"`
}

// servingBytes is what the served fp32 artifact of a run holds in memory:
// rows plus index. trainer.Result has no serving-bytes field yet (issue
// 13 plans one, for the rows as the artifact's codec stores them); when it
// gains one, return it here when it is nonzero.
func servingBytes(res *trainer.Result) int64 {
	if res.ServingBytes > 0 {
		return res.ServingBytes
	}
	return res.EmbeddingBytes + res.IndexBytes
}

// Legacy reports whether r comes from a results.csv written before
// serving bytes were recorded: its memory is the embedding parameters
// alone.
func (r *Result) Legacy() bool { return r.ServingBytes == 0 }

// legacyColumns is the width of a results.csv row from before serving
// bytes (the first 13 columns of csvHeader), servingColumns of one from
// before test rows, AUC standard errors and samples/s (the first 16),
// testColumns of one from before validation AUCs (the first 19),
// validColumns of one from before folds (the first 21).
const (
	legacyColumns  = 13
	servingColumns = 16
	testColumns    = 19
	validColumns   = 21
)

var csvHeader = []string{"dataset", "method", "model", "target_ratio", "budget_bytes", "bytes_used", "full_table_bytes",
	"ratio", "auc", "logloss", "train_seconds", "seed", "dim", "index_bytes", "serving_bytes", "full_serving_bytes",
	"test_rows", "auc_se", "samples_per_s", "valid_auc", "valid_rows", "folds"}

func (r *Result) record() []string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 10, 64) }
	i := func(x int64) string { return strconv.FormatInt(x, 10) }
	return []string{r.Dataset, r.Method, r.Model, f(r.TargetRatio), i(r.BudgetBytes), i(r.BytesUsed), i(r.FullTableBytes),
		f(r.Ratio), f(r.AUC), f(r.LogLoss), f(r.TrainSeconds), i(r.Seed), i(r.Dim),
		i(r.IndexBytes), i(r.ServingBytes), i(r.FullServingBytes), i(r.TestRows), f(r.AUCSE), f(r.SamplesPerS),
		f(r.ValidAUC), i(r.ValidRows), i(r.Folds)}
}

// parseRecord parses a results.csv row, of the current width or of an
// earlier one (legacyColumns, servingColumns, testColumns, validColumns).
func parseRecord(rec []string) (*Result, error) {
	if len(rec) != len(csvHeader) && len(rec) != legacyColumns && len(rec) != servingColumns && len(rec) != testColumns &&
		len(rec) != validColumns {
		return nil, fmt.Errorf("want %d columns, got %d", len(csvHeader), len(rec))
	}
	var r Result
	var err error
	pf := func(s string) float64 {
		v, e := strconv.ParseFloat(s, 64)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	pi := func(s string) int64 {
		v, e := strconv.ParseInt(s, 10, 64)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	r.Dataset, r.Method, r.Model = rec[0], rec[1], rec[2]
	r.TargetRatio, r.BudgetBytes, r.BytesUsed, r.FullTableBytes = pf(rec[3]), pi(rec[4]), pi(rec[5]), pi(rec[6])
	r.Ratio, r.AUC, r.LogLoss, r.TrainSeconds = pf(rec[7]), pf(rec[8]), pf(rec[9]), pf(rec[10])
	r.Seed, r.Dim = pi(rec[11]), pi(rec[12])
	if len(rec) > legacyColumns {
		r.IndexBytes, r.ServingBytes, r.FullServingBytes = pi(rec[13]), pi(rec[14]), pi(rec[15])
		if err == nil && r.ServingBytes <= 0 {
			err = fmt.Errorf("serving_bytes %d", r.ServingBytes)
		}
	}
	if len(rec) > servingColumns {
		r.TestRows, r.AUCSE, r.SamplesPerS = pi(rec[16]), pf(rec[17]), pf(rec[18])
	}
	if len(rec) > testColumns {
		r.ValidAUC, r.ValidRows = pf(rec[19]), pi(rec[20])
	}
	if len(rec) > validColumns {
		r.Folds = pi(rec[21])
	}
	return &r, err
}

// Sweep is a grid of cells.
type Sweep struct {
	Datasets []Dataset
	// Methods are trainer table names, or dimension searches (see
	// SearchMethod). The full table (MethodFull) is the baseline of every
	// ratio and of the report: Run always trains it, at ratio 1 only (it
	// cannot be compressed), first for each dataset and seed, whether or
	// not Methods lists it (see WithBaseline).
	Methods []string
	// Ratios are compression ratios against the full fp32 table's serving
	// bytes; every method but full runs at each of them.
	Ratios  []float64
	Seeds   []uint64
	Out     string
	Threads int
	Logger  *slog.Logger
	// Infeasible lists the cells whose method cannot be built within the
	// budget (e.g. QR needs two rows per field); Run fills it.
	Infeasible []string
	// OnCell, when set, is told about every finished or skipped cell.
	OnCell func(done, total int, r *Result, skipped bool)
	// Resume continues the sweep already in Out, skipping the cells its
	// results.csv holds. Without it Run refuses an Out that holds a
	// sweep's results or report (ErrOutputExists), so that a rerun never
	// appends to or rewrites one, such as a checked-in report, by accident.
	Resume bool
}

// BudgetWarning is logged (at Warn) once per dataset and ratio whose
// budget is at or above the full table's parameter bytes: the methods
// that cap at the full table's rows (hashed, hybrid, the dimension
// searches) cannot use all of it, so their cells at that ratio are the
// same tables as at any larger budget.
const BudgetWarning = "budget at or above the full table's parameter bytes: tables that cap at the full table's rows cannot use all of it"

// ErrOutputExists is returned by Run when Out already holds a sweep and
// Resume is not set.
var ErrOutputExists = errors.New("the output directory already holds a sweep")

// OutputFiles are the files a sweep writes into its output directory
// (patterns for filepath.Glob); Clear removes them.
var OutputFiles = []string{"results.csv", SearchFile, InfeasibleFile, "results.parquet", "report.md", "pareto_*.png"}

// InfeasibleFile lists, one per line, the cells whose method cannot be
// built within their budget: dataset, method, target ratio, seed and the
// reason, tab-separated. A resumed sweep skips them (and reports them).
const InfeasibleFile = "infeasible.tsv"

// ReadInfeasible reads dir's InfeasibleFile: the cells and their report
// lines (none when the file is absent).
func ReadInfeasible(dir string) (map[cellKey]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, InfeasibleFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read infeasible cells: %w", err)
	}
	out := map[cellKey]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, "\t", 5)
		if len(f) != 5 {
			continue // blank, or a torn last line: the cell is tried again
		}
		ratio, err1 := strconv.ParseFloat(f[2], 64)
		seed, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[cellKey{f[0], f[1], ratio, seed}] = f[4]
	}
	return out, nil
}

// InfeasibleLines returns the report lines of dir's infeasible cells,
// sorted.
func InfeasibleLines(dir string) ([]string, error) {
	m, err := ReadInfeasible(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}

// appendInfeasible records one infeasible cell in dir's InfeasibleFile.
func appendInfeasible(dir string, k cellKey, line string) error {
	f, err := os.OpenFile(filepath.Join(dir, InfeasibleFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("infeasible cells: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s\t%s\t%s\t%d\t%s\n", k.dataset, k.method, strconv.FormatFloat(k.ratio, 'g', -1, 64), k.seed,
		strings.ReplaceAll(line, "\n", " "))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("infeasible cells: %w", err)
	}
	return nil
}

// existing returns the sweep files already in dir.
func existing(dir string) ([]string, error) {
	var out []string
	for _, pat := range OutputFiles {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, fmt.Errorf("sweep output %s: %w", dir, err)
		}
		out = append(out, m...)
	}
	return out, nil
}

// Clear removes the sweep files of dir (OutputFiles), so that a sweep
// into it starts over; other files (such as the cached data sets in
// dir/data) stay.
func Clear(dir string) error {
	files, err := existing(dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("clear sweep output: %w", err)
		}
	}
	return nil
}

// WithBaseline returns methods with the full table first (the baseline
// every ratio is measured against), and whether it had to be added
// because methods did not list it.
func WithBaseline(methods []string) (out []string, added bool) {
	out = []string{embedding.MethodFull}
	for _, m := range methods {
		if m != embedding.MethodFull {
			out = append(out, m)
		}
	}
	return out, !slices.Contains(methods, embedding.MethodFull)
}

type cellKey struct {
	dataset, method string
	ratio           float64
	seed            int64
}

// Run runs every cell not yet in <Out>/results.csv, then writes the
// Parquet table, the plots and the report from all results. For each
// dataset and seed the full table runs first, at ratio 1: the budget of a
// cell at ratio r is the full table's serving bytes / r. The trainer's
// --memory-budget sizes parameters only today, so a method that also
// keeps an index can exceed its budget in serving bytes; the report then
// leaves it out of that ratio's ranking. A results.csv of legacy rows (no
// serving bytes) is refused rather than resumed: its cells were sized and
// measured by parameters alone.
func (s *Sweep) Run(ctx context.Context) ([]*Result, error) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	methods, added := WithBaseline(s.Methods)
	if added {
		log.Warn("methods do not list full: the full table runs at 1x anyway, as the baseline of the ratios")
	}
	if err := os.MkdirAll(s.Out, 0o755); err != nil {
		return nil, fmt.Errorf("sweep output: %w", err)
	}
	if !s.Resume {
		files, err := existing(s.Out)
		if err != nil {
			return nil, err
		}
		if len(files) > 0 {
			names := make([]string, len(files))
			for i, f := range files {
				names[i] = filepath.Base(f)
			}
			return nil, fmt.Errorf("%s (%s): %w", s.Out, strings.Join(names, ", "), ErrOutputExists)
		}
	}
	csvPath := filepath.Join(s.Out, "results.csv")
	results, err := ReadResults(csvPath)
	if err != nil {
		return nil, err
	}
	infeasible, err := ReadInfeasible(s.Out)
	if err != nil {
		return nil, err
	}
	done := map[cellKey]*Result{}
	for _, r := range results {
		if r.Legacy() {
			return nil, fmt.Errorf("%s was written before serving bytes were recorded (cell %s/%s at %gx has none): "+
				"its cells cannot be resumed or mixed with new ones; run the sweep into a fresh output directory",
				csvPath, r.Dataset, r.Method, r.TargetRatio)
		}
		done[cellKey{r.Dataset, r.Method, r.TargetRatio, r.Seed}] = r
	}
	if err := upgradeResults(csvPath, results); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(csvPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("results file: %w", err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	if len(results) == 0 {
		if fi, _ := f.Stat(); fi.Size() == 0 {
			w.Write(csvHeader)
			w.Flush()
		}
	}
	total := len(s.Datasets) * len(s.Seeds) * (1 + (len(methods)-1)*len(s.Ratios))
	type ratioKey struct {
		dataset string
		ratio   float64
	}
	warned := map[ratioKey]bool{}
	n := 0
	for _, d := range s.Datasets {
		// seeds outermost: an interrupted sweep has complete curves for the
		// first seeds rather than some methods only
		for _, seed := range s.Seeds {
			var base *Result // the full table of this dataset and seed
			cells := []cellKey{{d.Name, embedding.MethodFull, 1, int64(seed)}}
			for _, ratio := range s.Ratios {
				for _, m := range methods[1:] {
					cells = append(cells, cellKey{d.Name, m, ratio, int64(seed)})
				}
			}
			for _, key := range cells {
				n++
				m, ratio := key.method, key.ratio
				if line, ok := infeasible[key]; ok {
					s.Infeasible = append(s.Infeasible, line)
					if s.OnCell != nil {
						s.OnCell(n, total, nil, true)
					}
					continue
				}
				if r := done[key]; r != nil {
					if m == embedding.MethodFull {
						base = r
					}
					if s.OnCell != nil {
						s.OnCell(n, total, nil, true)
					}
					continue
				}
				var budget int64 // the full table takes no budget
				if m != embedding.MethodFull {
					budget = int64(math.Floor(float64(base.FullServingBytes) / ratio))
					if rk := (ratioKey{d.Name, ratio}); budget >= base.FullTableBytes && !warned[rk] {
						warned[rk] = true
						log.Warn(BudgetWarning, "dataset", d.Name, "ratio", ratio, "budget_bytes", budget,
							"full_table_bytes", base.FullTableBytes)
					}
				}
				start := time.Now()
				res, err := trainer.Train(ctx, d.config(m, budget, seed, s.Threads), trainer.Options{Logger: log})
				if m != embedding.MethodFull && errors.Is(err, embedding.ErrBudgetTooSmall) {
					// the method cannot be built this small: a gap on the curve, not a failure
					line := fmt.Sprintf("%s/%s at %gx (%d bytes): %v", d.Name, m, ratio, budget, err)
					s.Infeasible = append(s.Infeasible, line)
					if err := appendInfeasible(s.Out, key, line); err != nil {
						return results, err
					}
					log.Warn("infeasible cell", "dataset", d.Name, "method", m, "ratio", ratio, "err", err)
					if s.OnCell != nil {
						s.OnCell(n, total, nil, true)
					}
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return results, ctx.Err()
					}
					return results, fmt.Errorf("cell %s/%s/ratio %g/seed %d: %w", d.Name, m, ratio, seed, err)
				}
				r := &Result{Dataset: d.Name, Method: m, Model: d.Model, TargetRatio: ratio, BudgetBytes: budget,
					BytesUsed: res.EmbeddingBytes, IndexBytes: res.IndexBytes, ServingBytes: servingBytes(res),
					FullTableBytes: res.FullTableBytes, AUC: res.TestAUC, LogLoss: res.TestLogLoss,
					TrainSeconds: res.TrainSeconds, Seed: int64(seed), Dim: int64(d.Dim),
					TestRows: res.TestRows, AUCSE: res.TestAUCSE, SamplesPerS: res.TrainSamplesPerS,
					ValidAUC: res.ValidAUC, ValidRows: res.ValidRows, Folds: int64(len(d.Folds))}
				if r.ServingBytes <= 0 {
					return results, fmt.Errorf("cell %s/%s/ratio %g/seed %d: the trainer reports %d serving bytes",
						d.Name, m, ratio, seed, r.ServingBytes)
				}
				if m == embedding.MethodFull {
					base = r
					log.Info("baseline", "dataset", d.Name, "seed", seed, "full_serving_bytes", r.ServingBytes,
						"full_table_bytes", r.FullTableBytes)
				}
				r.FullServingBytes = base.ServingBytes
				r.Ratio = float64(r.FullServingBytes) / float64(r.ServingBytes)
				w.Write(r.record())
				w.Flush()
				if err := w.Error(); err != nil {
					return results, fmt.Errorf("append %s: %w", csvPath, err)
				}
				if err := f.Sync(); err != nil {
					return results, fmt.Errorf("sync %s: %w", csvPath, err)
				}
				results = append(results, r)
				if res.DimPlan != nil {
					if err := appendSearch(s.Out, newSearchRecord(r, res.DimPlan)); err != nil {
						return results, err
					}
				}
				log.Info("cell", "dataset", d.Name, "method", m, "ratio", ratio, "seed", seed, "auc", r.AUC,
					"serving_bytes", r.ServingBytes, "seconds", time.Since(start).Seconds())
				if s.OnCell != nil {
					s.OnCell(n, total, r, false)
				}
			}
		}
	}
	if err := WriteOutputs(s.Out, results, s.Infeasible); err != nil {
		return results, err
	}
	return results, nil
}

// upgradeResults rewrites a results.csv whose header is an earlier width
// (servingColumns) in the current one, atomically, before a resumed
// sweep appends to it: its rows keep their values, the new columns 0
// (unknown).
func upgradeResults(path string, results []*Result) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	f.Close()
	if err != nil || len(head) == len(csvHeader) || len(head) == 0 || head[0] != "dataset" {
		return nil // empty, current, or headerless: nothing to upgrade
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write(csvHeader)
		for _, r := range results {
			cw.Write(r.record())
		}
		cw.Flush()
		return cw.Error()
	})
}

// ReadResults reads a results.csv; a missing file gives no results. Rows
// of a legacy file (13 columns, no serving bytes) are returned with
// ServingBytes 0 (see Result.Legacy); a row narrower than the file's
// header is a torn last line and is skipped.
func ReadResults(path string) ([]*Result, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	var out []*Result
	line, width := 0, 0 // width: the header's, when there is one
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if line == 1 && len(rec) > 0 && rec[0] == "dataset" {
			width = len(rec)
			continue
		}
		r, err := parseRecord(rec)
		if err != nil || width > 0 && len(rec) != width {
			// a torn last line from a crash mid-append: ignore it, the cell reruns
			continue
		}
		out = append(out, r)
	}
}
