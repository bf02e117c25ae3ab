package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/embtab/embtab/atomicfile"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/progress"
	"github.com/spf13/pflag"
)

func runGen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("dataset gen", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg datasets.GenConfig
	fs.Int64Var(&cfg.Rows, "rows", 100000, "rows to generate")
	fs.Float64Var(&cfg.Scale, "scale", 0.01, "multiply Criteo's large vocabularies (>1000 values) by this; 1 = full Criteo size (~33.8M values)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed and flags give the same file")
	fs.Float64Var(&cfg.Zipf, "zipf", 1.1, "Zipf exponent (>1) of value frequencies per field")
	fs.Float64Var(&cfg.CTR, "ctr", 0.25, "target click rate")
	fs.Float64Var(&cfg.Drift, "drift", 0, "write part --part of a drifting stream: from part to part each field's value popularity moves by this share of its vocabulary and the hidden model turns by drift·π/2 (0..1; 0: no drift)")
	fs.IntVar(&cfg.Part, "part", 0, "with --drift: the stream part to write (0, 1, ...; each its own random stream, the same seed and flags give the same part)")
	fs.StringVar(&cfg.Preset, "preset", "", "a calibrated preset: criteo-kaggle (fitted to real Kaggle Criteo lines, ending at Kaggle's cardinalities at 45.8M rows) or a preset .json from 'dataset calibrate'; replaces --scale and --zipf")
	out := fs.String("out", "", "output file: .parquet, .tsv or .tsv.gz (Criteo format)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last stdout line")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dataset gen --rows N --scale S --seed K --out FILE [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("gen needs --out")
	}
	// The generator's zero values mean "default": given on the command
	// line they are errors, not defaults.
	switch {
	case cfg.Rows < 1:
		return fmt.Errorf("--rows %d: want at least 1", cfg.Rows)
	case !(cfg.Scale > 0) || math.IsInf(cfg.Scale, 0):
		return fmt.Errorf("--scale %g: want a finite value > 0", cfg.Scale)
	case !(cfg.Zipf > 1) || math.IsInf(cfg.Zipf, 0):
		return fmt.Errorf("--zipf %g: want a finite value > 1", cfg.Zipf)
	case !(cfg.CTR > 0 && cfg.CTR < 1):
		return fmt.Errorf("--ctr %g: want a value in (0, 1)", cfg.CTR)
	}
	if cfg.Preset != "" {
		if fs.Changed("scale") || fs.Changed("zipf") {
			return errors.New("--preset sets the vocabularies and value laws: drop --scale and --zipf")
		}
		if !fs.Changed("ctr") {
			cfg.CTR = 0 // the preset's
		}
	}
	g, err := datasets.NewGenerator(cfg)
	if err != nil {
		return err
	}
	bar := progress.New(stderr, "gen", cfg.Rows, "rows")
	if *quiet {
		bar = progress.Disabled()
	}
	start := time.Now()
	var written, positives int64
	switch {
	case strings.HasSuffix(*out, ".parquet"):
		st, err := datasets.Convert(ctx, g, *out, datasets.ConvertOptions{Progress: bar.Set})
		if err != nil {
			return err
		}
		written, positives = st.RowsWritten, st.Positives
	case strings.HasSuffix(*out, ".tsv"), strings.HasSuffix(*out, ".tsv.gz"):
		// Temporary files of an earlier gen to the same file that crashed.
		if _, err := atomicfile.CleanStale(*out); err != nil {
			return err
		}
		err := atomicfile.Write(*out, func(w io.Writer) error {
			var gz *gzip.Writer
			if strings.HasSuffix(*out, ".gz") {
				gz = gzip.NewWriter(w)
				w = gz
			}
			bw := bufio.NewWriterSize(w, 1<<20)
			rec := datasets.NewRecord(g.Schema())
			var line []byte
			for {
				if written&0xFFFF == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
					bar.Set(written)
				}
				err := g.Read(rec)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				positives += int64(rec.Label)
				line = datasets.AppendCriteoTSV(line[:0], rec)
				if _, err := bw.Write(line); err != nil {
					return err
				}
				written++
			}
			bar.Set(written)
			if err := bw.Flush(); err != nil {
				return err
			}
			if gz != nil {
				return gz.Close()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("gen %s: %w", *out, err)
		}
	default:
		return fmt.Errorf("gen: --out %q: want a .parquet, .tsv or .tsv.gz name", *out)
	}
	bar.Done()
	secs := time.Since(start).Seconds()
	summary := map[string]any{
		"rows_written": written, "positives": positives, "out": *out, "seconds": round3(secs),
		"rows_per_s": round3(float64(written) / secs), "scale": cfg.Scale, "seed": cfg.Seed,
		"cardinalities": g.Cardinalities(),
	}
	if cfg.Preset != "" {
		summary["preset"] = cfg.Preset
		delete(summary, "scale")
	}
	if cfg.Drift > 0 {
		summary["drift"], summary["part"] = cfg.Drift, cfg.Part
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(summary)
	}
	fmt.Fprintf(stdout, "wrote %d rows (label rate %.4f) to %s in %.2fs\n", written, float64(positives)/float64(max(written, 1)), *out, secs)
	return nil
}
