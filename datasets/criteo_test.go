package datasets

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// writeRawFile writes content to name in a new temporary directory and
// returns its path.
func writeRawFile(t testing.TB, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// gzipRawBytes returns b gzip-compressed.
func gzipRawBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawReadResult is what readAllRaw saw: good records (deep copies), row
// errors in order, and the error that ended reading (nil for io.EOF).
type rawReadResult struct {
	recs    []*Record
	rowErrs []*RowError
	err     error
}

// readAllRaw reads r to the end or to its first non-row error.
func readAllRaw(t testing.TB, r RecordReader) rawReadResult {
	t.Helper()
	var res rawReadResult
	rec := NewRecord(r.Schema())
	for {
		err := r.Read(rec)
		if err == io.EOF {
			return res
		}
		var rowErr *RowError
		switch {
		case err == nil:
			c := NewRecord(r.Schema())
			c.CopyFrom(rec)
			res.recs = append(res.recs, c)
		case errors.As(err, &rowErr):
			res.rowErrs = append(res.rowErrs, rowErr)
		default:
			res.err = err
			return res
		}
	}
}

// criteoTestFields returns the 40 fields of a valid Criteo line.
func criteoTestFields() []string {
	f := []string{"1"}
	for i := 1; i <= criteoNumDense; i++ {
		f = append(f, strconv.Itoa(i*10))
	}
	for i := 1; i <= criteoNumCat; i++ {
		f = append(f, "c"+strconv.Itoa(i)+"abcd")
	}
	return f
}

// criteoTestLine returns a valid Criteo line with the fields set by edit
// (index -> value) replaced.
func criteoTestLine(edit map[int]string) string {
	f := criteoTestFields()
	for i, v := range edit {
		f[i] = v
	}
	return strings.Join(f, "\t")
}

func TestCriteoSchema(t *testing.T) {
	s, err := SchemaFor("criteo")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Dataset != "criteo" || s.Label != "label" || s.Timestamp != "" || len(s.Extra) != 0 {
		t.Errorf("schema = %+v", s)
	}
	if s.NumDense() != 13 || s.Dense[0] != "I1" || s.Dense[12] != "I13" {
		t.Errorf("dense = %v", s.Dense)
	}
	if s.NumCat() != 26 || s.Categorical[0] != "C1" || s.Categorical[25] != "C26" {
		t.Errorf("categorical = %v", s.Categorical)
	}
	// Each call returns a fresh schema.
	s.Dense[0] = "changed"
	if s2, _ := SchemaFor("criteo"); s2.Dense[0] != "I1" {
		t.Error("SchemaFor returned a shared schema")
	}
}

func TestCriteoGoodRows(t *testing.T) {
	line1 := "0\t1\t-1\t5\t\t1382\t4\t15\t2\t181\t1\t2\t\t2\t68fd1e64\t80e26c9b\tfb936136\t7b4723c4\t25c83c98\t7e0ccccf\tde7995b8\t1f89b562\ta73ee510\ta8cd5504\tb2cb9c98\t37c9c164\t2824a5f6\t1adce6ef\t8ba8b39a\t891b62e7\te5ba7672\tf54016b9\t21ddcdc9\tb1252a9d\t07b5194c\t\t3a171ecb\tc5c50484\te8b83407\t9727dd16"
	allMissing := "1" + strings.Repeat("\t", 39)
	extremes := criteoTestLine(map[int]string{1: "-9223372036854775808", 2: "9223372036854775807", 3: "007", 14: "héllo wörld", 39: "x y"})
	content := line1 + "\r\n" + allMissing + "\n" + extremes // no final newline

	for _, tc := range []struct{ name, file string }{
		{"plain", "day.tsv"},
		{"gzip", "day.tsv.gz"},
		{"gzip without .gz name", "day.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(content)
			if tc.name != "plain" {
				data = gzipRawBytes(t, data)
			}
			r, err := OpenRaw("criteo", writeRawFile(t, tc.file, data))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res := readAllRaw(t, r)
			if res.err != nil || len(res.rowErrs) != 0 {
				t.Fatalf("err %v, row errors %v", res.err, res.rowErrs)
			}
			if len(res.recs) != 3 {
				t.Fatalf("got %d records, want 3", len(res.recs))
			}

			r0 := res.recs[0]
			if r0.Label != 0 {
				t.Errorf("label = %d", r0.Label)
			}
			wantDense := []int64{1, -1, 5, 0, 1382, 4, 15, 2, 181, 1, 2, 0, 2}
			wantValid := []bool{true, true, true, false, true, true, true, true, true, true, true, false, true}
			if !slices.Equal(r0.Dense, wantDense) || !slices.Equal(r0.DenseValid, wantValid) {
				t.Errorf("dense = %v %v, want %v %v", r0.Dense, r0.DenseValid, wantDense, wantValid)
			}
			if r0.Cat[0] != "68fd1e64" || r0.Cat[21] != "" || r0.Cat[25] != "9727dd16" {
				t.Errorf("cat = %q", r0.Cat)
			}

			r1 := res.recs[1]
			if r1.Label != 1 || slices.Contains(r1.DenseValid, true) || slices.ContainsFunc(r1.Cat, func(s string) bool { return s != "" }) {
				t.Errorf("all-missing row = %+v", r1)
			}

			r2 := res.recs[2]
			if r2.Dense[0] != -1<<63 || r2.Dense[1] != 1<<63-1 || r2.Dense[2] != 7 {
				t.Errorf("extreme dense = %v", r2.Dense[:3])
			}
			if r2.Cat[0] != "héllo wörld" || r2.Cat[25] != "x y" {
				t.Errorf("cat = %q, %q", r2.Cat[0], r2.Cat[25])
			}
		})
	}
}

