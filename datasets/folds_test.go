package datasets

import (
	"context"
	"strings"
	"testing"
)

func TestWriteFolds(t *testing.T) {
	dir := t.TempDir()
	const rows, k = 103, 4
	open := func() (RecordReader, error) {
		return NewGenerator(GenConfig{Rows: rows, Scale: 0.001, Seed: 3})
	}
	folds, err := WriteFolds(context.Background(), open, k, dir, "g", ConvertOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(folds) != k {
		t.Fatalf("%d folds", len(folds))
	}
	// Every row is a test row of exactly one fold (row j of fold j mod k, in
	// order); a fold's train is the rest.
	src, _ := open()
	var all []string
	rec0 := NewRecord(src.Schema())
	for src.Read(rec0) == nil {
		all = append(all, strings.Join(rec0.Cat, ","))
	}
	src.Close()
	var tests int64
	for i, f := range folds {
		nTrain, err := CountRows("parquet", f.Train, BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nTest, err := CountRows("parquet", f.Test, BatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := int64((rows - i + k - 1) / k) // rows j with j mod k == i
		if nTest != want || nTrain+nTest != rows {
			t.Errorf("fold %d: %d train + %d test, want %d test of %d", i, nTrain, nTest, want, rows)
		}
		tests += nTest
		r, err := OpenParquetRecords(f.Test)
		if err != nil {
			t.Fatal(err)
		}
		rec := NewRecord(r.Schema())
		for j := i; r.Read(rec) == nil; j += k {
			if got := strings.Join(rec.Cat, ","); got != all[j] {
				t.Fatalf("fold %d: test row %q, want source row %d %q", i, got, j, all[j])
			}
		}
		r.Close()
	}
	if tests != rows {
		t.Fatalf("%d test rows over the folds, want %d", tests, rows)
	}
	if _, err := WriteFolds(context.Background(), open, 1, dir, "g", ConvertOptions{}); err == nil {
		t.Fatal("k = 1 accepted")
	}
}

func TestConcatReaders(t *testing.T) {
	a, _ := NewGenerator(GenConfig{Rows: 5, Scale: 0.001, Seed: 1})
	b, _ := NewGenerator(GenConfig{Rows: 7, Scale: 0.001, Seed: 2})
	r, err := ConcatReaders(a, b)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := NewRecord(r.Schema())
	n := 0
	for r.Read(rec) == nil {
		n++
	}
	if n != 12 {
		t.Fatalf("%d rows, want 12", n)
	}
}
