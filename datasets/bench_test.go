package datasets

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// benchRows is the size of the benchmark data set: EMBTAB_BENCH_ROWS or 1M.
func benchRows() int64 {
	if s := os.Getenv("EMBTAB_BENCH_ROWS"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

var (
	benchOnce         sync.Once
	benchTSV, benchPQ string
	benchErr          error
	benchDir          string
)

// TestMain removes the benchmark data after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchFiles generates the benchmark data once per process, as Criteo TSV
// and Parquet, in a temporary directory.
func benchFiles(b *testing.B) (tsv, pq string) {
	benchOnce.Do(func() {
		dir, err := os.MkdirTemp("", "embtab-bench-")
		if err != nil {
			benchErr = err
			return
		}
		benchDir = dir
		n := benchRows()
		benchTSV = filepath.Join(dir, "g.tsv")
		g, _ := NewGenerator(GenConfig{Rows: n, Scale: 0.05, Seed: 1})
		f, err := os.Create(benchTSV)
		if err != nil {
			benchErr = err
			return
		}
		rec := NewRecord(g.Schema())
		var line []byte
		for g.Read(rec) == nil {
			line = AppendCriteoTSV(line[:0], rec)
			f.Write(line)
		}
		f.Close()
		benchPQ = filepath.Join(dir, "g.parquet")
		r, _ := OpenRaw("criteo", benchTSV)
		_, benchErr = Convert(context.Background(), r, benchPQ, ConvertOptions{})
		r.Close()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchTSV, benchPQ
}

// BenchmarkConvertCriteo converts the Criteo TSV to Parquet; rows/s is the
// figure of BENCHMARKS.md.
func BenchmarkConvertCriteo(b *testing.B) {
	tsv, _ := benchFiles(b)
	out := filepath.Join(b.TempDir(), "o.parquet")
	b.ResetTimer()
	var rows int64
	for i := 0; i < b.N; i++ {
		r, err := OpenRaw("criteo", tsv)
		if err != nil {
			b.Fatal(err)
		}
		st, err := Convert(context.Background(), r, out, ConvertOptions{})
		r.Close()
		if err != nil {
			b.Fatal(err)
		}
		rows += st.RowsWritten
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

func benchRead(b *testing.B, format, path string, opt BatchOptions) {
	var rows int64
	for i := 0; i < b.N; i++ {
		br, err := OpenBatches(format, path, opt)
		if err != nil {
			b.Fatal(err)
		}
		for {
			bt, err := br.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += int64(bt.Rows)
			br.Release(bt)
		}
		br.Close()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReadParquet streams the Parquet file as 4096-row batches with
// hashed ids: the training input path.
func BenchmarkReadParquet(b *testing.B) {
	_, pq := benchFiles(b)
	b.ResetTimer()
	benchRead(b, "parquet", pq, BatchOptions{BatchSize: 4096})
}

// BenchmarkReadCriteoTSV streams the raw TSV as batches.
func BenchmarkReadCriteoTSV(b *testing.B) {
	tsv, _ := benchFiles(b)
	b.ResetTimer()
	benchRead(b, "criteo", tsv, BatchOptions{BatchSize: 4096})
}
