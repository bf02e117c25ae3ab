// Command dataset converts CTR datasets to Parquet, generates synthetic
// Criteo-like data and inspects data files.
//
//	dataset convert --format criteo --in train.tsv --out train.parquet
//	dataset gen --rows 1000000 --scale 0.05 --seed 1 --out synth.parquet
//	dataset inspect synth.parquet
//
// Run `dataset <command> --help` for the flags of each command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dataset:", err)
		os.Exit(1)
	}
}

const usage = `usage: dataset <command> [flags]

commands:
  calibrate fit a generator preset to real Criteo files and plot real vs generated curves
  convert   convert a raw Criteo/Avazu/MovieLens file (or directory) to Parquet
  gen       generate synthetic Criteo-like data (Parquet or TSV)
  inspect   print schema, row count, label rate and per-field cardinality

Run 'dataset <command> --help' for the flags of a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command")
	}
	switch args[0] {
	case "calibrate":
		return runCalibrate(ctx, args[1:], stdout, stderr)
	case "convert":
		return runConvert(ctx, args[1:], stdout, stderr)
	case "gen":
		return runGen(ctx, args[1:], stdout, stderr)
	case "inspect":
		return runInspect(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
