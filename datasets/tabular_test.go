package datasets

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/embtab/embtab/internal/shareddata"
)

// readAllText opens a reader over text with the given constructor and
// returns its schema, the copied records and the row errors.
func readAllText(t *testing.T, text string, open func(*lineSource) (RecordReader, error)) (*Schema, []*Record, []*RowError, error) {
	t.Helper()
	src, err := newLineSourceSize("in.txt", strings.NewReader(text), 64)
	if err != nil {
		t.Fatal(err)
	}
	r, err := open(src)
	if err != nil {
		return nil, nil, nil, err
	}
	defer r.Close()
	var recs []*Record
	var bad []*RowError
	for {
		rec := NewRecord(r.Schema())
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			return r.Schema(), recs, bad, nil
		}
		var re *RowError
		if errors.As(err, &re) {
			bad = append(bad, re)
			continue
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		c := &Record{}
		c.CopyFrom(rec)
		recs = append(recs, c)
	}
}

func openCSVText(opt RawOptions) func(*lineSource) (RecordReader, error) {
	return func(src *lineSource) (RecordReader, error) { return newCSVReader(src, opt) }
}

func openSVMText(opt RawOptions, ffm bool) func(*lineSource) (RecordReader, error) {
	return func(src *lineSource) (RecordReader, error) { return newSVMReader(src, opt, ffm) }
}

func TestCSVRows(t *testing.T) {
	text := "label,user,item,I1,city\r\n" +
		"1,266,1244,5,5149\r\n" +
		"0,,1296,,5201\r\n" +
		"1.0,\"a,b\",\"say \"\"hi\"\"\",-3,\"\"\r\n" +
		"0.0,x,y,7,z,\r\n" + // one column too many
		"2,x,y,7,z\r\n" + // bad label
		"1,x,y,7.5,z\r\n" + // dense not an integer
		"1,\"x,y,7,z\r\n" + // unterminated quote
		"0,x,y,1,last"
	s, recs, bad, err := readAllText(t, text, openCSVText(RawOptions{Dense: []string{"I1"}}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"user", "item", "city"}; !reflect.DeepEqual(s.Categorical, want) {
		t.Fatalf("categorical %v, want %v", s.Categorical, want)
	}
	if s.Label != "label" || !reflect.DeepEqual(s.Dense, []string{"I1"}) || s.Dataset != FormatCSV {
		t.Fatalf("schema %+v", s)
	}
	want := []struct {
		label int8
		dense int64
		valid bool
		cat   []string
	}{
		{1, 5, true, []string{"266", "1244", "5149"}},
		{0, 0, false, []string{"", "1296", "5201"}},
		{1, -3, true, []string{"a,b", `say "hi"`, ""}},
		{0, 1, true, []string{"x", "y", "last"}},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d (errors %v)", len(recs), len(want), bad)
	}
	for i, w := range want {
		r := recs[i]
		if r.Label != w.label || r.Dense[0] != w.dense || r.DenseValid[0] != w.valid || !reflect.DeepEqual(r.Cat, w.cat) {
			t.Errorf("row %d: got %+v, want %+v", i, r, w)
		}
	}
	wantBad := []struct {
		line  int64
		field string
		msg   string
	}{
		{5, "", "want 5 comma-separated columns"},
		{6, "label", "want 0 or 1"},
		{7, "I1", "base-10 integer"},
		{8, "", "unterminated quoted cell"},
	}
	if len(bad) != len(wantBad) {
		t.Fatalf("%d row errors, want %d: %v", len(bad), len(wantBad), bad)
	}
	for i, w := range wantBad {
		e := bad[i]
		if e.Line != w.line || e.Field != w.field || !strings.Contains(e.Error(), w.msg) || e.File != "in.txt" {
			t.Errorf("error %d: %v, want line %d field %q containing %q", i, e, w.line, w.field, w.msg)
		}
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		opt        RawOptions
		want       string
	}{
		{"empty", "", RawOptions{}, "empty file"},
		{"no label", "click,a,b\n1,x,y\n", RawOptions{}, `no label column "label"`},
		{"label option", "click,a,b\n1,x,y\n", RawOptions{Label: "nope"}, `no label column "nope"`},
		{"duplicate", "label,a,a\n", RawOptions{}, `"a" appears twice`},
		{"unnamed", "label,,b\n", RawOptions{}, "column 2 has no name"},
		{"dense missing", "label,a\n", RawOptions{Dense: []string{"I9"}}, `dense column "I9" is not in the header`},
		{"dense label", "label,a\n", RawOptions{Dense: []string{"label"}}, "is the label"},
		{"only dense", "label,a\n", RawOptions{Dense: []string{"a"}}, "no categorical column"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := readAllText(t, tc.text, openCSVText(tc.opt))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "in.txt") {
				t.Fatalf("error %v, want one naming in.txt and containing %q", err, tc.want)
			}
		})
	}
	// The label option picks another column.
	s, recs, _, err := readAllText(t, "click,a\n1,x\n", openCSVText(RawOptions{Label: "click"}))
	if err != nil || s.Label != "click" || len(recs) != 1 || recs[0].Cat[0] != "x" {
		t.Fatalf("label click: %v %+v %v", err, s, recs)
	}
}

