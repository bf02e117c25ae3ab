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

// TestInfeasibleAndReport: a cell whose method cannot be built at its
// budget (QR at 2000x of a tiny table) is recorded in infeasible.tsv, a
// resume skips it and reports it again, and --report rewrites the report
// from the results alone, infeasible cells included.
func TestInfeasibleAndReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sweep")
	args := []string{"--datasets", "synth", "--synth-rows", "3000", "--synth-scale", "0.001", "--methods", "full,qr",
		"--ratios", "2000", "--seeds", "1", "--dim", "4", "--threads", "1", "--quiet", "--out", out}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr.String())
	}
	inf, err := os.ReadFile(filepath.Join(out, "infeasible.tsv"))
	if err != nil || !strings.HasPrefix(string(inf), "synth\tqr\t2000\t1\tsynth/qr at 2000x") {
		t.Fatalf("infeasible.tsv %q, %v", inf, err)
	}
	report := func() string {
		b, err := os.ReadFile(filepath.Join(out, "report.md"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if !strings.Contains(report(), "- synth/qr at 2000x") {
		t.Fatalf("report lacks the infeasible cell:\n%s", report())
	}
	if err := os.Remove(filepath.Join(out, "report.md")); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), append(args, "--resume"), &stdout, &stderr); err != nil {
		t.Fatalf("--resume: %v", err)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "infeasible.tsv")); !bytes.Equal(again, inf) {
		t.Errorf("resume tried the infeasible cell again:\n%s", again)
	}
	if !strings.Contains(report(), "- synth/qr at 2000x") {
		t.Fatalf("resumed report lacks the infeasible cell:\n%s", report())
	}
	os.Remove(filepath.Join(out, "report.md"))
	stdout.Reset()
	if err := run(context.Background(), []string{"--report", "--out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("--report: %v", err)
	}
	if rep := report(); !strings.Contains(rep, "- synth/qr at 2000x") || !strings.Contains(rep, "| full | 1x |") {
		t.Fatalf("--report wrote:\n%s", rep)
	}
	if err := run(context.Background(), []string{"--report", "--out", t.TempDir()}, &stdout, &stderr); err == nil {
		t.Error("--report of an empty directory succeeded")
	}
}
