package experiments

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/bytesize"
	"github.com/embtab/embtab/embedding"
	"github.com/parquet-go/parquet-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Summary aggregates the seeds of one (dataset, method, ratio) cell.
// Bytes and ratios are means over the seeds.
type Summary struct {
	Dataset, Method string
	TargetRatio     float64
	N               int
	// BytesUsed is the embedding parameters, IndexBytes the index and
	// ServingBytes their sum: the memory axis of the report. Budget is
	// the full table's serving bytes / TargetRatio: a cell above it is
	// not ranked at its ratio.
	BytesUsed, IndexBytes, ServingBytes, Budget float64
	Ratio                                       float64 // achieved: full table serving bytes / ServingBytes
	AUC, AUCSD                                  float64
	LogLoss, LLSD                               float64
	TrainSeconds                                float64
	// TestRows is the test rows (the seeds' largest), AUCSE the mean over
	// seeds of the test AUC's DeLong standard error and SamplesPerS the
	// mean training throughput; 0 where the rows did not record them.
	TestRows    int64
	AUCSE       float64
	SamplesPerS float64
	// ValidAUC is the mean validation AUC over the seeds that have one,
	// ValidRows their largest validation split; 0 without.
	ValidAUC  float64
	ValidRows int64
	// Folds is k when the seeds ran on the k folds of a k-fold split
	// (disjoint test sets), 0 otherwise.
	Folds int64
	// Legacy is set when a seed's row has no serving bytes (Result.Legacy):
	// ServingBytes and Budget are then parameter bytes alone.
	Legacy bool
}

// fits reports whether the cell's serving bytes are within its budget.
func (s *Summary) fits() bool { return s.ServingBytes <= s.Budget*(1+1e-9) }

// Summarize groups results by (dataset, method, target ratio).
func Summarize(results []*Result) []*Summary {
	type key struct {
		d, m string
		r    float64
	}
	groups := map[key][]*Result{}
	var keys []key
	for _, r := range results {
		k := key{r.Dataset, r.Method, r.TargetRatio}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.d != b.d {
			return a.d < b.d
		}
		if a.r != b.r {
			return a.r < b.r
		}
		return a.m < b.m
	})
	var out []*Summary
	for _, k := range keys {
		g := groups[k]
		s := &Summary{Dataset: k.d, Method: k.m, TargetRatio: k.r, N: len(g)}
		var auc, ll []float64
		nValid := 0
		for _, r := range g {
			s.BytesUsed += float64(r.BytesUsed)
			s.IndexBytes += float64(r.IndexBytes)
			if r.Legacy() {
				s.Legacy = true
				s.ServingBytes += float64(r.BytesUsed)
				s.Budget += math.Floor(float64(r.FullTableBytes) / r.TargetRatio)
			} else {
				s.ServingBytes += float64(r.ServingBytes)
				s.Budget += math.Floor(float64(r.FullServingBytes) / r.TargetRatio)
			}
			s.Ratio += r.Ratio
			s.TrainSeconds += r.TrainSeconds
			s.TestRows = max(s.TestRows, r.TestRows)
			s.AUCSE += r.AUCSE
			s.SamplesPerS += r.SamplesPerS
			s.Folds = max(s.Folds, r.Folds)
			if r.ValidRows > 0 {
				s.ValidAUC += r.ValidAUC
				nValid++
				s.ValidRows = max(s.ValidRows, r.ValidRows)
			}
			auc = append(auc, r.AUC)
			ll = append(ll, r.LogLoss)
		}
		n := float64(len(g))
		s.BytesUsed /= n
		s.IndexBytes /= n
		s.ServingBytes /= n
		s.Budget /= n
		s.Ratio /= n
		s.TrainSeconds /= n
		s.AUCSE /= n
		s.SamplesPerS /= n
		if nValid > 0 {
			s.ValidAUC /= float64(nValid)
		}
		s.AUC, s.AUCSD = meanSD(auc)
		s.LogLoss, s.LLSD = meanSD(ll)
		out = append(out, s)
	}
	return out
}

// spread formats a mean over seeds: "m ± sd" (sample standard deviation)
// with at least two seeds, and the mean alone with one, where there is no
// spread to show. No interval is ever computed from the test set itself.
func spread(mean, sd float64, n int) string {
	if n < 2 {
		return fmt.Sprintf("%.4f", mean)
	}
	return fmt.Sprintf("%.4f ± %.4f", mean, sd)
}

