package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/embtab/embtab/ann/vecfile"
	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/bytesize"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Train and evaluate two-tower models over table methods x compression ratios x seeds on one\ndataset (loaded once) and print recall@10, recall@50 and NDCG@10 per method and ratio (mean and\nstandard deviation over the seeds). The full table runs at ratio 1 only; ANN and adaptive search are\nmeasured on the first full-table run.", stderr)
	var f modelFlags
	f.bind(fs)
	methods := fs.StringSlice("methods", []string{"full", "hashed", "unified", "hybrid"}, "table methods")
	ratios := fs.Float64Slice("ratios", []float64{1, 10, 100}, "compression ratios: budget = the full table's bytes / ratio")
	seeds := fs.UintSlice("seeds", []uint{1}, "seeds (one run per method, ratio and seed)")
	exportDir := fs.String("export-vectors", "", "write the users.fvecs and items.fvecs of the first ratio-1 full-table run here")
	asJSON := fs.Bool("json", false, "print one JSON line per run, then the summary as JSON lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.check(fs); err != nil {
		return err
	}
	if fs.Changed("memory-budget") || fs.Changed("compression-ratio") {
		return fmt.Errorf("bench sets the budgets from --ratios: do not give --memory-budget or --compression-ratio")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	type key struct {
		method string
		ratio  float64
	}
	var order []key
	for _, ratio := range *ratios {
		if !(ratio >= 1) {
			return fmt.Errorf("--ratios %g: want >= 1 (1 is the full table)", ratio)
		}
		for _, method := range *methods {
			if method == "full" && ratio != 1 {
				continue
			}
			if k := (key{method, ratio}); !slices.Contains(order, k) {
				order = append(order, k)
			}
		}
	}
	switch {
	case len(*seeds) == 0:
		return fmt.Errorf("--seeds is empty: give at least one seed")
	case len(order) == 0:
		return fmt.Errorf("no run: --methods %s at --ratios %v (the full table runs at ratio 1 only)",
			strings.Join(*methods, ","), *ratios)
	}
	d, err := loadData(ctx, f.format, f.data, f.users, f.items, stderr, f.quiet)
	if err != nil {
		return err
	}
	runs := map[key][]result{}
	start := time.Now()
	annDone := false
	for _, k := range order {
		method, ratio := k.method, k.ratio
		for _, seed := range *seeds {
			rf := f
			rf.cfg.Table, rf.cfg.Seed, rf.ratio, rf.budget = method, uint64(seed), ratio, ""
			rf.annEval = f.annEval && !annDone && method == "full"
			t, err := trainAndEval(ctx, &rf, d, nil, stderr)
			if err != nil {
				return fmt.Errorf("%s at ratio %g, seed %d: %w", method, ratio, seed, err)
			}
			annDone = annDone || rf.annEval
			runs[k] = append(runs[k], t.res)
			if *asJSON {
				if err := emitJSON(stdout, t.res); err != nil {
					return err
				}
			}
			if *exportDir != "" && method == "full" && ratio == 1 && seed == (*seeds)[0] {
				if err := exportFvecs(*exportDir, t.uv, t.iv, t.m.Config.Out); err != nil {
					return err
				}
				fmt.Fprintf(stderr, "wrote %s/users.fvecs (%d x %d) and items.fvecs (%d x %d)\n", *exportDir,
					len(t.uv)/t.m.Config.Out, t.m.Config.Out, len(t.iv)/t.m.Config.Out, t.m.Config.Out)
			}
			if len(t.res.ANN) > 0 && !*asJSON {
				for _, a := range t.res.ANN {
					fmt.Fprintf(stdout, "ann: %-8s prefix %2d cands %3d ef %3d: recall@10 vs exact %.4f, %.0f queries/s\n",
						a.Method, a.Prefix, a.Candidates, a.Ef, a.Recall, a.QPS)
				}
				for _, p := range t.res.Prefixes {
					fmt.Fprintf(stdout, "prefix: first %d dims: recall@10 %.4f, NDCG@10 %.4f\n", p.Prefix, p.Recall10, p.NDCG10)
				}
			}
		}
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "\n%d users, %d items, %d training interactions, %d test users; full table %s; %d seeds; %.0fs\n\n",
			len(d.in.Users), len(d.in.Items), len(d.sp.Train), len(d.sp.Test), bytesize.Format(runs[order[0]][0].FullTableBytes),
			len(*seeds), time.Since(start).Seconds())
		fmt.Fprintln(stdout, "| method | ratio | table params | recall@10 | recall@50 | NDCG@10 | train s |")
		fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	}
	for _, k := range order {
		rs := runs[k]
		r10, r50, n10, secs := stat(rs, func(r result) float64 { return r.Test.Recall10 }), stat(rs, func(r result) float64 { return r.Test.Recall50 }),
			stat(rs, func(r result) float64 { return r.Test.NDCG10 }), stat(rs, func(r result) float64 { return r.TrainSeconds })
		if *asJSON {
			if err := emitJSON(stdout, map[string]any{"summary": true, "table": k.method, "compression_ratio": k.ratio,
				"table_param_bytes": rs[0].TableParams, "runs": len(rs), "recall_at_10": r10, "recall_at_50": r50, "ndcg_at_10": n10,
				"train_seconds": secs}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "| %s | %g | %s | %s | %s | %s | %.0f |\n", k.method, k.ratio, bytesize.Format(rs[0].TableParams),
			fmtStat(r10), fmtStat(r50), fmtStat(n10), secs[0])
	}
	return nil
}

// stat returns the mean and standard deviation (n-1) of x over rs.
func stat(rs []result, x func(result) float64) [2]float64 {
	var s float64
	for _, r := range rs {
		s += x(r)
	}
	mean := s / float64(len(rs))
	if len(rs) < 2 {
		return [2]float64{mean, 0}
	}
	var v float64
	for _, r := range rs {
		v += (x(r) - mean) * (x(r) - mean)
	}
	return [2]float64{mean, math.Sqrt(v / float64(len(rs)-1))}
}

func fmtStat(s [2]float64) string {
	if s[1] == 0 {
		return fmt.Sprintf("%.4f", s[0])
	}
	return fmt.Sprintf("%.4f ± %.4f", s[0], s[1])
}

// exportFvecs writes users.fvecs and items.fvecs to dir, atomically.
func exportFvecs(dir string, uv, iv []float32, dim int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, v := range map[string][]float32{"users.fvecs": uv, "items.fvecs": iv} {
		if err := atomicfile.Write(filepath.Join(dir, name), func(w io.Writer) error { return vecfile.WriteFvecs(w, v, dim) }); err != nil {
			return fmt.Errorf("export %s: %w", strings.TrimSuffix(name, ".fvecs"), err)
		}
	}
	return nil
}
