package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyArgs is a sweep of two cells (full at 1x, hashed at 2x) on a small
// generated set.
func tinyArgs(out string) []string {
	return []string{"--datasets", "synth", "--synth-rows", "3000", "--synth-scale", "0.001", "--methods", "hashed",
		"--ratios", "2", "--seeds", "1", "--dim", "4", "--threads", "1", "--quiet", "--out", out}
}

// TestOutputGuard: a sweep into a directory that holds one is refused
// (so the README's command cannot rewrite a checked-in report), --resume
// continues it without rerunning its cells, --force starts it over.
func TestOutputGuard(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sweep")
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), tinyArgs(out), &stdout, &stderr); err != nil {
		t.Fatalf("first sweep: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "the full table runs at 1x anyway") {
		t.Errorf("no note that the full baseline was added:\n%s", stderr.String())
	}
	csv := filepath.Join(out, "results.csv")
	before, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), tinyArgs(out), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second sweep into the same --out: %v, want a refusal naming --resume and --force", err)
	}
	if after, _ := os.ReadFile(csv); !bytes.Equal(before, after) {
		t.Error("the refused sweep changed results.csv")
	}
	if err := run(context.Background(), append(tinyArgs(out), "--resume"), &stdout, &stderr); err != nil {
		t.Fatalf("--resume: %v", err)
	}
	if after, _ := os.ReadFile(csv); !bytes.Equal(before, after) {
		t.Errorf("--resume of a finished sweep changed results.csv:\n%s\n%s", before, after)
	}
	if err := run(context.Background(), append(tinyArgs(out), "--force"), &stdout, &stderr); err != nil {
		t.Fatalf("--force: %v", err)
	}
	after, _ := os.ReadFile(csv)
	if n := strings.Count(string(after), "\n"); n != 3 {
		t.Errorf("--force: results.csv has %d lines, want a header and 2 cells:\n%s", n, after)
	}
	if err := run(context.Background(), append(tinyArgs(out), "--force", "--resume"), &stdout, &stderr); err == nil {
		t.Error("--force with --resume accepted")
	}
}
