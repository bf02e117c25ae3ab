// Command sweep runs the embedding-compression sweep: methods x memory
// budgets (compression ratios against the full fp32 table's serving
// bytes: rows plus index) x datasets x seeds, resumable, and writes
// results (CSV, Parquet), Pareto plots and a markdown report. The full
// table always runs at 1x as the baseline.
//
//	sweep --datasets ml1m,synth --methods full,hashed,qr,multiplex,unified,hybrid --out runs/sweep
//
// A sweep into a directory that already holds one is refused: --resume
// continues it (the cells in its results.csv are skipped), --force starts
// it over. The checked-in report in experiments/results is regenerated
// only with --out experiments/results and one of them.
//
// `sweep --report --out DIR` trains nothing and rewrites DIR's report,
// plots and Parquet from the results it holds.
//
// Run `sweep --help` for every flag.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/experiments"
	"github.com/embtab/embtab/progress"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sweep:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("sweep", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	dsNames := fs.String("datasets", "ml1m,synth", "datasets: ml1m (MovieLens 1M, time split, fm), criteo (the real Criteo slice, train/dev, dlrm), synth (generated Criteo-like, dlrm), synth-criteo-kaggle (the generator preset calibrated to real Criteo, --synth-rows rows, dlrm)")
	methods := fs.String("methods", "full,hashed,qr", "table methods (trainer --table names) and dimension searches (optembed, dnis, autodim, uniform: trainer --dim-search over a full table). "+
		"The full table is the baseline: it always runs, at ratio 1 only, first for each dataset and seed, and is added (with a note) when not listed here; every ratio and ΔAUC is against it")
	ratios := fs.String("ratios", "1,2,10,100,1000", "compression ratios against the full fp32 table's serving bytes (embedding rows + index): a cell's budget is those bytes / ratio")
	seeds := fs.String("seeds", "1,2,3", "seeds")
	out := fs.String("out", "runs/sweep", "output directory; one that already holds a sweep needs --resume or --force")
	resume := fs.Bool("resume", false, "continue the sweep in --out: skip the cells its results.csv holds, run the rest")
	force := fs.Bool("force", false, "start the sweep in --out over: remove its results, report and plots first")
	shared := fs.String("shared", "../shared/data", "directory of the real datasets")
	synthRows := fs.Int64("synth-rows", 300000, "rows of the generated set")
	synthScale := fs.Float64("synth-scale", 0.3, "vocabulary scale of the generated set")
	threads := fs.Int("threads", 0, "threads per cell (default: all cores)")
	epochs := fs.Int("epochs", 1, "epochs per cell")
	dim := fs.Int("dim", 16, "embedding dimension")
	folds := fs.Int("folds", 0, "criteo only: k-fold cross-validation over the real Criteo slice (train + dev lines, row j tested in fold j mod k), the cell of seed s on fold (s-1) mod k, as dataset criteo_<k>fold; --seeds defaults to 1..k (0 = the train/dev split)")
	validFraction := fs.Float64("valid-fraction", 0, "fraction of each dataset's training rows held out for validation, in [0,1): every cell then also reports its validation AUC (valid_auc in results.csv, a column in report.md) (0 = none, as the checked-in sweep ran)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	verbose := fs.Bool("verbose", false, "log every cell")
	reportOnly := fs.Bool("report", false, "train nothing: write the report, plots and Parquet of the results already in --out "+
		"(its results.csv, "+experiments.InfeasibleFile+", "+experiments.SearchFile+"), e.g. of a sweep still in progress or merged from several")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sweep [flags]\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *resume && *force {
		return errors.New("--resume and --force: choose one")
	}
	if *reportOnly {
		res, err := experiments.ReadResults(filepath.Join(*out, "results.csv"))
		if err != nil {
			return err
		}
		if len(res) == 0 {
			return fmt.Errorf("--report: %s holds no results", filepath.Join(*out, "results.csv"))
		}
		inf, err := experiments.InfeasibleLines(*out)
		if err != nil {
			return err
		}
		if err := experiments.WriteOutputs(*out, res, inf); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d results in %s: report.md, results.parquet, pareto_*.png rewritten\n", len(res), *out)
		return nil
	}
	rs, err := parseFloats(*ratios)
	if err != nil {
		return fmt.Errorf("--ratios: %w", err)
	}
	ss, err := parseSeeds(*seeds)
	if err != nil {
		return fmt.Errorf("--seeds: %w", err)
	}
	switch {
	case *folds == 1 || *folds < 0:
		return fmt.Errorf("--folds %d: want 0 (none) or k >= 2", *folds)
	case *folds > 0 && !fs.Changed("seeds"):
		ss = ss[:0]
		for i := 1; i <= *folds; i++ {
			ss = append(ss, uint64(i))
		}
	}
	if err := os.MkdirAll(filepath.Join(*out, "data"), 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if *force {
		if err := experiments.Clear(*out); err != nil {
			return fmt.Errorf("--force: %w", err)
		}
	}
	var ds []experiments.Dataset
	for _, name := range split(*dsNames) {
		d := experiments.Dataset{Name: name, Dim: *dim, Epochs: *epochs, ValidFraction: *validFraction}
		switch name {
		case "ml1m":
			d.Data = filepath.Join(*out, "data", "ml1m.parquet")
			if _, err := os.Stat(d.Data); err != nil {
				r, err := datasets.OpenRaw("movielens1m", filepath.Join(*shared, "movielens", "ml-1m"))
				if err != nil {
					return err
				}
				_, err = datasets.Convert(ctx, r, d.Data, datasets.ConvertOptions{})
				r.Close()
				if err != nil {
					return err
				}
			}
			d.Split, d.TestFraction, d.Model, d.Batch = "time", 0.1, "fm", 2048
		case "criteo":
			d.Data = filepath.Join(*shared, "criteo", "criteo_wideresdnn_train.tsv")
			d.TestData = filepath.Join(*shared, "criteo", "criteo_wideresdnn_dev.tsv")
			d.Model, d.Batch = "dlrm", 256
			if *folds > 0 {
				train, dev := d.Data, d.TestData
				open := func() (datasets.RecordReader, error) {
					a, err := datasets.OpenCriteo(train)
					if err != nil {
						return nil, err
					}
					b, err := datasets.OpenCriteo(dev)
					if err != nil {
						a.Close()
						return nil, err
					}
					return datasets.ConcatReaders(a, b)
				}
				d.Name = fmt.Sprintf("criteo_%dfold", *folds)
				if d.Folds, err = datasets.WriteFolds(ctx, open, *folds, filepath.Join(*out, "data"), d.Name, datasets.ConvertOptions{}); err != nil {
					return err
				}
				d.Data, d.TestData = d.Folds[0].Train, d.Folds[0].Test
			}
		case "synth":
			d.Data = filepath.Join(*out, "data", fmt.Sprintf("synth_%d_%g.parquet", *synthRows, *synthScale))
			if _, err := os.Stat(d.Data); err != nil {
				g, err := datasets.NewGenerator(datasets.GenConfig{Rows: *synthRows, Scale: *synthScale, Seed: 1})
				if err != nil {
					return err
				}
				if _, err := datasets.Convert(ctx, g, d.Data, datasets.ConvertOptions{}); err != nil {
					return err
				}
			}
			d.TestFraction, d.Model, d.Batch = 0.1, "dlrm", 2048
		case "synth-criteo-kaggle":
			// the generator preset calibrated to real Criteo (dataset gen --preset criteo-kaggle)
			// the file name carries the preset's digest: a refitted preset never reuses older data
			p, err := datasets.LoadPreset("criteo-kaggle", nil)
			if err != nil {
				return err
			}
			d.Data = filepath.Join(*out, "data", fmt.Sprintf("synth-criteo-kaggle_%s_%d.parquet", p.Digest(), *synthRows))
			if _, err := os.Stat(d.Data); err != nil {
				g, err := datasets.NewGenerator(datasets.GenConfig{Rows: *synthRows, Seed: 1, Preset: "criteo-kaggle"})
				if err != nil {
					return err
				}
				if _, err := datasets.Convert(ctx, g, d.Data, datasets.ConvertOptions{}); err != nil {
					return err
				}
			}
			d.TestFraction, d.Model, d.Batch = 0.1, "dlrm", 2048
		default:
			return fmt.Errorf("--datasets: unknown dataset %q (want ml1m, criteo, synth, synth-criteo-kaggle)", name)
		}
		if *folds > 0 && name != "criteo" {
			return fmt.Errorf("--folds applies to criteo (the small real set), not %s", name)
		}
		ds = append(ds, d)
	}
	bar := progress.New(stderr, "sweep", 0, "cells")
	if *quiet {
		bar = progress.Disabled()
	}
	ms, added := experiments.WithBaseline(split(*methods))
	if added {
		fmt.Fprintln(stderr, "sweep: note: --methods has no full: the full table runs at 1x anyway, as the baseline every ratio and ΔAUC is against")
	}
	sw := &experiments.Sweep{Datasets: ds, Methods: ms, Ratios: rs, Seeds: ss, Out: *out,
		Threads: *threads, Logger: log, Resume: *resume,
		OnCell: func(done, total int, r *experiments.Result, skipped bool) {
			bar.SetTotal(int64(total))
			bar.Set(int64(done))
			if r != nil {
				bar.Detail(fmt.Sprintf("%s/%s/%gx auc %.4f", r.Dataset, r.Method, r.TargetRatio, r.AUC))
			}
		}}
	res, err := sw.Run(ctx)
	bar.Done()
	if errors.Is(err, experiments.ErrOutputExists) {
		return fmt.Errorf("%w: pass --resume to continue it, --force to start it over, or choose another --out", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d results in %s (report.md, results.csv, results.parquet, pareto_*.png)\n", len(res), *out)
	return nil
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, p := range split(s) {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || !(v >= 1) {
			return nil, fmt.Errorf("%q: want numbers >= 1", p)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, p := range split(s) {
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: want positive integers", p)
		}
		out = append(out, v)
	}
	return out, nil
}
