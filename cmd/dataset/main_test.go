package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	for _, sub := range []string{"gen", "convert", "inspect"} {
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
