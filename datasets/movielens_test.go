package datasets

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeMovieLensDir writes files (name -> content) into a new temporary
// directory and returns it.
func writeMovieLensDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	ml1MUsers  = "1::F::1::10::48067\n2::M::56::16::70072\r\n3::M::25::15::55117-1234\n"
	ml1MMovies = "1::Toy Story (1995)::Animation|Children's|Comedy\n" +
		"73::Mis\xe9rables, Les (1995)::Drama|Musical\n" +
		"99::No Year Movie::Drama\n" +
		"100::Already UTF-8 Caf\u00e9 (2000)::Comedy|Drama\n"
	ml1MRatings = "1::1::5::978300760\n2::73::3::978302109\r\n3::99::4::978301968\n1::100::1::978300000"
)

func TestMovieLensSchema(t *testing.T) {
	for _, f := range []string{"movielens1m", "movielens100k"} {
		s, err := SchemaFor(f)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"user_id", "movie_id", "gender", "age", "occupation", "zip", "genres", "first_genre", "year"}
		if !slices.Equal(s.Categorical, want) || s.Dataset != f || s.Label != "label" ||
			s.NumDense() != 0 || s.Timestamp != "timestamp" ||
			!slices.Equal(s.Extra, []string{"rating", "title"}) || s.LabelRule != "rating >= 4" {
			t.Errorf("%s schema = %+v", f, s)
		}
	}
}