func TestLibSVMPositional(t *testing.T) {
	text := "1 266:1 1244:1 5042:1\n" +
		"0\t138:1  1296:1.0 5041:1\n" +
		"-1 1:1 2:1 3:1\n" +
		"+1 1:1 2:1\n" + // too few pairs
		"1 1:1 2:0.5 3:1\n" + // not one-hot
		"1 1:1 x:1 3:1\n" + // bad index
		"7 1:1 2:1 3:1\n" // bad label
	s, recs, bad, err := readAllText(t, text, openSVMText(RawOptions{}, false))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Categorical, []string{"f0", "f1", "f2"}) || s.Dataset != FormatLibSVM {
		t.Fatalf("schema %+v", s)
	}
	want := [][]string{{"266", "1244", "5042"}, {"138", "1296", "5041"}, {"1", "2", "3"}}
	labels := []int8{1, 0, 0}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d (errors %v)", len(recs), len(want), bad)
	}
	for i := range want {
		if !reflect.DeepEqual(recs[i].Cat, want[i]) || recs[i].Label != labels[i] {
			t.Errorf("row %d: %+v, want %v label %d", i, recs[i], want[i], labels[i])
		}
	}
	wantBad := []struct {
		line  int64
		field string
		msg   string
	}{{4, "", "want 3 index:value pairs"}, {5, "f1", "only one-hot"}, {6, "f1", "non-negative integer index"}, {7, "label", "want 0 or 1"}}
	if len(bad) != len(wantBad) {
		t.Fatalf("row errors %v", bad)
	}
	for i, w := range wantBad {
		if e := bad[i]; e.Line != w.line || e.Field != w.field || !strings.Contains(e.Error(), w.msg) {
			t.Errorf("error %d: %v, want line %d field %q containing %q", i, e, w.line, w.field, w.msg)
		}
	}
}

func TestLibSVMOffsets(t *testing.T) {
	opt := RawOptions{Fields: []string{"user", "item", "daytime"}, Offsets: []int64{0, 957, 5039}}
	text := "1 266:1 1244:1 5042:1\n" +
		"0 5042:1 12:1\n" + // any order; item missing
		"1 266:1 267:1 5042:1\n" // two users
	s, recs, bad, err := readAllText(t, text, openSVMText(opt, false))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Categorical, opt.Fields) {
		t.Fatalf("schema %+v", s)
	}
	if len(recs) != 2 || !reflect.DeepEqual(recs[0].Cat, []string{"266", "1244", "5042"}) ||
		!reflect.DeepEqual(recs[1].Cat, []string{"12", "", "5042"}) {
		t.Fatalf("records %+v", recs)
	}
	if len(bad) != 1 || bad[0].Field != "user" || !strings.Contains(bad[0].Error(), "second value") {
		t.Fatalf("row errors %v", bad)
	}
	// Offsets above the smallest index, and a wrong count, are errors.
	_, _, bad, _ = readAllText(t, "1 3:1\n", openSVMText(RawOptions{Fields: []string{"a", "b"}, Offsets: []int64{10, 20}}, false))
	if len(bad) != 1 || !strings.Contains(bad[0].Error(), "below the first field offset") {
		t.Fatalf("below offsets: %v", bad)
	}
	if _, _, _, err := readAllText(t, "1 3:1\n", openSVMText(RawOptions{Fields: []string{"a"}, Offsets: []int64{0, 5}}, false)); err == nil {
		t.Fatal("mismatched offsets accepted")
	}
	if _, _, _, err := readAllText(t, "1 3:1\n", openSVMText(RawOptions{Fields: []string{"a", "b"}, Offsets: []int64{5, 5}}, false)); err == nil {
		t.Fatal("non-ascending offsets accepted")
	}
}

