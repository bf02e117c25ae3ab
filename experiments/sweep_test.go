package experiments

import (
	"context"
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
	sw := &Sweep{
		Datasets: []Dataset{{Name: "tiny", Data: data, TestFraction: 0.1, Model: "lr", Dim: 4, Batch: 512, Epochs: 1}},
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
	// A rerun resumes: nothing new runs, the records stay.
	if _, err := sw.Run(context.Background()); err != nil {
		t.Fatal(err)
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
	sw := &Sweep{
		Datasets: []Dataset{{Name: "tiny", Data: tinyData(t, dir), TestFraction: 0.1, Model: "lr", Dim: 4, Batch: 512, Epochs: 1}},
		Methods:  []string{"hashed"},
		Ratios:   []float64{2},
		Seeds:    []uint64{1},
		Out:      out, Threads: 1,
	}
	res, err := sw.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Method != "full" || res[0].TargetRatio != 1 || res[1].Method != "hashed" {
		for _, r := range res {
			t.Logf("%s %g", r.Method, r.TargetRatio)
		}
		t.Fatalf("want full at 1x, then hashed at 2x")
	}
	if want := res[0].FullTableBytes / 2; res[1].BudgetBytes != want {
		t.Errorf("hashed budget %d, want half the full table's %d", res[1].BudgetBytes, res[0].FullTableBytes)
	}
	rep, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rep), "Baseline: the full fp32 table at 1x") {
		t.Errorf("report does not name the full baseline:\n%s", rep)
	}
	if m, added := WithBaseline([]string{"qr", "full"}); added || !slices.Equal(m, []string{"full", "qr"}) {
		t.Errorf("WithBaseline(qr, full) = %v, %v", m, added)
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