func TestMovieLens1M(t *testing.T) {
	dir := writeMovieLensDir(t, map[string]string{
		"users.dat": ml1MUsers, "movies.dat": ml1MMovies, "ratings.dat": ml1MRatings,
	})
	r, err := OpenRaw("movielens1m", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	if res.err != nil || len(res.rowErrs) != 0 || len(res.recs) != 4 {
		t.Fatalf("got %d records, %v, %v", len(res.recs), res.rowErrs, res.err)
	}
	want := []struct {
		label int8
		ts    int64
		cat   []string
		extra []string
	}{
		{1, 978300760, []string{"1", "1", "F", "1", "10", "48067", "Animation|Children's|Comedy", "Animation", "1995"},
			[]string{"5", "Toy Story (1995)"}},
		{0, 978302109, []string{"2", "73", "M", "56", "16", "70072", "Drama|Musical", "Drama", "1995"},
			[]string{"3", "Misérables, Les (1995)"}},
		{1, 978301968, []string{"3", "99", "M", "25", "15", "55117-1234", "Drama", "Drama", ""},
			[]string{"4", "No Year Movie"}},
		{0, 978300000, []string{"1", "100", "F", "1", "10", "48067", "Comedy|Drama", "Comedy", "2000"},
			[]string{"1", "Already UTF-8 Café (2000)"}},
	}
	for i, w := range want {
		got := res.recs[i]
		if got.Label != w.label || got.Timestamp != w.ts || !slices.Equal(got.Cat, w.cat) || !slices.Equal(got.Extra, w.extra) {
			t.Errorf("record %d = %d %d %q %q\nwant %d %d %q %q", i,
				got.Label, got.Timestamp, got.Cat, got.Extra, w.label, w.ts, w.cat, w.extra)
		}
	}
}

func TestMovieLensThreshold(t *testing.T) {
	dir := writeMovieLensDir(t, map[string]string{
		"users.dat": ml1MUsers, "movies.dat": ml1MMovies, "ratings.dat": ml1MRatings,
	})
	r, err := OpenMovieLens(dir, "movielens1m", MovieLensOptions{LabelThreshold: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Schema().LabelRule; got != "rating >= 3" {
		t.Errorf("label rule %q", got)
	}
	res := readAllRaw(t, r)
	var labels []int8
	for _, rec := range res.recs {
		labels = append(labels, rec.Label)
	}
	if !slices.Equal(labels, []int8{1, 1, 1, 0}) {
		t.Errorf("labels %v", labels)
	}

	for _, thr := range []int{-1, 6} {
		if _, err := OpenMovieLens(dir, "movielens1m", MovieLensOptions{LabelThreshold: thr}); err == nil {
			t.Errorf("threshold %d accepted", thr)
		}
	}
	if _, err := OpenMovieLens(dir, "movielens20m", MovieLensOptions{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown variant: %v", err)
	}
}

func TestMovieLensBadRatings(t *testing.T) {
	cases := []struct {
		name, line, field, msg string
	}{
		{"unknown user", "9::1::5::978300760", "user_id", "unknown user 9"},
		{"unknown movie", "1::500::5::978300760", "movie_id", "unknown movie 500"},
		{"user not a number", "u1::1::5::978300760", "user_id", `want a positive integer id, got "u1"`},
		{"user zero", "0::1::5::978300760", "user_id", "positive integer id"},
		{"movie empty", "1::::5::978300760", "movie_id", "positive integer id"},
		{"rating 6", "1::1::6::978300760", "rating", `want an integer rating in 1..5, got "6"`},
		{"rating 0", "1::1::0::978300760", "rating", "1..5"},
		{"half star", "1::1::3.5::978300760", "rating", `got "3.5"`},
		{"bad timestamp", "1::1::5::yesterday", "timestamp", `want a base-10 integer, got "yesterday"`},
		{"3 fields", "1::1::5", "", `want 4 "::"-separated fields, got 3`},
		{"tab separated", "1\t1\t5\t978300760", "", "got 1"},
		{"5 fields", "1::1::5::978300760::x", "", "got 5"},
		{"empty", "", "", "got 1"},
	}
	var b strings.Builder
	for _, c := range cases {
		b.WriteString(c.line + "\n1::1::5::978300760\n")
	}
	dir := writeMovieLensDir(t, map[string]string{
		"users.dat": ml1MUsers, "movies.dat": ml1MMovies, "ratings.dat": b.String(),
	})
	r, err := OpenMovieLens(dir, "movielens1m", MovieLensOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ratings := filepath.Join(dir, "ratings.dat")
	rec := NewRecord(r.Schema())
	for i, c := range cases {
		err := r.Read(rec)
		var rowErr *RowError
		if !errors.As(err, &rowErr) {
			t.Fatalf("%s: got %v, want a *RowError", c.name, err)
		}
		if rowErr.File != ratings || rowErr.Line != int64(2*i+1) || rowErr.Field != c.field {
			t.Errorf("%s: error at %s:%d field %q, want %s:%d field %q",
				c.name, rowErr.File, rowErr.Line, rowErr.Field, ratings, 2*i+1, c.field)
		}
		if !strings.Contains(rowErr.Err.Error(), c.msg) {
			t.Errorf("%s: message %q does not contain %q", c.name, rowErr.Err, c.msg)
		}
		if err := r.Read(rec); err != nil || rec.Cat[0] != "1" {
			t.Fatalf("%s: good row after it: %v", c.name, err)
		}
	}
	if err := r.Read(rec); err != io.EOF {
		t.Errorf("at end: %v", err)
	}
}

func TestMovieLensBadMetadata(t *testing.T) {
	cases := []struct {
		name, file, content, where, msg string
	}{
		{"users field count", "users.dat", "1::F::1::10::48067\n2::M::56::16\n", "users.dat:2", `want 5 "::"-separated fields, got 4`},
		{"users bad id", "users.dat", "x::F::1::10::48067\n", "users.dat:1: field user_id", "positive integer id"},
		{"users duplicate", "users.dat", "1::F::1::10::48067\n\n1::M::1::10::48067\n", "users.dat:3: field user_id", "duplicate user id 1"},
		{"users gender", "users.dat", "1::X::1::10::48067\n", "users.dat:1: field gender", "want M or F"},
		{"users age", "users.dat", "1::F::young::10::48067\n", "users.dat:1: field age", "integer"},
		{"users occupation", "users.dat", "1::F::1::writer::48067\n", "users.dat:1: field occupation", "integer"},
		{"users empty", "users.dat", "\n", "users.dat", "no users"},
		{"movies field count", "movies.dat", "1::Toy Story (1995)\n", "movies.dat:1", `want 3 "::"-separated fields, got 2`},
		{"movies bad id", "movies.dat", "1::Toy Story (1995)::Comedy\n-2::X::Drama\n", "movies.dat:2: field movie_id", "positive integer id"},
		{"movies duplicate", "movies.dat", "1::A::Comedy\n1::B::Drama\n", "movies.dat:2: field movie_id", "duplicate movie id 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"users.dat": ml1MUsers, "movies.dat": ml1MMovies, "ratings.dat": ml1MRatings}
			files[c.file] = c.content
			dir := writeMovieLensDir(t, files)
			_, err := OpenRaw("movielens1m", dir)
			if err == nil {
				t.Fatal("open succeeded")
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, c.where)) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q, want it to name %s and say %q", err, c.where, c.msg)
			}
		})
	}
}

func TestMovieLensRatingsFile(t *testing.T) {
	base := map[string]string{"users.dat": ml1MUsers, "movies.dat": ml1MMovies}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	gz := string(gzipRawBytes(t, []byte(ml1MRatings)))
	for _, tc := range []struct {
		name  string
		files map[string]string
		rows  int
		err   string
	}{
		{"ratings.dat.gz", with(map[string]string{"ratings.dat.gz": gz}), 4, ""},
		{"partial gz", with(map[string]string{"ratings.partial_first3.dat.gz": gz}), 4, ""},
		{"partial plain", with(map[string]string{"ratings_small.dat": "1::1::5::1\n"}), 1, ""},
		{"plain preferred", with(map[string]string{"ratings.dat": "1::1::5::1\n", "ratings.old.dat": "x"}), 1, ""},
		{"ambiguous", with(map[string]string{"ratings.a.dat": "", "ratings.b.dat.gz": gz}), 0, "several ratings files"},
		{"none", with(map[string]string{"ratings.csv": ""}), 0, "no ratings.dat"},
		{"plain and gz", with(map[string]string{"ratings.dat": "1::1::5::1\n", "ratings.dat.gz": gz}), 0, "ratings.dat and "},
		{"users plain and gz", with(map[string]string{"users.dat.gz": string(gzipRawBytes(t, []byte(ml1MUsers))), "ratings.dat": ml1MRatings}), 0, "users.dat.gz exist"},
		{"no users", map[string]string{"movies.dat": ml1MMovies, "ratings.dat": ml1MRatings}, 0, "users.dat"},
		{"gzip users", map[string]string{"users.dat.gz": string(gzipRawBytes(t, []byte(ml1MUsers))), "movies.dat": ml1MMovies, "ratings.dat": ml1MRatings}, 4, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeMovieLensDir(t, tc.files)
			r, err := OpenRaw("movielens1m", dir)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res := readAllRaw(t, r)
			if res.err != nil || len(res.rowErrs) != 0 || len(res.recs) != tc.rows {
				t.Errorf("got %d records, %v, %v", len(res.recs), res.rowErrs, res.err)
			}
		})
	}
}

func TestMovieLensTruncatedRatings(t *testing.T) {
	var b strings.Builder
	for range 20000 {
		b.WriteString("1::1::5::978300760\n2::73::3::978302109\n")
	}
	gz := gzipRawBytes(t, []byte(b.String()))
	dir := writeMovieLensDir(t, map[string]string{
		"users.dat": ml1MUsers, "movies.dat": ml1MMovies, "ratings.dat.gz": string(gz[:len(gz)*2/3]),
	})
	r, err := OpenRaw("movielens1m", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	var rowErr *RowError
	if res.err == nil || errors.As(res.err, &rowErr) || !errors.Is(res.err, io.ErrUnexpectedEOF) ||
		!strings.Contains(res.err.Error(), filepath.Join(dir, "ratings.dat.gz")+": reading line") {
		t.Errorf("after %d rows: %v", len(res.recs), res.err)
	}
}

const (
	ml100KUsers = "1|24|M|technician|85711\n2|53|F|other|94043\n"
	ml100KItems = "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n" +
		"267|unknown||||1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n" +
		"1300|'Til There Was You (1997)|01-Jan-1997||http://x|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\r\n" +
		"1306|Cit\xe9 des enfants perdus, La (1995)|01-Jan-1995||http://x|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0|0\n"
	ml100KGenres = "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\nDocumentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n"
	ml100KData   = "1\t1\t5\t874965758\n2\t267\t3\t888550871\n1\t1300\t4\t874965000\n2\t1306\t2\t888550000\n"
)

func TestMovieLens100K(t *testing.T) {
	want := [][]string{
		{"1", "1", "M", "24", "technician", "85711", "Animation|Children's|Comedy", "Animation", "1995"},
		{"2", "267", "F", "53", "other", "94043", "unknown", "unknown", ""},
		{"1", "1300", "M", "24", "technician", "85711", "", "", "1997"},
		{"2", "1306", "F", "53", "other", "94043", "Adventure|Sci-Fi", "Adventure", "1995"},
	}
	wantTitles := []string{"Toy Story (1995)", "unknown", "'Til There Was You (1997)", "Cité des enfants perdus, La (1995)"}
	for _, withGenre := range []bool{true, false} {
		files := map[string]string{"u.user": ml100KUsers, "u.item": ml100KItems, "u.data": ml100KData}
		if withGenre {
			files["u.genre"] = ml100KGenres
		}
		dir := writeMovieLensDir(t, files)
		r, err := OpenRaw("movielens100k", dir)
		if err != nil {
			t.Fatal(err)
		}
		res := readAllRaw(t, r)
		r.Close()
		if res.err != nil || len(res.rowErrs) != 0 || len(res.recs) != 4 {
			t.Fatalf("u.genre %v: got %d records, %v, %v", withGenre, len(res.recs), res.rowErrs, res.err)
		}
		if r.Schema().Dataset != "movielens100k" {
			t.Errorf("dataset %q", r.Schema().Dataset)
		}
		for i, rec := range res.recs {
			if !slices.Equal(rec.Cat, want[i]) || rec.Extra[1] != wantTitles[i] {
				t.Errorf("u.genre %v: record %d = %q %q\nwant %q %q", withGenre, i, rec.Cat, rec.Extra, want[i], wantTitles[i])
			}
		}
		if l := []int8{res.recs[0].Label, res.recs[1].Label, res.recs[2].Label, res.recs[3].Label}; !slices.Equal(l, []int8{1, 0, 1, 0}) {
			t.Errorf("labels %v", l)
		}
		if res.recs[0].Timestamp != 874965758 || res.recs[0].Extra[0] != "5" {
			t.Errorf("record 0: ts %d rating %q", res.recs[0].Timestamp, res.recs[0].Extra[0])
		}
	}
}

func TestMovieLens100KCustomGenres(t *testing.T) {
	dir := writeMovieLensDir(t, map[string]string{
		"u.user":  ml100KUsers,
		"u.genre": "Short|0\nLong|1\n",
		"u.item":  "5|Brief (2001)|||url|1|0\n6|Epic|||url|1|1\n",
		"u.data":  "1\t5\t4\t1\n1\t6\t4\t2\n",
	})
	r, err := OpenRaw("movielens100k", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	if len(res.recs) != 2 || res.recs[0].Cat[mlCatGenres] != "Short" || res.recs[1].Cat[mlCatGenres] != "Short|Long" {
		t.Errorf("records %v, errors %v %v", res.recs, res.rowErrs, res.err)
	}
}

func TestMovieLens100KBadMetadata(t *testing.T) {
	for _, c := range []struct {
		name, file, content, where, msg string
	}{
		{"item flag", "u.item", "1|Toy Story (1995)|01-Jan-1995||url|0|0|0|1|1|1|0|0|0|2|0|0|0|0|0|0|0|0|0\n", "u.item:1: field genres", "genre flag Fantasy"},
		{"item count", "u.item", "1|Toy Story (1995)|01-Jan-1995||url|0|0\n", "u.item:1", `want 24 "|"-separated fields, got 7`},
		{"genre index", "u.genre", "unknown|0\nAction|2\n", "u.genre:2", "want genre index 1"},
		{"user gender", "u.user", "1|24|X|technician|85711\n", "u.user:1: field gender", "want M or F"},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"u.user": ml100KUsers, "u.item": ml100KItems, "u.data": ml100KData}
			files[c.file] = c.content
			dir := writeMovieLensDir(t, files)
			_, err := OpenRaw("movielens100k", dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.where)) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v, want it to name %s and say %q", err, c.where, c.msg)
			}
		})
	}
}

