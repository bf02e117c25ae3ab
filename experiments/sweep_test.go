package experiments

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/embtab/embtab/datasets"
)

// TestSweepWithSearches runs a small sweep with table methods and
// dimension searches and checks the files and the report.
func TestSweepWithSearches(t *testing.T) {
	dir := t.TempDir()
	data := tinyData(t, dir)
	out := filepath.Join(dir, "out")
	// Dim 16: budgets are serving bytes, and at dim 4 a full vocabulary's
	// index alone is over 40% of the full table's, so no search keeping
	// every id fits half of it.
	sw := &Sweep{
		Datasets: []Dataset{{Name: "tiny", Data: data, TestFraction: 0.1, Model: "lr", Dim: 16, Batch: 512, Epochs: 1}},
		Methods:  []string{"full", "hashed", "uniform", "optembed", "dnis"},
		Ratios:   []float64{1, 2, 1000},
		Seeds:    []uint64{1},
		Out:      out, Threads: 1,
	}
	res, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// full at 1; hashed at 1 and 2 (1000 is infeasible for every method);
	// the three searches at 1 and 2.
	if len(res) != 1+2+6 {
		for _, r := range res {
			t.Logf("%s %g", r.Method, r.TargetRatio)
		}
		t.Fatalf("%d results, want 9", len(res))
	}
	recs, err := ReadSearchRecords(filepath.Join(out, SearchFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 {
		t.Fatalf("%d search records, want 6", len(recs))
	}
	for _, r := range recs {
		if r.Bytes > r.Budget || r.Fields == "" || !strings.Contains(r.Fields, "=") {
			t.Errorf("record %+v", r)
		}
	}
	rep, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Dimension search", "| 2x |", "optembed (seed 1)", "Cells that cannot be built"} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	// A rerun into the same directory is refused unless it resumes.
	if _, err := sw.Run(context.Background()); !errors.Is(err, ErrOutputExists) {
		t.Fatalf("rerun without Resume: %v, want ErrOutputExists", err)
	}
	// A rerun that resumes: nothing new runs, the records stay.
	sw.Resume = true
	ran := 0
	sw.OnCell = func(_, _ int, r *Result, _ bool) {
		if r != nil {
			ran++
		}
	}
	if _, err := sw.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran != 0 {
		t.Errorf("the resumed sweep ran %d cells again", ran)
	}
	again, _ := ReadSearchRecords(filepath.Join(out, SearchFile))
	if len(again) != len(recs) {
		t.Fatalf("rerun wrote %d records, had %d", len(again), len(recs))
	}
}

// tinyData writes a small generated data set into dir.
func tinyData(t *testing.T, dir string) string {
	t.Helper()
	data := filepath.Join(dir, "g.parquet")
	g, err := datasets.NewGenerator(datasets.GenConfig{Rows: 6000, Scale: 0.001, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datasets.Convert(context.Background(), g, data, datasets.ConvertOptions{}); err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSweepAddsFullBaseline: without full in Methods, and without ratio 1
// in Ratios, the sweep still trains the full table at 1x first and
// measures the ratios and ΔAUC against it, rather than taking another
// method as the baseline.
func TestSweepAddsFullBaseline(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	var logs bytes.Buffer
	sw := &Sweep{
		Datasets: []Dataset{{Name: "tiny", Data: tinyData(t, dir), TestFraction: 0.1, ValidFraction: 0.1, Model: "lr", Dim: 16, Batch: 512, Epochs: 1}},
		Methods:  []string{"hashed"},
		Ratios:   []float64{1, 2},
		Seeds:    []uint64{1},
		Out:      out, Threads: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	res, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Method != "full" || res[0].TargetRatio != 1 || res[1].Method != "hashed" ||
		res[1].TargetRatio != 1 || res[2].Method != "hashed" || res[2].TargetRatio != 2 {
		for _, r := range res {
			t.Logf("%s %g", r.Method, r.TargetRatio)
		}
		t.Fatalf("want full at 1x, then hashed at 1x and 2x")
	}
	full, hashed := res[0], res[2]
	// The budget warning: at 1x (the full table's serving bytes are at
	// least its parameter bytes), and at 2x when half of them still are.
	want := 1
	if hashed.BudgetBytes >= full.FullTableBytes {
		want++
	}
	if got := strings.Count(logs.String(), BudgetWarning); got != want {
		t.Errorf("budget at 2x %d, full table %d parameter bytes: %d warnings, want %d:\n%s",
			hashed.BudgetBytes, full.FullTableBytes, got, want, logs.String())
	}
	if !strings.Contains(logs.String(), "methods do not list full") {
		t.Errorf("no warning that the full baseline was added:\n%s", logs.String())
	}
	if full.IndexBytes <= 0 || full.ServingBytes != full.BytesUsed+full.IndexBytes || full.FullServingBytes != full.ServingBytes {
		t.Errorf("full table bytes %+v: want serving = embedding + index (> 0)", full)
	}
	if want := full.ServingBytes / 2; hashed.BudgetBytes != want || hashed.FullServingBytes != full.ServingBytes {
		t.Errorf("hashed budget %d, want half the full table's serving bytes %d", hashed.BudgetBytes, full.ServingBytes)
	}
	if want := float64(full.ServingBytes) / float64(hashed.ServingBytes); hashed.Ratio != want || hashed.ServingBytes > hashed.BudgetBytes {
		t.Errorf("hashed %+v: ratio want %g, within its budget", hashed, want)
	}
	again, err := ReadResults(filepath.Join(out, "results.csv"))
	if err != nil || len(again) != 3 {
		t.Fatalf("results.csv: %d rows, %v", len(again), err)
	}
	for i, r := range res {
		a := again[i]
		if r.ValidRows <= 0 || r.ValidAUC <= 0 || r.ValidAUC > 1 {
			t.Errorf("cell %d: valid AUC %v over %d rows, want one (ValidFraction 0.1)", i, r.ValidAUC, r.ValidRows)
		}
		if a.BytesUsed != r.BytesUsed || a.IndexBytes != r.IndexBytes || a.ServingBytes != r.ServingBytes ||
			a.FullServingBytes != r.FullServingBytes || a.BudgetBytes != r.BudgetBytes || math.Abs(a.ValidAUC-r.ValidAUC) > 1e-9 ||
			a.ValidRows != r.ValidRows {
			t.Errorf("results.csv row %d: %+v, ran %+v", i, a, r)
		}
	}
	rep, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rep), "Baseline: the full fp32 table at 1x") {
		t.Errorf("report does not name the full baseline:\n%s", rep)
	}
	if !strings.Contains(string(rep), "| valid AUC | AUC |") || !strings.Contains(string(rep), "rows held out of the training data") {
		t.Errorf("report has no validation column:\n%s", rep)
	}
	if m, added := WithBaseline([]string{"qr", "full"}); added || !slices.Equal(m, []string{"full", "qr"}) {
		t.Errorf("WithBaseline(qr, full) = %v, %v", m, added)
	}
}

// TestLegacyResults: a results.csv from before serving bytes reads as
// legacy rows, a torn row of a current file is skipped, and Run refuses
// to resume a legacy file rather than mix parameter-only cells with new
// ones.
func TestLegacyResults(t *testing.T) {
	dir := t.TempDir()
	legacy := "dataset,method,model,target_ratio,budget_bytes,bytes_used,full_table_bytes,ratio,auc,logloss,train_seconds,seed,dim\n" +
		"tiny,full,lr,1,0,1000,1000,1,0.75,0.5,1,1,4\n"
	path := filepath.Join(dir, "results.csv")
	if err := os.WriteFile(path, []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := ReadResults(path)
	if err != nil || len(res) != 1 || !res[0].Legacy() || res[0].BytesUsed != 1000 {
		t.Fatalf("legacy rows %+v, %v", res, err)
	}
	sw := &Sweep{Datasets: []Dataset{{Name: "tiny", Data: filepath.Join(dir, "none.parquet"), Model: "lr", Dim: 4}},
		Methods: []string{"hashed"}, Ratios: []float64{2}, Seeds: []uint64{1}, Out: dir, Threads: 1, Resume: true}
	if _, err := sw.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "before serving bytes") {
		t.Errorf("resuming a legacy results.csv: %v", err)
	}
	current := strings.Join(csvHeader, ",") + "\n" +
		"tiny,full,lr,1,0,1000,1000,1,0.75,0.5,1,1,4,600,1600,1600,500,0.01,1000,0.8,50,5\n" +
		"tiny,hashed,lr,2,800,800,1000,2,0.7,0.5,1,1,4,0,800\n" // torn after serving bytes
	if err := os.WriteFile(path, []byte(current), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = ReadResults(path)
	if err != nil || len(res) != 1 || res[0].Legacy() || res[0].ServingBytes != 1600 || res[0].TestRows != 500 || res[0].AUCSE != 0.01 ||
		res[0].ValidAUC != 0.8 || res[0].ValidRows != 50 || res[0].Folds != 5 {
		t.Fatalf("rows %+v, %v: want the full row only", res, err)
	}
	// A file of the width before test rows, AUC errors and samples/s
	// reads, and a resume rewrites it in the current width first.
	older := strings.Join(csvHeader[:servingColumns], ",") + "\n" +
		"tiny,full,lr,1,0,1000,1000,1,0.75,0.5,1,1,4,600,1600,1600\n"
	if err := os.WriteFile(path, []byte(older), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = ReadResults(path)
	if err != nil || len(res) != 1 || res[0].ServingBytes != 1600 || res[0].TestRows != 0 {
		t.Fatalf("rows of the earlier width %+v, %v", res, err)
	}
	if err := upgradeResults(path, res); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := strings.Join(csvHeader, ",") + "\ntiny,full,lr,1,0,1000,1000,1,0.75,0.5,1,1,4,600,1600,1600,0,0,0,0,0,0\n"; string(b) != want {
		t.Errorf("upgraded file:\n%s\nwant\n%s", b, want)
	}
}

func TestValidFields(t *testing.T) {
	for s, want := range map[string]bool{
		"a=1/2/3":         true,
		"a=1/2/3;b=4/5/6": true,
		"":                false,
		"a=1/2/3;b=4/5":   false,
		"a=1/2/3;b=4/5/":  false,
		"a=1/2/3;":        false,
		"a=1/x/3":         false,
		"=1/2/3":          false,
	} {
		if got := validFields(s); got != want {
			t.Errorf("validFields(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestFoldConfig: with folds, seed s trains and tests on fold (s-1) mod k.
func TestFoldConfig(t *testing.T) {
	d := Dataset{Name: "c", Data: "ignored", TestFraction: 0.1, Split: "time", Model: "lr", Dim: 4,
		Folds: []datasets.Fold{{Train: "a.parquet", Test: "at.parquet"}, {Train: "b.parquet", Test: "bt.parquet"}}}
	for seed, want := range map[uint64]datasets.Fold{1: d.Folds[0], 2: d.Folds[1], 3: d.Folds[0]} {
		c := d.config("hashed", 100, seed, 1)
		if c.Data != want.Train || c.TestData != want.Test || c.TestFraction != 0 || c.Split != "" || c.Seed != seed {
			t.Errorf("seed %d: data %s test %s fraction %v split %q, want fold %+v", seed, c.Data, c.TestData, c.TestFraction, c.Split, want)
		}
	}
}
