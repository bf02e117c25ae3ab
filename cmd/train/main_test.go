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

// TestQuickStartJSON runs the no-data quick start on a tiny generated set
// and checks the JSON summary that scripts rely on.
func TestQuickStartJSON(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--gen-rows", "4000", "--batch", "500", "--dim", "4", "--json", "--quiet"}, &out, &errb)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last stdout line is not JSON: %v", err)
	}
	for _, k := range []string{"test_auc", "test_logloss", "train_samples_per_s", "embedding_bytes", "index_bytes", "serving_bytes", "full_table_bytes", "full_serving_bytes", "compression_ratio", "model", "table"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON result lacks %q", k)
		}
	}
	if auc := m["test_auc"].(float64); auc <= 0.5 || auc > 1 {
		t.Errorf("test_auc %v", auc)
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--memory-budget", "lots"},
		{"--data", "/no/such/file.parquet"},
		{"--model", "transformer", "--gen-rows", "100"},
		{"positional"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errb); err != nil || !strings.Contains(errb.String(), "--memory-budget") {
		t.Errorf("--help: %v, %q", err, errb.String())
	}
}

// TestDimSearchFlags runs a search from the command line and checks the
// plan reaches the JSON result.
func TestDimSearchFlags(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--gen-rows", "4000", "--batch", "500", "--dim", "4", "--model", "lr",
		"--table", "full", "--dim-search", "optembed", "--memory-budget", "240KiB", "--search-generations", "2",
		"--search-population", "6", "--json", "--quiet"}, &out, &errb)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var m struct {
		EmbeddingBytes int64 `json:"embedding_bytes"`
		ServingBytes   int64 `json:"serving_bytes"`
		DimPlan        struct {
			Method string `json:"method"`
			Bytes  int64  `json:"bytes"`
			Fields []struct {
				Dim int `json:"dim"`
			} `json:"fields"`
		} `json:"dim_plan"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatal(err)
	}
	if m.DimPlan.Method != "optembed" || len(m.DimPlan.Fields) != 26 || m.DimPlan.Bytes > 240<<10 || m.ServingBytes != m.DimPlan.Bytes {
		t.Fatalf("result %+v", m)
	}
	if err := run(context.Background(), []string{"--gen-rows", "100", "--dim-search", "optembed", "--table", "qr", "--memory-budget", "1KiB"},
		&out, &errb); err == nil || !strings.Contains(err.Error(), "full, hashed or unified") {
		t.Fatalf("qr table with a search: %v", err)
	}
}

// TestExplicitZeroFlags: flags given a value that trainer.Config would
// silently replace by its default (--epochs 0 trained one epoch) or that
// is out of range are refused, naming the flag; the zeros with a
// documented meaning are accepted.
func TestExplicitZeroFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"--epochs", "0"}, "--epochs 0"},
		{[]string{"--epochs", "-2"}, "--epochs -2"},
		{[]string{"--batch", "0"}, "--batch 0"},
		{[]string{"--dim", "0"}, "--dim 0"},
		{[]string{"--test-fraction", "0"}, "--test-fraction 0"},
		{[]string{"--test-fraction", "1"}, "--test-fraction 1"},
		{[]string{"--threads", "-1"}, "--threads -1"},
		{[]string{"--max-rows", "-1"}, "--max-rows -1"},
		{[]string{"--lr", "0"}, "--lr 0"},
		{[]string{"--lr", "NaN"}, "--lr NaN"},
		{[]string{"--emb-lr", "-1"}, "--emb-lr -1"},
		{[]string{"--seed", "0"}, "--seed 0"},
		{[]string{"--log-every", "0"}, "--log-every 0"},
		{[]string{"--checkpoint-every", "-1"}, "--checkpoint-every -1"},
		{[]string{"--gen-rows", "0"}, "--gen-rows 0"},
		{[]string{"--rows-per-field", "-1"}, "--rows-per-field -1"},
		// documented zeros: all rows, all cores, epoch-end checkpoints
		{[]string{"--max-rows", "0", "--threads", "0", "--checkpoint-every", "0", "--emb-lr", "0"}, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"--gen-rows", "600", "--batch", "200", "--dim", "4", "--model", "lr", "--quiet"}, tc.args...)
			var out, errb bytes.Buffer
			err := run(context.Background(), args, &out, &errb)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// TestHelpTypeNames: pflag reads a back-quoted word in a usage string as
// the value's type name, so "--data dataset convert" appeared in --help.
// Every flag line must show a type name pflag itself uses (or none).
func TestHelpTypeNames(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	checkHelpTypes(t, errb.String())
}

// pflagTypes are the value type names pflag prints in --help.
var pflagTypes = map[string]bool{"": true, "string": true, "int": true, "int64": true, "uint": true, "uint64": true,
	"float": true, "float64": true, "strings": true, "ints": true, "duration": true, "uint32": true, "int32": true,
	"float32": true, "stringArray": true, "floats": true, "float64Slice": true, "uints": true, "int64Slice": true, "bools": true}

// checkHelpTypes checks the flag lines of a PrintDefaults output.
func checkHelpTypes(t *testing.T, help string) {
	t.Helper()
	lines := 0
	for _, line := range strings.Split(help, "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "-") {
			continue
		}
		lines++
		if strings.Contains(line, "`") {
			t.Errorf("help line keeps a back quote: %q", line)
		}
		head, _, _ := strings.Cut(trimmed, "   ") // flag and type, then the usage after the padding
		if strings.HasPrefix(head, "-") && !strings.HasPrefix(head, "--") {
			_, head, _ = strings.Cut(head, ", ") // "-h, --help"
		}
		fields := strings.Fields(head)
		typ := ""
		if len(fields) > 1 {
			typ = strings.Join(fields[1:], " ")
		}
		if !pflagTypes[typ] {
			t.Errorf("flag %s shows the type name %q: %q", fields[0], typ, line)
		}
	}
	if lines < 5 {
		t.Fatalf("found %d flag lines in the help:\n%s", lines, help)
	}
}

// TestResumeFinishedRunCLI: --resume on a finished run says "already
// complete", shows the stored result and leaves result.json as it is.
func TestResumeFinishedRunCLI(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--gen-rows", "3000", "--batch", "500", "--dim", "4", "--model", "lr", "--quiet", "--out", dir}
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	first := out.String()
	want, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), append(args, "--resume"), &out, &errb); err != nil {
		t.Fatalf("resume: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "already complete") {
		t.Errorf("resume of a finished run printed %q, want it to say already complete", out.String())
	}
	auc := first[strings.Index(first, "test AUC"):strings.Index(first, " (95% CI")]
	if !strings.Contains(out.String(), auc) {
		t.Errorf("resume printed %q, want the stored %q", out.String(), auc)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "result.json")); !bytes.Equal(got, want) {
		t.Errorf("result.json rewritten:\n%s\nwant\n%s", got, want)
	}
}

// TestEvalCodecsText: --eval-codecs results are printed in the text
// output too, not only with --json.
func TestEvalCodecsText(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--gen-rows", "3000", "--batch", "500", "--dim", "4", "--model", "lr",
		"--quiet", "--eval-codecs", "int8,int4"}, &out, &errb)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	for _, c := range []string{"quantized int8: test AUC", "quantized int4: test AUC"} {
		if !strings.Contains(out.String(), c) {
			t.Errorf("output lacks %q:\n%s", c, out.String())
		}
	}
}
