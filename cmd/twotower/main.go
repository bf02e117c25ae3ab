// Command twotower trains and evaluates two-tower retrieval models on
// MovieLens (package retrieval) with compressed embedding tables, and
// exports their vectors and a serving artifact for cmd/serve's
// /v1/retrieve.
//
//	twotower train --data ../shared/data/movielens/ml-1m --table hashed --compression-ratio 10 --out runs/tt
//	twotower eval  --model runs/tt/model --data ../shared/data/movielens/ml-1m
//	twotower bench --ratios 1,10,100 --methods full,hashed,unified,hybrid --seeds 1,2,3
//
// train writes OUT/metrics.jsonl (loss every --log-every steps, validation
// metrics every epoch), OUT/vectors (users and items as .fvecs, .npy and
// Parquet, with vectors.json), OUT/model (the artifact: table, towers,
// item HNSW index, catalog, vectors) and OUT/result.json. Run
// `twotower <command> --help` for every flag; with --json the last stdout
// line is the result as a JSON object.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

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
		fmt.Fprintln(os.Stderr, "twotower:", err)
		os.Exit(1)
	}
}

const usage = `usage: twotower <command> [flags]

commands:
  train  train a two-tower model, evaluate it, export vectors and an artifact
  eval   evaluate an exported artifact's vectors and index on a dataset
  bench  train and evaluate over table methods x compression ratios x seeds

Run twotower <command> --help for its flags.
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
	case "train":
		return runTrain(ctx, args[1:], stdout, stderr)
	case "eval":
		return runEval(ctx, args[1:], stdout, stderr)
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
		fmt.Fprintf(stderr, "usage: twotower %s [flags]\n\n%s\n\nflags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// emitJSON prints v as one JSON line.
func emitJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
