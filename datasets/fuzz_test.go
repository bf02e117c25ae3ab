package datasets

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzIsGzip reports whether in starts with the gzip magic, which makes a
// line source decompress it.
func fuzzIsGzip(in string) bool { return strings.HasPrefix(in, "\x1f\x8b") }

// fuzzDecimal reports whether s is accepted as an integer by the parsers and
// returns its value: strconv.ParseInt syntax without a '+' sign.
func fuzzDecimal(s string) (int64, bool) {
	if strings.HasPrefix(s, "+") {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// fuzzLineSource returns a line source reading in, or ok=false when in is
// not a single line or is a broken gzip stream.
func fuzzLineSource(t *testing.T, in string) (*lineSource, bool) {
	if strings.Contains(in, "\n") {
		return nil, false
	}
	// A small buffer keeps fuzzing fast and exercises the assembly of
	// lines longer than the buffer.
	src, err := newLineSourceSize("fuzz", strings.NewReader(in), 32)
	if err != nil {
		if !fuzzIsGzip(in) {
			t.Fatalf("newLineSource: %v", err)
		}
		return nil, false
	}
	return src, true
}

// fuzzLine returns the line a line source makes of the single-line input
// in: without a leading byte-order mark and a trailing "\r".
func fuzzLine(in string) string {
	return strings.TrimSuffix(strings.TrimPrefix(in, "\ufeff"), "\r")
}

// fuzzCheckReadErr checks an error that is not nil, io.EOF or a row error.
func fuzzCheckReadErr(t *testing.T, in string, err error) {
	if !fuzzIsGzip(in) {
		t.Fatalf("input %q: unexpected non-row error %v", in, err)
	}
	if !strings.HasPrefix(err.Error(), "fuzz: reading line 1:") {
		t.Fatalf("input %q: gzip error %q does not name the file and line", in, err)
	}
}

func FuzzCriteoLine(f *testing.F) {
	for _, s := range []string{
		"0\t1\t1\t5\t0\t1382\t4\t15\t2\t181\t1\t2\t\t2\t68fd1e64\t80e26c9b\tfb936136\t7b4723c4\t25c83c98\t7e0ccccf\tde7995b8\t1f89b562\ta73ee510\ta8cd5504\tb2cb9c98\t37c9c164\t2824a5f6\t1adce6ef\t8ba8b39a\t891b62e7\te5ba7672\tf54016b9\t21ddcdc9\tb1252a9d\t07b5194c\t\t3a171ecb\tc5c50484\te8b83407\t9727dd16",
		"0\t2\t0\t1\t14\t767\t89\t4\t2\t245\t1\t3\t3\t45\t287e684f\t0a519c5c\t02cf9876\tc18be181\t25c83c98\t7e0ccccf\tc78204a1\t0b153874\ta73ee510\t3b08e48b\t5f5e6091\t8fe001f4\taa655a2f\t07d13a8f\t6dc710ed\t36103458\t8efede7f\t3412118d\t\t\te587c466\tad3062eb\t3a171ecb\t3b183c5c\t\t\r",
		"1\t\t-1\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
		"1\t9223372036854775807\t-9223372036854775808\t007\t-0\t\t\t\t\t\t\t\t\t\té\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
		"0\t1\t2",
		"",
		"\r",
		"\ufeff1\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\r",
		"2\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		src, ok := fuzzLineSource(t, in)
		if !ok {
			return
		}
		r := newCriteoReader(src)
		rec := NewRecord(r.Schema())
		err := r.Read(rec)
		if err == io.EOF {
			if in != "" && !fuzzIsGzip(in) {
				t.Fatalf("io.EOF for non-empty input %q", in)
			}
			return
		}
		var rowErr *RowError
		if err != nil && !errors.As(err, &rowErr) {
			fuzzCheckReadErr(t, in, err)
			return
		}
		if fuzzIsGzip(in) {
			return // the line is the decompressed text, not in
		}

		line := fuzzLine(in)
		fields := strings.Split(line, "\t")
		if err != nil {
			checkCriteoRowError(t, in, fields, rowErr)
			return
		}

		// Accepted: re-serialising gives the line back, up to the spelling
		// of integers (leading zeros, "-0"), which must denote the values.
		if len(fields) != criteoNumFields {
			t.Fatalf("accepted %d fields: %q", len(fields), in)
		}
		out := []string{strconv.Itoa(int(rec.Label))}
		for j := range criteoNumDense {
			s := fields[1+j]
			if !rec.DenseValid[j] {
				out = append(out, "")
				continue
			}
			v, ok := fuzzDecimal(s)
			if !ok || v != rec.Dense[j] {
				t.Fatalf("I%d: field %q parsed as %d", j+1, s, rec.Dense[j])
			}
			if strconv.FormatInt(v, 10) == s {
				out = append(out, strconv.FormatInt(rec.Dense[j], 10))
			} else {
				out = append(out, s) // a valid non-canonical spelling
			}
		}
		out = append(out, rec.Cat...)
		if got := strings.Join(out, "\t"); got != line {
			t.Fatalf("re-serialised\n%q\nwant\n%q", got, line)
		}
		for _, c := range rec.Cat {
			if !utf8.ValidString(c) {
				t.Fatalf("accepted invalid UTF-8 %q", c)
			}
		}
	})
}

// checkCriteoRowError checks that the field a Criteo row error names is
// indeed bad.
func checkCriteoRowError(t *testing.T, in string, fields []string, e *RowError) {
	if e.File != "fuzz" || e.Line != 1 {
		t.Fatalf("row error at %s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		if len(fields) == criteoNumFields {
			t.Fatalf("field-count error for 40 fields: %q: %v", in, e)
		}
		if want := fmt.Sprintf("want 40 tab-separated fields, got %d", len(fields)); e.Err.Error() != want {
			t.Fatalf("message %q, want %q", e.Err, want)
		}
		return
	}
	if len(fields) != criteoNumFields {
		t.Fatalf("field error %v on a line of %d fields", e, len(fields))
	}
	k := slices.Index(criteoSchema().Dense, e.Field)
	switch {
	case e.Field == "label":
		if fields[0] == "0" || fields[0] == "1" {
			t.Fatalf("label %q rejected", fields[0])
		}
	case k >= 0:
		if _, ok := fuzzDecimal(fields[1+k]); ok || fields[1+k] == "" {
			t.Fatalf("%s %q rejected", e.Field, fields[1+k])
		}
	default:
		k = slices.Index(criteoSchema().Categorical, e.Field)
		if k < 0 {
			t.Fatalf("row error names unknown field %q", e.Field)
		}
		if utf8.ValidString(fields[1+criteoNumDense+k]) {
			t.Fatalf("%s %q rejected", e.Field, fields[1+criteoNumDense+k])
		}
	}
}

func FuzzAvazuLine(f *testing.F) {
	for _, s := range []string{
		avazuTestRow1, avazuTestRow2, avazuTestHeader,
		"1000009418151094273,0,14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,-1,79\r",
		"x,1,16022923,,,,,,,,,,,,,,,,,,,,,",
		"x,1,14022900,,,,,,,,,,,,,,,,,,,,,",
		"id,click,hour",
		",,,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		src, ok := fuzzLineSource(t, in)
		if !ok {
			return
		}
		r := newAvazuReader(src)
		rec := NewRecord(r.Schema())
		err := r.Read(rec)
		line := fuzzLine(in)
		isHeader := !fuzzIsGzip(in) && strings.HasPrefix(line, "id,click")
		if err == io.EOF {
			if in != "" && !fuzzIsGzip(in) && line != avazuTestHeader {
				t.Fatalf("io.EOF for input %q", in)
			}
			return
		}
		var rowErr *RowError
		if err != nil && !errors.As(err, &rowErr) {
			if isHeader {
				return // a header line that is not Avazu's: fatal error
			}
			fuzzCheckReadErr(t, in, err)
			return
		}
		if fuzzIsGzip(in) {
			return
		}
		if isHeader {
			t.Fatalf("header line %q read as a row: %v", in, err)
		}
		fields := strings.Split(line, ",")
		if err != nil {
			if rowErr.File != "fuzz" || rowErr.Line != 1 {
				t.Fatalf("row error at %s:%d", rowErr.File, rowErr.Line)
			}
			switch rowErr.Field {
			case "":
				if len(fields) == avazuNumFields {
					t.Fatalf("field-count error for 24 fields: %q", in)
				}
			case "click":
				if fields[1] == "0" || fields[1] == "1" {
					t.Fatalf("click %q rejected", fields[1])
				}
			case "hour":
				if _, ok := fuzzAvazuHour(fields[2]); ok {
					t.Fatalf("hour %q rejected", fields[2])
				}
			default:
				k := slices.Index(avazuColumns, rowErr.Field)
				if k < 0 || utf8.ValidString(fields[k]) {
					t.Fatalf("row error %v for %q", rowErr, in)
				}
			}
			return
		}

		// Accepted: the record gives the line back.
		if len(fields) != avazuNumFields {
			t.Fatalf("accepted %d fields: %q", len(fields), in)
		}
		out := append([]string{rec.Extra[0], strconv.Itoa(int(rec.Label))}, rec.Cat[:avazuNumRawCat]...)
		if got := strings.Join(out, ","); got != line {
			t.Fatalf("re-serialised\n%q\nwant\n%q", got, line)
		}
		tm, ok := fuzzAvazuHour(fields[2])
		if !ok {
			t.Fatalf("accepted hour %q", fields[2])
		}
		if rec.Timestamp != tm.Unix() || rec.Cat[avazuNumRawCat] != fields[2][6:] ||
			rec.Cat[avazuNumRawCat+1] != tm.Weekday().String()[:3] {
			t.Fatalf("hour %q gave timestamp %d, hour_of_day %q, weekday %q",
				fields[2], rec.Timestamp, rec.Cat[avazuNumRawCat], rec.Cat[avazuNumRawCat+1])
		}
	})
}

