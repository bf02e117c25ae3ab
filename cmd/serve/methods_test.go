package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/dedup"
	"github.com/embtab/embtab/embedding"
	"github.com/embtab/embtab/quant"
	"github.com/embtab/embtab/trainer"
)

// trainMethod trains the fixture's data with table method name (one epoch,
// dim 4, the settings given) and exports it; it returns the artifact's
// directory and the run's.
func trainMethod(t *testing.T, name string, cfg trainer.Config) (dir, run string) {
	t.Helper()
	run = filepath.Join(t.TempDir(), "run")
	cfg.Data, cfg.Model, cfg.Table, cfg.Out = filepath.Join(fixtureDir, "g.parquet"), "dlrm", name, run
	cfg.Dim, cfg.Batch, cfg.Epochs, cfg.Threads = 4, 500, 1, 2
	if _, err := trainer.Train(context.Background(), cfg, trainer.Options{}); err != nil {
		t.Fatalf("train %s: %v", name, err)
	}
	dir = filepath.Join(t.TempDir(), "model")
	if err := trainer.ExportCheckpoint(run, dir); err != nil {
		t.Fatalf("export %s: %v", name, err)
	}
	return dir, run
}

// trainedTable reads the table of run's checkpoint (a fresh copy each
// call).
func trainedTable(t *testing.T, run string) embedding.Table {
	t.Helper()
	ck, err := trainer.ReadCheckpoint(filepath.Join(run, trainer.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	return ck.Table
}

// dequantize replaces the rows of tbl by their codec round trip: the table
// a server of a codec artifact serves.
func dequantize(t *testing.T, tbl embedding.Table, codec string) {
	t.Helper()
	c, err := quant.Lookup(codec)
	if err != nil {
		t.Fatal(err)
	}
	for _, rows := range tbl.(embedding.RowStore).RowSets() {
		w := rows.Dim()
		p := make([]float32, rows.Len()*w)
		rows.ReadRows(0, p)
		enc := make([]byte, c.RowBytes(w))
		for i := range rows.Len() {
			if err := c.EncodeRow(enc, p[i*w:(i+1)*w]); err != nil {
				t.Fatal(err)
			}
			if err := c.DecodeRow(p[i*w:(i+1)*w], enc); err != nil {
				t.Fatal(err)
			}
		}
		rows.WriteRows(0, p)
	}
}

// checkEmbed asks the server for the embeddings of the fixture's first n
// instances and compares them with tbl's Lookup: bit for bit when exact,
// else to float32 rounding (the kernels fuse dequantization and pooling).
func checkEmbed(t *testing.T, f *fixture, url string, tbl embedding.Table, n int, exact bool) {
	t.Helper()
	nf, d := f.schema.NumCat(), tbl.Dim()
	want := make([]float32, n*nf*d)
	tbl.Lookup(f.rows.IDs[:n*nf], want)
	var inst []any
	for i := range n {
		inst = append(inst, f.instance(i))
	}
	code, out := do(t, "POST", url+"/v1/embed", map[string]any{"instances": inst})
	if code != http.StatusOK {
		t.Fatalf("embed: %d %s", code, out)
	}
	var r embedResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.Dim != d || len(r.Embeddings) != n {
		t.Fatalf("embed response: dim %d, %d embeddings", r.Dim, len(r.Embeddings))
	}
	for i := range n {
		for k, field := range f.schema.Categorical {
			got, w := r.Embeddings[i][field], want[(i*nf+k)*d:(i*nf+k+1)*d]
			if exact {
				if !slices.Equal(got, w) {
					t.Fatalf("instance %d field %s: served %v, the training table's %v", i, field, got, w)
				}
				continue
			}
			for j := range w {
				if len(got) != d || math.Abs(float64(got[j]-w[j])) > 1e-5*(1+math.Abs(float64(w[j]))) {
					t.Fatalf("instance %d field %s: served %v, the dequantized training table's %v", i, field, got, w)
				}
			}
		}
	}
}

// TestServeEveryMethod trains a table of every registered method on the
// fixture's data, exports it, and checks that /v1/embed returns the
// training table's vectors for the same ids, from the mmap store (the
// kernels over the mapped rows) and the badger store (one batched fetch,
// then the kernels): bit for bit from the fp32 artifact, and from fp16,
// int8 and int4 re-quantizations the table with its rows replaced by
// their codec's round trip, to float32 rounding.
func TestServeEveryMethod(t *testing.T) {
	f := testFixture(t)
	settings := map[string]trainer.Config{
		"multiprobe": {Probes: 3},
		"hybrid":     {MemoryBudget: 4096},
		"qr":         {MemoryBudget: 2048},
		"cafe":       {MemoryBudget: 4096},                     // a full hot pool (116 ids) and 2 hashed rows a field
		"robe":       {TableConfig: "testdata/robe-sign.json"}, // blocks of 2 floats with the sign hash (a computed combine)
		"adaptemb":   {MemoryBudget: 4096},
		"dedup":      {TableConfig: "testdata/dedup.json"}, // dedups after 2 steps, so the remap is served
		"ttrec":      {MemoryBudget: 8192},                 // tensor trains of several row widths beside plain fields
		"mde":        {MemoryBudget: 40000},                // projected fields of several widths beside full-width ones
		"deeplight":  {MemoryBudget: 6000},                 // about a third of the full table's bytes: rows of every count of values
		"pep":        {MemoryBudget: 6000},
		"autosrh":    {MemoryBudget: 6000},
		"mgqe":       {MemoryBudget: 200000}, // codebooks of several sizes; frequent ids with wider codes
		"dpq":        {MemoryBudget: 200000},
	}
	for _, name := range embedding.Methods() {
		t.Run(name, func(t *testing.T) {
			dir, run := trainMethod(t, name, settings[name])
			if d, ok := trainedTable(t, run).(interface{ Config() dedup.Config }); ok && !d.Config().Deduped() {
				t.Fatal("the dedup table did not dedup: the test would serve no remap")
			}
			if pr, ok := trainedTable(t, run).(interface{ Pruned() (int64, int64) }); ok {
				if p, n := pr.Pruned(); p*10 < n || p == n {
					t.Fatalf("%d of %d values pruned: the test would serve almost full rows", p, n)
				}
			}
			src, err := artifact.Open(dir, artifact.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			for _, codec := range []string{"fp32", "fp16", "int8", "int4"} {
				cdir := dir
				if codec != "fp32" {
					cdir = filepath.Join(t.TempDir(), "model-"+codec)
					_, err := artifact.Requantize(src, cdir, codec, artifact.WriteOptions{})
					if exactRows[name] {
						// Sparse masks and codes are integers in exact floats.
						if !errors.Is(err, artifact.ErrInvalid) {
							t.Fatalf("requantize a sparse table to %s: %v, want ErrInvalid", codec, err)
						}
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				for _, store := range []string{"mmap", "badger"} {
					t.Run(fmt.Sprintf("%s/%s", codec, store), func(t *testing.T) {
						cfg := testConfig(cdir)
						cfg.Store = store
						if store == "badger" {
							cfg.StorePath = t.TempDir()
						}
						_, hs, _ := newTestServer(t, cfg)
						served := trainedTable(t, run)
						if codec != "fp32" {
							dequantize(t, served, codec)
						}
						checkEmbed(t, f, hs.URL, served, 8, codec == "fp32")
					})
				}
			}
		})
	}
}

// exactRows are the methods whose artifacts only fp32 holds.
var exactRows = map[string]bool{"deeplight": true, "pep": true, "autosrh": true, "mgqe": true, "dpq": true}

// defaultTrainConfig is trainMethod's settings with nothing set.
func defaultTrainConfig() trainer.Config { return trainer.Config{} }

func containsString(list []string, s string) bool { return slices.Contains(list, s) }

// TestServeInt8Trained trains tables in int8 and with ALPT's learned steps
// (8 and 4 bits) and checks that their artifacts, written with the trained
// int8 (int4) rows as they are, serve exactly the training table's vectors
// from both stores.
func TestServeInt8Trained(t *testing.T) {
	f := testFixture(t)
	for _, storage := range []string{embedding.StorageInt8, embedding.StorageALPT, embedding.StorageALPT4} {
		for _, tc := range []struct {
			method string
			cfg    trainer.Config
		}{
			{"full", trainer.Config{}},
			{"hashed", trainer.Config{MemoryBudget: 4096}},
			{"unified", trainer.Config{MemoryBudget: 4096}},
			{"mde", trainer.Config{MemoryBudget: 40000}},
		} {
			t.Run(storage+"/"+tc.method, func(t *testing.T) {
				tc.cfg.Storage = storage
				dir, run := trainMethod(t, tc.method, tc.cfg)
				a, err := artifact.Open(dir, artifact.OpenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				codec := a.Manifest().Codec
				a.Close()
				if want := map[bool]string{true: "int4", false: "int8"}[storage == embedding.StorageALPT4]; codec != want {
					t.Fatalf("artifact codec %q, want %s", codec, want)
				}
				for _, store := range []string{"mmap", "badger"} {
					t.Run(store, func(t *testing.T) {
						cfg := testConfig(dir)
						cfg.Store = store
						if store == "badger" {
							cfg.StorePath = t.TempDir()
						}
						_, hs, _ := newTestServer(t, cfg)
						checkEmbed(t, f, hs.URL, trainedTable(t, run), 8, true)
					})
				}
			})
		}
	}
}
