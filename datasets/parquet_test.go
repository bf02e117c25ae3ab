package datasets

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/embtab/embtab/hashing"
	"github.com/embtab/embtab/internal/shareddata"
	"github.com/parquet-go/parquet-go"
)

// readAllRecords reads r to the end, copying every record.
func readAllRecords(t *testing.T, r RecordReader) []*Record {
	t.Helper()
	var out []*Record
	rec := NewRecord(r.Schema())
	for {
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		c := NewRecord(r.Schema())
		c.CopyFrom(rec)
		out = append(out, c)
	}
}

func TestGeneratorDeterministic(t *testing.T) {
	cfg := GenConfig{Rows: 2000, Scale: 0.001, Seed: 7}
	a, err := NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewGenerator(cfg)
	ra, rb := readAllRecords(t, a), readAllRecords(t, b)
	if len(ra) != 2000 || !reflect.DeepEqual(ra, rb) {
		t.Fatalf("same seed gave different data (%d rows)", len(ra))
	}
	cfg.Seed = 8
	c, _ := NewGenerator(cfg)
	if rc := readAllRecords(t, c); reflect.DeepEqual(ra, rc) {
		t.Fatal("different seeds gave the same data")
	}
	var pos int
	for _, r := range ra {
		pos += int(r.Label)
		for f, v := range r.Cat {
			if v != "" && len(v) != 8 {
				t.Fatalf("field %d value %q is not 8 hex digits", f, v)
			}
		}
	}
	if rate := float64(pos) / 2000; rate < 0.18 || rate > 0.32 {
		t.Fatalf("label rate %.3f far from the 0.25 target", rate)
	}
}

func TestGeneratorConfigErrors(t *testing.T) {
	for _, cfg := range []GenConfig{{Rows: -1}, {Rows: 1, Zipf: 0.9}, {Rows: 1, CTR: 1.5}} {
		if _, err := NewGenerator(cfg); err == nil {
			t.Errorf("NewGenerator(%+v) accepted a bad config", cfg)
		}
	}
}

// TestParquetRoundTrip writes generated records to Parquet and reads them
// back both as records and as batches.
func TestParquetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	g, _ := NewGenerator(GenConfig{Rows: 5000, Scale: 0.001, Seed: 3})
	want := readAllRecords(t, g)
	g, _ = NewGenerator(GenConfig{Rows: 5000, Scale: 0.001, Seed: 3})
	out := filepath.Join(dir, "g.parquet")
	st, err := Convert(context.Background(), g, out, ConvertOptions{RowGroupRows: 1500})
	if err != nil {
		t.Fatal(err)
	}
	if st.RowsWritten != 5000 {
		t.Fatalf("wrote %d rows, want 5000", st.RowsWritten)
	}
	rr, err := OpenParquetRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	got := readAllRecords(t, rr)
	rr.Close()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("records differ after the round trip (%d vs %d)", len(got), len(want))
	}
	// Batches from Parquet equal batches from the raw records.
	for _, bs := range []int{1, 333, 4096, 10000} {
		br, err := OpenBatches("", out, BatchOptions{BatchSize: bs, KeepRaw: true})
		if err != nil {
			t.Fatal(err)
		}
		h := hashing.New(hashing.DefaultSeed, 26)
		row := 0
		for {
			b, err := br.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.FirstRow != int64(row) {
				t.Fatalf("batch FirstRow %d, want %d", b.FirstRow, row)
			}
			for i := 0; i < b.Rows; i++ {
				w := want[row+i]
				if b.Labels[i] != float32(w.Label) {
					t.Fatalf("row %d label %v want %v", row+i, b.Labels[i], w.Label)
				}
				for j := 0; j < 13; j++ {
					if b.DenseMissing[i*13+j] == w.DenseValid[j] || b.Dense[i*13+j] != float32(w.Dense[j]) {
						t.Fatalf("row %d dense %d mismatch", row+i, j)
					}
				}
				for f := 0; f < 26; f++ {
					if b.IDs[i*26+f] != h.HashString(f, w.Cat[f]) || b.Raw[i*26+f] != w.Cat[f] {
						t.Fatalf("row %d field %d: id/raw mismatch", row+i, f)
					}
				}
			}
			row += b.Rows
			br.Release(b)
		}
		br.Close()
		if row != 5000 {
			t.Fatalf("batch size %d: read %d rows, want 5000", bs, row)
		}
	}
}

