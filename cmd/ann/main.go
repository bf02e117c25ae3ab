// Command ann generates vector files, builds HNSW index files and measures
// them against brute force (package ann).
//
//	ann gen --n 100000 --dim 32 --clusters 100 --seed 1 --out base.fvecs --queries 10000 --queries-out q.fvecs
//	ann build --base base.fvecs --out base.ann --metric ip --M 16 --efc 200
//	ann bench --base base.fvecs --queries q.fvecs --metric ip --ef 10,20,40,80,160 --json
//
// Run `ann <command> --help` for every flag. With --json each command
// prints one JSON object per line (bench: one per ef) instead of text.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/embtab/embtab/ann"
	"github.com/embtab/embtab/ann/synth"
	"github.com/embtab/embtab/ann/vecfile"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, pflag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ann:", err)
		os.Exit(1)
	}
}

const usage = `usage: ann <command> [flags]

commands:
  gen    write clustered random vectors (.fvecs, optionally .npy)
  build  build an index file from an .fvecs file
  bench  recall@k against brute force and single-thread queries/s over a sweep of ef

Run ann <command> --help for its flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errors.New("no command")
		}
		return nil
	}
	switch args[0] {
	case "gen":
		return runGen(args[1:], stdout, stderr)
	case "build":
		return runBuild(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newFlags(name, summary string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ann %s [flags]\n\n%s\n\nflags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func emit(w io.Writer, asJSON bool, v map[string]any, text string) {
	if asJSON {
		b, _ := json.Marshal(v)
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintln(w, text)
}

func writeFile(path string, f func(io.Writer) error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(out); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return out.Close()
}

func runGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen", "Write n clustered vectors (and optionally queries from the same clusters) as .fvecs.", stderr)
	n := fs.Int("n", 100000, "base vectors")
	dim := fs.Int("dim", 32, "values per vector")
	clusters := fs.Int("clusters", 100, "clusters")
	seed := fs.Uint64("seed", 1, "seed")
	out := fs.String("out", "base.fvecs", "base vectors file (.fvecs)")
	nq := fs.Int("queries", 0, "query vectors (0: none)")
	qout := fs.String("queries-out", "queries.fvecs", "query vectors file (.fvecs)")
	npy := fs.Bool("npy", false, "also write <out>.npy (float32, 2-D)")
	asJSON := fs.Bool("json", false, "print a JSON summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *dim < 1 || *clusters < 1 || *nq < 0 {
		return errors.New("gen: --n, --dim and --clusters must be positive")
	}
	start := time.Now()
	base := synth.Clustered(*n, *dim, *clusters, *seed, 0)
	if err := writeFile(*out, func(w io.Writer) error { return vecfile.WriteFvecs(w, base, *dim) }); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if *npy {
		p := strings.TrimSuffix(*out, ".fvecs") + ".npy"
		if err := writeFile(p, func(w io.Writer) error { return vecfile.WriteNpy(w, base, *dim) }); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	if *nq > 0 {
		q := synth.Clustered(*nq, *dim, *clusters, *seed, 1)
		if err := writeFile(*qout, func(w io.Writer) error { return vecfile.WriteFvecs(w, q, *dim) }); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	emit(stdout, *asJSON, map[string]any{"n": *n, "dim": *dim, "clusters": *clusters, "seed": *seed, "out": *out,
		"queries": *nq, "seconds": time.Since(start).Seconds()},
		fmt.Sprintf("wrote %d x %d vectors to %s (%d queries) in %v", *n, *dim, *out, *nq, time.Since(start).Round(time.Millisecond)))
	return nil
}

// indexFlags are the index parameters shared by build and bench.
type indexFlags struct {
	metric, quant *string
	m, efc, ef    *int
	seed          *uint64
	rerank        *bool
}

func addIndexFlags(fs *pflag.FlagSet) indexFlags {
	return indexFlags{
		metric: fs.String("metric", "ip", "ip (inner product) or l2"),
		quant:  fs.String("quant", "f32", "stored vectors: f32 or int8"),
		m:      fs.Int("M", ann.DefaultM, "links per node (2M on layer 0)"),
		efc:    fs.Int("efc", ann.DefaultEfConstruction, "efConstruction"),
		ef:     fs.Int("ef-default", ann.DefaultEfSearch, "efSearch stored in the index"),
		seed:   fs.Uint64("seed", 1, "seed of the layer assignment"),
		rerank: fs.Bool("rerank", false, "with int8: keep float32 vectors and re-rank candidates"),
	}
}

func (f indexFlags) config(dim int) (ann.Config, error) {
	cfg := ann.Config{Dim: dim, M: *f.m, EfConstruction: *f.efc, EfSearch: *f.ef, Seed: *f.seed, Rerank: *f.rerank}
	switch *f.metric {
	case "ip":
		cfg.Metric = ann.InnerProduct
	case "l2":
		cfg.Metric = ann.L2
	default:
		return cfg, fmt.Errorf("unknown metric %q", *f.metric)
	}
	switch *f.quant {
	case "f32":
	case "int8":
		cfg.Quantization = ann.Int8
	default:
		return cfg, fmt.Errorf("unknown quantization %q", *f.quant)
	}
	return cfg, nil
}

// buildIndex adds every row of base, checking ctx every 4096 rows.
func buildIndex(ctx context.Context, cfg ann.Config, base []float32) (*ann.Index, time.Duration, error) {
	ix, err := ann.New(cfg)
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	for i := 0; i < len(base)/cfg.Dim; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		if err := ix.Add(uint64(i), base[i*cfg.Dim:(i+1)*cfg.Dim]); err != nil {
			return nil, 0, err
		}
	}
	return ix, time.Since(start), nil
}

func heapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("build", "Build an HNSW index over the vectors of an .fvecs file (ids are row numbers) and save it.", stderr)
	basePath := fs.String("base", "base.fvecs", "base vectors (.fvecs)")
	out := fs.String("out", "base.ann", "index file")
	ixf := addIndexFlags(fs)
	asJSON := fs.Bool("json", false, "print a JSON summary")
	if err := fs.Parse(args); err != nil {
		return err
	}
	base, dim, err := vecfile.ReadFvecsFile(*basePath)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	cfg, err := ixf.config(dim)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	ix, took, err := buildIndex(ctx, cfg, base)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if err := ix.SaveFile(*out); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	st, err := os.Stat(*out)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	n := len(base) / dim
	emit(stdout, *asJSON, map[string]any{"n": n, "dim": dim, "metric": *ixf.metric, "quant": *ixf.quant, "M": cfg.M, "efc": cfg.EfConstruction,
		"build_s": round(took.Seconds(), 2), "index_bytes": ix.Bytes(), "file_bytes": st.Size(), "out": *out},
		fmt.Sprintf("built %d x %d (%s, %s, M %d, efc %d) in %v: %d bytes in %s", n, dim, *ixf.metric, *ixf.quant, cfg.M, cfg.EfConstruction,
			took.Round(time.Millisecond), st.Size(), *out))
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad list %q", s)
		}
		out = append(out, v)
	}
	return out, nil
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Build (or open with --index) an index over --base, then for each ef measure recall@k of --queries\nagainst brute force and queries/s on one goroutine.", stderr)
	basePath := fs.String("base", "base.fvecs", "base vectors (.fvecs)")
	qPath := fs.String("queries", "queries.fvecs", "query vectors (.fvecs)")
	index := fs.String("index", "", "index file to mmap instead of building (its parameters override the flags)")
	efs := fs.String("ef", "10,20,40,80,160", "efSearch values, comma-separated")
	k := fs.Int("k", 10, "neighbours per query")
	threads := fs.Int("gt-threads", runtime.NumCPU(), "goroutines for the brute-force ground truth")
	ixf := addIndexFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	efList, err := parseInts(*efs)
	if err != nil {
		return fmt.Errorf("bench: --ef: %w", err)
	}
	base, dim, err := vecfile.ReadFvecsFile(*basePath)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	queries, qdim, err := vecfile.ReadFvecsFile(*qPath)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if qdim != dim {
		return fmt.Errorf("bench: queries have dim %d, base %d", qdim, dim)
	}
	cfg, err := ixf.config(dim)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	heap0 := heapMiB()
	var ix *ann.Index
	var took time.Duration
	if *index != "" {
		if ix, err = ann.OpenMmap(*index); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer ix.Close()
		cfg = ix.Config()
	} else if ix, took, err = buildIndex(ctx, cfg, base); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	heapIndex := heapMiB() - heap0
	n, nq := len(base)/dim, len(queries)/dim
	gt := synth.BruteForce(base, queries, dim, *k, cfg.Metric == ann.L2, *threads)
	dst := make([]ann.Result, 0, *k)
	for _, ef := range efList {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Results of a separate pass, so the timed pass does no bookkeeping.
		hits := 0
		for q := 0; q < nq; q++ {
			dst, err = ix.SearchAppend(dst[:0], queries[q*dim:(q+1)*dim], *k, ef)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			for _, r := range dst {
				for _, g := range gt[q] {
					if uint64(g) == r.ID {
						hits++
						break
					}
				}
			}
		}
		start := time.Now()
		for q := 0; q < nq; q++ {
			dst, _ = ix.SearchAppend(dst[:0], queries[q*dim:(q+1)*dim], *k, ef)
		}
		el := time.Since(start)
		rec := float64(hits) / float64(nq**k)
		qps := float64(nq) / el.Seconds()
		row := map[string]any{"peer": "embtab-ann", "n": n, "dim": dim, "metric": cfg.Metric.String(), "quant": quantName(cfg),
			"rerank": cfg.Rerank, "M": cfg.M, "efc": cfg.EfConstruction, "ef": ef, "k": *k,
			"recall_at_k": round(rec, 4), "qps": round(qps, 1), "index_bytes": ix.Bytes(), "heap_mib": round(heapIndex, 1)}
		if *index != "" {
			row["mmap"] = *index // heap_mib excludes the mapped file
		} else {
			row["build_s"] = round(took.Seconds(), 2)
		}
		emit(stdout, *asJSON, row,
			fmt.Sprintf("ef %4d: recall@%d %.4f, %.0f queries/s (build %.2fs, index %d bytes, heap %.1f MiB)",
				ef, *k, rec, qps, took.Seconds(), ix.Bytes(), heapIndex))
	}
	return nil
}

func quantName(cfg ann.Config) string {
	if cfg.Quantization == ann.Int8 {
		return "int8"
	}
	return "f32"
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}