func meanSD(x []float64) (float64, float64) {
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	if len(x) < 2 {
		return m, 0
	}
	var ss float64
	for _, v := range x {
		ss += (v - m) * (v - m)
	}
	return m, math.Sqrt(ss / float64(len(x)-1))
}

// WriteOutputs writes results.parquet, pareto_<dataset>.png and report.md
// into dir.
func WriteOutputs(dir string, results []*Result, infeasible []string) error {
	if len(results) == 0 {
		return nil
	}
	if err := atomicfile.Write(filepath.Join(dir, "results.parquet"), func(w io.Writer) error {
		pw := parquet.NewGenericWriter[Result](w)
		rows := make([]Result, len(results))
		for i, r := range results {
			rows[i] = *r
		}
		if _, err := pw.Write(rows); err != nil {
			return err
		}
		return pw.Close()
	}); err != nil {
		return fmt.Errorf("results.parquet: %w", err)
	}
	sum := Summarize(results)
	var datasets []string
	seen := map[string]bool{}
	for _, s := range sum {
		if !seen[s.Dataset] {
			seen[s.Dataset] = true
			datasets = append(datasets, s.Dataset)
		}
	}
	for _, d := range datasets {
		if err := plotPareto(filepath.Join(dir, "pareto_"+d+".png"), d, sum); err != nil {
			return fmt.Errorf("plot %s: %w", d, err)
		}
	}
	return atomicfile.Write(filepath.Join(dir, "report.md"), func(w io.Writer) error {
		rep := Report(sum, datasets)
		recs, err := ReadSearchRecords(filepath.Join(dir, SearchFile))
		if err != nil {
			return err
		}
		rep += SearchReport(recs)
		if len(infeasible) > 0 {
			seen := map[string]bool{}
			rep += "\n## Cells that cannot be built\n\n"
			for _, c := range infeasible {
				if !seen[c] {
					seen[c] = true
					rep += "- " + c + "\n"
				}
			}
		}
		_, err = io.WriteString(w, rep)
		return err
	})
}

// baseline returns the reference AUC of a dataset: its full table's
// (Sweep.Run always trains one), or false when the results have none.
func baseline(sum []*Summary, d string) (float64, bool) {
	for _, s := range sum {
		if s.Dataset == d && s.Method == embedding.MethodFull {
			return s.AUC, true
		}
	}
	return math.NaN(), false
}

// delta formats an AUC against the baseline, "—" when there is none.
func delta(auc, base float64) string {
	if math.IsNaN(base) {
		return "—"
	}
	return fmt.Sprintf("%+.4f", auc-base)
}

// benchmarkCurve is the VLDB'24 embedding-compression benchmark's fitted
// AUC loss against the full table by compression ratio (Zhang et al.,
// "Experimental Analysis of Large-scale Learnable Vector Storage
// Compression", scripts/fit_scaling_law.py of Hetu's
// EmbeddingMemoryCompression): the anchors a report compares with.
var benchmarkCurve = map[float64]float64{10: -0.0001, 100: -0.001, 1000: -0.005}

// cafeClaim is CAFE's (SIGMOD'24) published result at 10000x.
const cafeClaim = "CAFE (SIGMOD'24) reports 3.92% higher test AUC than the best other method at 10000x on Criteo Kaggle " +
	"(3.68% on Criteo Terabyte)"

// noise is the margin a gap between two cells must exceed to be called a
// difference: 1.96 standard errors of the difference of their mean AUCs,
// each mean's variance its test AUC's (DeLong; the seeds share one test
// set, so averaging over seeds does not shrink it) plus its seeds'
// variance over their count. It treats the two test AUCs as independent,
// which they are not (one test set): the margin is conservative. Without
// recorded standard errors it is the seeds' part alone. Cells of a k-fold
// split (Summary.Folds) test each seed on its own fold: their mean's test
// variance is a fold's over N (and the folds' spread counts it again:
// still conservative).
func noise(a, b *Summary) float64 {
	v := testVar(a) + testVar(b)
	if a.N > 1 {
		v += a.AUCSD * a.AUCSD / float64(a.N)
	}
	if b.N > 1 {
		v += b.AUCSD * b.AUCSD / float64(b.N)
	}
	return 1.96 * math.Sqrt(v)
}

// testVar is the test-set part of the variance of a cell's mean AUC.
func testVar(s *Summary) float64 {
	v := s.AUCSE * s.AUCSE
	if s.Folds > 1 && s.N > 1 {
		v /= float64(s.N)
	}
	return v
}

