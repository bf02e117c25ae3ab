package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestPredictionLogRotates: with --log-predictions-keep 2 a log at its
// size limit becomes FILE.1 (the one before FILE.2, the oldest dropped)
// and writing goes on in a new FILE, losing no line.
func TestPredictionLogRotates(t *testing.T) {
	f := testFixture(t)
	path := filepath.Join(t.TempDir(), "pred.jsonl")
	cfg := testConfig(f.dir)
	cfg.LogPredictions, cfg.LogPredictionsRate, cfg.LogPredictionsMaxBytes, cfg.LogPredictionsKeep = path, 1, 1500, 2
	s, hs, _ := newTestServer(t, cfg)
	const n = 12
	for i := range n {
		scores(t, hs.URL, map[string]any{"features": f.instance(i % 6)})
		time.Sleep(20 * time.Millisecond) // let the writer take each line in turn
	}
	s.Close()
	count := func(p string) int {
		data, err := os.ReadFile(p)
		if err != nil {
			return -1
		}
		return strings.Count(string(data), "\n")
	}
	cur, one, two := count(path), count(path+".1"), count(path+".2")
	if cur < 1 || one < 1 || two < 1 {
		t.Fatalf("lines in FILE, FILE.1, FILE.2: %d, %d, %d: want all three written", cur, one, two)
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Fatal("FILE.3 exists: keep is 2")
	}
	for _, p := range []string{path + ".1", path + ".2"} {
		if st, _ := os.Stat(p); st.Size() > 1500+1024 {
			t.Errorf("%s: %d bytes, limit 1500", p, st.Size())
		}
	}
	if total := cur + one + two; total > n {
		t.Fatalf("%d lines for %d instances", total, n)
	}
}