// fuzzAvazuHour is an independent YYMMDDHH parser: the hour is valid iff
// formatting the time it denotes gives it back.
func fuzzAvazuHour(h string) (time.Time, bool) {
	if len(h) != 8 {
		return time.Time{}, false
	}
	var v [4]int
	for k := range v {
		n, err := strconv.Atoi(h[2*k : 2*k+2])
		if err != nil || h[2*k] < '0' || h[2*k] > '9' || h[2*k+1] < '0' || h[2*k+1] > '9' {
			return time.Time{}, false
		}
		v[k] = n
	}
	tm := time.Date(2000+v[0], time.Month(v[1]), v[2], v[3], 0, 0, 0, time.UTC)
	back := fmt.Sprintf("%02d%02d%02d%02d", tm.Year()-2000, int(tm.Month()), tm.Day(), tm.Hour())
	return tm, back == h
}

func FuzzMovieLensRatings(f *testing.F) {
	for _, s := range []string{
		"1::1193::5::978300760", "1::661::3::978302109", "2::73::4::978302109\r",
		"3::99::1::0", "1::1::6::978300760", "9::1::5::1", "1::1::5", "01::0073::4::-5",
	} {
		f.Add(s, false)
	}
	for _, s := range []string{"1\t1193\t5\t874965758", "2\t73\t2\t888550871", "1\t1\t3.5\t1"} {
		f.Add(s, true)
	}
	users, err := loadMovieLensUsers(writeRawFile(f, "users.dat", []byte(ml1MUsers)), []byte("::"), true)
	if err != nil {
		f.Fatal(err)
	}
	movies, err := loadMovieLens1MMovies(writeRawFile(f, "movies.dat",
		[]byte(ml1MMovies+"1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::James and the Giant Peach (1996)::Animation|Children's|Musical\n")))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string, tabs bool) {
		src, ok := fuzzLineSource(t, in)
		if !ok {
			return
		}
		sep := "::"
		if tabs {
			sep = "\t"
		}
		r := &movieLensReader{
			src: src, schema: movieLensSchema(FormatMovieLens1M, defaultLabelThreshold),
			sep: []byte(sep), threshold: defaultLabelThreshold,
			users: users, movies: movies, usersFile: "users.dat", movieFile: "movies.dat",
		}
		rec := NewRecord(r.Schema())
		err := r.Read(rec)
		if err == io.EOF {
			return
		}
		var rowErr *RowError
		if err != nil && !errors.As(err, &rowErr) {
			fuzzCheckReadErr(t, in, err)
			return
		}
		if fuzzIsGzip(in) {
			return
		}
		fields := strings.Split(fuzzLine(in), sep)
		if err != nil {
			if rowErr.File != "fuzz" || rowErr.Line != 1 {
				t.Fatalf("row error at %s:%d", rowErr.File, rowErr.Line)
			}
			if rowErr.Field == "" && len(fields) == 4 {
				t.Fatalf("field-count error for 4 fields: %q", in)
			}
			return
		}
		if len(fields) != 4 {
			t.Fatalf("accepted %d fields: %q", len(fields), in)
		}
		uid, ok1 := fuzzDecimal(fields[0])
		mid, ok2 := fuzzDecimal(fields[1])
		rating, ok3 := fuzzDecimal(fields[2])
		ts, ok4 := fuzzDecimal(fields[3])
		if !ok1 || !ok2 || !ok3 || !ok4 || users[uid] == nil || movies[mid] == nil || rating < 1 || rating > 5 {
			t.Fatalf("accepted %q", in)
		}
		u, m := users[uid], movies[mid]
		wantLabel := int8(0)
		if rating >= 4 {
			wantLabel = 1
		}
		if rec.Label != wantLabel || rec.Timestamp != ts ||
			rec.Cat[mlCatUser] != strconv.FormatInt(uid, 10) || rec.Cat[mlCatMovie] != strconv.FormatInt(mid, 10) ||
			rec.Cat[mlCatGender] != u.gender || rec.Cat[mlCatZip] != u.zip || rec.Cat[mlCatGenres] != m.genres ||
			rec.Extra[mlExtraRating] != strconv.FormatInt(rating, 10) || rec.Extra[mlExtraTitle] != m.title {
			t.Fatalf("%q gave %d %d %q %q", in, rec.Label, rec.Timestamp, rec.Cat, rec.Extra)
		}
	})
}