// separable says whether a's and b's AUCs differ beyond noise(a, b).
func separable(a, b *Summary) string {
	m := noise(a, b)
	if m == 0 {
		return "— (no errors recorded)"
	}
	if math.Abs(a.AUC-b.AUC) > m {
		return fmt.Sprintf("yes (gap %.4f > %.4f)", math.Abs(a.AUC-b.AUC), m)
	}
	return fmt.Sprintf("no (gap %.4f ≤ %.4f)", math.Abs(a.AUC-b.AUC), m)
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf(format, v)
}

// Report renders the markdown report.
func Report(sum []*Summary, datasets []string) string {
	var b strings.Builder
	b.WriteString("# Embedding compression sweep\n\n")
	b.WriteString("Memory is **serving bytes**: what the served fp32 artifact holds in memory, the embedding rows plus " +
		"the index (vocabularies, hash maps) as the trainer reports them (embedding_bytes + index_bytes; optimizer " +
		"state is not counted). Achieved ratio = the full table's serving bytes / the cell's. A cell's budget is the " +
		"full table's serving bytes / target ratio; the trainer's --memory-budget sizes parameters only, so a method " +
		"that also keeps an index can exceed it: such a cell is listed but not ranked at its ratio.\n\n")
	b.WriteString("AUC and log loss are means over seeds; ± is the sample standard deviation over seeds, shown only " +
		"for cells with at least 2 seeds (a cell of one seed shows its value alone). ΔAUC is against the full table. " +
		"test SE is the test AUC's standard error from DeLong's variance (mean over seeds; a 95% interval is ±1.96 SE): " +
		"it measures what the test set's size allows, which the seeds' spread does not. samples/s is the training " +
		"throughput as the sweep ran it (cells may share the machine: compare samples/s from BENCHMARKS.md, measured " +
		"quietly). Two cells are called different only where their gap exceeds 1.96 standard errors of the difference " +
		"(test SEs and the seeds' spread over their count, the test AUCs treated as independent: conservative).\n")
	if slices.ContainsFunc(sum, func(s *Summary) bool { return s.Legacy }) {
		b.WriteString("\n† rows from a results.csv written before index bytes were recorded: their serving bytes are " +
			"the embedding parameters alone, their budget and ratio against the full table's parameters.\n")
	}
	for _, d := range datasets {
		base, ok := baseline(sum, d)
		var full *Summary
		var rows int64
		for _, s := range sum {
			if s.Dataset == d {
				rows = max(rows, s.TestRows)
				if s.Method == embedding.MethodFull && s.TargetRatio == 1 {
					full = s
				}
			}
		}
		if ok {
			fmt.Fprintf(&b, "\n## %s\n\nBaseline: the full fp32 table at 1x, AUC %.4f. Plot: `pareto_%s.png`.", d, base, d)
		} else {
			fmt.Fprintf(&b, "\n## %s\n\nBaseline: none (these results have no full-table cell, so no ΔAUC). Plot: `pareto_%s.png`.", d, d)
		}
		if rows > 0 && full != nil && full.Folds > 1 && full.AUCSE > 0 {
			se := math.Sqrt(testVar(full))
			fmt.Fprintf(&b, " %d-fold cross-validation: each seed trains on %d folds and tests on its own (%d rows), so every "+
				"row is tested once over the seeds; the full table's test AUC has a standard error of %.4f per fold, %.4f for "+
				"its mean over %d folds: gaps smaller than about %.4f between two cells cannot be told apart from the test "+
				"sets' size alone.", full.Folds, full.Folds-1, rows, full.AUCSE, se, full.N, 1.96*math.Sqrt2*se)
		} else if rows > 0 {
			fmt.Fprintf(&b, " Test set: %d rows", rows)
			if full != nil && full.AUCSE > 0 {
				fmt.Fprintf(&b, "; the full table's test AUC has a standard error of %.4f there (95%% interval ±%.4f): "+
					"gaps smaller than about %.4f between two cells cannot be told apart", full.AUCSE, 1.96*full.AUCSE,
					1.96*math.Sqrt2*full.AUCSE)
			}
			b.WriteString(".")
		}
		b.WriteString("\n\n")
		// A validation column when any cell of the dataset has one.
		var validRows int64
		for _, s := range sum {
			if s.Dataset == d {
				validRows = max(validRows, s.ValidRows)
			}
		}
		if validRows > 0 {
			fmt.Fprintf(&b, "valid AUC is the mean validation AUC (%d rows held out of the training data): what a choice "+
				"between cells should read; AUC is the test AUC.\n\n", validRows)
			b.WriteString("| method | target ratio | serving bytes | embedding + index | achieved ratio | valid AUC | AUC | ΔAUC | logloss | seeds | test SE | samples/s |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		} else {
			b.WriteString("| method | target ratio | serving bytes | embedding + index | achieved ratio | AUC | ΔAUC | logloss | seeds | test SE | samples/s |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
		}
		for _, s := range sum {
			if s.Dataset != d {
				continue
			}
			mark := ""
			if s.Legacy {
				mark = " †"
			}
			valid := ""
			if validRows > 0 {
				valid = " " + orDash(s.ValidAUC, "%.4f") + " |"
			}
			fmt.Fprintf(&b, "| %s%s | %gx | %s | %s + %s | %.1fx |%s %s | %s | %s | %d | %s | %s |\n",
				s.Method, mark, s.TargetRatio, bytesize.Format(int64(s.ServingBytes)), bytesize.Format(int64(s.BytesUsed)),
				bytesize.Format(int64(s.IndexBytes)), s.Ratio, valid, spread(s.AUC, s.AUCSD, s.N), delta(s.AUC, base),
				spread(s.LogLoss, s.LLSD, s.N), s.N, orDash(s.AUCSE, "%.4f"), orDash(s.SamplesPerS, "%.0f"))
		}
		b.WriteString("\n**Best method per ratio** (highest AUC among the cells within the ratio's budget in serving bytes; " +
			"the full table is ranked like any other method; the runner-up is the next cell within the budget, and " +
			"\"told apart\" applies the rule above)\n\n")
		b.WriteString("| target ratio | budget | best method | serving bytes | AUC | ΔAUC vs full | runner-up | told apart from the runner-up | over budget, not ranked |\n" +
			"|---|---|---|---|---|---|---|---|---|\n")
		type rank struct {
			budget       float64
			best, second *Summary
			over         []string
		}
		ranks := map[float64]*rank{}
		var rs []float64
		for _, s := range sum {
			if s.Dataset != d {
				continue
			}
			rk := ranks[s.TargetRatio]
			if rk == nil {
				rk = &rank{budget: s.Budget}
				ranks[s.TargetRatio] = rk
				rs = append(rs, s.TargetRatio)
			}
			switch {
			case !s.fits():
				rk.over = append(rk.over, fmt.Sprintf("%s (%s, %.2fx the budget)", s.Method,
					bytesize.Format(int64(s.ServingBytes)), s.ServingBytes/s.Budget))
			case rk.best == nil || s.AUC > rk.best.AUC:
				rk.best, rk.second = s, rk.best
			case rk.second == nil || s.AUC > rk.second.AUC:
				rk.second = s
			}
		}
		sort.Float64s(rs)
		for _, r := range rs {
			rk := ranks[r]
			over := "—"
			if len(rk.over) > 0 {
				over = strings.Join(rk.over, ", ")
			}
			if rk.best == nil {
				fmt.Fprintf(&b, "| %gx | %s | — (no cell within the budget) | — | — | — | — | — | %s |\n",
					r, bytesize.Format(int64(rk.budget)), over)
				continue
			}
			s := rk.best
			second, apart := "—", "—"
			if rk.second != nil {
				second = fmt.Sprintf("%s (%.4f, %+.4f)", rk.second.Method, rk.second.AUC, rk.second.AUC-s.AUC)
				apart = separable(s, rk.second)
			}
			fmt.Fprintf(&b, "| %gx | %s | %s | %s | %.4f | %s | %s | %s | %s |\n", r, bytesize.Format(int64(rk.budget)), s.Method,
				bytesize.Format(int64(s.ServingBytes)), s.AUC, delta(s.AUC, base), second, apart, over)
		}
		if full != nil {
			writeAnchors(&b, sum, d, full, rs, func(r float64) *Summary { return ranks[r].best })
		}
		if same := sameTables(sum, d); len(same) > 0 {
			b.WriteString("\n**Cells that did not grow with their budget** (one method, the same serving bytes at several " +
				"ratios: the method stops short of the larger budgets, whose cells are then the same table)\n\n")
			for _, line := range same {
				b.WriteString("- " + line + "\n")
			}
		}
	}
	return b.String()
}

// writeAnchors compares a dataset's best cells with the benchmark's curve
// and, at 10000x, CAFE's claim.
func writeAnchors(b *strings.Builder, sum []*Summary, d string, full *Summary, ratios []float64, best func(float64) *Summary) {
	b.WriteString("\n**Against the published curves** (the VLDB'24 benchmark's fitted loss of the best methods; " + cafeClaim + ")\n\n")
	b.WriteString("| target ratio | benchmark ΔAUC | our best (ΔAUC vs full) | told apart from the full table | hashed ΔAUC | cafe ΔAUC |\n|---|---|---|---|---|---|\n")
	find := func(m string, r float64) *Summary {
		for _, s := range sum {
			if s.Dataset == d && s.Method == m && s.TargetRatio == r && s.fits() {
				return s
			}
		}
		return nil
	}
	for _, r := range ratios {
		if r == 1 {
			continue
		}
		bench := "—"
		if v, ok := benchmarkCurve[r]; ok {
			bench = fmt.Sprintf("%+.4f", v)
		}
		ours, apart := "—", "—"
		if s := best(r); s != nil {
			ours = fmt.Sprintf("%s (%+.4f)", s.Method, s.AUC-full.AUC)
			apart = separable(s, full)
		}
		dm := func(m string) string {
			if s := find(m, r); s != nil {
				return fmt.Sprintf("%+.4f", s.AUC-full.AUC)
			}
			return "—"
		}
		fmt.Fprintf(b, "| %gx | %s | %s | %s | %s | %s |\n", r, bench, ours, apart, dm(embedding.MethodHashed), dm("cafe"))
	}
}

// sameTables lists, for dataset d, each method whose cells at two or more
// target ratios have the same serving bytes.
func sameTables(sum []*Summary, d string) []string {
	type key struct {
		method string
		bytes  float64
	}
	ratios := map[key][]string{}
	var keys []key
	for _, s := range sum {
		if s.Dataset != d {
			continue
		}
		k := key{s.Method, s.ServingBytes}
		if _, ok := ratios[k]; !ok {
			keys = append(keys, k)
		}
		ratios[k] = append(ratios[k], fmt.Sprintf("%gx", s.TargetRatio))
	}
	var out []string
	for _, k := range keys {
		if rs := ratios[k]; len(rs) > 1 {
			out = append(out, fmt.Sprintf("%s: %s are one table of %s", k.method, strings.Join(rs, ", "),
				bytesize.Format(int64(k.bytes))))
		}
	}
	return out
}

// plotPareto draws AUC against serving bytes (log x) for one dataset, one line
// per method, with error bars of one standard deviation over seeds on the
// points of at least two seeds (none on a point of one seed).
func plotPareto(path, dataset string, sum []*Summary) error {
	p := plot.New()
	p.Title.Text = "AUC vs serving bytes: " + dataset + " (bars: ±1 sd over seeds, where ≥2 seeds)"
	p.X.Label.Text = "serving bytes: embedding rows + index (log scale)"
	p.Y.Label.Text = "test AUC"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	byMethod := map[string][]*Summary{}
	var methods []string
	for _, s := range sum {
		if s.Dataset != dataset || s.ServingBytes <= 0 {
			continue
		}
		if _, ok := byMethod[s.Method]; !ok {
			methods = append(methods, s.Method)
		}
		byMethod[s.Method] = append(byMethod[s.Method], s)
	}
	sort.Strings(methods)
	for i, m := range methods {
		pts := byMethod[m]
		sort.Slice(pts, func(a, b int) bool { return pts[a].ServingBytes < pts[b].ServingBytes })
		xys := make(plotter.XYs, len(pts))
		var (
			bars plotter.XYs
			errs plotter.YErrors
		)
		for j, s := range pts {
			xys[j] = plotter.XY{X: s.ServingBytes, Y: s.AUC}
			if s.N >= 2 {
				bars = append(bars, xys[j])
				errs = append(errs, struct{ Low, High float64 }{s.AUCSD, s.AUCSD})
			}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		c := methodColor(i)
		line.Color = c
		line.Dashes = plotutil.Dashes(i / len(palette))
		points.Color = c
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		if len(bars) > 0 {
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYer
				plotter.YErrorer
			}{bars, errs})
			if err != nil {
				return err
			}
			eb.Color = c
			p.Add(eb)
		}
		p.Legend.Add(m, line, points)
	}
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.YOffs = vg.Points(20)
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// palette is Tableau's ten categorical colours: one per method of a
// sweep (plotutil's seven would repeat with the dimension searches), the
// line dashes telling apart any methods beyond ten.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

func methodColor(i int) color.Color { return palette[i%len(palette)] }
