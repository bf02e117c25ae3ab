package experiments

import (
	"math"
	"strings"
	"testing"
)

// bestRow returns the "Best method per ratio" table row of a report for a
// target ratio such as "1x".
func bestRow(t *testing.T, rep, ratio string) string {
	t.Helper()
	_, best, ok := strings.Cut(rep, "**Best method per ratio**")
	if !ok {
		t.Fatalf("report has no best-method table:\n%s", rep)
	}
	for _, line := range strings.Split(best, "\n") {
		if strings.HasPrefix(line, "| "+ratio+" |") {
			return line
		}
	}
	t.Fatalf("no best-method row for %s:\n%s", ratio, rep)
	return ""
}

// TestReportRanksFullBaseline: at 1x the full table is a method like the
// others: when it has the best AUC it is the best method.
func TestReportRanksFullBaseline(t *testing.T) {
	res := []*Result{
		cell("full", 1, 1000, 600, 0.80),
		cell("hashed", 1, 1600, 0, 0.78),
		cell("hashed", 10, 160, 0, 0.70),
	}
	rep := Report(Summarize(res), []string{"d"})
	if row := bestRow(t, rep, "1x"); !strings.Contains(row, "| full |") {
		t.Errorf("best at 1x leaves out the full table: %q", row)
	}
	if row := bestRow(t, rep, "10x"); !strings.Contains(row, "| hashed |") {
		t.Errorf("best at 10x: %q", row)
	}
}

// TestReportIntervals: a cell of one seed has no spread, so it shows no
// "± 0.0000"; a cell of two seeds shows the sample standard deviation.
// The dimension-search section follows the same rule.
func TestReportIntervals(t *testing.T) {
	one := []*Result{cell("full", 1, 1000, 600, 0.80), cell("hashed", 2, 800, 0, 0.78)}
	rep := Report(Summarize(one), []string{"d"})
	rep += SearchReport([]*SearchRecord{{Dataset: "d", Method: "uniform", TargetRatio: 2, Seed: 1, Budget: 500, Bytes: 500,
		AUC: 0.77, Fields: "a=4/10/10"}, {Dataset: "d", Method: "optembed", TargetRatio: 2, Seed: 1, Budget: 500, Bytes: 400,
		AUC: 0.79, Fields: "a=2/10/10"}})
	for _, line := range strings.Split(rep, "\n") {
		if strings.HasPrefix(line, "|") && strings.Contains(line, "±") {
			t.Errorf("one seed, yet an interval: %q", line)
		}
	}
	second := cell("hashed", 2, 800, 0, 0.76)
	second.Seed = 2
	two := append(one, second)
	rep = Report(Summarize(two), []string{"d"})
	if !strings.Contains(rep, "| 0.7700 ± 0.0141 |") {
		t.Errorf("two seeds: no sample sd:\n%s", rep)
	}
	if !strings.Contains(rep, "| full | 1x |") || strings.Contains(rep, "0.8000 ±") {
		t.Errorf("the one-seed full cell shows an interval:\n%s", rep)
	}
}

// cell is a result of dataset "d", seed 1, whose full table has 1000
// parameter bytes and 600 index bytes.
func cell(method string, ratio float64, params, index int64, auc float64) *Result {
	r := &Result{Dataset: "d", Method: method, TargetRatio: ratio, BytesUsed: params, IndexBytes: index,
		ServingBytes: params + index, FullTableBytes: 1000, FullServingBytes: 1600, AUC: auc, LogLoss: 0.5, Seed: 1}
	if method != "full" {
		r.BudgetBytes = int64(float64(r.FullServingBytes) / ratio)
	}
	r.Ratio = float64(r.FullServingBytes) / float64(r.ServingBytes)
	return r
}

