package experiments

import (
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
		{Dataset: "d", Method: "full", TargetRatio: 1, BytesUsed: 1000, FullTableBytes: 1000, Ratio: 1, AUC: 0.80, Seed: 1},
		{Dataset: "d", Method: "hashed", TargetRatio: 1, BytesUsed: 1000, FullTableBytes: 1000, Ratio: 1, AUC: 0.78, Seed: 1},
		{Dataset: "d", Method: "hashed", TargetRatio: 10, BytesUsed: 100, FullTableBytes: 1000, Ratio: 10, AUC: 0.70, Seed: 1},
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
	one := []*Result{
		{Dataset: "d", Method: "full", TargetRatio: 1, BytesUsed: 1000, FullTableBytes: 1000, Ratio: 1, AUC: 0.80, LogLoss: 0.5, Seed: 1},
		{Dataset: "d", Method: "hashed", TargetRatio: 2, BytesUsed: 500, FullTableBytes: 1000, Ratio: 2, AUC: 0.78, LogLoss: 0.5, Seed: 1},
	}
	rep := Report(Summarize(one), []string{"d"})
	rep += SearchReport([]*SearchRecord{{Dataset: "d", Method: "uniform", TargetRatio: 2, Seed: 1, Budget: 500, Bytes: 500,
		AUC: 0.77, Fields: "a=4/10/10"}, {Dataset: "d", Method: "optembed", TargetRatio: 2, Seed: 1, Budget: 500, Bytes: 400,
		AUC: 0.79, Fields: "a=2/10/10"}})
	for _, line := range strings.Split(rep, "\n") {
		if strings.HasPrefix(line, "|") && strings.Contains(line, "±") {
			t.Errorf("one seed, yet an interval: %q", line)
		}
	}
	two := append(one, &Result{Dataset: "d", Method: "hashed", TargetRatio: 2, BytesUsed: 500, FullTableBytes: 1000,
		Ratio: 2, AUC: 0.76, LogLoss: 0.5, Seed: 2})
	rep = Report(Summarize(two), []string{"d"})
	if !strings.Contains(rep, "| 0.7700 ± 0.0141 |") {
		t.Errorf("two seeds: no sample sd:\n%s", rep)
	}
	if !strings.Contains(rep, "| full | 1x |") || strings.Contains(rep, "0.8000 ±") {
		t.Errorf("the one-seed full cell shows an interval:\n%s", rep)
	}
}
