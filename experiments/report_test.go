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