// fuzzRecords reads every row of in with open, checking that only row
// errors (or, for gzip input, read errors naming the file) come back, that
// each row error names the file, and that every good record fits the
// schema; it returns the good records.
func fuzzRecords(t *testing.T, in string, open func(*lineSource) (RecordReader, error)) []*Record {
	src, err := newLineSourceSize("fuzz", strings.NewReader(in), 32)
	if err != nil {
		return nil
	}
	r, err := open(src)
	if err != nil {
		if !strings.Contains(err.Error(), "fuzz") {
			t.Fatalf("input %q: open error %q does not name the file", in, err)
		}
		return nil
	}
	defer r.Close()
	s := r.Schema()
	if err := s.Validate(); err != nil {
		t.Fatalf("input %q: invalid schema: %v", in, err)
	}
	var out []*Record
	rec := NewRecord(s)
	for i := 0; i < 10000; i++ {
		err := r.Read(rec)
		if errors.Is(err, io.EOF) {
			return out
		}
		var re *RowError
		if errors.As(err, &re) {
			if re.File != "fuzz" || re.Line < 1 {
				t.Fatalf("input %q: row error %v without file and line", in, re)
			}
			continue
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("input %q: error %q does not name the file", in, err)
			}
			return out
		}
		if len(rec.Cat) != s.NumCat() || len(rec.Dense) != s.NumDense() || (rec.Label != 0 && rec.Label != 1) {
			t.Fatalf("input %q: record %+v does not fit schema %+v", in, rec, s)
		}
		c := &Record{}
		c.CopyFrom(rec)
		out = append(out, c)
	}
	return out
}