func TestBatchSkipLimit(t *testing.T) {
	dir := t.TempDir()
	g, _ := NewGenerator(GenConfig{Rows: 3000, Scale: 0.001, Seed: 5})
	pq := filepath.Join(dir, "g.parquet")
	if _, err := Convert(context.Background(), g, pq, ConvertOptions{RowGroupRows: 700}); err != nil {
		t.Fatal(err)
	}
	g, _ = NewGenerator(GenConfig{Rows: 3000, Scale: 0.001, Seed: 5})
	tsv := filepath.Join(dir, "g.tsv")
	var buf []byte
	rec := NewRecord(g.Schema())
	for g.Read(rec) == nil {
		buf = AppendCriteoTSV(buf, rec)
	}
	if err := os.WriteFile(tsv, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ skip, limit, want int64 }{{0, 0, 3000}, {2700, 0, 300}, {100, 1000, 1000}, {2999, 5, 1}, {3000, 0, 0}}
	for _, tc := range tests {
		var labels [2][]float32
		for k, path := range []string{pq, tsv} {
			br, err := OpenBatches("", path, BatchOptions{BatchSize: 256, Skip: tc.skip, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			for {
				b, err := br.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				labels[k] = append(labels[k], b.Labels...)
			}
			br.Close()
			if int64(len(labels[k])) != tc.want {
				t.Errorf("%s skip %d limit %d: %d rows, want %d", filepath.Base(path), tc.skip, tc.limit, len(labels[k]), tc.want)
			}
		}
		if !reflect.DeepEqual(labels[0], labels[1]) {
			t.Errorf("skip %d limit %d: parquet and tsv sources disagree", tc.skip, tc.limit)
		}
	}
}

func TestConvertFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "bad.tsv")
	good := "0\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13" + strings.Repeat("\tabc", 26) + "\n"
	if err := os.WriteFile(in, []byte(good+good+"oops\n"+good), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.parquet")
	r, err := OpenRaw("criteo", in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Convert(context.Background(), r, out, ConvertOptions{OnError: Fail})
	r.Close()
	var re *RowError
	if !errors.As(err, &re) || re.Line != 3 {
		t.Fatalf("want a RowError at line 3, got %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("failed convert left files behind: %v", ents)
	}
	// skip policy: 3 good rows kept, 1 counted
	r, _ = OpenRaw("criteo", in)
	st, err := Convert(context.Background(), r, out, ConvertOptions{OnError: Skip})
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.RowsWritten != 3 || st.RowsSkipped != 1 || len(st.FirstErrors) != 1 || !strings.Contains(st.FirstErrors[0], "bad.tsv:3") {
		t.Fatalf("skip stats = %+v", st)
	}
}

// TestSharedDataRoundTrip converts every real file and checks that the
// Parquet gives back the same records as the raw reader.
func TestSharedDataRoundTrip(t *testing.T) {
	root := shareddata.Dir(t)
	type src struct{ format, path string }
	var srcs []src
	for _, pat := range []string{"criteo/*.tsv", "criteo/*.tsv.gz"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		for _, p := range m {
			srcs = append(srcs, src{"criteo", p})
		}
	}
	m, _ := filepath.Glob(filepath.Join(root, "avazu/*.csv"))
	for _, p := range m {
		srcs = append(srcs, src{"avazu", p})
	}
	srcs = append(srcs, src{"movielens1m", filepath.Join(root, "movielens/ml-1m")})
	if len(srcs) < 11 {
		t.Fatalf("found only %d source files under %s", len(srcs), root)
	}
	dir := t.TempDir()
	for _, s := range srcs {
		t.Run(filepath.Base(s.path), func(t *testing.T) {
			r, err := OpenRaw(s.format, s.path)
			if err != nil {
				t.Fatal(err)
			}
			want := readAllRecords(t, r)
			r.Close()
			r, _ = OpenRaw(s.format, s.path)
			out := filepath.Join(dir, filepath.Base(s.path)+".parquet")
			st, err := Convert(context.Background(), r, out, ConvertOptions{})
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if st.RowsWritten != int64(len(want)) || st.RowsSkipped != 0 {
				t.Fatalf("convert wrote %d rows (skipped %d), raw reader gave %d", st.RowsWritten, st.RowsSkipped, len(want))
			}
			if strings.HasSuffix(s.path, "criteo_wideresdnn_train.tsv") && st.RowsWritten != 7200 {
				t.Fatalf("criteo_wideresdnn_train.tsv: %d rows, want 7200", st.RowsWritten)
			}
			rr, err := OpenParquetRecords(out)
			if err != nil {
				t.Fatal(err)
			}
			got := readAllRecords(t, rr)
			rr.Close()
			if len(got) != len(want) {
				t.Fatalf("parquet gave %d rows, want %d", len(got), len(want))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("row %d differs:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestParquetColumnTypes: a file whose metadata names a schema its columns
// do not follow (a BYTE_ARRAY label, an INT64 categorical) is refused on
// open with the column named, instead of panicking in parquet-go.
func TestParquetColumnTypes(t *testing.T) {
	s := criteoSchema()
	for _, tc := range []struct {
		name   string
		change func(g parquet.Group)
		want   string
	}{
		{"byte array label", func(g parquet.Group) { g[s.Label] = parquet.String() }, `column "label" has physical type BYTE_ARRAY`},
		{"int64 categorical", func(g parquet.Group) { g[s.Categorical[3]] = parquet.Leaf(parquet.Int64Type) }, `column "` + s.Categorical[3] + `" has physical type INT64`},
		{"optional label", func(g parquet.Group) { g[s.Label] = parquet.Optional(parquet.Leaf(parquet.Int32Type)) }, `column "label" is optional`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := parquet.Group{}
			g[s.Label] = parquet.Leaf(parquet.Int32Type)
			for _, n := range s.Dense {
				g[n] = parquet.Optional(parquet.Leaf(parquet.Int64Type))
			}
			for _, n := range s.Categorical {
				g[n] = parquet.String()
			}
			tc.change(g)
			path := filepath.Join(t.TempDir(), "bad.parquet")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := parquet.NewGenericWriter[any](f, parquet.NewSchema("criteo", g), parquet.KeyValueMetadata(SchemaMetadataKey, MarshalSchema(s)))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			_, err = OpenParquet(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("open: %v, want an error naming %s and containing %q", err, path, tc.want)
			}
		})
	}
}

// TestParquetLabelRange: a label other than 0 or 1 is an error naming the
// file and the row, as in the text readers, for batches and records.
func TestParquetLabelRange(t *testing.T) {
	s := criteoSchema()
	path := filepath.Join(t.TempDir(), "labels.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := NewParquetWriter(f, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecord(s)
	for i, label := range []int8{0, 1, 7, 0} {
		rec.Label = label
		rec.Cat[0] = string(rune('a' + i))
		if err := pw.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := path + ": row 2: column label: label 7, want 0 or 1"
	r, err := OpenParquetRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Read(NewRecord(s)); err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrMalformed) {
		t.Errorf("records: %v, want %q", err, want)
	}
	b, err := OpenBatches("parquet", path, BatchOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Next(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("batches: %v, want %q", err, want)
	}
}

// TestConvertNoRows: an empty or header-only input is an error and writes
// no file.
func TestConvertNoRows(t *testing.T) {
	for _, tc := range []struct{ name, format, content string }{
		{"empty criteo", "criteo", ""},
		{"header-only avazu", "avazu", "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.txt")
			os.WriteFile(in, []byte(tc.content), 0o644)
			r, err := OpenRaw(tc.format, in)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			out := filepath.Join(dir, "out.parquet")
			if _, err := Convert(context.Background(), r, out, ConvertOptions{}); !errors.Is(err, ErrNoRows) {
				t.Fatalf("convert: %v, want ErrNoRows", err)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed convert left %s", out)
			}
		})
	}
}

// TestGeneratorDrift: part 0 of a drifting stream is the undrifted
// generator; a later part is deterministic, keeps the click rate, and its
// most frequent values are others than part 0's.
func TestGeneratorDrift(t *testing.T) {
	read := func(cfg GenConfig) []*Record {
		g, err := NewGenerator(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return readAllRecords(t, g)
	}
	base := GenConfig{Rows: 4000, Scale: 0.001, Seed: 5}
	drift := base
	drift.Drift = 0.05
	if a, b := read(base), read(drift); !reflect.DeepEqual(a, b) {
		t.Fatal("part 0 of a drifting stream differs from the undrifted generator")
	}
	p3 := drift
	p3.Part = 3
	a, b := read(p3), read(p3)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("part 3 is not deterministic")
	}
	top := func(recs []*Record, f int) string {
		n := map[string]int{}
		for _, r := range recs {
			if r.Cat[f] != "" {
				n[r.Cat[f]]++
			}
		}
		best, bv := 0, ""
		for v, c := range n {
			if c > best || c == best && v < bv {
				best, bv = c, v
			}
		}
		return bv
	}
	p0 := read(base)
	moved, ctr0, ctr3 := 0, 0, 0
	for f := range 26 {
		if top(p0, f) != top(a, f) {
			moved++
		}
	}
	for i := range p0 {
		ctr0 += int(p0[i].Label)
		ctr3 += int(a[i].Label)
	}
	if moved < 20 {
		t.Errorf("the most frequent value moved in %d of 26 fields at drift 0.05 x 3 parts", moved)
	}
	if d := float64(ctr3-ctr0) / float64(len(p0)); d > 0.03 || d < -0.03 {
		t.Errorf("click rate %d -> %d of %d rows", ctr0, ctr3, len(p0))
	}
	if _, err := NewGenerator(GenConfig{Rows: 1, Drift: 2}); err == nil {
		t.Error("drift 2: no error")
	}
	if _, err := NewGenerator(GenConfig{Rows: 1, Drift: 0.1, Preset: "criteo-kaggle"}); err == nil {
		t.Error("drift with a preset: no error")
	}
}
