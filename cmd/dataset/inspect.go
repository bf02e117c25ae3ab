package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/progress"
	"github.com/spf13/pflag"
)

type fieldStats struct {
	Name        string  `json:"name"`
	Kind        string  `json:"kind"`
	Cardinality int64   `json:"cardinality,omitempty"`
	MissingRate float64 `json:"missing_rate"`
	Min         float64 `json:"min,omitempty"`
	Max         float64 `json:"max,omitempty"`
}

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("dataset inspect", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "", "input format: parquet, criteo, avazu, movielens1m, movielens100k (default: from the file name)")
	onError := fs.String("on-error", "skip", "malformed rows in raw files: skip (count them) or fail")
	asJSON := fs.Bool("json", false, "print the report as JSON (last stdout line)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dataset inspect [flags] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("inspect needs one file")
	}
	path := fs.Arg(0)
	policy, err := datasets.ParseOnError(*onError)
	if err != nil {
		return err
	}
	r, err := datasets.OpenBatches(*format, path, datasets.BatchOptions{BatchSize: 8192, OnError: policy})
	if err != nil {
		return err
	}
	defer r.Close()
	s := r.Schema()
	nd, nc := s.NumDense(), s.NumCat()
	seen := make([]map[uint64]struct{}, nc)
	for f := range seen {
		seen[f] = map[uint64]struct{}{}
	}
	missingCat := make([]int64, nc)
	missingDense := make([]int64, nd)
	dmin, dmax := make([]float64, nd), make([]float64, nd)
	for j := range dmin {
		dmin[j], dmax[j] = 1e300, -1e300
	}
	// the id of the empty string per field marks a missing value
	emptyID := make([]uint64, nc)
	h := hashing.New(hashing.DefaultSeed, nc)
	for f := range emptyID {
		emptyID[f] = h.HashString(f, "")
	}
	var rows, pos int64
	var tmin, tmax int64 = 1<<63 - 1, -1 << 63
	bar := progress.New(stderr, "inspect", 0, "rows")
	if *quiet || *asJSON {
		bar = progress.Disabled()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		for i := 0; i < b.Rows; i++ {
			pos += int64(b.Labels[i])
			for j := 0; j < nd; j++ {
				if b.DenseMissing[i*nd+j] {
					missingDense[j]++
					continue
				}
				v := float64(b.Dense[i*nd+j])
				dmin[j], dmax[j] = min(dmin[j], v), max(dmax[j], v)
			}
			for f := 0; f < nc; f++ {
				id := b.IDs[i*nc+f]
				if id == emptyID[f] {
					missingCat[f]++
					continue
				}
				seen[f][id] = struct{}{}
			}
			if len(b.Timestamps) > 0 {
				tmin, tmax = min(tmin, b.Timestamps[i]), max(tmax, b.Timestamps[i])
			}
		}
		rows += int64(b.Rows)
		bar.Set(rows)
		r.Release(b)
	}
	bar.Done()
	rep := struct {
		Path      string           `json:"path"`
		Schema    *datasets.Schema `json:"schema"`
		Rows      int64            `json:"rows"`
		LabelRate float64          `json:"label_rate"`
		Fields    []fieldStats     `json:"fields"`
		TimeMin   int64            `json:"time_min,omitempty"`
		TimeMax   int64            `json:"time_max,omitempty"`
		Distinct  int64            `json:"distinct_values"`
	}{Path: path, Schema: s, Rows: rows}
	if rows > 0 {
		rep.LabelRate = float64(pos) / float64(rows)
	}
	for j, n := range s.Dense {
		fsx := fieldStats{Name: n, Kind: "dense", MissingRate: ratio(missingDense[j], rows)}
		if missingDense[j] < rows {
			fsx.Min, fsx.Max = dmin[j], dmax[j]
		}
		rep.Fields = append(rep.Fields, fsx)
	}
	for f, n := range s.Categorical {
		c := int64(len(seen[f]))
		rep.Distinct += c
		rep.Fields = append(rep.Fields, fieldStats{Name: n, Kind: "categorical", Cardinality: c, MissingRate: ratio(missingCat[f], rows)})
	}
	if s.Timestamp != "" && rows > 0 {
		rep.TimeMin, rep.TimeMax = tmin, tmax
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "file:       %s\ndataset:    %s\nrows:       %d\nlabel rate: %.4f (%s)\ndistinct categorical values: %d\n",
		path, s.Dataset, rows, rep.LabelRate, s.Label, rep.Distinct)
	if s.LabelRule != "" {
		fmt.Fprintf(stdout, "label rule: %s\n", s.LabelRule)
	}
	if s.Timestamp != "" {
		fmt.Fprintf(stdout, "timestamps: %d .. %d\n", rep.TimeMin, rep.TimeMax)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "field\tkind\tcardinality\tmissing\tmin\tmax")
	for _, f := range rep.Fields {
		if f.Kind == "dense" {
			fmt.Fprintf(tw, "%s\t%s\t\t%.4f\t%g\t%g\n", f.Name, f.Kind, f.MissingRate, f.Min, f.Max)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.4f\t\t\n", f.Name, f.Kind, f.Cardinality, f.MissingRate)
		}
	}
	return tw.Flush()
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