// TestReportServingBytes: the memory axis is embedding + index bytes. A
// table whose parameters fit the ratio's budget but whose index takes it
// over is not ranked there (ranked by parameters alone it would win), and
// the achieved ratios are against the full table's serving bytes.
func TestReportServingBytes(t *testing.T) {
	res := []*Result{
		cell("full", 1, 1000, 600, 0.80),
		cell("hashed", 2, 800, 0, 0.75),
		cell("hybrid", 2, 700, 300, 0.77), // 1000 serving bytes > 800
	}
	rep := Report(Summarize(res), []string{"d"})
	row := bestRow(t, rep, "2x")
	if !strings.Contains(row, "| hashed |") || !strings.Contains(row, "hybrid (1000B, 1.25x the budget)") {
		t.Errorf("best at 2x by serving bytes: %q", row)
	}
	if !strings.Contains(bestRow(t, rep, "1x"), "| full | 1.56KiB |") {
		t.Errorf("best at 1x: %q", bestRow(t, rep, "1x"))
	}
	for _, want := range []string{
		"| full | 1x | 1.56KiB | 1000B + 600B | 1.0x |",
		"| hybrid | 2x | 1000B | 700B + 300B | 1.6x |",
		"| hashed | 2x | 800B | 800B + 0B | 2.0x |",
		"serving bytes",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	if strings.Contains(rep, "†") {
		t.Errorf("rows with serving bytes marked legacy:\n%s", rep)
	}
	// legacy rows (no serving bytes) fall back to parameters, marked so
	legacy := []*Result{{Dataset: "d", Method: "full", TargetRatio: 1, BytesUsed: 1000, FullTableBytes: 1000, Ratio: 1, AUC: 0.8, Seed: 1}}
	if rep := Report(Summarize(legacy), []string{"d"}); !strings.Contains(rep, "| full † | 1x | 1000B |") {
		t.Errorf("legacy report:\n%s", rep)
	}
}

// TestReportSameTables: a method whose table stops growing (QR before the
// fix in qr-budget.patch: the same table at 1x and 10x) is named.
func TestReportSameTables(t *testing.T) {
	res := []*Result{
		cell("full", 1, 1000, 600, 0.80),
		cell("qr", 1, 72, 0, 0.70),
		cell("qr", 10, 72, 0, 0.70),
		cell("qr", 100, 16, 0, 0.60),
		cell("hashed", 1, 1000, 0, 0.78),
		cell("hashed", 10, 160, 0, 0.72),
	}
	rep := Report(Summarize(res), []string{"d"})
	if !strings.Contains(rep, "- qr: 1x, 10x are one table of 72B") || strings.Contains(rep, "- hashed") {
		t.Errorf("report:\n%s", rep)
	}
}

// TestReportNoise: the best cell is told apart from its runner-up only
// when the gap exceeds 1.96 standard errors of the difference (test SEs
// and the seeds' spread); the anchors table lists the benchmark's curve
// at 10x and the best cell's loss against the full table.
func TestReportNoise(t *testing.T) {
	withSE := func(r *Result, se float64) *Result { r.AUCSE, r.TestRows = se, 5000; return r }
	res := []*Result{
		withSE(cell("full", 1, 1000, 600, 0.800), 0.005),
		withSE(cell("hashed", 10, 160, 0, 0.790), 0.005),
		withSE(cell("qr", 10, 160, 0, 0.785), 0.005), // 0.005 behind: within 1.96·√2·0.005 = 0.0139
		withSE(cell("hashed", 100, 16, 0, 0.700), 0.005),
		withSE(cell("qr", 100, 16, 0, 0.760), 0.005), // 0.06 ahead: told apart
	}
	rep := Report(Summarize(res), []string{"d"})
	if row := bestRow(t, rep, "10x"); !strings.Contains(row, "| hashed |") || !strings.Contains(row, "qr (0.7850, -0.0050)") ||
		!strings.Contains(row, "no (gap 0.0050 ≤ 0.0139)") {
		t.Errorf("10x: %q", row)
	}
	if row := bestRow(t, rep, "100x"); !strings.Contains(row, "| qr |") || !strings.Contains(row, "yes (gap 0.0600 > 0.0139)") {
		t.Errorf("100x: %q", row)
	}
	for _, want := range []string{"Test set: 5000 rows", "| 10x | -0.0001 | hashed (-0.0100) | no (gap 0.0100 ≤ 0.0139) | -0.0100 | — |",
		"| 100x | -0.0010 | qr (-0.0400) | yes", "| hashed | 10x | 160B | 160B + 0B | 10.0x | 0.7900 | -0.0100 | 0.5000 | 1 | 0.0050 | — |"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
}

// TestNoiseFolds: the mean over k disjoint test folds has a fold's test
// variance over k; seeds on one test set do not shrink it.
func TestNoiseFolds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		folds int64
		want  float64
	}{
		{"seeds", 0, 1.96 * math.Sqrt(2*0.02*0.02+2*0.01*0.01/5)},
		{"folds", 5, 1.96 * math.Sqrt(2*0.02*0.02/5+2*0.01*0.01/5)},
	} {
		a := &Summary{N: 5, AUCSE: 0.02, AUCSD: 0.01, Folds: tc.folds}
		if got := noise(a, a); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: noise %v, want %v", tc.name, got, tc.want)
		}
	}
}
