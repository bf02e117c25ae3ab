// Command export writes serving artifacts: it re-quantizes an artifact's
// tables to another codec, or exports a training run's checkpoint.
//
//	export --from runs/a/model --out runs/a/model-int8 --codec int8
//	export --run runs/a --out runs/a/model-int4 --codec int4
//
// The source is never changed. The new artifact gets its own id (stores
// that copy rows key them by it) and records the source codec and the
// quantization error of every row set in its manifest; each row set keeps
// its width (tables with per-field dims have sets of several widths).
// Quantize from fp32: re-quantizing quantized rows compounds the errors.
//
// Rows are packed (each takes its codec's row bytes, an int8 row of dim 64
// 72 bytes) unless --row-align N pads them to a multiple of N bytes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/bytesize"
	"github.com/embtab/embtab/quant"
	"github.com/embtab/embtab/trainer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "export:", err)
		os.Exit(1)
	}
}

// summary is what --json prints.
type summary struct {
	Out           string                 `json:"out"`
	ID            string                 `json:"id"`
	Codec         string                 `json:"codec"`
	QuantizedFrom string                 `json:"quantized_from,omitempty"`
	Method        string                 `json:"method"`
	Bytes         int64                  `json:"bytes"`
	RowBytes      int64                  `json:"row_bytes"`
	Errors        []*artifact.QuantError `json:"quant_errors,omitempty"`
	Seconds       float64                `json:"seconds"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("export", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "source artifact directory")
	runDir := fs.String("run", "", "source training run directory (train --out): exports its checkpoint; the run's training data must still exist")
	out := fs.String("out", "", "destination artifact directory (required)")
	codec := fs.String("codec", "fp32", "codec of the rows: fp32, fp16, int8, int4")
	replace := fs.Bool("replace", false, "replace an existing artifact at --out")
	rowAlign := fs.Int("row-align", 0, fmt.Sprintf("pad each row of the table files to a multiple of `N` bytes (a power of two up to %d; 64 starts every row on a cache line); 0 packs the rows (stride = the codec's row bytes)", artifact.MaxRowAlign))
	asJSON := fs.Bool("json", false, "print a JSON summary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: export (--from ARTIFACT | --run RUNDIR) --out DIR [--codec int8]\n\nWrites a serving artifact with its rows in a codec.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q (flags start with --)", fs.Args())
	case (*from == "") == (*runDir == ""):
		return errors.New("give exactly one of --from and --run")
	case *out == "":
		return errors.New("--out is required")
	}
	if _, err := quant.Lookup(*codec); err != nil {
		return fmt.Errorf("--codec: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	opt := artifact.WriteOptions{Replace: *replace, RowAlign: *rowAlign}
	if !*replace {
		if _, err := os.Stat(*out); err == nil {
			return fmt.Errorf("--out %s exists (--replace to replace it): %w", *out, artifact.ErrExists)
		}
	}
	src := *from
	if *runDir != "" {
		if *codec == quant.FP32.Name() && *rowAlign == 0 {
			if err := trainer.ExportCheckpoint(*runDir, *out); err != nil {
				return err
			}
			return report(stdout, *out, *asJSON, start)
		}
		// Export fp32 next to the destination, then quantize from it.
		tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(*out)), ".export-fp32-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		src = filepath.Join(tmp, "model")
		if err := trainer.ExportCheckpoint(*runDir, src); err != nil {
			return err
		}
	}
	a, err := artifact.Open(src, artifact.OpenOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := artifact.Requantize(a, *out, *codec, opt); err != nil {
		return err
	}
	return report(stdout, *out, *asJSON, start)
}

// report opens the new artifact (checking it) and prints its summary.
func report(w io.Writer, dir string, asJSON bool, start time.Time) error {
	a, err := artifact.Open(dir, artifact.OpenOptions{})
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	defer a.Close()
	m := a.Manifest()
	s := summary{Out: dir, ID: m.ID, Codec: m.Codec, QuantizedFrom: m.QuantizedFrom, Method: m.Table.Method,
		Seconds: time.Since(start).Seconds()}
	for _, f := range m.Files {
		s.Bytes += f.Bytes
	}
	for _, rs := range m.Table.RowSets {
		s.RowBytes += int64(rs.Rows) * int64(rs.Stride)
		if rs.QuantError != nil {
			s.Errors = append(s.Errors, rs.QuantError)
		}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(s)
	}
	fmt.Fprintf(w, "wrote %s: artifact %s, %s table, %s rows (%s of row data, %s in all) in %.1fs\n",
		dir, m.ID, m.Table.Method, m.Codec, bytesize.Format(s.RowBytes), bytesize.Format(s.Bytes), s.Seconds)
	for i, q := range s.Errors {
		fmt.Fprintf(w, "row set %d: quantization error max %.3g, rmse %.3g, relative %.3g\n", i, q.MaxAbs, q.RMSE, q.Rel)
	}
	return nil
}