func TestLibFFM(t *testing.T) {
	text := "1 0:266:1 1:1244:1 2:5042:1\n" +
		"0 2:7:1 0:3:1\n" +
		"1 0:1:1 5:2:1\n" + // field 5 out of range
		"1 0:1:1 0:2:1\n" + // field 0 twice
		"1 a:1:1\n"
	s, recs, bad, err := readAllText(t, text, openSVMText(RawOptions{}, true))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Categorical, []string{"f0", "f1", "f2"}) || s.Dataset != FormatLibFFM {
		t.Fatalf("schema %+v", s)
	}
	if len(recs) != 2 || !reflect.DeepEqual(recs[0].Cat, []string{"266", "1244", "5042"}) ||
		!reflect.DeepEqual(recs[1].Cat, []string{"3", "", "7"}) {
		t.Fatalf("records %+v", recs)
	}
	if len(bad) != 3 || !strings.Contains(bad[0].Error(), "out of range") || bad[1].Field != "f0" ||
		!strings.Contains(bad[2].Error(), "field:index:value") {
		t.Fatalf("row errors %v", bad)
	}
	if _, _, _, err := readAllText(t, "", openSVMText(RawOptions{}, true)); err == nil || !strings.Contains(err.Error(), "empty file") {
		t.Fatalf("empty file: %v", err)
	}
	// With names, an empty file is an empty source.
	s, recs, _, err = readAllText(t, "", openSVMText(RawOptions{Fields: []string{"a"}}, true))
	if err != nil || len(recs) != 0 || s.Categorical[0] != "a" {
		t.Fatalf("empty named: %v %v", err, recs)
	}
}