// csvQuote writes cells as one CSV line, quoting every cell.
func csvQuote(cells []string) string {
	q := make([]string, len(cells))
	for i, c := range cells {
		q[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	return strings.Join(q, ",")
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"label,user,item\n1,266,1244\n0,,1296\n",
		"label,a,I1\r\n1.0,\"x,y\",3\r\n0,\"\"\"\",\r\n",
		"label,a\n1,\"open\n",
		"a,label\nx,2\n",
		"\ufefflabel,a\n1,é\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, dense bool) {
		opt := RawOptions{}
		if dense {
			opt.Dense = []string{"I1"}
		}
		open := func(src *lineSource) (RecordReader, error) { return newCSVReader(src, opt) }
		recs := fuzzRecords(t, in, open)
		if len(recs) == 0 {
			return
		}
		// Written back with every cell quoted, the records read the same.
		src, _ := newLineSourceSize("fuzz", strings.NewReader(in), 32)
		r, _ := newCSVReader(src, opt)
		s := r.Schema()
		r.Close()
		var b strings.Builder
		header := append(append([]string{s.Label}, s.Dense...), s.Categorical...)
		b.WriteString(csvQuote(header) + "\n")
		for _, rec := range recs {
			cells := []string{strconv.Itoa(int(rec.Label))}
			for k, v := range rec.Dense {
				if rec.DenseValid[k] {
					cells = append(cells, strconv.FormatInt(v, 10))
				} else {
					cells = append(cells, "")
				}
			}
			b.WriteString(csvQuote(append(cells, rec.Cat...)) + "\n")
		}
		again := fuzzRecords(t, b.String(), open)
		if len(again) != len(recs) {
			t.Fatalf("input %q: %d records, %d after writing them back as %q", in, len(recs), len(again), b.String())
		}
		for i := range recs {
			if recs[i].Label != again[i].Label || !slices.Equal(recs[i].Cat, again[i].Cat) ||
				!slices.Equal(recs[i].Dense, again[i].Dense) || !slices.Equal(recs[i].DenseValid, again[i].DenseValid) {
				t.Fatalf("input %q: record %d %+v reads back as %+v", in, i, recs[i], again[i])
			}
		}
	})
}

func FuzzLibSVM(f *testing.F) {
	for _, s := range []string{
		"1 266:1 1244:1 5042:1\n0 138:1 1296:1 5041:1\n",
		"-1\t1:1.0  2:1\n+1 3:1 4:0.5\n",
		"1 0:266:1 1:1244:1\n0 1:7:1\n",
		"1 5:1 5:1\n",
		"x\n\n1\n",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, in string, mode uint8) {
		var opt RawOptions
		ffm := false
		switch mode % 3 {
		case 1:
			opt = RawOptions{Fields: []string{"a", "b", "c"}, Offsets: []int64{0, 100, 5000}}
		case 2:
			ffm = true
		}
		recs := fuzzRecords(t, in, func(src *lineSource) (RecordReader, error) { return newSVMReader(src, opt, ffm) })
		for _, rec := range recs {
			for _, c := range rec.Cat {
				if c == "" {
					continue
				}
				if _, ok := fuzzDecimal(c); !ok || strings.HasPrefix(c, "-") {
					t.Fatalf("input %q: value %q is not a feature index", in, c)
				}
			}
		}
	})
}
