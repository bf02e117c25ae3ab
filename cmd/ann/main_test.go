package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestGenBuildBench(t *testing.T) {
	dir := t.TempDir()
	base, qs, idx := filepath.Join(dir, "b.fvecs"), filepath.Join(dir, "q.fvecs"), filepath.Join(dir, "b.ann")
	ctx := context.Background()
	var out, errb bytes.Buffer
	steps := [][]string{
		{"gen", "--n", "2000", "--dim", "16", "--clusters", "10", "--queries", "100", "--out", base, "--queries-out", qs, "--npy", "--json"},
		{"build", "--base", base, "--out", idx, "--efc", "50", "--metric", "l2", "--json"},
		{"bench", "--base", base, "--queries", qs, "--index", idx, "--ef", "10,40", "--json"},
		{"bench", "--base", base, "--queries", qs, "--efc", "50", "--quant", "int8", "--rerank", "--ef", "40", "--json"},
	}
	for _, args := range steps {
		out.Reset()
		if err := run(ctx, args, &out, &errb); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("%v: %q: %v", args, line, err)
			}
			if r, ok := m["recall_at_k"].(float64); ok && r < 0.9 {
				t.Errorf("%v: recall %v", args, r)
			}
		}
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"gen", "build", "bench"} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), []string{cmd, "--help"}, &out, &errb); !errors.Is(err, pflag.ErrHelp) {
			t.Errorf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(errb.String(), "--json") {
			t.Errorf("%s --help lacks --json:\n%s", cmd, errb.String())
		}
	}
	if err := run(context.Background(), []string{"nope"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("unknown command accepted")
	}
}