func TestMovieLens100KBadRatings(t *testing.T) {
	dir := writeMovieLensDir(t, map[string]string{
		"u.user": ml100KUsers, "u.item": ml100KItems,
		"u.data": "1\t1\t5\t874965758\n3\t1\t5\t874965758\n1::1::5::874965758\n1\t2\t5\t874965758\n",
	})
	r, err := OpenRaw("movielens100k", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res := readAllRaw(t, r)
	data := filepath.Join(dir, "u.data")
	want := []RowError{{File: data, Line: 2, Field: "user_id"}, {File: data, Line: 3}, {File: data, Line: 4, Field: "movie_id"}}
	if len(res.recs) != 1 || len(res.rowErrs) != len(want) {
		t.Fatalf("got %d records, %v", len(res.recs), res.rowErrs)
	}
	for i, w := range want {
		if e := res.rowErrs[i]; e.File != w.File || e.Line != w.Line || e.Field != w.Field {
			t.Errorf("row error %v, want %s:%d field %q", e, w.File, w.Line, w.Field)
		}
	}
}

func TestTitleYear(t *testing.T) {
	for title, want := range map[string]string{
		"Toy Story (1995)":                   "1995",
		"Toy Story (1995) ":                  "1995",
		"City of Lost Children (The) (1995)": "1995",
		"Heat":                               "",
		"(1995)":                             "1995",
		"Blade (Runner)":                     "",
		"X (95)":                             "",
		"":                                   "",
	} {
		if got := titleYear(title); got != want {
			t.Errorf("titleYear(%q) = %q, want %q", title, got, want)
		}
	}
}

func TestDecodeLatin1(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"Mis\xe9rables":    "Misérables",
		"\xc0 k\xf6ldum":   "À köldum",
		"Caf\u00e9 (utf8)": "Café (utf8)",
		"\xff":             "ÿ",
	} {
		if got := decodeLatin1([]byte(in)); got != want {
			t.Errorf("decodeLatin1(%q) = %q, want %q", in, got, want)
		}
	}
}