func TestCriteoBadRows(t *testing.T) {
	good := criteoTestLine(nil)
	cases := []struct {
		name, line, field, msg string
	}{
		{"39 fields", strings.Join(criteoTestFields()[:39], "\t"), "", "want 40 tab-separated fields, got 39"},
		{"41 fields", good + "\textra", "", "want 40 tab-separated fields, got 41"},
		{"empty line", "", "", "want 40 tab-separated fields, got 1"},
		{"spaces not tabs", strings.ReplaceAll(good, "\t", " "), "", "got 1"},
		{"label 2", criteoTestLine(map[int]string{0: "2"}), "label", `want 0 or 1, got "2"`},
		{"label empty", criteoTestLine(map[int]string{0: ""}), "label", `want 0 or 1, got ""`},
		{"label 01", criteoTestLine(map[int]string{0: "01"}), "label", `got "01"`},
		{"float", criteoTestLine(map[int]string{1: "260.0"}), "I1", `want a base-10 integer, got "260.0"`},
		{"hex int", criteoTestLine(map[int]string{5: "0x1f"}), "I5", `got "0x1f"`},
		{"plus sign", criteoTestLine(map[int]string{13: "+3"}), "I13", `got "+3"`},
		{"lone minus", criteoTestLine(map[int]string{2: "-"}), "I2", `got "-"`},
		{"overflow", criteoTestLine(map[int]string{3: "9223372036854775808"}), "I3", "integer"},
		{"underflow", criteoTestLine(map[int]string{3: "-9223372036854775809"}), "I3", "integer"},
		{"space in int", criteoTestLine(map[int]string{4: " 4"}), "I4", `got " 4"`},
		{"bad utf8", criteoTestLine(map[int]string{16: "ab\xffcd"}), "C3", "not valid UTF-8"},
		{"bad utf8 last", criteoTestLine(map[int]string{39: "\xc3"}), "C26", "not valid UTF-8"},
	}
	// Each bad line is followed by a good one, to check the reader goes on.
	var buf bytes.Buffer
	for _, c := range cases {
		buf.WriteString(c.line + "\n" + good + "\n")
	}
	path := writeRawFile(t, "bad.tsv", buf.Bytes())
	r, err := OpenCriteo(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := NewRecord(r.Schema())
	for i, c := range cases {
		err := r.Read(rec)
		var rowErr *RowError
		if !errors.As(err, &rowErr) {
			t.Fatalf("%s: got %v, want a *RowError", c.name, err)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error does not match ErrMalformed", c.name)
		}
		if rowErr.File != path || rowErr.Line != int64(2*i+1) || rowErr.Field != c.field {
			t.Errorf("%s: error at %s:%d field %q, want %s:%d field %q",
				c.name, rowErr.File, rowErr.Line, rowErr.Field, path, 2*i+1, c.field)
		}
		if !strings.Contains(rowErr.Err.Error(), c.msg) {
			t.Errorf("%s: message %q does not contain %q", c.name, rowErr.Err, c.msg)
		}
		if err := r.Read(rec); err != nil {
			t.Fatalf("%s: good line after it: %v", c.name, err)
		}
		if rec.Cat[0] != "c1abcd" {
			t.Errorf("%s: good line parsed as %q", c.name, rec.Cat)
		}
	}
	if err := r.Read(rec); err != io.EOF {
		t.Errorf("at end: %v, want io.EOF", err)
	}
}

func TestCriteoRowErrorMessage(t *testing.T) {
	path := writeRawFile(t, "x.tsv", []byte(criteoTestLine(nil)+"\n"+strings.Repeat("\t", 38)+"\n"))
	r, err := OpenCriteo(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := NewRecord(r.Schema())
	if err := r.Read(rec); err != nil {
		t.Fatal(err)
	}
	err = r.Read(rec)
	want := path + ":2: want 40 tab-separated fields, got 39"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// truncatedGzipLines returns n Criteo lines and their gzip stream cut to
// half its length.
func truncatedGzipLines(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	for i := range n {
		buf.WriteString(criteoTestLine(map[int]string{1: strconv.Itoa(i), 14: strconv.Itoa(i * 7919)}) + "\n")
	}
	gz := gzipRawBytes(t, buf.Bytes())
	return gz[:len(gz)/2]
}

func TestCriteoTruncatedGzip(t *testing.T) {
	path := writeRawFile(t, "cut.tsv.gz", truncatedGzipLines(t, 5000))
	r, err := OpenCriteo(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	if res.err == nil {
		t.Fatalf("read %d rows and no error from a truncated gzip file", len(res.recs))
	}
	if len(res.rowErrs) != 0 {
		t.Errorf("row errors before the truncation: %v", res.rowErrs)
	}
	var rowErr *RowError
	if errors.As(res.err, &rowErr) || errors.Is(res.err, ErrMalformed) {
		t.Errorf("truncation reported as a row error: %v", res.err)
	}
	if !errors.Is(res.err, io.ErrUnexpectedEOF) {
		t.Errorf("error %v does not wrap io.ErrUnexpectedEOF", res.err)
	}
	wantMsg := path + ": reading line " + strconv.Itoa(len(res.recs)+1) + ":"
	if !strings.HasPrefix(res.err.Error(), wantMsg) {
		t.Errorf("error %q does not start with %q", res.err, wantMsg)
	}
	if len(res.recs) == 0 || len(res.recs) >= 5000 {
		t.Errorf("read %d rows before the error", len(res.recs))
	}
	// The error is sticky.
	if err := r.Read(NewRecord(r.Schema())); err == nil || err == io.EOF {
		t.Errorf("read after the error: %v", err)
	}
}

func TestCriteoCorruptGzip(t *testing.T) {
	var buf bytes.Buffer
	for range 2000 {
		buf.WriteString(criteoTestLine(nil) + "\n")
	}
	gz := gzipRawBytes(t, buf.Bytes())
	// Damage the CRC-32 in the trailer: only the end-of-stream check fails.
	gz[len(gz)-6] ^= 0xff
	r, err := OpenCriteo(writeRawFile(t, "crc.tsv.gz", gz))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	if !errors.Is(res.err, gzip.ErrChecksum) {
		t.Errorf("error %v, want gzip.ErrChecksum", res.err)
	}
	if !strings.Contains(res.err.Error(), "crc.tsv.gz") {
		t.Errorf("error %q does not name the file", res.err)
	}

	// A gzip magic with a broken header fails the open.
	_, err = OpenCriteo(writeRawFile(t, "hdr.tsv.gz", []byte{0x1f, 0x8b, 0, 0}))
	if err == nil || !strings.Contains(err.Error(), "hdr.tsv.gz") {
		t.Errorf("broken gzip header: %v", err)
	}
}

func TestCriteoLongLines(t *testing.T) {
	huge := strings.Repeat("x", 3*rawBufferSize)
	content := criteoTestLine(map[int]string{20: huge}) + "\n" + criteoTestLine(nil) + "\n"
	path := writeRawFile(t, "long.tsv", []byte(content))

	t.Run("within limit", func(t *testing.T) {
		r, err := OpenCriteo(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res := readAllRaw(t, r)
		if res.err != nil || len(res.rowErrs) != 0 || len(res.recs) != 2 {
			t.Fatalf("got %d records, %v, %v", len(res.recs), res.rowErrs, res.err)
		}
		if res.recs[0].Cat[6] != huge || res.recs[1].Cat[6] != "c7abcd" {
			t.Error("long field not read back whole")
		}
	})

	t.Run("over limit", func(t *testing.T) {
		defer func(old int) { maxRawLine = old }(maxRawLine)
		maxRawLine = rawBufferSize + 100
		r, err := OpenCriteo(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		res := readAllRaw(t, r)
		if res.err != nil || len(res.recs) != 1 || len(res.rowErrs) != 1 {
			t.Fatalf("got %d records, %v, %v", len(res.recs), res.rowErrs, res.err)
		}
		if e := res.rowErrs[0]; e.Line != 1 || e.Field != "" || !strings.Contains(e.Error(), "line longer than") {
			t.Errorf("row error %v", e)
		}
	})
}

func TestCriteoNoAllocs(t *testing.T) {
	var buf bytes.Buffer
	for range 1000 {
		buf.WriteString(criteoTestLine(map[int]string{4: "", 30: ""}) + "\n")
	}
	src, err := newLineSource("mem", bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	r := newCriteoReader(src)
	rec := NewRecord(r.Schema())
	allocs := testing.AllocsPerRun(500, func() {
		if err := r.Read(rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Read allocates %.1f times per row", allocs)
	}
}

func TestOpenRawErrors(t *testing.T) {
	_, err := OpenRaw("parquet", "x")
	if !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "criteo, avazu, movielens1m, movielens100k") {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := SchemaFor("kdd"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("SchemaFor unknown: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope.tsv")
	if _, err := OpenRaw("criteo", missing); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	for _, f := range []string{"criteo", "avazu", "movielens1m", "movielens100k"} {
		s, err := SchemaFor(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err != nil || s.Dataset != f {
			t.Errorf("%s: schema %+v: %v", f, s, err)
		}
	}
}

func TestCriteoEmptyFile(t *testing.T) {
	for _, data := range [][]byte{nil, gzipRawBytes(t, nil)} {
		r, err := OpenCriteo(writeRawFile(t, "empty.tsv", data))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Read(NewRecord(r.Schema())); err != io.EOF {
			t.Errorf("empty file: %v", err)
		}
		r.Close()
	}
}

func TestCriteoAfterClose(t *testing.T) {
	r, err := OpenCriteo(writeRawFile(t, "a.tsv", []byte(criteoTestLine(nil)+"\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Read(NewRecord(r.Schema())); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// criteoBenchLines returns n distinct realistic Criteo lines.
func criteoBenchLines(n int) []byte {
	var buf bytes.Buffer
	for i := range n {
		f := []string{strconv.Itoa(i % 2)}
		for j := range criteoNumDense {
			if (i+j)%7 == 0 {
				f = append(f, "")
			} else {
				f = append(f, strconv.Itoa((i*31+j*17)%2000-1))
			}
		}
		for j := range criteoNumCat {
			if (i+j)%11 == 0 {
				f = append(f, "")
			} else {
				f = append(f, strconv.FormatUint(uint64(0x10000000+(i*2654435761+j*40503)%0xefffffff), 16))
			}
		}
		buf.WriteString(strings.Join(f, "\t") + "\n")
	}
	return buf.Bytes()
}

// BenchmarkCriteoParse measures parseCriteoLine alone.
func BenchmarkCriteoParse(b *testing.B) {
	lines := bytes.Split(bytes.TrimSuffix(criteoBenchLines(4096), []byte("\n")), []byte("\n"))
	rec := NewRecord(criteoSchema())
	var n int64
	for _, l := range lines {
		n += int64(len(l)) + 1
	}
	b.SetBytes(n / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := parseCriteoLine(lines[i%len(lines)], rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCriteoRead measures the reader over an in-memory plain stream:
// line splitting plus parsing.
func BenchmarkCriteoRead(b *testing.B) {
	data := bytes.Repeat(criteoBenchLines(4096), 8)
	rows := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data) / rows))
	b.ReportAllocs()
	var r *criteoReader
	rec := NewRecord(criteoSchema())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%rows == 0 {
			b.StopTimer()
			src, err := newLineSource("mem", bytes.NewReader(data))
			if err != nil {
				b.Fatal(err)
			}
			r = newCriteoReader(src)
			b.StartTimer()
		}
		if err := r.Read(rec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
