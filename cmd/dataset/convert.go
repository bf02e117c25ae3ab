package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/progress"
	"github.com/spf13/pflag"
)

func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("dataset convert", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "input format: criteo (TSV, .gz ok), avazu (CSV, header optional), movielens1m, movielens100k or movielens-latest (a directory), csv (a header naming the columns), libsvm, libffm")
	label := fs.String("label", "", "csv: the label column, 0/1 (default \"label\")")
	denseCols := fs.StringSlice("dense-columns", nil, "csv: columns read as integer dense features (every other column but the label is categorical)")
	fields := fs.StringSlice("fields", nil, "libsvm/libffm: the field names in order (default f0, f1, ...)")
	offsets := fs.String("field-offsets", "", "libsvm: a file of \"name offset\" lines, ascending: a feature index belongs to the last field whose offset is <= it (default: the k-th pair of a row is field k)")
	in := fs.String("in", "", "input file, or directory for MovieLens")
	out := fs.String("out", "", "output Parquet file (written atomically: a failed convert leaves nothing)")
	onError := fs.String("on-error", "fail", "malformed rows: fail (stop at the first) or skip (count and report them)")
	rowGroup := fs.Int("row-group-rows", datasets.DefaultRowGroupRows, "rows per Parquet row group")
	threshold := fs.Int("label-threshold", 4, "MovieLens only: label = 1 when rating >= this (1..5)")
	genresBag := fs.Bool("genres-bag", false, "MovieLens only: write genres as a multi-hot bag (a LIST column) instead of one value per genre combination")
	history := fs.Int("history", 0, fmt.Sprintf("MovieLens only: add a sequence bag \"history\" of the user's last N positively rated movies strictly before each rating (0: none; %d is the usual length)", datasets.DefaultHistory))
	tags := fs.Int("tags", 0, "movielens-latest only: add a bag \"tags\" of the movie's last N distinct tags applied before each rating (0: none)")
	asJSON := fs.Bool("json", false, "print a JSON summary as the last stdout line")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dataset convert --format F --in PATH --out FILE.parquet [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if *format == "" || *in == "" || *out == "" {
		fs.Usage()
		return errors.New("convert needs --format, --in and --out")
	}
	// The readers' zero values mean "default": given on the command line
	// they are errors, not defaults.
	switch {
	case *rowGroup < 1:
		return fmt.Errorf("--row-group-rows %d: want at least 1", *rowGroup)
	case *threshold < 1 || *threshold > 5:
		return fmt.Errorf("--label-threshold %d: want a rating in 1..5", *threshold)
	}
	policy, err := datasets.ParseOnError(*onError)
	if err != nil {
		return err
	}
	var r datasets.RecordReader
	switch *format {
	case "movielens1m", "movielens100k", datasets.FormatMovieLensLatest:
		r, err = datasets.OpenMovieLens(*in, *format, datasets.MovieLensOptions{LabelThreshold: *threshold,
			GenresBag: *genresBag, History: *history, Tags: *tags})
	default:
		raw := datasets.RawOptions{Label: *label, Dense: *denseCols, Fields: *fields}
		if *offsets != "" {
			if raw.Fields, raw.Offsets, err = datasets.ReadFieldOffsets(*offsets); err != nil {
				return err
			}
		}
		r, err = datasets.OpenRawWith(*format, *in, raw)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	bar := progress.New(stderr, "convert", 0, "rows")
	if *quiet {
		bar = progress.Disabled()
	}
	start := time.Now()
	st, err := datasets.Convert(ctx, r, *out, datasets.ConvertOptions{
		OnError: policy, RowGroupRows: *rowGroup, Progress: bar.Set,
	})
	bar.Done()
	for _, e := range st.FirstErrors {
		fmt.Fprintln(stderr, "skipped:", e)
	}
	if st.RowsSkipped > len64(st.FirstErrors) {
		fmt.Fprintf(stderr, "... and %d more skipped rows\n", st.RowsSkipped-len64(st.FirstErrors))
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	summary := struct {
		datasets.ConvertStats
		Format     string  `json:"format"`
		In         string  `json:"in"`
		Seconds    float64 `json:"seconds"`
		RowsPerSec float64 `json:"rows_per_s"`
	}{st, *format, *in, round3(secs), round3(float64(st.RowsWritten) / secs)}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(summary)
	}
	fmt.Fprintf(stdout, "wrote %d rows (%d skipped, %d positives) to %s (%d bytes) in %.2fs, %.0f rows/s\n",
		st.RowsWritten, st.RowsSkipped, st.Positives, st.Out, st.OutBytes, secs, summary.RowsPerSec)
	return nil
}

func len64[T any](s []T) int64 { return int64(len(s)) }

func round3(x float64) float64 {
	if x != x {
		return 0
	}
	return float64(int64(x*1000+0.5)) / 1000
}
