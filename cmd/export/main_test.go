package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embtab/embtab/artifact"
	"github.com/embtab/embtab/datasets"
	"github.com/embtab/embtab/lookup/storetest"
	"github.com/embtab/embtab/quant"
	"github.com/embtab/embtab/trainer"
)

func TestRequantize(t *testing.T) {
	src := storetest.Fixture(t, "fp32")
	out := filepath.Join(t.TempDir(), "q")
	for _, codec := range []string{"int8", "int4"} {
		var stdout, stderr bytes.Buffer
		args := []string{"--from", src.Dir(), "--out", out, "--codec", codec, "--json", "--replace", "--row-align", "64"}
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", codec, err, stderr.String())
		}
		var s summary
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		if s.Codec != codec || s.QuantizedFrom != "fp32" || len(s.Errors) != 2 || s.ID == src.Manifest().ID ||
			s.RowBytes != int64(64*(301+157)) {
			t.Errorf("summary %+v", s)
		}
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--from", src.Dir(), "--out", out, "--codec", "fp16"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Errorf("existing --out without --replace: %v", err)
	}
}

// TestRequantizeFieldDims re-quantizes an artifact whose row sets have
// different widths (a table with per-field dims): each set keeps its width
// and gets its own stride and quantization error.
func TestRequantizeFieldDims(t *testing.T) {
	src := storetest.FixtureFieldDims(t, "fp32")
	for _, codec := range []string{"fp16", "int8", "int4"} {
		out := filepath.Join(t.TempDir(), "q")
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"--from", src.Dir(), "--out", out, "--codec", codec, "--json"}, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", codec, err, stderr.String())
		}
		var s summary
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
			t.Fatal(err)
		}
		a, err := artifact.Open(out, artifact.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := quant.Lookup(codec)
		var rowBytes int64
		for i, set := range a.RowSets() {
			w := src.RowSets()[i].Dim()
			if set.Dim() != w || a.Manifest().Table.SetWidth(i) != w || set.Len() != src.RowSets()[i].Len() ||
				set.Stride() != c.RowBytes(w) { // packed
				t.Errorf("%s set %d: dim %d, stride %d; source dim %d", codec, i, set.Dim(), set.Stride(), w)
			}
			rowBytes += int64(set.Len()) * int64(set.Stride())
		}
		if s.Codec != codec || len(s.Errors) != 3 || s.RowBytes != rowBytes {
			t.Errorf("%s summary %+v, want 3 quantization errors and %d row bytes", codec, s, rowBytes)
		}
		a.Close()
	}
}

func TestExportRun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "g.parquet")
	g, err := datasets.NewGenerator(datasets.GenConfig{Rows: 1500, Scale: 0.001, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datasets.Convert(context.Background(), g, data, datasets.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	cfg := trainer.Config{Data: data, Model: "lr", Table: "full", Dim: 4, Batch: 500, Threads: 1, Out: runDir}
	if _, err := trainer.Train(context.Background(), cfg, trainer.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, codec := range []string{"fp32", "int4"} {
		out := filepath.Join(dir, "model-"+codec)
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"--run", runDir, "--out", out, "--codec", codec}, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", codec, err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "full table, "+codec+" rows") {
			t.Errorf("report %q", stdout.String())
		}
		a, err := artifact.Open(out, artifact.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a.Vocab() == nil || a.Manifest().Codec != codec || len(a.Manifest().Dense) != 13 {
			t.Errorf("%s artifact: %+v", codec, a.Manifest())
		}
		a.Close()
	}
	// No stray temporary directories.
	if m, _ := filepath.Glob(filepath.Join(dir, ".export-*")); len(m) != 0 {
		t.Errorf("left behind %v", m)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--out", "x"},
		{"--from", "a", "--run", "b", "--out", "x"},
		{"--from", "a"},
		{"--from", "a", "--out", "x", "--codec", "int3"},
		{"--from", storetest.Fixture(t, "fp32").Dir(), "--out", filepath.Join(t.TempDir(), "x"), "--row-align", "48"},
		{"--from", "/no/such/artifact", "--out", filepath.Join(t.TempDir(), "x")},
		{"--run", "/no/such/run", "--out", filepath.Join(t.TempDir(), "x")},
		{"positional"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

// TestRowAlign checks that rows are packed by default and padded to
// --row-align bytes when asked, and that --help documents the flag.
func TestRowAlign(t *testing.T) {
	src := storetest.FixtureFieldDims(t, "fp32")
	for _, tc := range []struct {
		args  []string
		align int // 0: packed
	}{
		{nil, 0},
		{[]string{"--row-align", "0"}, 0},
		{[]string{"--row-align", "16"}, 16},
		{[]string{"--row-align", "64"}, 64},
	} {
		out := filepath.Join(t.TempDir(), "q")
		var stdout, stderr bytes.Buffer
		args := append([]string{"--from", src.Dir(), "--out", out, "--codec", "int8"}, tc.args...)
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%q: %v\n%s", tc.args, err, stderr.String())
		}
		a, err := artifact.Open(out, artifact.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, set := range a.RowSets() {
			rb := quant.Int8.RowBytes(set.Dim())
			want := rb
			if tc.align > 0 {
				want = (rb + tc.align - 1) / tc.align * tc.align
			}
			if set.Stride() != want {
				t.Errorf("%q: set %d of %d-byte rows: stride %d, want %d", tc.args, i, rb, set.Stride(), want)
			}
		}
		a.Close()
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if help := stderr.String(); !strings.Contains(help, "--row-align N") || !strings.Contains(help, "0 packs the rows") {
		t.Errorf("--help does not document --row-align:\n%s", help)
	}
}
