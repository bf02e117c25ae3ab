package main

import (
	"bytes"
	"context"
	"encoding/json"
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
