package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/embtab/embtab/internal/shareddata"
)

// lastJSON decodes the last line of out.
func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last line is not JSON: %q: %v", lines[len(lines)-1], err)
	}
	return m
}

func TestGenConvertInspect(t *testing.T) {
	dir := t.TempDir()
	tsv := filepath.Join(dir, "g.tsv.gz")
	ctx := context.Background()
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"gen", "--rows", "3000", "--scale", "0.001", "--seed", "2", "--out", tsv, "--json", "--quiet"}, &out, &errb); err != nil {
		t.Fatalf("gen: %v\n%s", err, errb.String())
	}
	if m := lastJSON(t, out.String()); m["rows_written"] != 3000.0 {
		t.Fatalf("gen summary %v", m)
	}
	pq := filepath.Join(dir, "g.parquet")
	out.Reset()
	if err := run(ctx, []string{"convert", "--format", "criteo", "--in", tsv, "--out", pq, "--json", "--quiet"}, &out, &errb); err != nil {
		t.Fatalf("convert: %v\n%s", err, errb.String())
	}
	m := lastJSON(t, out.String())
	if m["rows_written"] != 3000.0 || m["rows_skipped"] != 0.0 {
		t.Fatalf("convert summary %v", m)
	}
	out.Reset()
	if err := run(ctx, []string{"inspect", "--json", pq}, &out, &errb); err != nil {
		t.Fatalf("inspect: %v", err)
	}
	m = lastJSON(t, out.String())
	if m["rows"] != 3000.0 {
		t.Fatalf("inspect rows = %v", m["rows"])
	}
	fields := m["fields"].([]any)
	if len(fields) != 39 {
		t.Fatalf("inspect gave %d fields, want 39", len(fields))
	}
}

func TestConvertBadInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.tsv")
	good := "1\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13" + strings.Repeat("\tab", 26) + "\n"
	os.WriteFile(in, []byte(good+"2"+good[1:]+good), 0o644)
	out := filepath.Join(dir, "o.parquet")
	var so, se bytes.Buffer
	err := run(context.Background(), []string{"convert", "--format", "criteo", "--in", in, "--out", out, "--quiet"}, &so, &se)
	if err == nil || !strings.Contains(err.Error(), "bad.tsv:2") || !strings.Contains(err.Error(), "label") {
		t.Fatalf("want an error naming bad.tsv:2 and the label field, got %v", err)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Fatal("failed convert left an output file")
	}
	so.Reset()
	err = run(context.Background(), []string{"convert", "--format", "criteo", "--in", in, "--out", out, "--on-error", "skip", "--json", "--quiet"}, &so, &se)
	if err != nil {
		t.Fatal(err)
	}
	m := lastJSON(t, so.String())
	if m["rows_written"] != 2.0 || m["rows_skipped"] != 1.0 {
		t.Fatalf("skip summary %v", m)
	}
	if !strings.Contains(se.String(), "bad.tsv:2") {
		t.Fatalf("skipped row not reported on stderr: %q", se.String())
	}
}

func TestUsageErrors(t *testing.T) {
	var so, se bytes.Buffer
	for _, args := range [][]string{{}, {"nope"}, {"convert"}, {"gen"}, {"inspect"}, {"convert", "--format", "x", "--in", "a", "--out", "b"}} {
		if err := run(context.Background(), args, &so, &se); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	if err := run(context.Background(), []string{"convert", "--help"}, &so, &se); err != nil {
		t.Errorf("--help: %v", err)
	}
	// Generator values whose zero silently meant the default.
	out := filepath.Join(t.TempDir(), "g.parquet")
	for _, tc := range []struct{ flag, value, want string }{
		{"--scale", "0", "--scale 0"},
		{"--scale", "-1", "--scale -1"},
		{"--rows", "0", "--rows 0"},
		{"--zipf", "0", "--zipf 0"},
		{"--ctr", "0", "--ctr 0"},
		{"--preset", "nope", `preset "nope"`},
	} {
		err := run(context.Background(), []string{"gen", tc.flag, tc.value, "--out", out, "--quiet"}, &so, &se)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("gen %s %s: %v, want an error containing %q", tc.flag, tc.value, err, tc.want)
		}
	}
	// Convert options whose zero silently meant the default.
	in := filepath.Join(t.TempDir(), "in.tsv")
	if err := os.WriteFile(in, []byte("1\t"+strings.Repeat("\t", 38)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, value, want string }{
		{"--row-group-rows", "0", "--row-group-rows 0"},
		{"--label-threshold", "0", "--label-threshold 0"},
		{"--label-threshold", "6", "--label-threshold 6"},
	} {
		err := run(context.Background(), []string{"convert", "--format", "criteo", "--in", in, "--out", out, tc.flag, tc.value, "--quiet"}, &so, &se)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("convert %s %s: %v, want an error containing %q", tc.flag, tc.value, err, tc.want)
		}
	}
}

