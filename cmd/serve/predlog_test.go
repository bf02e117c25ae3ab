package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestPredictionLog: with rate 1 every scored instance is one JSON line
// holding its features and the score served; the size limit stops it.
func TestPredictionLog(t *testing.T) {
	f := testFixture(t)
	path := filepath.Join(t.TempDir(), "pred.jsonl")
	cfg := testConfig(f.dir)
	cfg.LogPredictions, cfg.LogPredictionsRate, cfg.LogPredictionsMaxBytes = path, 1, 1<<20
	s, hs, _ := newTestServer(t, cfg)
	var got []float32
	for i := range 3 {
		_, sc := scores(t, hs.URL, map[string]any{"instances": []any{f.instance(i), f.instance(i + 3)}})
		got = append(got, sc...)
	}
	s.Close() // flushes the log
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var lines []predLine
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var l predLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != len(got) {
		t.Fatalf("%d lines for %d scored instances", len(lines), len(got))
	}
	c1 := f.schema.Categorical[0]
	for k, l := range lines {
		i := []int{0, 3, 1, 4, 2, 5}[k]
		if l.Score != got[k] || l.Cat[c1] != f.instance(i)[c1] || len(l.Cat) != len(f.schema.Categorical) || l.ID == "" {
			t.Errorf("line %d: %+v, want score %v and %s=%v", k, l, got[k], c1, f.instance(i)[c1])
		}
	}

	// a limit smaller than one line: nothing is written
	path2 := filepath.Join(t.TempDir(), "pred2.jsonl")
	cfg2 := testConfig(f.dir)
	cfg2.LogPredictions, cfg2.LogPredictionsRate, cfg2.LogPredictionsMaxBytes = path2, 1, 10
	s2, hs2, _ := newTestServer(t, cfg2)
	scores(t, hs2.URL, map[string]any{"features": f.instance(0)})
	scores(t, hs2.URL, map[string]any{"features": f.instance(1)})
	s2.Close()
	if st, err := os.Stat(path2); err != nil || st.Size() > 10+1024 {
		t.Errorf("limited log: %v, %v", st, err)
	}
}