func TestReadFieldOffsets(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "offsets.txt")
	os.WriteFile(p, []byte("# frappe\nuser 0\nitem\t957\n\ndaytime 5039\n"), 0o644)
	names, offs, err := ReadFieldOffsets(p)
	if err != nil || !reflect.DeepEqual(names, []string{"user", "item", "daytime"}) || !reflect.DeepEqual(offs, []int64{0, 957, 5039}) {
		t.Fatalf("%v %v %v", names, offs, err)
	}
	for body, want := range map[string]string{
		"a 5\nb 5\n": ":2: offset 5 of b is not above 5",
		"a x\n":      ":1: offset \"x\"",
		"a 1 2\n":    ":1: want",
		"a 1\na 2\n": ":2: field \"a\" appears twice",
		"# none\n":   "no fields",
	} {
		os.WriteFile(p, []byte(body), 0o644)
		if _, _, err := ReadFieldOffsets(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
}

func TestGuessFormatCSV(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, ".gz") {
			f, _ := os.Create(p)
			zw := gzip.NewWriter(f)
			zw.Write([]byte(body))
			zw.Close()
			f.Close()
		} else {
			os.WriteFile(p, []byte(body), 0o644)
		}
		return p
	}
	row := avazuTestRow(nil)
	for _, tc := range []struct{ name, body, want string }{
		{"avazu.csv", avazuHeader + "\n" + row + "\n", FormatAvazu},
		{"headerless.csv", row + "\n", FormatAvazu},
		{"avazu.csv.gz", avazuHeader + "\n", FormatAvazu},
		{"frappe.csv", "label,user,item\n1,2,3\n", FormatCSV},
		{"x.libsvm", "1 2:1\n", FormatLibSVM},
		{"x.ffm", "1 0:2:1\n", FormatLibFFM},
	} {
		if got := GuessFormat(write(tc.name, tc.body)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestMovieLensLatest(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "movies.csv"), []byte("movieId,title,genres\n"+
		"1,Toy Story (1995),Adventure|Animation\n"+
		"2,\"American President, The (1995)\",Comedy|Drama|Romance\n"+
		"3,Untitled,(no genres listed)\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "ratings.csv"), []byte("userId,movieId,rating,timestamp\n"+
		"1,1,4.0,964982703\n1,2,3.5,964981247\n7,3,5,1\n1,9,4.0,1\n1,1,4.2,1\n1,1,0,1\n"), 0o644)
	r, err := OpenRaw(FormatMovieLensLatest, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !reflect.DeepEqual(r.Schema().Categorical, movieLensLatestCat) || r.Schema().Timestamp != "timestamp" {
		t.Fatalf("schema %+v", r.Schema())
	}
	var got [][]string
	var labels []int8
	var errs []string
	rec := NewRecord(r.Schema())
	for {
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		got = append(got, append(append([]string(nil), rec.Cat...), rec.Extra...))
		labels = append(labels, rec.Label)
	}
	want := [][]string{
		{"1", "1", "Adventure|Animation", "Adventure", "1995", "4.0", "Toy Story (1995)"},
		{"1", "2", "Comedy|Drama|Romance", "Comedy", "1995", "3.5", "American President, The (1995)"},
		{"7", "3", "", "", "", "5.0", "Untitled"},
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(labels, []int8{1, 0, 1}) {
		t.Fatalf("records %q labels %v", got, labels)
	}
	if len(errs) != 3 || !strings.Contains(errs[0], "ratings.csv:5: field movie_id: unknown movie 9") ||
		!strings.Contains(errs[1], ":6: field rating") || !strings.Contains(errs[2], ":7: field rating") {
		t.Fatalf("errors %q", errs)
	}
}

// TestMovieLensLatestShared reads the real ml-latest-small (skipped where
// ../shared/data is absent, failing under CI=true).
func TestMovieLensLatestShared(t *testing.T) {
	dir := filepath.Join(shareddata.Dir(t), "movielens", "ml-latest-small")
	rows, pos, bad := sharedCounts(t, FormatMovieLensLatest, dir, nil)
	if rows != 100836 || len(bad) != 0 || pos == 0 {
		t.Fatalf("%d rows (%d positive), malformed %v; want 100836 and none", rows, pos, bad)
	}
}

// TestFrappeShared reads the Frappe_x1 splits in both published forms and
// checks they agree (skipped where ../shared/data is absent, failing under
// CI=true).
func TestFrappeShared(t *testing.T) {
	dir := filepath.Join(shareddata.Dir(t), "frappe")
	for _, split := range []struct {
		name string
		rows int64
	}{{"frappe_x1_valid", 57722}, {"frappe_x1_train_rebuilt", 202027}} {
		c, err := OpenCSV(filepath.Join(dir, split.name+".csv"), RawOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := OpenLibSVM(filepath.Join(dir, split.name+".libsvm"), RawOptions{Fields: c.Schema().Categorical})
		if err != nil {
			t.Fatal(err)
		}
		rc, rs := NewRecord(c.Schema()), NewRecord(s.Schema())
		var n int64
		for {
			ec, es := c.Read(rc), s.Read(rs)
			if errors.Is(ec, io.EOF) && errors.Is(es, io.EOF) {
				break
			}
			if ec != nil || es != nil {
				t.Fatalf("%s row %d: csv %v, libsvm %v", split.name, n+1, ec, es)
			}
			if rc.Label != rs.Label || !reflect.DeepEqual(rc.Cat, rs.Cat) {
				t.Fatalf("%s row %d: csv %+v, libsvm %+v", split.name, n+1, rc, rs)
			}
			n++
		}
		c.Close()
		s.Close()
		if n != split.rows {
			t.Fatalf("%s: %d rows, want %d", split.name, n, split.rows)
		}
	}
}