// TestHelpTypeNames: pflag reads a back-quoted word in a usage string as
// the value's type name (cmd/train's --help showed "--data dataset
// convert"): every flag line of every subcommand's --help shows a type
// name pflag itself uses, or none.
func TestHelpTypeNames(t *testing.T) {
	known := map[string]bool{"": true, "string": true, "int": true, "int64": true, "uint": true, "uint64": true,
		"float": true, "float64": true, "strings": true, "ints": true, "duration": true, "floats": true, "float64Slice": true, "float32Slice": true, "uints": true, "int64Slice": true, "stringArray": true, "bools": true}
	for _, sub := range []string{"gen", "convert", "inspect", "calibrate"} {
		var out, errb bytes.Buffer
		run(context.Background(), []string{sub, "--help"}, &out, &errb)
		n := 0
		for _, line := range strings.Split(errb.String(), "\n") {
			head, _, _ := strings.Cut(strings.TrimSpace(line), "   ")
			if !strings.HasPrefix(head, "--") {
				continue
			}
			n++
			if f := strings.Fields(head); strings.Contains(line, "`") || !known[strings.Join(f[1:], " ")] {
				t.Errorf("%s --help: flag %s shows the type name %q: %q", sub, f[0], strings.Join(f[1:], " "), line)
			}
		}
		if n < 2 {
			t.Errorf("%s --help: %d flag lines in %q", sub, n, errb.String())
		}
	}
}

// gen --preset writes the calibrated layout; --scale with it is an error.
func TestGenPreset(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "p.tsv")
	var so, se bytes.Buffer
	if err := run(context.Background(), []string{"gen", "--preset", "criteo-kaggle", "--rows", "2000", "--out", out, "--json", "--quiet"}, &so, &se); err != nil {
		t.Fatalf("gen --preset: %v\n%s", err, se.String())
	}
	m := lastJSON(t, so.String())
	if m["preset"] != "criteo-kaggle" || m["rows_written"] != 2000.0 {
		t.Fatalf("gen --preset summary %v", m)
	}
	if cards := m["cardinalities"].([]any); cards[2].(float64) < 1e7 {
		t.Errorf("C3 support %v, want the fitted one (> Kaggle's 10.1M)", cards[2])
	}
	if err := run(context.Background(), []string{"gen", "--preset", "criteo-kaggle", "--scale", "1", "--out", out, "--quiet"}, &so, &se); err == nil || !strings.Contains(err.Error(), "--scale") {
		t.Errorf("gen --preset --scale: %v, want an error naming --scale", err)
	}
}

// calibrate fits the real Criteo lines, writes a preset gen can load, the
// curves and the plot.
func TestCalibrateShared(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(shareddata.Dir(t), "criteo", "criteo_*"))
	dir := t.TempDir()
	preset, plot, curves := filepath.Join(dir, "p.json"), filepath.Join(dir, "c.png"), filepath.Join(dir, "c.json")
	var so, se bytes.Buffer
	args := []string{"calibrate", "--in", strings.Join(files, ","), "--out", preset, "--plot", plot, "--curves", curves,
		"--check-rows", "3000", "--shuffles", "2", "--json"}
	if err := run(context.Background(), args, &so, &se); err != nil {
		t.Fatalf("calibrate: %v\n%s", err, se.String())
	}
	if m := lastJSON(t, so.String()); m["real_rows"] != 12278.0 || len(m["fields"].([]any)) != 26 {
		t.Errorf("calibrate summary %v", m)
	}
	for _, p := range []string{plot, curves} {
		if st, err := os.Stat(p); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", p, err)
		}
	}
	so.Reset()
	if err := run(context.Background(), []string{"gen", "--preset", preset, "--rows", "100", "--out", filepath.Join(dir, "g.tsv"), "--quiet"}, &so, &se); err != nil {
		t.Errorf("gen from the calibrated preset: %v", err)
	}
	if err := run(context.Background(), []string{"calibrate", "--in", filepath.Join(dir, "nope.tsv"), "--out", preset}, &so, &se); err == nil || !strings.Contains(err.Error(), "nope.tsv") {
		t.Errorf("calibrate of a missing file: %v, want an error naming it", err)
	}
}
